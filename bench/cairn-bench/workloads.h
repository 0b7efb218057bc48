/*
 * bench/cairn-bench/workloads.h - the subcommands' request generators.
 * Each fills a struct bench_workload from the options (already validated
 * by main.c) and owns what it allocates until workload_free().
 */
#ifndef CAIRN_BENCH_WORKLOADS_H
#define CAIRN_BENCH_WORKLOADS_H

#include "bench.h"

#define PATH_RANGE     "/etcdserverpb.KV/Range"
#define PATH_PUT       "/etcdserverpb.KV/Put"
#define PATH_TXN       "/etcdserverpb.KV/Txn"
#define PATH_GRANT     "/etcdserverpb.Lease/LeaseGrant"
#define PATH_REVOKE    "/etcdserverpb.Lease/LeaseRevoke"
#define PATH_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define PATH_WATCH     "/etcdserverpb.Watch/Watch"

int workload_put(struct bench_workload *wl, const struct bench_opts *o);
int workload_range(struct bench_workload *wl, const struct bench_opts *o);
int workload_txn_put(struct bench_workload *wl, const struct bench_opts *o);
int workload_mixed(struct bench_workload *wl, const struct bench_opts *o);
int workload_lease_keepalive(struct bench_workload *wl, const struct bench_opts *o);
int workload_watch_latency(struct bench_workload *wl, const struct bench_opts *o);
void workload_free(struct bench_workload *wl);

/* Random bytes from the run's PRNG (values, like etcd's mustRandBytes). */
void workload_rand_bytes(uint8_t *dst, size_t n);

#endif
