/*
 * bench/cairn-bench/hist.h - a log-bucketed latency histogram (HDR-style).
 *
 * Values are nanoseconds. Below 2^(HIST_SUB_BITS+1) every value has its own
 * bucket; above, each power of two is cut into 2^HIST_SUB_BITS equal buckets,
 * so a bucket is never wider than 1/128 of the values in it and a reported
 * percentile (the bucket's midpoint) is within 0.4% of a true sample. Memory
 * is fixed (HIST_BUCKETS counters) whatever the number of samples; values
 * above HIST_MAX_NS are clamped into the last bucket (max stays exact).
 */
#ifndef CAIRN_BENCH_HIST_H
#define CAIRN_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_BITS 40 /* 2^40 ns, about 18 minutes */
#define HIST_BUCKETS  ((HIST_MAX_BITS - HIST_SUB_BITS + 1) << HIST_SUB_BITS)
#define HIST_MAX_NS   ((UINT64_C(1) << HIST_MAX_BITS) - 1)

struct hist {
	uint64_t count;
	uint64_t min, max; /* exact; min is UINT64_MAX while empty */
	double mean, m2;   /* Welford's running mean and sum of squared deviations */
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* Adds every sample of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Bucket index of a value, and the range [lo, hi] of values a bucket holds. */
unsigned hist_bucket_of(uint64_t ns);
void hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

/*
 * The value at percentile p (0 < p <= 100) by the nearest-rank rule: the
 * smallest recorded value v such that at least p% of the samples are <= v,
 * reported as the midpoint of v's bucket, clamped to [min, max] so that
 * p100 is the exact maximum. 0 if empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
double hist_stddev(const struct hist *h);

#endif
