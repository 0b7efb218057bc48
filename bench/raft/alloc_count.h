/*
 * bench/raft/alloc_count.h - forced into a private build of the core
 * (-include) so that the benchmark counts the core's own allocations, not
 * the simulated host's.
 */
#ifndef CAIRN_BENCH_RAFT_ALLOC_COUNT_H
#define CAIRN_BENCH_RAFT_ALLOC_COUNT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

extern uint64_t bench_core_allocs;

void *bench_malloc(size_t n);
void *bench_calloc(size_t n, size_t size);
void *bench_realloc(void *p, size_t n);

#define malloc(n)     bench_malloc(n)
#define calloc(n, s)  bench_calloc(n, s)
#define realloc(p, n) bench_realloc(p, n)

#endif
