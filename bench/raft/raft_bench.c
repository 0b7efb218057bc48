/*
 * bench/raft/raft_bench.c - the Raft core's CPU ceiling.
 *
 * Runs a 3-node cluster in the simulator (tests/sim) without faults: the
 * leader keeps `window` proposals outstanding, the network and disks add
 * only virtual delays. Rates are per second of this process's CPU time (the
 * machine is shared; wall time is shown too), which covers the three cores
 * plus their simulated hosts (copying payloads, hashing them for the
 * invariant checks, which stay on): a lower bound on what one core alone
 * sustains. Allocations are counted in a private build of the core
 * only (alloc_count.h), after a warm-up of a tenth of the entries.
 *
 *   raft_bench [--entries N] [--window W] [--payload BYTES]
 *
 * Not a test: it reports numbers and is not registered with CTest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/raft/alloc_count.h"
#include "tests/sim/sim.h"

#undef malloc
#undef calloc
#undef realloc

uint64_t bench_core_allocs;

void *bench_malloc(size_t n)
{
	bench_core_allocs++;
	return malloc(n);
}

void *bench_calloc(size_t n, size_t size)
{
	bench_core_allocs++;
	return calloc(n, size);
}

void *bench_realloc(void *p, size_t n)
{
	bench_core_allocs++;
	return realloc(p, n);
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct warm {
	double cpu;
	double wall;
	uint64_t allocs;
	uint64_t committed;
};

static void warmed(void *arg, uint64_t committed)
{
	struct warm *w = arg;
	w->cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	w->wall = clock_s(CLOCK_MONOTONIC);
	w->allocs = bench_core_allocs;
	w->committed = committed;
}

static int run(uint32_t payload, uint64_t entries, unsigned window)
{
	struct sim_params p;
	sim_params_default(&p, 3);
	p.faults = false;
	p.history = 0;
	p.bench_window = window;
	p.bench_payload = payload;
	p.bench_entries = entries;
	struct warm w = {0};
	p.bench_warm = warmed;
	p.bench_arg = &w;
	struct sim_report rep;
	if (sim_run(1, &p, &rep, stderr) != 0) {
		fprintf(stderr, "simulation failed: %s\n", rep.error);
		return -1;
	}
	double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - w.cpu;
	double wall = clock_s(CLOCK_MONOTONIC) - w.wall;
	uint64_t n = entries - w.committed;
	double eps = (double)n / cpu;
	printf("%7u B  %12.0f  %9.1f  %10.4f  %10llu  %7.2f  %7.2f\n", payload, eps,
	       eps * payload / 1e6, (double)(bench_core_allocs - w.allocs) / (double)n,
	       (unsigned long long)n, cpu, wall);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t entries = 300000;
	unsigned window = 256;
	uint32_t only = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			entries = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			only = (uint32_t)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--entries N] [--window W] [--payload BYTES]\n",
			        argv[0]);
			return 2;
		}
	}
	printf("raft_bench: 3 nodes, no faults, %u proposals outstanding, %llu entries per run\n",
	       window, (unsigned long long)entries);
	printf("  payload   entries/s       MB/s  allocs/entry    measured  cpu (s)  wall (s)\n");
	static const uint32_t sizes[] = {64, 256, 4096};
	for (int k = 0; k < 3; k++) {
		if (only && sizes[k] != only)
			continue;
		if (run(sizes[k], entries, window))
			return 1;
	}
	printf("(rates per second of this process's CPU time, which runs all three nodes and their "
	       "simulated hosts;\n allocs/entry: allocations by the Raft core per committed entry, "
	       "all three nodes, after warm-up)\n");
	return 0;
}
