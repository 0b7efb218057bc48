/*
 * bench/cairn-bench/bench.c - the load engine of bench.h: connections,
 * closed-loop clients, pacing, phases, progress, and the final report.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc.pb-c.h"

#define REDIAL_MS   500
#define RETRY_MS    10
#define TICK_MS     200
#define STALL_NS    (30ull * 1000000000ull)
#define PACE_SLACK  1000000ull /* ns of missed tokens a late timer may catch up */
#define STATUS_PATH "/etcdserverpb.Maintenance/Status"

/* ---- PRNG ----------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

void bench_rand_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t bench_rand(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- setup helpers ---------------------------------------------------------- */

struct sync_call {
	int done;
	int code;
	char *msg;
	size_t msglen;
	uint8_t **resp;
	size_t *resp_len;
};

static void sync_reply(struct rpc_call *call, void *arg, int code, const char *message,
                       const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	struct sync_call *sc = arg;
	sc->code = code;
	if (sc->msg)
		snprintf(sc->msg, sc->msglen, "%s", message ? message : "");
	if (code == RPC_OK && sc->resp) {
		*sc->resp = malloc(len ? len : 1);
		if (*sc->resp) {
			memcpy(*sc->resp, bytes, len);
			*sc->resp_len = len;
		} else {
			sc->code = RPC_RESOURCE_EXHAUSTED;
		}
	}
	sc->done = 1;
}

int bench_unary_sync(uv_loop_t *loop, struct rpc_client *rc, const char *path,
                     const ProtobufCMessage *req, uint8_t **resp, size_t *resp_len, char *msg,
                     size_t msglen, uint64_t timeout_ms)
{
	struct sync_call sc = {.msg = msg, .msglen = msglen, .resp = resp, .resp_len = resp_len};
	if (resp)
		*resp = NULL;
	struct rpc_call_options o = {.on_reply = sync_reply, .arg = &sc, .timeout_ms = timeout_ms};
	int rv = rpc_call_unary(rc, path, req, &o, NULL);
	if (rv) {
		if (msg)
			snprintf(msg, msglen, "%s", rpc_strerror(rv));
		return RPC_UNAVAILABLE;
	}
	while (!sc.done)
		uv_run(loop, UV_RUN_ONCE);
	return sc.code;
}

/* ---- leader ---------------------------------------------------------------- */

/* --target-leader: asks every endpoint's Maintenance/Status and keeps the
 * one whose member ID is the leader they report. */
static int find_leader(struct bench *b)
{
	const struct bench_opts *o = b->o;
	uint64_t leader = 0, member[FLAG_LIST_MAX] = {0};
	bool answered[FLAG_LIST_MAX] = {0};
	uint64_t timeout = o->dial_timeout ? (uint64_t)o->dial_timeout / 1000000 : 5000;
	for (size_t i = 0; i < o->endpoints.n; i++) {
		struct rpc_client_options co = {.connect_timeout_ms = timeout};
		struct rpc_client *rc;
		if (rpc_client_connect(b->loop, o->endpoints.v[i], &co, &rc))
			continue;
		Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
		uint8_t *resp;
		size_t len;
		char msg[256];
		int code = bench_unary_sync(b->loop, rc, STATUS_PATH, &req.base, &resp, &len, msg,
		                            sizeof msg, timeout);
		rpc_client_close(rc);
		if (code != RPC_OK) {
			fprintf(stderr, "cairn-bench: status of %s: %s: %s\n", o->endpoints.v[i],
			        rpc_code_name(code), msg);
			continue;
		}
		Etcdserverpb__StatusResponse *st =
		    etcdserverpb__status_response__unpack(NULL, len, resp);
		free(resp);
		if (!st)
			continue;
		answered[i] = true;
		member[i] = st->header ? st->header->member_id : 0;
		if (st->leader)
			leader = st->leader;
		etcdserverpb__status_response__free_unpacked(st, NULL);
	}
	uv_run(b->loop, UV_RUN_NOWAIT);
	for (size_t i = 0; i < o->endpoints.n; i++)
		if (answered[i] && leader && member[i] == leader) {
			b->endpoints[0] = o->endpoints.v[i];
			b->n_endpoints = 1;
			return 0;
		}
	fprintf(stderr, "cairn-bench: no leader among the endpoints%s\n",
	        leader ? " (the leader's endpoint is not in --endpoints)" : "");
	return -1;
}

