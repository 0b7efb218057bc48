/*
 * tests/bench/hist_test.c - cairn-bench's log-bucketed histogram: its
 * percentiles stay within the promised relative error of the exact ones
 * (nearest rank over a sorted copy of the samples) on known distributions,
 * with memory that does not grow with the number of samples.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hist.h"

/* The bound hist.h promises: half a bucket, a bucket being <= 1/128. */
#define REL_ERR (1.0 / 256)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static double uniform01(void)
{
	return (double)(next_rand() >> 11) / 9007199254740992.0;
}

static void check_against_exact(uint64_t *v, size_t n)
{
	static struct hist h;
	hist_init(&h);
	for (size_t i = 0; i < n; i++)
		hist_record(&h, v[i]);
	qsort(v, n, sizeof *v, cmp_u64);
	static const double ps[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99};
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		uint64_t want = exact_percentile(v, n, ps[i]);
		uint64_t got = hist_percentile(&h, ps[i]);
		double err = fabs((double)got - (double)want) / (double)want;
		cr_expect(err <= REL_ERR, "p%g: got %llu, exact %llu (error %.4f%%)", ps[i],
		          (unsigned long long)got, (unsigned long long)want, err * 100);
	}
	cr_expect_eq(h.min, v[0]);
	cr_expect_eq(h.max, v[n - 1]);
	cr_expect_eq(hist_percentile(&h, 100), v[n - 1], "p100 is the exact maximum");
	cr_expect_eq(h.count, n);
}

Test(hist, uniform_latencies_match_exact_percentiles)
{
	/* 200k samples uniform in [100 us, 100 ms]. */
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = 100000 + (uint64_t)(uniform01() * 99900000.0);
	check_against_exact(v, n);
	free(v);
}

Test(hist, long_tailed_latencies_match_exact_percentiles)
{
	/* Log-normal around 2 ms with a heavy tail up to seconds: what a
	 * loaded server's latencies look like. */
	size_t n = 300000;
	uint64_t *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++) {
		double u1 = uniform01(), u2 = uniform01();
		double z = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
		v[i] = (uint64_t)(2e6 * exp(1.2 * z)) + 1;
	}
	check_against_exact(v, n);
	free(v);
}

Test(hist, small_values_are_exact)
{
	struct hist h;
	hist_init(&h);
	for (uint64_t i = 1; i <= 200; i++)
		hist_record(&h, i);
	cr_expect_eq(hist_percentile(&h, 50), 100);
	cr_expect_eq(hist_percentile(&h, 99), 198);
	cr_expect_eq(hist_percentile(&h, 0.1), 1);
}

Test(hist, buckets_are_contiguous_and_narrow)
{
	unsigned prev = 0;
	for (uint64_t v = 1; v < (UINT64_C(1) << 39); v += 1 + v / 1000) {
		unsigned idx = hist_bucket_of(v);
		cr_assert(idx < HIST_BUCKETS);
		cr_assert(idx == prev || idx == prev + 1, "index jumps at %llu: %u -> %u",
		          (unsigned long long)v, prev, idx);
		prev = idx;
		uint64_t lo, hi;
		hist_bucket_range(idx, &lo, &hi);
		cr_assert(lo <= v && v <= hi, "%llu outside [%llu, %llu]", (unsigned long long)v,
		          (unsigned long long)lo, (unsigned long long)hi);
		cr_assert((double)(hi - lo + 1) / (double)lo <= 1.0 / 128 + 1e-12 || hi == lo);
	}
}

Test(hist, values_beyond_the_range_are_clamped_but_max_is_exact)
{
	struct hist h;
	hist_init(&h);
	hist_record(&h, UINT64_C(1) << 50);
	hist_record(&h, 5);
	cr_expect_eq(h.max, UINT64_C(1) << 50);
	cr_expect_eq(hist_percentile(&h, 100), UINT64_C(1) << 50);
	cr_expect(hist_percentile(&h, 99) <= UINT64_C(1) << 50);
	cr_expect_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

Test(hist, memory_is_bounded)
{
	/* A fixed array, whatever the sample count: under 64 KiB. */
	cr_expect(sizeof(struct hist) < 64 * 1024);
	cr_expect_eq(HIST_BUCKETS, (HIST_MAX_BITS - HIST_SUB_BITS + 1) << HIST_SUB_BITS);
}

Test(hist, mean_and_stddev)
{
	struct hist h;
	hist_init(&h);
	/* 1e9 + {0, 2, 4, ..., 198}: mean 1e9 + 99; population stddev
	 * sqrt((100^2 - 1) / 3) (a large offset would ruin a naive sum of
	 * squares). */
	for (uint64_t i = 0; i < 100; i++)
		hist_record(&h, 1000000000ull + 2 * i);
	cr_expect(fabs(hist_mean(&h) - (1e9 + 99)) < 1e-3);
	cr_expect(fabs(hist_stddev(&h) - sqrt((100.0 * 100 - 1) / 3)) < 1e-6, "stddev %.9f",
	          hist_stddev(&h));
}

Test(hist, merge_equals_recording_everything)
{
	static struct hist a, b, all;
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	for (uint64_t i = 1; i < 50000; i++) {
		uint64_t v = next_rand() % 100000000;
		hist_record(i % 3 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_merge(&a, &b);
	cr_expect_eq(a.count, all.count);
	cr_expect_eq(a.min, all.min);
	cr_expect_eq(a.max, all.max);
	cr_expect(memcmp(a.buckets, all.buckets, sizeof a.buckets) == 0);
	cr_expect(fabs(hist_mean(&a) - hist_mean(&all)) < 1e-3);
	cr_expect(fabs(hist_stddev(&a) - hist_stddev(&all)) / hist_stddev(&all) < 1e-9);
}

Test(hist, empty_histogram_reports_zero)
{
	struct hist h;
	hist_init(&h);
	cr_expect_eq(hist_percentile(&h, 50), 0);
	cr_expect_eq(hist_mean(&h), 0);
	cr_expect_eq(hist_stddev(&h), 0);
}
