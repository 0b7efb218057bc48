/*
 * bench/cairn-bench/watch.c - watch-latency: how long a put takes to reach
 * every watcher.
 *
 * --streams Watch streams, spread over the connections, each carrying
 * --watchers-per-stream watchers of one key; a putter on a connection of its
 * own puts that key --total times at --put-rate. A sample is the time from
 * sending a put to one watcher receiving its event, so each put gives
 * streams x watchers samples. The next put waits until every watcher has
 * its event (as etcd's benchmark does), or until 10 s have passed, when the
 * missing events are counted as errors. (etcd's benchmark starts the clock
 * when the put returns; starting it when the put leaves includes the commit,
 * which is the latency a watcher sees.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.pb-c.h"
#include "tmpl.h"
#include "workloads.h"

#define EVENT_TIMEOUT_MS 10000
#define SETUP_TIMEOUT_MS 60000

struct watch_stream {
	struct watch_state *w;
	struct rpc_call *call;
};

struct watch_state {
	const struct bench_opts *o;
	struct bench *b;
	uint8_t *key, *val;
	uint8_t *put_buf, *create_buf;
	size_t put_len, create_len;
	struct rpc_client *putter;
	int putter_state; /* 0 connecting, 1 ready, -1 failed */
	struct watch_stream *streams;
	unsigned n_streams;
	uint64_t watchers, created;
	/* the put in flight */
	struct bench_client *cur;
	uint64_t received;
	bool replied;
	uv_timer_t deadline;
	bool deadline_open;
};

static void put_done(struct watch_state *w, int code, const char *message)
{
	struct bench_client *c = w->cur;
	w->cur = NULL;
	uv_timer_stop(&w->deadline);
	bench_complete(w->b, c, code, message);
}

static void on_event(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                     const uint8_t *bytes, size_t len)
{
	struct watch_stream *ws = arg;
	struct watch_state *w = ws->w;
	const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)msg;
	if (!r)
		return;
	if (r->created || r->canceled) {
		if (r->canceled) {
			bench_abort(w->b, "watch canceled: %s",
			            r->cancel_reason ? r->cancel_reason : "");
			return;
		}
		w->created++;
		return;
	}
	if (!r->n_events || !w->cur)
		return; /* progress notification, or a straggler after a timeout */
	uint64_t now = uv_hrtime();
	if (w->cur->measured)
		for (size_t i = 0; i < r->n_events; i++)
			bench_record(w->b, now - w->cur->t0);
	w->received += r->n_events;
	if (w->received >= w->watchers && w->replied)
		put_done(w, RPC_OK, NULL);
}

static void on_stream_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	struct watch_stream *ws = arg;
	ws->call = NULL;
	if (!ws->w->b->finished)
		bench_abort(ws->w->b, "watch stream ended: %s: %s", rpc_code_name(code),
		            message ? message : "");
}

static void put_reply(struct rpc_call *call, void *arg, int code, const char *message,
                      const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	struct watch_state *w = arg;
	if (!w->cur)
		return;
	w->replied = true;
	if (code != RPC_OK)
		put_done(w, code, message);
	else if (w->received >= w->watchers)
		put_done(w, RPC_OK, NULL);
}

static void deadline_cb(uv_timer_t *t)
{
	struct watch_state *w = t->data;
	if (!w->cur)
		return;
	char msg[128];
	snprintf(msg, sizeof msg, "watch events missing after %d s: %llu of %llu delivered",
	         EVENT_TIMEOUT_MS / 1000, (unsigned long long)w->received,
	         (unsigned long long)w->watchers);
	put_done(w, RPC_DEADLINE_EXCEEDED, msg);
}

static int watch_issue(struct bench *b, struct bench_client *c)
{
	struct watch_state *w = b->wl->state;
	struct rpc_call_options o = {.on_reply = put_reply, .arg = w};
	int rv = rpc_call_unary_bytes(w->putter, PATH_PUT, w->put_buf, w->put_len, &o, NULL);
	if (rv)
		return rv;
	w->cur = c;
	w->received = 0;
	w->replied = false;
	uv_timer_start(&w->deadline, deadline_cb, EVENT_TIMEOUT_MS, 0);
	return 0;
}

static void putter_state(struct rpc_client *rc, enum rpc_client_state st, int err, void *arg)
{
	struct watch_state *w = arg;
	if (st == RPC_CLIENT_READY)
		w->putter_state = 1;
	else if (st == RPC_CLIENT_FAILED)
		w->putter_state = -1;
}