/* ---- connections ------------------------------------------------------------ */

static void bench_next(struct bench *b, struct bench_client *c);

/* Wait lists are singly linked through client->next. */
static void park(struct bench_client **list, struct bench_client *c)
{
	c->next = *list;
	*list = c;
}

/* Takes the whole list, then lets each client try again. */
static void resume_all(struct bench *b, struct bench_client **list)
{
	struct bench_client *c = *list;
	*list = NULL;
	while (c) {
		struct bench_client *next = c->next;
		c->next = NULL;
		bench_next(b, c);
		c = next;
	}
}

static void conn_state(struct rpc_client *rc, enum rpc_client_state st, int err, void *arg);

static int conn_dial(struct bench_conn *cn)
{
	const struct bench_opts *o = cn->b->o;
	struct rpc_client_options co = {
	    .connect_timeout_ms = o->dial_timeout ? (uint64_t)o->dial_timeout / 1000000 : 0,
	    .user_agent = "cairn-bench/0.1",
	    .on_state = conn_state,
	    .arg = cn,
	};
	return rpc_client_connect(cn->b->loop, cn->endpoint, &co, &cn->rc);
}

static void redial_cb(uv_timer_t *t)
{
	struct bench_conn *cn = t->data;
	if (cn->b->finished)
		return;
	if (cn->rc)
		rpc_client_close(cn->rc);
	cn->rc = NULL;
	if (conn_dial(cn))
		uv_timer_start(&cn->redial, redial_cb, REDIAL_MS, 0);
}

static void conn_state(struct rpc_client *rc, enum rpc_client_state st, int err, void *arg)
{
	struct bench_conn *cn = arg;
	struct bench *b = cn->b;
	if (st == RPC_CLIENT_READY) {
		cn->ready = true;
		resume_all(b, &cn->parked);
		return;
	}
	if (st != RPC_CLIENT_FAILED && st != RPC_CLIENT_CLOSED && st != RPC_CLIENT_DRAINING)
		return;
	cn->ready = false;
	if (b->phase == BENCH_SETUP && st == RPC_CLIENT_FAILED) {
		fprintf(stderr, "cairn-bench: dial error: %s: %s\n", cn->endpoint,
		        rpc_strerror(err));
		b->conns_failed++;
		return;
	}
	if (!b->finished && st != RPC_CLIENT_DRAINING)
		uv_timer_start(&cn->redial, redial_cb, REDIAL_MS, 0);
}

static int conns_open(struct bench *b)
{
	unsigned n = (unsigned)b->o->conns;
	b->conns = calloc(n, sizeof *b->conns);
	if (!b->conns)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct bench_conn *cn = &b->conns[i];
		cn->b = b;
		cn->idx = i;
		cn->endpoint = b->endpoints[i % b->n_endpoints];
		uv_timer_init(b->loop, &cn->redial);
		cn->redial.data = cn;
		b->n_conns++; /* bench_free closes the timers of these */
		if (conn_dial(cn)) {
			fprintf(stderr, "cairn-bench: bad endpoint %s\n", cn->endpoint);
			return -1;
		}
	}
	/* Every connection READY (the server's SETTINGS arrived) before any
	 * request is timed: connecting is not part of the measurement. */
	for (;;) {
		unsigned ready = 0;
		for (unsigned i = 0; i < b->n_conns; i++)
			ready += b->conns[i].ready;
		if (ready == b->n_conns)
			return 0;
		if (b->conns_failed)
			return -1;
		uv_run(b->loop, UV_RUN_ONCE);
	}
}

/* ---- the closed loop ---------------------------------------------------------- */

static void finish(struct bench *b)
{
	if (b->finished)
		return;
	b->finished = true;
	uv_timer_stop(&b->pace_timer);
	uv_timer_stop(&b->retry_timer);
	uv_timer_stop(&b->phase_timer);
}

static void maybe_finish(struct bench *b)
{
	if (!b->live)
		b->stopping = true;
	if (b->stopping && b->inflight == 0 && b->phase != BENCH_SETUP)
		finish(b);
}

