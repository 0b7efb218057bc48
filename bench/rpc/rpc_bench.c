/*
 * bench/rpc/rpc_bench.c - throughput of rpc/ alone, to compare with real
 * etcd in the same session (numbers are ratios; machines here are shared).
 *
 *   rpc_bench serve ADDR
 *       A server with /etcdserverpb.KV/Range (unpacks the RangeRequest,
 *       packs a RangeResponse with a header and one key-value, as a
 *       serializable Range costs in rpc/ terms) and /bench.Echo/Unary (raw
 *       bytes echoed). Runs until SIGINT/SIGTERM, then shuts down.
 *   rpc_bench load ADDR [-c CONNS] [-m INFLIGHT] [-d SECONDS] [-p PATH]
 *       Our client: CONNS connections, INFLIGHT unary calls outstanding on
 *       each, a RangeRequest for "foo" (serializable) on PATH (default
 *       /etcdserverpb.KV/Range); prints calls/s and latency percentiles.
 *       Works against real etcd too.
 *
 * The same load with h2load (HTTP/2 only, it counts :status, not
 * grpc-status):
 *   printf '\0\0\0\0\7\n\3foo\x58\1' > range.bin
 *   h2load -n 200000 -c 8 -m 64 -H 'content-type: application/grpc' \
 *          -H 'te: trailers' -d range.bin http://ADDR/etcdserverpb.KV/Range
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc/rpc.h"

static uv_loop_t *loop;

/* ---- serve -------------------------------------------------------------- */

static void range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)b;
	(void)n;
	const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)m;
	Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	hdr.cluster_id = 0x1234567890abcdefull;
	hdr.member_id = 0xfedcba0987654321ull;
	hdr.revision = 12345;
	hdr.raft_term = 2;
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
	kv.key = req->key;
	kv.value.data = (uint8_t *)"bar";
	kv.value.len = 3;
	kv.create_revision = 2;
	kv.mod_revision = 12345;
	kv.version = 5;
	Mvccpb__KeyValue *kvs[] = {&kv};
	Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	resp.header = &hdr;
	resp.kvs = kvs;
	resp.n_kvs = 1;
	resp.count = 1;
	rpc_stream_reply(s, &resp.base);
}