static int watch_setup(struct bench *b)
{
	struct watch_state *w = b->wl->state;
	w->b = b;
	uv_timer_init(b->loop, &w->deadline);
	w->deadline.data = w;
	w->deadline_open = true;

	/* The putter's own connection, to the first endpoint in use. */
	struct rpc_client_options co = {.on_state = putter_state, .arg = w};
	if (rpc_client_connect(b->loop, b->endpoints[0], &co, &w->putter))
		return -1;
	while (w->putter_state == 0)
		uv_run(b->loop, UV_RUN_ONCE);
	if (w->putter_state < 0) {
		fprintf(stderr, "cairn-bench: dial error: %s\n", b->endpoints[0]);
		return -1;
	}

	w->n_streams = (unsigned)w->o->streams;
	w->watchers = (uint64_t)w->o->streams * (uint64_t)w->o->watchers_per_stream;
	w->streams = calloc(w->n_streams, sizeof *w->streams);
	if (!w->streams)
		return -1;
	for (unsigned i = 0; i < w->n_streams; i++) {
		struct watch_stream *ws = &w->streams[i];
		ws->w = w;
		struct rpc_call_options o = {.response = &etcdserverpb__watch_response__descriptor,
		                             .on_message = on_event,
		                             .on_end = on_stream_end,
		                             .arg = ws};
		if (rpc_call_start(b->conns[i % b->n_conns].rc, PATH_WATCH, &o, &ws->call))
			return -1;
		for (int64_t j = 0; j < w->o->watchers_per_stream; j++)
			if (rpc_call_send_bytes(ws->call, w->create_buf, w->create_len) < 0)
				return -1;
	}
	/* Every watcher created before the first put. */
	uint64_t t0 = uv_hrtime();
	while (w->created < w->watchers && !b->aborted) {
		if (uv_hrtime() - t0 > SETUP_TIMEOUT_MS * 1000000ull) {
			fprintf(stderr, "cairn-bench: only %llu of %llu watchers created\n",
			        (unsigned long long)w->created, (unsigned long long)w->watchers);
			return -1;
		}
		uv_run(b->loop, UV_RUN_ONCE);
	}
	return b->aborted ? -1 : 0;
}

static void watch_teardown(struct bench *b)
{
	struct watch_state *w = b->wl->state;
	for (unsigned i = 0; i < w->n_streams; i++)
		if (w->streams[i].call) {
			rpc_call_cancel(w->streams[i].call);
			w->streams[i].call = NULL;
		}
	if (w->putter)
		rpc_client_close(w->putter);
	w->putter = NULL;
	if (w->deadline_open)
		uv_close((uv_handle_t *)&w->deadline, NULL);
	w->deadline_open = false;
}

static void watch_free(void *state)
{
	struct watch_state *w = state;
	if (!w)
		return;
	free(w->key);
	free(w->val);
	free(w->put_buf);
	free(w->create_buf);
	free(w->streams);
	free(w);
}

int workload_watch_latency(struct bench_workload *wl, const struct bench_opts *o)
{
	struct watch_state *w = calloc(1, sizeof *w);
	if (!w)
		return -1;
	wl->op = "watch-latency";
	wl->state = w;
	wl->free_state = watch_free;
	wl->setup = watch_setup;
	wl->issue = watch_issue;
	wl->teardown = watch_teardown;
	wl->n_clients = 1;
	wl->no_latency = true;
	w->o = o;
	size_t ks = (size_t)o->key_size, vs = (size_t)o->val_size;
	w->key = malloc(ks);
	w->val = malloc(vs ? vs : 1);
	if (!w->key || !w->val)
		return -1;
	/* A random key, as etcd's benchmark (mustRandBytes). */
	workload_rand_bytes(w->key, ks);
	workload_rand_bytes(w->val, vs);

	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	put.key.data = w->key;
	put.key.len = ks;
	put.value.data = w->val;
	put.value.len = vs;
	w->put_len = etcdserverpb__put_request__get_packed_size(&put);
	w->put_buf = malloc(w->put_len);

	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	cr.key.data = w->key;
	cr.key.len = ks;
	Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
	wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	wr.create_request = &cr;
	w->create_len = etcdserverpb__watch_request__get_packed_size(&wr);
	w->create_buf = malloc(w->create_len);
	if (!w->put_buf || !w->create_buf)
		return -1;
	etcdserverpb__put_request__pack(&put, w->put_buf);
	etcdserverpb__watch_request__pack(&wr, w->create_buf);
	return 0;
}