static void retry_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	resume_all(b, &b->retry);
}

static void do_issue(struct bench *b, struct bench_client *c)
{
	c->measured = b->phase == BENCH_MEASURE;
	if (c->measured)
		b->issued++;
	c->busy = true;
	c->sub = NULL;
	b->inflight++;
	c->t0 = uv_hrtime();
	int rv = b->wl->issue(b, c);
	if (rv >= 0)
		return;
	/* Never went out. A connection going away (its state callback is
	 * about to come) is not a request: wait for it to come back. Anything
	 * else (a stream that ended) counts, and is tried again a little
	 * later, not in a tight loop. */
	c->busy = false;
	b->inflight--;
	if (rv == -ENOTCONN) {
		if (c->measured)
			b->issued--;
		c->conn->ready = false;
		park(&c->conn->parked, c);
		return;
	}
	if (c->measured) {
		b->completed++;
		errtab_add(&b->rep.all.err, RPC_UNAVAILABLE, rpc_strerror(rv));
		if (c->sub)
			errtab_add(&c->sub->err, RPC_UNAVAILABLE, rpc_strerror(rv));
	}
	park(&b->retry, c);
	if (!uv_is_active((uv_handle_t *)&b->retry_timer))
		uv_timer_start(&b->retry_timer, retry_cb, RETRY_MS, 0);
}

/* Stop conditions, then issue (the pacer has granted a token). */
static void start_request(struct bench *b, struct bench_client *c)
{
	if (b->finished || c->retired)
		return;
	if (b->phase == BENCH_MEASURE && b->o->total > 0 && b->issued >= (uint64_t)b->o->total)
		b->stopping = true;
	if (b->stopping) {
		maybe_finish(b);
		return;
	}
	if (!c->conn->ready) {
		park(&c->conn->parked, c);
		return;
	}
	do_issue(b, c);
}

static void pace_cb(uv_timer_t *t);

static void pace_arm(struct bench *b, uint64_t now)
{
	uint64_t wait_ns = b->pace_next > now ? b->pace_next - now : 0;
	uv_timer_start(&b->pace_timer, pace_cb, (wait_ns + 999999) / 1000000, 0);
}

static bool pace_take(struct bench *b, uint64_t now)
{
	if (now < b->pace_next)
		return false;
	/* Burst 1, as golang.org/x/time/rate with burst 1: a late timer may
	 * catch up at most PACE_SLACK of missed tokens. */
	if (b->pace_next + PACE_SLACK < now)
		b->pace_next = now - PACE_SLACK;
	b->pace_next += b->pace_ns;
	return true;
}

static void pace_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = uv_hrtime();
	while (b->pace_head && pace_take(b, now)) {
		struct bench_client *c = b->pace_head;
		b->pace_head = c->next;
		if (!b->pace_head)
			b->pace_tail = NULL;
		c->next = NULL;
		start_request(b, c);
	}
	if (b->pace_head && !b->finished)
		pace_arm(b, now);
}

static void bench_next(struct bench *b, struct bench_client *c)
{
	if (b->finished)
		return;
	if (c->retired) {
		maybe_finish(b);
		return;
	}
	if (b->pace_ns && !b->stopping) {
		uint64_t now = uv_hrtime();
		if (b->pace_head || !pace_take(b, now)) {
			c->next = NULL;
			if (b->pace_tail)
				b->pace_tail->next = c;
			else
				b->pace_head = c;
			b->pace_tail = c;
			if (!uv_is_active((uv_handle_t *)&b->pace_timer))
				pace_arm(b, now);
			return;
		}
	}
	start_request(b, c);
}

void bench_complete(struct bench *b, struct bench_client *c, int code, const char *message)
{
	uint64_t now = uv_hrtime();
	if (!c->busy)
		return;
	c->busy = false;
	b->inflight--;
	if (b->finished)
		return; /* cancelled by the shutdown: not a result */
	b->t_progress = now;
	if (c->measured) {
		b->completed++;
		b->t_last = now;
		struct series *s = c->sub;
		if (code == RPC_OK) {
			if (!b->wl->no_latency) {
				hist_record(&b->rep.all.lat, now - c->t0);
				if (s)
					hist_record(&s->lat, now - c->t0);
			}
		} else {
			errtab_add(&b->rep.all.err, code, message);
			if (s)
				errtab_add(&s->err, code, message);
		}
	}
	if (code == RPC_UNAVAILABLE && !c->conn->ready) {
		park(&c->conn->parked, c);
		maybe_finish(b);
		return;
	}
	bench_next(b, c);
}

