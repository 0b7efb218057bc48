/*
 * bench/cairn-bench/bench.h - the load engine shared by every workload.
 *
 * One libuv loop drives everything, as etcd's benchmark drives goroutines:
 * --conns rpc_clients (one HTTP/2 connection each; connection i goes to
 * endpoint i mod n), and --clients closed-loop clients assigned to them
 * round-robin (client i uses connection i mod conns, as etcd's
 * mustCreateClients does). A client issues one request, waits for its
 * answer, records it, and issues the next. Requests are packed once up
 * front; a workload only patches key bytes in place before each call, so
 * the hot loop allocates nothing of its own.
 *
 * Phases: connect (every connection READY), the workload's setup (leases,
 * watches, seed keys), an optional warm-up (--warmup: requests issued and
 * answered but not recorded), then the measured phase: --total requests, or
 * --duration of issuing, whichever comes first; in-flight requests are
 * waited for. The measured span runs from the start of the measured phase
 * to the last measured completion.
 */
#ifndef CAIRN_BENCH_BENCH_H
#define CAIRN_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flags.h"
#include "report.h"
#include "rpc/rpc.h"

/* Every option of every command; the command line fills it (main.c). */
struct bench_opts {
	/* global */
	struct flag_list endpoints;
	int64_t conns, clients;
	bool target_leader, precise, json, no_progress;
	int64_t dial_timeout, duration, warmup, request_timeout; /* ns */
	/* per command */
	int64_t total, rate;
	bool total_seen;
	int64_t key_size, val_size, key_space_size, limit, txn_ops;
	bool seq_keys;
	const char *consistency;
	double rw_ratio;
	int64_t put_rate, streams, watchers_per_stream, lease_ttl;
	const char *key, *end; /* range/mixed positional arguments */
	int64_t seed;
};

struct bench;
struct bench_client;

struct bench_conn {
	struct bench *b;
	unsigned idx;
	const char *endpoint;
	struct rpc_client *rc;
	bool ready;
	struct bench_client *parked; /* clients waiting for it to come back */
	uv_timer_t redial;
};

struct bench_client {
	struct bench *b;
	struct bench_conn *conn;
	unsigned idx;
	uint64_t t0;                  /* uv_hrtime() when the request went out */
	bool measured;                /* issued in the measured phase */
	bool busy;                    /* a request is in flight */
	bool retired;                 /* issues nothing more (its stream ended) */
	struct series *sub;           /* mixed: the series of the request in flight */
	struct bench_client *next;    /* in one wait list: pacer, connection, retry */
	struct rpc_call_options call; /* on_reply/arg preset for unary calls */
	/* workload state */
	struct rpc_call *stream;
	int64_t lease;
};

struct bench_workload {
	const char *op;
	/* After the connections are up: prepare the server side. Returns 0 or
	 * -1 (message printed). Optional. */
	int (*setup)(struct bench *b);
	/* Start one request on c; answer through bench_complete(). Returns 0,
	 * or a negative rpc_* error for a request that never went out. */
	int (*issue)(struct bench *b, struct bench_client *c);
	/* After the run, before the connections close. Optional. */
	void (*teardown)(struct bench *b);
	/* Engine clients wanted; 0: --clients. */
	unsigned n_clients;
	/* Whether the engine records each completion's latency (watch-latency
	 * records its events itself). */
	bool no_latency;
	void *state;
	void (*free_state)(void *state); /* NULL: workloads.c's own state */
	const char *note;                /* printed before the summary */
};

enum bench_phase {
	BENCH_SETUP,
	BENCH_WARMUP,
	BENCH_MEASURE,
};

struct bench {
	uv_loop_t *loop;
	const struct bench_opts *o;
	struct bench_workload *wl;
	const char *endpoints[FLAG_LIST_MAX]; /* in use (the leader alone with --target-leader) */
	unsigned n_endpoints;
	struct bench_conn *conns;
	unsigned n_conns;
	struct bench_client *clients;
	unsigned n_clients;

	enum bench_phase phase;
	bool stopping, finished, aborted;
	uint64_t issued, completed, inflight, live;
	uint64_t t_start, t_last, t_progress;

	struct report rep;
	struct series read, write; /* mixed */

	uint64_t pace_ns, pace_next; /* --rate: one token every pace_ns */
	struct bench_client *pace_head, *pace_tail;
	struct bench_client *retry;
	uv_timer_t pace_timer, retry_timer, phase_timer, progress_timer;
	bool progress;
	unsigned timers_open, conns_failed;
};

/* Runs a whole benchmark: connect, setup, warm-up, measure, report.
 * Returns the process exit code. */
int bench_run(uv_loop_t *loop, const struct bench_opts *o, struct bench_workload *wl);

/* A request of c finished: records it (if measured) and issues the next. */
void bench_complete(struct bench *b, struct bench_client *c, int code, const char *message);
/* A latency sample outside the request/answer pattern (watch events). */
void bench_record(struct bench *b, uint64_t ns);
/* An error outside the request/answer pattern. */
void bench_record_error(struct bench *b, int code, const char *message);
/* c issues nothing more (its stream ended). */
void bench_retire(struct bench *b, struct bench_client *c);
/* Ends the run early with a message (setup failures, stalls). */
void bench_abort(struct bench *b, const char *fmt, ...);

/* A unary call run to completion from setup code. The response bytes are
 * copied into *resp (malloc'd, caller frees). Returns the gRPC code; a
 * message is copied into msg. */
int bench_unary_sync(uv_loop_t *loop, struct rpc_client *rc, const char *path,
                     const ProtobufCMessage *req, uint8_t **resp, size_t *resp_len, char *msg,
                     size_t msglen, uint64_t timeout_ms);

/* xorshift64*: the per-run PRNG (keys, read/write choice). */
uint64_t bench_rand(void);
void bench_rand_seed(uint64_t seed);

#endif