static void echo(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static struct rpc_server *srv;
static uv_signal_t sigint, sigterm;

static void on_signal(uv_signal_t *h, int sig)
{
	(void)h;
	(void)sig;
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	struct rpc_server_stats st;
	rpc_server_stats(srv, &st);
	fprintf(stderr, "rpc_bench: %llu streams on %llu connections\n",
	        (unsigned long long)st.streams_total, (unsigned long long)st.conns_total);
	rpc_server_shutdown(srv, 0, RPC_UNAVAILABLE, "server stopped", NULL, NULL);
}

static int serve(const char *addr)
{
	if (rpc_server_new(loop, NULL, &srv))
		return 1;
	const struct rpc_method ms[] = {
	    {.path = "/etcdserverpb.KV/Range",
	     .kind = RPC_UNARY,
	     .request = &etcdserverpb__range_request__descriptor,
	     .on_message = range},
	    {.path = "/bench.Echo/Unary", .kind = RPC_UNARY, .on_message = echo},
	};
	for (size_t i = 0; i < 2; i++)
		rpc_server_register(srv, &ms[i]);
	int port, rv = rpc_server_listen(srv, addr, &port);
	if (rv) {
		fprintf(stderr, "rpc_bench: listen %s: %s\n", addr, rpc_strerror(rv));
		return 1;
	}
	printf("rpc_bench: serving on port %d\n", port);
	fflush(stdout);
	uv_signal_init(loop, &sigint);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}

/* ---- load --------------------------------------------------------------- */

#define MAX_SAMPLES (1 << 22)

static struct {
	const char *path;
	uint64_t done, errors, t_end;
	uint64_t *lat_us;
	size_t nlat;
	bool stopping;
	int open_calls;
} L;

static uint8_t req_bytes[64];
static size_t req_len;

/* One outstanding call: when it started and on which connection. */
struct pending {
	uint64_t t;
	struct rpc_client *cl;
};

static void on_reply(struct rpc_call *call, void *arg, int code, const char *msg,
                     const ProtobufCMessage *resp, const uint8_t *b, size_t n);

static void issue(struct rpc_client *cl)
{
	struct pending *p = malloc(sizeof *p);
	p->t = uv_hrtime();
	p->cl = cl;
	struct rpc_call_options o = {.on_reply = on_reply, .arg = p};
	if (rpc_call_unary_bytes(cl, L.path, req_bytes, req_len, &o, NULL) == 0)
		L.open_calls++;
	else
		free(p);
}

static void on_reply(struct rpc_call *call, void *arg, int code, const char *msg,
                     const ProtobufCMessage *resp, const uint8_t *b, size_t n)
{
	(void)call;
	(void)resp;
	(void)b;
	(void)n;
	struct pending *p = arg;
	struct rpc_client *cl = p->cl;
	if (code == RPC_OK) {
		L.done++;
		if (L.nlat < MAX_SAMPLES)
			L.lat_us[L.nlat++] = (uv_hrtime() - p->t) / 1000;
	} else if (L.errors++ < 3) {
		fprintf(stderr, "rpc_bench: %s: %s\n", rpc_code_name(code), msg);
	}
	free(p);
	L.open_calls--;
	if (!L.stopping && code == RPC_OK)
		issue(cl);
}

static void stop_cb(uv_timer_t *t)
{
	L.stopping = true;
	L.t_end = uv_hrtime();
	uv_close((uv_handle_t *)t, NULL);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int load(const char *addr, int conns, int inflight, double seconds)
{
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key.data = (uint8_t *)"foo";
	rr.key.len = 3;
	rr.serializable = 1;
	req_len = etcdserverpb__range_request__pack(&rr, req_bytes);
	L.lat_us = malloc(MAX_SAMPLES * sizeof *L.lat_us);
	struct rpc_client **cls = calloc((size_t)conns, sizeof *cls);
	for (int i = 0; i < conns; i++)
		if (rpc_client_connect(loop, addr, NULL, &cls[i]))
			return 1;
	/* Warm up: one call per connection, so all are READY. */
	for (int i = 0; i < conns; i++)
		issue(cls[i]);
	L.stopping = true;
	while (L.open_calls > 0)
		uv_run(loop, UV_RUN_ONCE);
	L.stopping = false;
	L.done = L.errors = L.nlat = 0;
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, stop_cb, (uint64_t)(seconds * 1000), 0);
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < conns; i++)
		for (int j = 0; j < inflight; j++)
			issue(cls[i]);
	while (!L.stopping || L.open_calls > 0)
		uv_run(loop, UV_RUN_ONCE);
	double el = (double)(L.t_end - t0) / 1e9;
	qsort(L.lat_us, L.nlat, sizeof *L.lat_us, cmp);
	printf("rpc_bench: %s %s: %d conns x %d in flight: %.0f calls/s (%llu in %.1f s), "
	       "%llu errors, latency p50 %llu us p99 %llu us\n",
	       addr, L.path, conns, inflight, (double)L.done / el, (unsigned long long)L.done, el,
	       (unsigned long long)L.errors,
	       (unsigned long long)(L.nlat ? L.lat_us[L.nlat / 2] : 0),
	       (unsigned long long)(L.nlat ? L.lat_us[L.nlat * 99 / 100] : 0));
	for (int i = 0; i < conns; i++)
		rpc_client_close(cls[i]);
	uv_run(loop, UV_RUN_DEFAULT);
	free(cls);
	free(L.lat_us);
	return L.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	loop = uv_default_loop();
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "load") == 0) {
		int conns = 8, inflight = 64;
		double seconds = 5;
		L.path = "/etcdserverpb.KV/Range";
		for (int i = 3; i + 1 < argc; i += 2) {
			if (!strcmp(argv[i], "-c"))
				conns = atoi(argv[i + 1]);
			else if (!strcmp(argv[i], "-m"))
				inflight = atoi(argv[i + 1]);
			else if (!strcmp(argv[i], "-d"))
				seconds = atof(argv[i + 1]);
			else if (!strcmp(argv[i], "-p"))
				L.path = argv[i + 1];
		}
		return load(argv[2], conns, inflight, seconds);
	}
	fprintf(stderr, "usage: rpc_bench serve ADDR | rpc_bench load ADDR [-c N] [-m N] [-d S] "
	                "[-p PATH]\n");
	return 2;
}