void bench_record(struct bench *b, uint64_t ns)
{
	b->t_progress = b->t_last = uv_hrtime();
	hist_record(&b->rep.all.lat, ns);
}

void bench_record_error(struct bench *b, int code, const char *message)
{
	errtab_add(&b->rep.all.err, code, message);
}

void bench_retire(struct bench *b, struct bench_client *c)
{
	if (c->retired)
		return;
	c->retired = true;
	b->live--;
	maybe_finish(b);
}

void bench_abort(struct bench *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cairn-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	b->aborted = true;
	b->stopping = true;
	finish(b);
}

/* ---- phases and progress ----------------------------------------------------- */

static void stop_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	b->stopping = true;
	maybe_finish(b);
}

static void enter_measure(struct bench *b)
{
	b->phase = BENCH_MEASURE;
	b->t_start = b->t_last = b->t_progress = uv_hrtime();
	if (b->o->duration > 0)
		uv_timer_start(&b->phase_timer, stop_cb, (uint64_t)b->o->duration / 1000000, 0);
}

static void warmup_cb(uv_timer_t *t)
{
	enter_measure(t->data);
}

static void progress_draw(struct bench *b, bool final)
{
	uint64_t now = uv_hrtime();
	double el = b->phase == BENCH_MEASURE ? (double)(now - b->t_start) / 1e9 : 0;
	double frac;
	char count[64];
	if (b->phase == BENCH_WARMUP) {
		fprintf(stderr, "\r warming up...\033[K");
		return;
	}
	if (b->o->total > 0) {
		frac = (double)b->completed / (double)b->o->total;
		snprintf(count, sizeof count, "%llu / %lld", (unsigned long long)b->completed,
		         (long long)b->o->total);
	} else {
		frac = el / ((double)b->o->duration / 1e9);
		snprintf(count, sizeof count, "%llu", (unsigned long long)b->completed);
	}
	if (final)
		frac = 1;
	if (frac > 1)
		frac = 1;
	enum {
		W = 40
	};
	char bar[W + 1];
	int fill = (int)(frac * W);
	for (int i = 0; i < W; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : '-');
	bar[W] = 0;
	fprintf(stderr, "\r %s [%s] %6.2f%% %.0f req/s\033[K%s", count, bar, frac * 100,
	        el > 0 ? (double)b->completed / el : 0, final ? "\n" : "");
}

static void tick_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (b->finished)
		return;
	if (b->progress)
		progress_draw(b, false);
	if (b->phase != BENCH_SETUP && uv_hrtime() - b->t_progress > STALL_NS &&
	    (b->inflight || !b->pace_ns))
		bench_abort(b, "no answer for %llu s: giving up",
		            (unsigned long long)(STALL_NS / 1000000000ull));
}

