/*
 * bench/cairn-bench/main.c - cairn-bench's command line.
 *
 * The command line is etcd benchmark's (tools/benchmark, v3.4): the same
 * global flags (--endpoints, --conns, --clients, --target-leader,
 * --precise), the same subcommands and their flags and defaults, so a
 * command written for etcd's tool runs here unchanged. Additions: --json
 * (one JSON object on stdout), --duration, --warmup, --request-timeout,
 * --no-progress, --seed; the mixed subcommand; and watch-latency's
 * --streams and --watchers-per-stream. Not supported: TLS and auth flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "tmpl.h"
#include "workloads.h"

static struct bench_opts O;

#define F(n, t, p, h)                                     \
	{                                                 \
		.name = n, .type = t, .ptr = p, .help = h \
	}

static const struct flag global_flags[] = {
    F("endpoints", FLAG_LIST, &O.endpoints, "gRPC endpoints"),
    F("conns", FLAG_INT, &O.conns, "Total number of gRPC connections"),
    F("clients", FLAG_INT, &O.clients, "Total number of gRPC clients"),
    F("precise", FLAG_BOOL, &O.precise, "use full floating point precision"),
    F("target-leader", FLAG_BOOL, &O.target_leader, "connect only to the leader node"),
    F("dial-timeout", FLAG_DURATION, &O.dial_timeout, "dial timeout for client connections"),
    F("json", FLAG_BOOL, &O.json,
      "print the result as one JSON object on stdout (the summary goes to stderr)"),
    F("duration", FLAG_DURATION, &O.duration,
      "run for this long instead of --total requests (0: use --total)"),
    F("warmup", FLAG_DURATION, &O.warmup, "run this long before measuring (not recorded)"),
    F("request-timeout", FLAG_DURATION, &O.request_timeout, "deadline of each request (0: none)"),
    F("no-progress", FLAG_BOOL, &O.no_progress, "no progress bar even on a terminal"),
    F("seed", FLAG_INT, &O.seed, "seed of the random keys and values (0: from the clock)"),
};

static const struct flag put_flags[] = {
    F("key-size", FLAG_INT, &O.key_size, "Key size of put request"),
    F("val-size", FLAG_INT, &O.val_size, "Value size of put request"),
    F("rate", FLAG_INT, &O.rate, "Maximum puts per second (0 is no limit)"),
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of put requests",
     .seen = &O.total_seen},
    F("key-space-size", FLAG_INT, &O.key_space_size, "Maximum possible keys"),
    F("sequential-keys", FLAG_BOOL, &O.seq_keys, "Use sequential keys"),
};

static const struct flag range_flags[] = {
    F("rate", FLAG_INT, &O.rate, "Maximum range requests per second (0 is no limit)"),
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of range requests",
     .seen = &O.total_seen},
    F("consistency", FLAG_STRING, &O.consistency, "Linearizable(l) or Serializable(s)"),
    F("limit", FLAG_INT, &O.limit,
      "Maximum number of results to return from range request (0 is no limit)"),
};

static const struct flag txn_put_flags[] = {
    F("key-size", FLAG_INT, &O.key_size, "Key size of txn put"),
    F("val-size", FLAG_INT, &O.val_size, "Value size of txn put"),
    F("txn-ops", FLAG_INT, &O.txn_ops, "Number of puts per txn"),
    F("rate", FLAG_INT, &O.rate, "Maximum txns per second (0 is no limit)"),
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of txn requests",
     .seen = &O.total_seen},
    F("key-space-size", FLAG_INT, &O.key_space_size, "Maximum possible keys"),
};

static const struct flag mixed_flags[] = {
    F("key-size", FLAG_INT, &O.key_size, "Key size of mixed requests"),
    F("val-size", FLAG_INT, &O.val_size, "Value size of put requests"),
    F("rate", FLAG_INT, &O.rate, "Maximum requests per second (0 is no limit)"),
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of requests",
     .seen = &O.total_seen},
    F("key-space-size", FLAG_INT, &O.key_space_size, "Maximum possible keys"),
    F("consistency", FLAG_STRING, &O.consistency, "Linearizable(l) or Serializable(s)"),
    F("rw-ratio", FLAG_FLOAT, &O.rw_ratio, "Read/write ops ratio"),
    F("limit", FLAG_INT, &O.limit, "Read operation range result limit (0 is no limit)"),
};

static const struct flag watch_latency_flags[] = {
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of put requests",
     .seen = &O.total_seen},
    F("put-rate", FLAG_INT, &O.put_rate, "Number of keys to put per second"),
    F("key-size", FLAG_INT, &O.key_size, "Key size of watch response"),
    F("val-size", FLAG_INT, &O.val_size, "Value size of watch response"),
    F("streams", FLAG_INT, &O.streams, "Total watch streams (spread over the connections)"),
    F("watchers-per-stream", FLAG_INT, &O.watchers_per_stream,
      "Total watchers per stream, all on the put key"),
};

static const struct flag lease_flags[] = {
    {.name = "total",
     .type = FLAG_INT,
     .ptr = &O.total,
     .help = "Total number of lease keepalive requests",
     .seen = &O.total_seen},
    F("rate", FLAG_INT, &O.rate, "Maximum keepalives per second (0 is no limit)"),
    F("ttl", FLAG_INT, &O.lease_ttl, "TTL of each client's lease, in seconds"),
};

#define N(a) (sizeof a / sizeof a[0])

static const struct flag_cmd global = {
    .name = "",
    .summary = "cairn-bench is a low-level benchmark tool for etcd3 API servers (cairn or "
               "etcd).\nIt speaks gRPC through cairn's rpc/ directly; its command line is "
               "etcd's benchmark's.",
    .flags = global_flags,
    .n_flags = N(global_flags),
};

enum {
	CMD_PUT,
	CMD_RANGE,
	CMD_TXN_PUT,
	CMD_MIXED,
	CMD_TXN_MIXED,
	CMD_WATCH,
	CMD_LEASE
};

static const struct flag_cmd cmds[] = {
    [CMD_PUT] = {"put", "put", "Benchmark put", put_flags, N(put_flags)},
    [CMD_RANGE] = {"range", "range key [end-range]", "Benchmark range", range_flags,
                   N(range_flags)},
    [CMD_TXN_PUT] = {"txn-put", "txn-put", "Benchmark txn-put", txn_put_flags, N(txn_put_flags)},
    [CMD_MIXED] = {"mixed", "mixed [key [end-range]]",
                   "Benchmark a mixed load of put & range (a random key of the key space by "
                   "default)",
                   mixed_flags, N(mixed_flags)},
    [CMD_TXN_MIXED] = {"txn-mixed", "txn-mixed [key [end-range]]", "Same as mixed", mixed_flags,
                       N(mixed_flags)},
    [CMD_WATCH] = {"watch-latency", "watch-latency", "Benchmark watch latency", watch_latency_flags,
                   N(watch_latency_flags)},
    [CMD_LEASE] = {"lease-keepalive", "lease-keepalive", "Benchmark lease keepalive", lease_flags,
                   N(lease_flags)},
};

static void defaults(int cmd)
{
	memset(&O, 0, sizeof O);
	O.endpoints.v[0] = "127.0.0.1:2379";
	O.endpoints.n = 1;
	O.conns = 1;
	O.clients = 1;
	O.total = 10000;
	O.key_size = 8;
	O.val_size = 8;
	O.key_space_size = 1;
	O.txn_ops = 1;
	O.consistency = "l";
	O.rw_ratio = 1;
	O.put_rate = 100;
	O.streams = 10;
	O.watchers_per_stream = 10;
	O.lease_ttl = 100;
	if (cmd == CMD_WATCH)
		O.key_size = O.val_size = 32;
}

static int fail(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "Error: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nRun '%s --help' for usage.\n", prog);
	return 1;
}

static int check_positive(const char *prog, const char *name, int64_t v)
{
	if (v > 0)
		return 0;
	fprintf(stderr, "Error: expected positive --%s, got (%lld)\n", name, (long long)v);
	(void)prog;
	return 1;
}

/* Keys are generated: key-size must hold the largest key number. */
static int check_keys(const char *prog)
{
	if (check_positive(prog, "key-size", O.key_size) ||
	    check_positive(prog, "key-space-size", O.key_space_size))
		return 1;
	size_t need = tmpl_key_bytes((uint64_t)O.key_space_size - 1);
	if ((size_t)O.key_size < need) {
		fprintf(stderr,
		        "Error: --key-size %lld cannot hold %lld distinct keys (needs %zu)\n",
		        (long long)O.key_size, (long long)O.key_space_size, need);
		return 1;
	}
	if (O.val_size < 0)
		return fail(prog, "negative --val-size", "");
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = "cairn-bench";
	int ci = flags_find_command(&global, cmds, N(cmds), argc, argv);
	defaults(ci);
	const struct flag_cmd *cmd = ci >= 0 ? &cmds[ci] : NULL;
	const char *pos[4];
	size_t n_pos;
	bool help;
	char err[256];
	int rc = 1;
	if (flags_parse(&global, cmd, argc, argv, pos, 4, &n_pos, &help, err, sizeof err)) {
		rc = fail(prog, "%s", err);
		goto out;
	}
	if (help || !cmd) {
		if (!cmd && n_pos && !help) {
			rc = fail(prog, "unknown command \"%s\" for \"cairn-bench\"", pos[0]);
			goto out;
		}
		flags_usage(help ? stdout : stderr, prog, &global, cmds, N(cmds), cmd);
		rc = help ? 0 : 1;
		goto out;
	}

	/* Validation, with etcd benchmark's messages where it has them. */
	if (check_positive(prog, "conns", O.conns) || check_positive(prog, "clients", O.clients))
		goto out;
	if (O.duration < 0 || O.warmup < 0 || O.request_timeout < 0 || O.rate < 0 || O.total < 0) {
		rc = fail(prog, "negative --total, --rate or duration%s", "");
		goto out;
	}
	if (O.duration > 0 && !O.total_seen)
		O.total = 0; /* --duration alone: as many requests as fit */
	if (O.total == 0 && O.duration == 0) {
		rc = fail(prog, "nothing to do: --total 0 and no --duration%s", "");
		goto out;
	}
	if (strcmp(O.consistency, "l") && strcmp(O.consistency, "s")) {
		rc = fail(prog, "--consistency must be l or s, not \"%s\"", O.consistency);
		goto out;
	}
	bool ranged = ci == CMD_RANGE || ci == CMD_MIXED || ci == CMD_TXN_MIXED;
	if ((ci == CMD_RANGE && (n_pos < 1 || n_pos > 2)) || (ranged && n_pos > 2) ||
	    (!ranged && n_pos > 0)) {
		flags_usage(stderr, prog, &global, cmds, N(cmds), cmd);
		goto out;
	}
	O.key = n_pos > 0 ? pos[0] : NULL;
	O.end = n_pos > 1 ? pos[1] : NULL;
	if (O.key && !*O.key) {
		rc = fail(prog, "empty key%s", "");
		goto out;
	}

	struct bench_workload wl = {0};
	int w = -1;
	switch (ci) {
	case CMD_PUT:
		if (check_keys(prog))
			goto out;
		w = workload_put(&wl, &O);
		break;
	case CMD_RANGE:
		w = workload_range(&wl, &O);
		wl.note = O.consistency[0] == 'l' ? "bench with linearizable range"
		                                  : "bench with serializable range";
		break;
	case CMD_TXN_PUT:
		if (check_keys(prog) || check_positive(prog, "txn-ops", O.txn_ops))
			goto out;
		if (O.txn_ops > O.key_space_size || O.txn_ops > TMPL_MAX_KEYS) {
			fprintf(
			    stderr,
			    "Error: expected --txn-ops no larger than --key-space-size (and 128), "
			    "got txn-ops(%lld) key-space-size(%lld)\n",
			    (long long)O.txn_ops, (long long)O.key_space_size);
			goto out;
		}
		w = workload_txn_put(&wl, &O);
		break;
	case CMD_MIXED:
	case CMD_TXN_MIXED:
		if (check_keys(prog))
			goto out;
		if (!(O.rw_ratio >= 0)) {
			rc = fail(prog, "negative --rw-ratio%s", "");
			goto out;
		}
		w = workload_mixed(&wl, &O);
		wl.note = O.consistency[0] == 'l' ? "bench with linearizable range"
		                                  : "bench with serializable range";
		break;
	case CMD_WATCH:
		if (check_positive(prog, "key-size", O.key_size) ||
		    check_positive(prog, "put-rate", O.put_rate) ||
		    check_positive(prog, "streams", O.streams) ||
		    check_positive(prog, "watchers-per-stream", O.watchers_per_stream))
			goto out;
		O.rate = O.put_rate;
		w = workload_watch_latency(&wl, &O);
		break;
	case CMD_LEASE:
		if (check_positive(prog, "ttl", O.lease_ttl))
			goto out;
		w = workload_lease_keepalive(&wl, &O);
		break;
	}
	if (w) {
		fprintf(stderr, "cairn-bench: cannot prepare the requests\n");
		workload_free(&wl);
		goto out;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	rc = bench_run(&loop, &O, &wl);
	workload_free(&wl);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
out:
	flag_list_free(&O.endpoints);
	return rc;
}
