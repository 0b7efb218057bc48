/*
 * tests/sim/sim.h - a deterministic cluster simulator for the Raft core.
 *
 * sim_run() drives one cluster of cores in virtual time from a seed: each
 * node has a host like cairnd's (an in-memory log cache holding entries
 * still being written, a disk with ordered, delayed writes, a key-value
 * state machine, snapshots), connected by a network that loses, duplicates,
 * delays and reorders messages and can be partitioned. With faults on, a
 * seeded schedule crashes and restarts nodes (losing un-synced writes),
 * partitions and heals links, slows disks, changes membership and transfers
 * leadership, while clients propose writes and issue ReadIndex reads.
 *
 * After every event the simulator checks the safety invariants listed in
 * world.c; after the fault phase it heals everything and requires a leader
 * to commit a fresh proposal within a bound. The same seed replays the same
 * run exactly; a failure carries the seed and the last events.
 */
#ifndef CAIRN_TESTS_SIM_SIM_H
#define CAIRN_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct sim_params {
	unsigned nodes;     /* initial voters, 1..7 */
	unsigned spares;    /* extra node ids that may join */
	bool faults;        /* the chaos schedule; false: clean network */
	uint64_t fault_us;  /* length of the fault phase, virtual microseconds */
	uint64_t settle_us; /* after healing: bound for a commit (liveness) */
	unsigned history;   /* events kept for a failure report */
	FILE *trace;        /* if set, every event is printed here */

	/* Benchmark mode (faults off): a closed loop keeps `bench_window`
	 * proposals of `bench_payload` bytes outstanding on the leader until
	 * `bench_entries` are committed. */
	unsigned bench_window;
	uint32_t bench_payload;
	uint64_t bench_entries;
	/* Called once when a tenth of bench_entries are committed, so that
	 * measurements can skip the warm-up. */
	void (*bench_warm)(void *arg, uint64_t committed);
	void *bench_arg;
};

struct sim_report {
	bool ok;
	char error[512];
	uint64_t virtual_us;
	uint64_t events;
	uint64_t committed;       /* entries committed by the cluster */
	uint64_t committed_bytes; /* their payload bytes */
	uint64_t proposals;
	uint64_t reads_checked;
	uint64_t elections;
	uint64_t crashes;
	uint64_t conf_changes;
	uint64_t transfers;
	uint64_t snapshots_installed;
};

void sim_params_default(struct sim_params *p, unsigned nodes);

/* Runs one seed. Returns 0 if every invariant held (rep->ok), -1 otherwise;
 * on failure the report's error names the broken invariant and the seed,
 * and the last `history` events are printed to `out` (if not NULL). */
int sim_run(uint64_t seed, const struct sim_params *p, struct sim_report *rep, FILE *out);

#endif
