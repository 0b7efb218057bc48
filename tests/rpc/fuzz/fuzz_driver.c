/*
 * tests/rpc/fuzz/fuzz_driver.c - a deterministic mutation fuzzer around
 * LLVMFuzzerTestOneInput, so CI fuzzes without clang/libFuzzer.
 *
 * Every iteration i builds its input from the seed corpus with an RNG
 * seeded from (seed, i) alone, so any single iteration can be replayed:
 *
 *   rpc_fuzz_driver [--seconds S] [--iters N] [--seed X]
 *   rpc_fuzz_driver --seed X --iter I        # replay iteration I only
 *   rpc_fuzz_driver --dump DIR               # write the seed corpus (for libFuzzer)
 *   rpc_fuzz_driver FILE...                  # run inputs from files
 *
 * The seed is printed first and the iteration count at the end; on a crash
 * the current seed and iteration are printed from a death callback. The
 * environment variables CAIRN_FUZZ_SEED and CAIRN_FUZZ_SECONDS set the
 * defaults.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_INPUT (64 * 1024)

static uint64_t g_seed, g_iter;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x04, 0x09, 0x20, 0x0f};

/* One mutated input for iteration i. Returns its length. */
static size_t build(const struct fuzz_input *c, size_t nc, uint64_t i, uint8_t *buf)
{
	uint64_t s = g_seed ^ (i * 0xd1b54a32d192ed03ull);
	const struct fuzz_input *base = &c[below(&s, nc)];
	size_t n = base->n < MAX_INPUT ? base->n : MAX_INPUT;
	memcpy(buf, base->p, n);
	if (i % 16 == 0)
		return n; /* keep running the seeds themselves */
	int rounds = 1 + (int)below(&s, 8);
	for (int r = 0; r < rounds && n > 1; r++) {
		/* Byte 0 picks the side; mutate it rarely. */
		size_t pos = 1 + below(&s, n - 1);
		switch (below(&s, 10)) {
		case 0:
			buf[pos] ^= (uint8_t)(1u << below(&s, 8));
			break;
		case 1:
			buf[pos] = (uint8_t)splitmix(&s);
			break;
		case 2:
			buf[pos] = interesting[below(&s, sizeof interesting)];
			break;
		case 3: { /* insert random bytes */
			size_t k = 1 + below(&s, 16);
			if (n + k > MAX_INPUT)
				break;
			memmove(buf + pos + k, buf + pos, n - pos);
			for (size_t j = 0; j < k; j++)
				buf[pos + j] = (uint8_t)splitmix(&s);
			n += k;
			break;
		}
		case 4: { /* delete a range */
			size_t k = 1 + below(&s, n - pos);
			memmove(buf + pos, buf + pos + k, n - pos - k);
			n -= k;
			break;
		}
		case 5: { /* duplicate a range (repeats frames) */
			size_t k = 1 + below(&s, n - pos < 256 ? n - pos : 256);
			if (n + k > MAX_INPUT)
				break;
			uint8_t tmp[256];
			memcpy(tmp, buf + pos, k);
			size_t at = 1 + below(&s, n - 1);
			memmove(buf + at + k, buf + at, n - at);
			memcpy(buf + at, tmp, k);
			n += k;
			break;
		}
		case 6: { /* splice the tail of another input */
			const struct fuzz_input *o = &c[below(&s, nc)];
			if (o->n < 2)
				break;
			size_t from = 1 + below(&s, o->n - 1);
			size_t k = o->n - from;
			if (pos + k > MAX_INPUT)
				k = MAX_INPUT - pos;
			memcpy(buf + pos, o->p + from, k);
			n = pos + k;
			break;
		}
		case 7: /* truncate */
			n = pos;
			break;
		case 8: { /* a 24-bit frame length or 32-bit message length */
			uint32_t v = (uint32_t)(below(&s, 2) ? splitmix(&s) : below(&s, 300));
			for (size_t j = 0; j < 4 && pos + j < n; j++)
				buf[pos + j] = (uint8_t)(v >> (8 * (3 - j)));
			break;
		}
		default:
			if (below(&s, 4) == 0)
				buf[0] ^= 1; /* the other side */
			break;
		}
	}
	return n;
}

static void on_death(void)
{
	static int once;
	if (once++)
		return;
	fprintf(stderr,
	        "fuzz: crashed at seed=%llu iteration=%llu; replay: --seed %llu --iter %llu\n",
	        (unsigned long long)g_seed, (unsigned long long)g_iter, (unsigned long long)g_seed,
	        (unsigned long long)g_iter);
}

static void on_signal(int sig)
{
	on_death();
	signal(sig, SIG_DFL);
	raise(sig);
}

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static uint8_t buf[MAX_INPUT];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	printf("fuzz: ran %s (%zu bytes)\n", path, n);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = getenv("CAIRN_FUZZ_SECONDS") ? atof(getenv("CAIRN_FUZZ_SECONDS")) : 3;
	uint64_t iters = 0, only = UINT64_MAX;
	g_seed = getenv("CAIRN_FUZZ_SEED") ? strtoull(getenv("CAIRN_FUZZ_SEED"), NULL, 0)
	                                   : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	const char *dump = NULL;
	int files = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			g_seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--iter") && i + 1 < argc)
			only = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
			dump = argv[++i];
		else if (argv[i][0] != '-')
			files++;
	}
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_death);
	signal(SIGSEGV, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	size_t nc;
	struct fuzz_input *c = fuzz_corpus(&nc);
	if (dump) {
		mkdir(dump, 0755);
		for (size_t i = 0; i < nc; i++) {
			char path[512];
			snprintf(path, sizeof path, "%s/seed-%02zu", dump, i);
			FILE *f = fopen(path, "wb");
			if (f) {
				fwrite(c[i].p, 1, c[i].n, f);
				fclose(f);
			}
		}
		printf("fuzz: wrote %zu seeds to %s\n", nc, dump);
		fuzz_corpus_free(c, nc);
		return 0;
	}
	if (files) {
		int rc = 0;
		for (int i = 1; i < argc; i++)
			if (argv[i][0] != '-')
				rc |= run_file(argv[i]);
		fuzz_fini();
		fuzz_corpus_free(c, nc);
		return rc;
	}
	printf("fuzz: seed=%llu corpus=%zu\n", (unsigned long long)g_seed, nc);
	fflush(stdout);
	static uint8_t buf[MAX_INPUT];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t i = 0;
	if (only != UINT64_MAX) {
		g_iter = only;
		size_t n = build(c, nc, only, buf);
		LLVMFuzzerTestOneInput(buf, n);
		i = 1;
	} else {
		for (;; i++) {
			if (iters && i >= iters)
				break;
			if (!iters && (i & 31) == 0) {
				clock_gettime(CLOCK_MONOTONIC, &t);
				double el = (double)(t.tv_sec - t0.tv_sec) +
				            (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
				if (el >= seconds)
					break;
			}
			g_iter = i;
			size_t n = build(c, nc, i, buf);
			LLVMFuzzerTestOneInput(buf, n);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t);
	double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
	fuzz_fini();
	fuzz_corpus_free(c, nc);
	printf("fuzz: seed=%llu iterations=%llu in %.1f s (%.0f/s), no crash, no hang\n",
	       (unsigned long long)g_seed, (unsigned long long)i, el, (double)i / el);
	return 0;
}