/* ---- the run ----------------------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
	struct bench *b = h->data;
	b->timers_open--;
}

static void timer_new(struct bench *b, uv_timer_t *t)
{
	uv_timer_init(b->loop, t);
	t->data = b;
	b->timers_open++;
}

static void bench_free(struct bench *b)
{
	for (unsigned i = 0; i < b->n_conns; i++) {
		struct bench_conn *cn = &b->conns[i];
		if (cn->rc)
			rpc_client_close(cn->rc);
		cn->rc = NULL;
		cn->redial.data = b;
		b->timers_open++;
		uv_close((uv_handle_t *)&cn->redial, close_cb);
	}
	uv_timer_t *ts[] = {&b->pace_timer, &b->retry_timer, &b->phase_timer, &b->progress_timer};
	for (size_t i = 0; i < 4; i++)
		uv_close((uv_handle_t *)ts[i], close_cb);
	while (b->timers_open)
		uv_run(b->loop, UV_RUN_ONCE);
	uv_run(b->loop, UV_RUN_DEFAULT);
	free(b->conns);
	free(b->clients);
}

static void print_report(struct bench *b)
{
	struct report *r = &b->rep;
	r->op = b->wl->op;
	r->secs = b->t_last > b->t_start ? (double)(b->t_last - b->t_start) / 1e9 : 0;
	r->clients = b->n_clients;
	r->conns = b->n_conns;
	r->endpoints = b->n_endpoints;
	if (b->wl->note)
		snprintf(r->note, sizeof r->note, "%s", b->wl->note);
	if (b->o->json) {
		/* The summary for people on stderr; stdout carries exactly one
		 * line, the JSON object, so that `| jq` and `tail -1` work. */
		report_print_text(stderr, r, b->o->precise);
		char small[4096];
		size_t n = report_json(small, sizeof small, r);
		char *buf = n < sizeof small ? small : malloc(n + 1);
		if (buf != small && buf)
			report_json(buf, n + 1, r);
		if (buf)
			printf("%s\n", buf);
		if (buf != small)
			free(buf);
	} else {
		report_print_text(stdout, r, b->o->precise);
	}
	fflush(stdout);
}

int bench_run(uv_loop_t *loop, const struct bench_opts *o, struct bench_workload *wl)
{
	struct bench *b = calloc(1, sizeof *b);
	if (!b)
		return 1;
	int rc = 1;
	bool setup_called = false, teardown_done = false;
	b->loop = loop;
	b->o = o;
	b->wl = wl;
	b->phase = BENCH_SETUP;
	hist_init(&b->rep.all.lat);
	errtab_init(&b->rep.all.err);
	hist_init(&b->read.lat);
	errtab_init(&b->read.err);
	hist_init(&b->write.lat);
	errtab_init(&b->write.err);
	b->read.name = "read";
	b->write.name = "write";
	timer_new(b, &b->pace_timer);
	timer_new(b, &b->retry_timer);
	timer_new(b, &b->phase_timer);
	timer_new(b, &b->progress_timer);
	bench_rand_seed(o->seed ? (uint64_t)o->seed : uv_hrtime());

	if (o->target_leader) {
		if (find_leader(b))
			goto out;
	} else {
		for (size_t i = 0; i < o->endpoints.n; i++)
			b->endpoints[i] = o->endpoints.v[i];
		b->n_endpoints = (unsigned)o->endpoints.n;
	}
	if (conns_open(b))
		goto out;

	b->n_clients = wl->n_clients ? wl->n_clients : (unsigned)o->clients;
	b->clients = calloc(b->n_clients, sizeof *b->clients);
	if (!b->clients)
		goto out;
	for (unsigned i = 0; i < b->n_clients; i++) {
		struct bench_client *c = &b->clients[i];
		c->b = b;
		c->idx = i;
		c->conn = &b->conns[i % b->n_conns];
	}
	b->live = b->n_clients;
	setup_called = true;
	if (wl->setup && wl->setup(b))
		goto out;
	if (b->aborted)
		goto out;

	b->progress = !o->no_progress && isatty(STDERR_FILENO);
	uv_timer_start(&b->progress_timer, tick_cb, TICK_MS, TICK_MS);
	if (o->rate > 0)
		b->pace_ns = 1000000000ull / (uint64_t)o->rate;
	b->pace_next = uv_hrtime();
	b->t_progress = uv_hrtime();
	if (o->warmup > 0) {
		b->phase = BENCH_WARMUP;
		uv_timer_start(&b->phase_timer, warmup_cb, (uint64_t)o->warmup / 1000000, 0);
	} else {
		enter_measure(b);
	}
	for (unsigned i = 0; i < b->n_clients; i++)
		bench_next(b, &b->clients[i]);
	maybe_finish(b);
	while (!b->finished)
		uv_run(loop, UV_RUN_ONCE);
	if (b->progress)
		progress_draw(b, true);
	uv_timer_stop(&b->progress_timer);
	if (wl->teardown)
		wl->teardown(b);
	teardown_done = true;
	if (!b->aborted) {
		print_report(b);
		rc = 0;
	}
out:
	finish(b);
	if (setup_called && !teardown_done && wl->teardown)
		wl->teardown(b);
	bench_free(b);
	free(b);
	return rc;
}
