/*
 * bench/cairn-bench/hist.c - the log-bucketed histogram of hist.h.
 *
 * Bucket index: with shift = max(0, msb(v) - SUB_BITS), the index is
 * shift * 2^SUB_BITS + (v >> shift). For shift 0 that is v itself (exact
 * buckets up to 2^(SUB_BITS+1)); each further shift adds 2^SUB_BITS buckets
 * of width 2^shift, and the mantissa v >> shift always lies in
 * [2^SUB_BITS, 2^(SUB_BITS+1)), so indexes are contiguous and monotonic.
 * This is the layout HdrHistogram uses, reduced to one precision.
 */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

static unsigned msb64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

unsigned hist_bucket_of(uint64_t ns)
{
	if (ns > HIST_MAX_NS)
		ns = HIST_MAX_NS;
	if (ns < (UINT64_C(1) << (HIST_SUB_BITS + 1)))
		return (unsigned)ns;
	unsigned shift = msb64(ns) - HIST_SUB_BITS;
	return (shift << HIST_SUB_BITS) + (unsigned)(ns >> shift);
}

void hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	if (idx < (1u << (HIST_SUB_BITS + 1))) {
		*lo = *hi = idx;
		return;
	}
	/* idx = shift * 2^S + m with m in [2^S, 2^(S+1)): shift = idx/2^S - 1. */
	unsigned shift = (idx >> HIST_SUB_BITS) - 1;
	uint64_t m = idx - ((uint64_t)shift << HIST_SUB_BITS);
	*lo = m << shift;
	*hi = *lo + (UINT64_C(1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
	h->buckets[hist_bucket_of(ns)]++;
	h->count++;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	/* Welford: no cancellation when the spread is tiny next to the mean. */
	double x = (double)ns, delta = x - h->mean;
	h->mean += delta / (double)h->count;
	h->m2 += delta * (x - h->mean);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (!src->count)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	/* Chan et al.'s pairwise combination of the running moments. */
	double na = (double)dst->count, nb = (double)src->count, n = na + nb;
	double delta = src->mean - dst->mean;
	dst->mean += delta * nb / n;
	dst->m2 += src->m2 + delta * delta * na * nb / n;
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (!h->count)
		return 0;
	if (p >= 100)
		return h->max;
	/* Nearest rank: the ceil(p/100 * n)-th smallest sample (1-based). */
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t lo, hi;
			hist_bucket_range(i, &lo, &hi);
			uint64_t v = lo + (hi - lo) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->mean : 0;
}

/* Population standard deviation, as etcd's report prints. */
double hist_stddev(const struct hist *h)
{
	return h->count ? sqrt(h->m2 / (double)h->count) : 0;
}
