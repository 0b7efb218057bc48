/*
 * tests/sim/main.c - runs the cluster simulator over many seeds.
 *
 *   raft_sim [--seeds N] [--start S]   N seeds from S (default 2000 from 1);
 *                                      cluster sizes cycle 1, 3, 5, 7
 *   raft_sim --seed S [--nodes K]      replay one seed (prints its failure)
 *   raft_sim --soak SECONDS            run fresh seeds until time is up
 *   --nodes K     force the cluster size
 *   --trace       print every event (with --seed)
 *   --history N   events shown in a failure report (default 60)
 *
 * The last line is "N seeds passed", or says how many failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/sim.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned size_for(uint64_t seed, unsigned forced)
{
	static const unsigned sizes[] = {1, 3, 5, 7};
	return forced ? forced : sizes[seed % 4];
}

int main(int argc, char **argv)
{
	uint64_t seeds = 2000, start = 1, one = 0;
	unsigned nodes = 0, history = 60;
	double soak = 0;
	bool trace = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seeds") && v)
			seeds = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(a, "--start") && v)
			start = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(a, "--seed") && v)
			one = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(a, "--nodes") && v)
			nodes = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--soak") && v)
			soak = atof(argv[++i]);
		else if (!strcmp(a, "--history") && v)
			history = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--trace"))
			trace = true;
		else {
			fprintf(stderr,
			        "usage: %s [--seeds N] [--start S] [--seed S] [--nodes K] "
			        "[--soak SECONDS] [--trace] [--history N]\n",
			        argv[0]);
			return 2;
		}
	}
	if (nodes > 7) {
		fprintf(stderr, "--nodes: 1..7\n");
		return 2;
	}

	struct sim_report total = {0}, rep;
	uint64_t passed = 0, failed = 0, first_failed = 0, ran = 0;
	double t0 = now_s();
	for (uint64_t s = one ? one : start;; s++) {
		if (one && s != one)
			break;
		if (!one && !soak && s >= start + seeds)
			break;
		if (soak && now_s() - t0 >= soak)
			break;
		struct sim_params p;
		sim_params_default(&p, size_for(s, nodes));
		p.history = history;
		if (trace && one)
			p.trace = stdout;
		ran++;
		if (sim_run(s, &p, &rep, stdout) == 0) {
			passed++;
		} else {
			if (!failed)
				first_failed = s;
			failed++;
			fflush(stdout);
		}
		total.events += rep.events;
		total.proposals += rep.proposals;
		total.reads_checked += rep.reads_checked;
		total.elections += rep.elections;
		total.crashes += rep.crashes;
		total.conf_changes += rep.conf_changes;
		total.transfers += rep.transfers;
		total.snapshots_installed += rep.snapshots_installed;
		total.committed += rep.committed;
	}
	double dt = now_s() - t0;
	printf("%llu seeds in %.1fs: %llu events, %llu entries committed, %llu proposals, "
	       "%llu reads checked, %llu elections, %llu crashes, %llu conf changes, "
	       "%llu transfers, %llu snapshots installed\n",
	       (unsigned long long)ran, dt, (unsigned long long)total.events,
	       (unsigned long long)total.committed, (unsigned long long)total.proposals,
	       (unsigned long long)total.reads_checked, (unsigned long long)total.elections,
	       (unsigned long long)total.crashes, (unsigned long long)total.conf_changes,
	       (unsigned long long)total.transfers, (unsigned long long)total.snapshots_installed);
	if (failed) {
		printf("%llu of %llu seeds FAILED (first: --seed %llu)\n",
		       (unsigned long long)failed, (unsigned long long)ran,
		       (unsigned long long)first_failed);
		return 1;
	}
	printf("%llu seeds passed\n", (unsigned long long)passed);
	return 0;
}
