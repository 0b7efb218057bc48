/*
 * client/client.c - the client: endpoints, the connection manager with
 * failover, and the engine that runs unary calls with deadlines and retries.
 *
 * Life of a call ("op"): the request is packed once into op->req (kept for
 * retries); the op waits in c->ops until the current connection is READY
 * (so a call that fails while we connect was provably never sent), then
 * goes out with grpc-timeout = what is left of its deadline. When it fails,
 * cairn__retry_decide() applies clientv3's rules (etcd-api.md §4 "clientv3
 * retries"): reads and the calls clientv3 retries go again on Unavailable,
 * writes only if the request never left us. A failure that says the
 * endpoint is unusable (Unavailable, connection lost) moves the client to
 * the next endpoint first.
 *
 * One uv_timer serves every deadline of a waiting op, every backoff and the
 * reconnect delay; ops already sent rely on rpc/'s own deadline timer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define DEFAULT_DIAL_TIMEOUT_MS  2000
#define DEFAULT_CALL_TIMEOUT_MS  5000
#define DEFAULT_KEEPALIVE_MS     10000
#define DEFAULT_KEEPALIVE_TO_MS  6000
#define RECONNECT_BACKOFF_MIN_MS 50
#define RECONNECT_BACKOFF_MAX_MS 1000

static void pump(struct cairn_client *c);
static void timer_schedule(struct cairn_client *c);

/* ---- small helpers ------------------------------------------------------ */

void *cairn__memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

ProtobufCMessage *cairn__msg_copy(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *out = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	free(buf);
	return out;
}

uint64_t cairn__now(struct cairn_client *c)
{
	/* The loop's cached time is stale when the loop has not run for a
	 * while (a private loop between blocking calls): deadlines must count
	 * from now. */
	uv_update_time(c->loop);
	return uv_now(c->loop);
}

const char *cairn__ep_name(struct cairn_client *c, size_t i)
{
	return i < c->n_eps ? c->eps[i] : "";
}

void cairn__status_set(struct cairn_status *st, int code, enum cairn_reason reason,
                       const char *endpoint, const char *fmt, ...)
{
	if (!st)
		return;
	st->code = code;
	st->reason = reason;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof st->message, fmt, ap);
	va_end(ap);
	if (endpoint)
		snprintf(st->endpoint, sizeof st->endpoint, "%s", endpoint);
}

static bool starts_with(const char *s, const char *p)
{
	return s && strncmp(s, p, strlen(p)) == 0;
}

/* rpc/ texts for requests that never reached the server (rpc/conn_client.c):
 * refused before sending, or RST_STREAM(REFUSED_STREAM), which the spec
 * defines as "not processed" (grpc-wire.md §1.6). */
bool cairn__unsent(int code, const char *message)
{
	if (code != CAIRN_UNAVAILABLE)
		return false;
	return starts_with(message, "rpc: request not sent") ||
	       (message && strstr(message, "REFUSED_STREAM"));
}

bool cairn__conn_lost_msg(const char *message)
{
	return starts_with(message, "rpc: connection to");
}

void cairn_response_free(void *resp)
{
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
}

/* ---- endpoints and config ------------------------------------------------ */

static int check_endpoint(const char *ep)
{
	if (!ep || !*ep)
		return -EINVAL;
	if (strncmp(ep, "https://", 8) == 0 || strncmp(ep, "unix", 4) == 0)
		return -EPROTONOSUPPORT; /* TLS and unix sockets: not supported */
	if (strncmp(ep, "http://", 7) == 0)
		ep += 7;
	const char *colon = strrchr(ep, ':');
	if (!colon || colon == ep || !colon[1])
		return -EINVAL;
	for (const char *p = colon + 1; *p && *p != '/'; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	return 0;
}

int cairn_client_new(uv_loop_t *loop, const struct cairn_config *cfg, struct cairn_client **out)
{
	if (!cfg || !out || cfg->n_endpoints == 0 || !cfg->endpoints)
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		int rv = check_endpoint(cfg->endpoints[i]);
		if (rv)
			return rv;
	}
	struct cairn_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->eps = calloc(cfg->n_endpoints, sizeof *c->eps);
	if (!c->eps)
		goto nomem;
	c->n_eps = cfg->n_endpoints;
	for (size_t i = 0; i < c->n_eps; i++)
		if (!(c->eps[i] = strdup(cfg->endpoints[i])))
			goto nomem;
	c->cfg.endpoints = NULL;
	if (!c->cfg.dial_timeout_ms)
		c->cfg.dial_timeout_ms = DEFAULT_DIAL_TIMEOUT_MS;
	if (!c->cfg.call_timeout_ms)
		c->cfg.call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
	if (!c->cfg.keepalive_ms)
		c->cfg.keepalive_ms = DEFAULT_KEEPALIVE_MS;
	if (c->cfg.keepalive_ms < RPC_MIN_KEEPALIVE_MS)
		c->cfg.keepalive_ms = RPC_MIN_KEEPALIVE_MS;
	if (!c->cfg.keepalive_timeout_ms)
		c->cfg.keepalive_timeout_ms = DEFAULT_KEEPALIVE_TO_MS;
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "cairn/" CAIRN_VERSION);
	if (!c->user_agent)
		goto nomem;
	c->cfg.user_agent = c->user_agent;
	if (cfg->token && !(c->token = strdup(cfg->token)))
		goto nomem;
	c->cfg.token = NULL;
	if (!loop) {
		if (uv_loop_init(&c->own_loop))
			goto nomem;
		c->own = true;
		loop = &c->own_loop;
	}
	c->loop = loop;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	*out = c;
	return 0;
nomem:
	if (c->eps)
		for (size_t i = 0; i < c->n_eps; i++)
			free(c->eps[i]);
	free(c->eps);
	free(c->user_agent);
	free(c->token);
	free(c);
	return -ENOMEM;
}

uv_loop_t *cairn_client_loop(struct cairn_client *c)
{
	return c->loop;
}

const char *cairn_client_endpoint(const struct cairn_client *c)
{
	size_t i = c->conn ? c->conn->ep : c->cur;
	return c->eps[i];
}

size_t cairn_client_endpoint_count(const struct cairn_client *c)
{
	return c->n_eps;
}

const char *cairn_client_endpoint_at(const struct cairn_client *c, size_t i)
{
	return i < c->n_eps ? c->eps[i] : NULL;
}

int cairn_client_set_endpoint(struct cairn_client *c, size_t i)
{
	if (i >= c->n_eps)
		return -EINVAL;
	struct cairn__conn *conn = c->conn;
	if (conn && conn->ep != i) {
		cairn__conn_abandon(c, conn);
		cairn__conn_release(conn);
	}
	c->cur = i;
	return 0;
}

int cairn_client_set_token(struct cairn_client *c, const char *token)
{
	char *t = NULL;
	if (token && !(t = strdup(token)))
		return -ENOMEM;
	free(c->token);
	c->token = t;
	return 0;
}

size_t cairn__metadata(struct cairn_client *c, bool require_leader, struct rpc_metadata *md)
{
	size_t n = 0;
	if (c->token)
		md[n++] = (struct rpc_metadata){"token", c->token};
	if (require_leader)
		md[n++] = (struct rpc_metadata){"hasleader", "true"};
	return n;
}

/* ---- connections ----------------------------------------------------------- */

static void conn_free(struct cairn__conn *conn)
{
	struct cairn_client *c = conn->c;
	for (struct cairn__conn **pp = &c->retired; *pp; pp = &(*pp)->next)
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	if (conn->rc)
		rpc_client_close(conn->rc);
	free(conn);
}

void cairn__conn_release(struct cairn__conn *conn)
{
	if (!conn || !conn->retired)
		return;
	if (conn->rc && rpc_client_open_calls(conn->rc) > 0 && !conn->failed)
		return;
	conn_free(conn);
}

void cairn__stream_drop(struct rpc_call **call, struct cairn__conn **conn)
{
	struct cairn__conn *cn = *conn;
	if (*call)
		rpc_call_cancel(*call);
	*call = NULL;
	*conn = NULL;
	cairn__conn_release(cn);
}

static void retire(struct cairn_client *c, struct cairn__conn *conn)
{
	if (conn->retired)
		return;
	conn->retired = true;
	if (c->conn == conn)
		c->conn = NULL;
	conn->next = c->retired;
	c->retired = conn;
}

void cairn__conn_abandon(struct cairn_client *c, struct cairn__conn *conn)
{
	if (!conn || conn->retired)
		return;
	retire(c, conn);
	c->cur = (conn->ep + 1) % c->n_eps;
	if (c->cur == 0 && c->n_eps == 1)
		c->fail_streak++; /* one endpoint: do not hammer it */
	                          /* The caller releases conn once it is done with it. */
}

static uint64_t reconnect_backoff(unsigned rounds)
{
	uint64_t ms = RECONNECT_BACKOFF_MIN_MS;
	while (rounds-- > 1 && ms < RECONNECT_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < RECONNECT_BACKOFF_MAX_MS ? ms : RECONNECT_BACKOFF_MAX_MS;
}

static void conn_state_cb(struct rpc_client *rc, enum rpc_client_state s, int err, void *arg)
{
	struct cairn__conn *conn = arg;
	struct cairn_client *c = conn->c;
	(void)rc;
	switch (s) {
	case RPC_CLIENT_READY:
		conn->ready = true;
		c->fail_streak = 0;
		c->reconnect_at = 0;
		c->conn_err.code = 0;
		if (c->conn == conn) {
			cairn__watch_conn_ready(c);
			cairn__ka_conn_ready(c);
			pump(c);
		}
		return;
	case RPC_CLIENT_DRAINING:
		/* GOAWAY: open calls finish there; new ones go elsewhere. */
		if (c->conn == conn)
			c->cur = (conn->ep + 1) % c->n_eps;
		retire(c, conn);
		cairn__conn_release(conn);
		pump(c);
		return;
	case RPC_CLIENT_FAILED:
	case RPC_CLIENT_CLOSED:
		break;
	case RPC_CLIENT_CONNECTING:
		return;
	}
	conn->failed = true;
	conn->err = err;
	bool was_current = c->conn == conn;
	if (s == RPC_CLIENT_FAILED)
		cairn__status_set(&c->conn_err, CAIRN_UNAVAILABLE, CAIRN_REASON_NO_CONNECTION,
		                  c->eps[conn->ep], "connection to %s failed: %s", c->eps[conn->ep],
		                  err ? rpc_strerror(err) : "closed");
	if (was_current) {
		c->cur = (conn->ep + 1) % c->n_eps;
		if (s == RPC_CLIENT_FAILED && ++c->fail_streak >= c->n_eps)
			c->reconnect_at =
			    cairn__now(c) + reconnect_backoff(c->fail_streak / c->n_eps);
	}
	retire(c, conn);
	cairn__conn_release(conn);
	if (!c->closing)
		pump(c);
}

static struct cairn__conn *connect_new(struct cairn_client *c)
{
	struct cairn__conn *conn = calloc(1, sizeof *conn);
	if (!conn)
		return NULL;
	conn->c = c;
	conn->ep = c->cur;
	struct rpc_client_options o = {
	    .max_recv_msg = c->cfg.max_recv_msg,
	    .max_send_msg = c->cfg.max_send_msg,
	    .connect_timeout_ms = c->cfg.dial_timeout_ms,
	    .keepalive_ms = c->cfg.keepalive_ms,
	    .keepalive_timeout_ms = c->cfg.keepalive_timeout_ms,
	    .user_agent = c->user_agent,
	    .on_state = conn_state_cb,
	    .arg = conn,
	};
	int rv = rpc_client_connect(c->loop, c->eps[c->cur], &o, &conn->rc);
	if (rv) {
		cairn__status_set(&c->conn_err, CAIRN_UNAVAILABLE, CAIRN_REASON_NO_CONNECTION,
		                  c->eps[c->cur], "connection to %s failed: %s", c->eps[c->cur],
		                  rpc_strerror(rv));
		free(conn);
		c->cur = (c->cur + 1) % c->n_eps;
		if (++c->fail_streak >= c->n_eps)
			c->reconnect_at =
			    cairn__now(c) + reconnect_backoff(c->fail_streak / c->n_eps);
		return NULL;
	}
	c->conn = conn;
	return conn;
}

struct cairn__conn *cairn__conn_get(struct cairn_client *c)
{
	if (c->closing)
		return NULL;
	if (c->conn)
		return c->conn->ready ? c->conn : NULL;
	if (cairn__now(c) >= c->reconnect_at)
		connect_new(c);
	else
		timer_schedule(c);
	return NULL;
}

/* ---- ops ----------------------------------------------------------------- */

static void op_unlink(struct cairn__op *op)
{
	struct cairn_client *c = op->c;
	if (op->prev)
		op->prev->next = op->next;
	else if (c->ops == op)
		c->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

static void op_free(struct cairn__op *op)
{
	if (op->stream_resp)
		protobuf_c_message_free_unpacked(op->stream_resp, NULL);
	free(op->req);
	free(op);
}

/* Ends op: unlinks it, calls the user back, frees it. */
static void op_finish(struct cairn__op *op, const struct cairn_status *st, const void *resp)
{
	struct cairn_client *c = op->c;
	op_unlink(op);
	c->depth++;
	if (op->kind == CAIRN__OP_SNAPSHOT) {
		if (op->on_end)
			op->on_end(op->arg, st);
	} else if (op->done) {
		op->done(op->arg, st, resp);
	}
	c->depth--;
	op_free(op);
}

static void op_fail(struct cairn__op *op, int code, enum cairn_reason reason, const char *msg)
{
	struct cairn_status st = op->st;
	st.code = code;
	st.reason = reason;
	snprintf(st.message, sizeof st.message, "%s", msg);
	st.attempts = op->attempts;
	op_finish(op, &st, NULL);
}

/* A waiting op's deadline passed. */
static void op_expire(struct cairn__op *op)
{
	struct cairn_client *c = op->c;
	char msg[CAIRN_MSG_MAX + 32];
	enum cairn_reason reason = CAIRN_REASON_DEADLINE;
	if (op->attempts == 0 && c->conn_err.code) {
		/* Never sent: say why. */
		reason = CAIRN_REASON_NO_CONNECTION;
		snprintf(msg, sizeof msg, "context deadline exceeded (%.400s)",
		         c->conn_err.message);
		if (!op->st.endpoint[0])
			snprintf(op->st.endpoint, sizeof op->st.endpoint, "%s",
			         c->conn_err.endpoint);
	} else {
		snprintf(msg, sizeof msg, "%s", RPC_MSG_DEADLINE_EXCEEDED);
	}
	if (op->attempts == 0 && c->cfg.on_attempt_failed) {
		/* clientv3's invoker waited for a connection until the deadline:
		 * that is its attempt 0, and it is reported like any other. */
		struct cairn_status st = op->st;
		st.code = CAIRN_DEADLINE_EXCEEDED;
		st.reason = reason;
		snprintf(st.message, sizeof st.message, "%.*s", (int)sizeof st.message - 1, msg);
		c->depth++;
		c->cfg.on_attempt_failed(c->cfg.attempt_arg, op->m->path, 0, &st);
		c->depth--;
		if (c->closing)
			return;
	}
	op_fail(op, CAIRN_DEADLINE_EXCEEDED, reason, msg);
}

/* The op's call ended well: detaches it from its call and connection and
 * gives the OK status to report. Returns the connection to release. */
static struct cairn__conn *op_succeeded(struct cairn__op *op, struct cairn_status *st)
{
	struct cairn__conn *conn = op->conn;
	op->call = NULL;
	op->conn = NULL;
	*st = op->st;
	st->code = CAIRN_OK;
	st->reason = CAIRN_REASON_NONE;
	st->message[0] = '\0';
	st->attempts = op->attempts;
	st->indeterminate = false;
	return conn;
}

static void op_reply_cb(struct rpc_call *call, void *arg, int code, const char *message,
                        const ProtobufCMessage *resp, const uint8_t *bytes, size_t len);
static void op_stream_msg_cb(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                             const uint8_t *bytes, size_t len);
static void op_stream_end_cb(struct rpc_call *call, void *arg, int code, const char *message);

/* Sends a waiting op on conn. Returns 0, or -ENOTCONN if conn refused it. */
static int op_send(struct cairn__op *op, struct cairn__conn *conn)
{
	struct cairn_client *c = op->c;
	uint64_t now = cairn__now(c);
	struct rpc_metadata md[4];
	struct rpc_call_options o = {
	    .response = op->m->resp,
	    .flags = (op->keep || op->kind == CAIRN__OP_STREAM_ONCE) ? RPC_KEEP_MESSAGES : 0,
	    .metadata = md,
	    .n_metadata = cairn__metadata(c, op->flags & CAIRN_CALL_REQUIRE_LEADER, md),
	    .arg = op,
	    .on_reply = op_reply_cb,
	    .on_message = op_stream_msg_cb,
	    .on_end = op_stream_end_cb,
	};
	if (op->deadline)
		o.timeout_ms = op->deadline > now ? op->deadline - now : 1;
	int rv;
	if (op->kind == CAIRN__OP_UNARY) {
		rv = rpc_call_unary_bytes(conn->rc, op->m->path, op->req, op->req_len, &o,
		                          &op->call);
	} else {
		rv = rpc_call_start(conn->rc, op->m->path, &o, &op->call);
		if (rv == 0) {
			rpc_call_send_bytes(op->call, op->req, op->req_len);
			rpc_call_close_send(op->call);
		}
	}
	if (rv)
		return rv;
	op->state = CAIRN__OP_SENT;
	op->conn = conn;
	op->attempts++;
	op->got_data = false;
	snprintf(op->st.endpoint, sizeof op->st.endpoint, "%s", c->eps[conn->ep]);
	return 0;
}

/*
 * After a failed attempt: retry (back to waiting) or give up. st already
 * holds the failure. Returns true if the op was requeued.
 */
static bool retry_decide(struct cairn__op *op, struct cairn__conn *conn)
{
	struct cairn_client *c = op->c;
	int code = op->st.code;
	bool unsent = cairn__unsent(code, op->st.message);
	bool lost = code == CAIRN_UNAVAILABLE && cairn__conn_lost_msg(op->st.message);
	if (code == CAIRN_UNAVAILABLE && conn && (lost || unsent || c->n_eps > 1))
		cairn__conn_abandon(c, conn);
	if (op->flags & CAIRN_CALL_NO_RETRY)
		return false;
	if (op->got_data)
		return false; /* a stream that delivered data cannot restart */
	/* clientv3: a typed etcd error with another code is never retried;
	 * Unavailable is (isSafeRetryImmutableRPC); writes only if unsent
	 * (isSafeRetryMutableRPC). */
	bool retry = unsent || (code == CAIRN_UNAVAILABLE && op->m->retry);
	if (!retry || op->attempts >= CAIRN__MAX_ATTEMPTS)
		return false;
	uint64_t now = cairn__now(c);
	uint64_t jitter = (uint64_t)(rand() % 5) - 2; /* 25 ms +-10 % */
	op->wake = now + CAIRN__RETRY_BACKOFF_MS + jitter;
	if (op->deadline && op->wake >= op->deadline)
		return false;
	op->state = CAIRN__OP_WAITING;
	op->call = NULL;
	op->conn = NULL;
	return true;
}

static void report_attempt(struct cairn__op *op)
{
	struct cairn_client *c = op->c;
	if (c->cfg.on_attempt_failed) {
		op->st.attempts = op->attempts;
		c->depth++;
		c->cfg.on_attempt_failed(c->cfg.attempt_arg, op->m->path, op->attempts - 1,
		                         &op->st);
		c->depth--;
	}
}

static enum cairn_reason reason_of(int code, const char *message)
{
	if (code == CAIRN_DEADLINE_EXCEEDED && message &&
	    strcmp(message, RPC_MSG_DEADLINE_EXCEEDED) == 0)
		return CAIRN_REASON_DEADLINE;
	if (code == CAIRN_UNAVAILABLE && cairn__conn_lost_msg(message))
		return CAIRN_REASON_CONN_LOST;
	if (code == CAIRN_CANCELLED && starts_with(message, "rpc: client closed"))
		return CAIRN_REASON_CANCELLED;
	return CAIRN_REASON_SERVER;
}

/* A sent op ended with a failure (code != OK). */
static void op_failed(struct cairn__op *op, int code, const char *message)
{
	struct cairn_client *c = op->c;
	struct cairn__conn *conn = op->conn;
	op->call = NULL;
	op->conn = NULL;
	if (code == CAIRN_CANCELLED && op->deadline && message && strstr(message, "RST_STREAM") &&
	    cairn__now(c) + 50 >= op->deadline) {
		/* The server gave up at our deadline (grpc-timeout) and reset
		 * the stream: grpc-go reports that as DeadlineExceeded too. */
		code = CAIRN_DEADLINE_EXCEEDED;
		message = RPC_MSG_DEADLINE_EXCEEDED;
	}
	op->st.code = code;
	op->st.reason = reason_of(code, message);
	snprintf(op->st.message, sizeof op->st.message, "%s", message ? message : "");
	op->st.attempts = op->attempts;
	op->st.indeterminate = false;
	/* Off the list while user code runs: a cairn_client_close() from the
	 * attempt hook must not free it under us. */
	op_unlink(op);
	if (!c->closing)
		report_attempt(op);
	if (c->closing) {
		op_fail(op, CAIRN_CANCELLED, CAIRN_REASON_CANCELLED, "client closed");
		return;
	}
	bool again = retry_decide(op, conn);
	if (again) {
		op->next = c->ops;
		if (c->ops)
			c->ops->prev = op;
		c->ops = op;
		cairn__conn_release(conn);
		timer_schedule(c);
		return;
	}
	/* A write that may have reached the server and did not answer. */
	if (op->m->write && !cairn__unsent(code, message) &&
	    (code == CAIRN_UNAVAILABLE || code == CAIRN_DEADLINE_EXCEEDED ||
	     code == CAIRN_CANCELLED || code == CAIRN_INTERNAL))
		op->st.indeterminate = true;
	op_finish(op, &op->st, NULL);
	if (!c->closing)
		cairn__conn_release(conn);
}

static void op_reply_cb(struct rpc_call *call, void *arg, int code, const char *message,
                        const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct cairn__op *op = arg;
	if (code != RPC_OK) {
		op_failed(op, code, message);
		return;
	}
	struct cairn_status st;
	struct cairn__conn *conn = op_succeeded(op, &st);
	struct cairn_client *c = op->c;
	op_finish(op, &st, resp);
	if (!c->closing)
		cairn__conn_release(conn);
}

static void op_stream_msg_cb(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                             const uint8_t *bytes, size_t len)
{
	(void)call;
	struct cairn__op *op = arg;
	if (op->kind == CAIRN__OP_STREAM_ONCE) {
		/* Keep the first reply; rpc/ gave us ownership. */
		if (!op->stream_resp)
			op->stream_resp = (void *)msg;
		else if (msg)
			protobuf_c_message_free_unpacked((ProtobufCMessage *)msg, NULL);
		return;
	}
	/* Snapshot chunk: bytes are the packed SnapshotResponse. */
	const Etcdserverpb__SnapshotResponse *r = (const void *)msg;
	op->got_data = true;
	if (!r || !op->on_chunk)
		return;
	op->c->depth++;
	int stop = op->on_chunk(op->arg, r->blob.data, r->blob.len, r->remaining_bytes);
	op->c->depth--;
	(void)bytes;
	(void)len;
	if (stop && op->call) {
		struct cairn__conn *conn = op->conn;
		rpc_call_cancel(op->call);
		op->call = NULL;
		op->conn = NULL;
		op_fail(op, CAIRN_CANCELLED, CAIRN_REASON_CANCELLED,
		        "snapshot aborted by the caller");
		cairn__conn_release(conn);
	}
}

static void op_stream_end_cb(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct cairn__op *op = arg;
	if (code != RPC_OK) {
		op_failed(op, code, message);
		return;
	}
	struct cairn_client *c = op->c;
	struct cairn_status st;
	struct cairn__conn *conn = op_succeeded(op, &st);
	if (op->kind == CAIRN__OP_STREAM_ONCE) {
		void *r = op->stream_resp;
		if (!r) {
			op->st.code = CAIRN_INTERNAL;
			op_fail(op, CAIRN_INTERNAL, CAIRN_REASON_SERVER,
			        "stream ended without a reply");
			cairn__conn_release(conn);
			return;
		}
		if (!op->keep) {
			op_finish(op, &st, r); /* freed with the op */
		} else {
			op->stream_resp = NULL;
			op_finish(op, &st, r);
		}
	} else {
		op_finish(op, &st, NULL);
	}
	if (!c->closing)
		cairn__conn_release(conn);
}

struct cairn__op *cairn__op_new(struct cairn_client *c, const struct cairn__method *m,
                                const ProtobufCMessage *req, const struct cairn_call_opts *o,
                                cairn_done_fn done, void *arg, int *err)
{
	*err = 0;
	if (c->closing) {
		*err = -ESHUTDOWN;
		return NULL;
	}
	if (!req) {
		*err = -EINVAL;
		return NULL;
	}
	size_t n = protobuf_c_message_get_packed_size(req);
	size_t max = c->cfg.max_send_msg ? c->cfg.max_send_msg : RPC_DEFAULT_MAX_SEND_MSG;
	if (n > max) {
		*err = -EMSGSIZE;
		return NULL;
	}
	struct cairn__op *op = calloc(1, sizeof *op);
	if (!op || !(op->req = malloc(n ? n : 1))) {
		free(op);
		*err = -ENOMEM;
		return NULL;
	}
	op->req_len = protobuf_c_message_pack(req, op->req);
	op->c = c;
	op->m = m;
	op->done = done;
	op->arg = arg;
	op->flags = o ? o->flags : 0;
	uint64_t t = o && o->timeout_ms ? o->timeout_ms : c->cfg.call_timeout_ms;
	op->deadline = t == CAIRN_TIMEOUT_NONE ? 0 : cairn__now(c) + t;
	return op;
}

void cairn__op_start(struct cairn__op *op)
{
	struct cairn_client *c = op->c;
	op->state = CAIRN__OP_WAITING;
	op->next = c->ops;
	if (c->ops)
		c->ops->prev = op;
	c->ops = op;
	pump(c);
}

int cairn__call(struct cairn_client *c, const struct cairn__method *m, const ProtobufCMessage *req,
                const struct cairn_call_opts *o, cairn_done_fn done, void *arg)
{
	int err;
	if (!done)
		return -EINVAL;
	struct cairn__op *op = cairn__op_new(c, m, req, o, done, arg, &err);
	if (!op)
		return err;
	cairn__op_start(op);
	return 0;
}

/* ---- the pump: connect, send, schedule ------------------------------------ */

static void pump(struct cairn_client *c)
{
	if (c->closing)
		return;
	bool want = cairn__streams_want_conn(c);
	for (struct cairn__op *op = c->ops; op && !want; op = op->next)
		want = op->state == CAIRN__OP_WAITING;
	if (!want) {
		timer_schedule(c);
		return;
	}
	struct cairn__conn *conn = cairn__conn_get(c);
	if (conn) {
		uint64_t now = cairn__now(c);
		struct cairn__op *next;
		for (struct cairn__op *op = c->ops; op; op = next) {
			next = op->next;
			if (op->state != CAIRN__OP_WAITING || op->wake > now)
				continue;
			if (op_send(op, conn) == -ENOTCONN) {
				/* Draining or gone under us: try elsewhere. */
				cairn__conn_abandon(c, conn);
				cairn__conn_release(conn);
				break;
			}
		}
	}
	timer_schedule(c);
}

static void timer_cb(uv_timer_t *t)
{
	struct cairn_client *c = t->data;
	c->timer_due = 0;
	uint64_t now = cairn__now(c);
	/* Expire waiting ops; user callbacks may change the list: rescan. */
	for (bool again = true; again && !c->closing;) {
		again = false;
		for (struct cairn__op *op = c->ops; op; op = op->next) {
			if (op->state == CAIRN__OP_WAITING && op->deadline && now >= op->deadline) {
				op_expire(op);
				again = true;
				break;
			}
		}
	}
	if (c->reconnect_at && now >= c->reconnect_at)
		c->reconnect_at = 0;
	pump(c);
}

static void timer_schedule(struct cairn_client *c)
{
	if (c->closing)
		return;
	uint64_t now = cairn__now(c), due = UINT64_MAX;
	bool waiting = cairn__streams_want_conn(c) && !c->conn;
	for (struct cairn__op *op = c->ops; op; op = op->next) {
		if (op->state != CAIRN__OP_WAITING)
			continue;
		waiting = true;
		if (op->deadline && op->deadline < due)
			due = op->deadline;
		if (op->wake > now && op->wake < due)
			due = op->wake;
	}
	if (waiting && !c->conn && c->reconnect_at && c->reconnect_at < due)
		due = c->reconnect_at;
	if (due == UINT64_MAX) {
		uv_timer_stop(&c->timer);
		c->timer_due = 0;
		return;
	}
	if (c->timer_due == due && uv_is_active((uv_handle_t *)&c->timer))
		return;
	c->timer_due = due;
	uv_timer_start(&c->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* ---- blocking helpers ---------------------------------------------------------- */

void cairn__sync_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct cairn__sync *w = arg;
	w->done = true;
	w->st = *st;
	w->resp = (void *)resp;
}

static void guard_cb(uv_timer_t *t)
{
	(void)t; /* only wakes uv_run up */
}

void cairn__sync_status(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct cairn__sync *w = arg;
	w->done = true;
	w->st = *st;
	w->resp = NULL;
}

int cairn_client_run_until(struct cairn_client *c, const bool *flag, uint64_t ms)
{
	if (!c->own)
		return -EINVAL;
	uint64_t end = ms ? cairn__now(c) + ms : 0;
	uv_timer_t guard;
	bool guard_on = false;
	if (ms) {
		/* Keeps uv_run from blocking past the limit. */
		uv_timer_init(c->loop, &guard);
		uv_timer_start(&guard, guard_cb, ms, 0);
		guard_on = true;
	}
	int rv = 0;
	while (!*flag) {
		if (end && cairn__now(c) >= end) {
			rv = -ETIMEDOUT;
			break;
		}
		if (uv_run(c->loop, UV_RUN_ONCE) == 0 && !*flag) {
			rv = -ETIMEDOUT; /* nothing left that could set it */
			break;
		}
	}
	if (guard_on) {
		uv_close((uv_handle_t *)&guard, NULL);
		uv_run(c->loop, UV_RUN_NOWAIT);
	}
	return rv;
}

int cairn__sync_wait(struct cairn_client *c, struct cairn__sync *w, void **resp,
                     struct cairn_status *st)
{
	int rv = cairn_client_run_until(c, &w->done, 0);
	if (rv) {
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL,
		                  "loop stopped before the call ended");
		return rv;
	}
	if (st)
		*st = w->st;
	if (w->st.code != CAIRN_OK) {
		cairn_response_free(w->resp);
		if (resp)
			*resp = NULL;
		return CAIRN_ESTATUS;
	}
	if (resp)
		*resp = w->resp;
	else
		cairn_response_free(w->resp);
	return 0;
}

int cairn__call_sync(struct cairn_client *c, const struct cairn__method *m,
                     const ProtobufCMessage *req, const struct cairn_call_opts *o, void **resp,
                     struct cairn_status *st)
{
	if (st)
		memset(st, 0, sizeof *st);
	if (resp)
		*resp = NULL;
	if (!c->own)
		return -EINVAL;
	struct cairn__sync w = {0};
	int err;
	struct cairn__op *op = cairn__op_new(c, m, req, o, cairn__sync_done, &w, &err);
	if (!op) {
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(err));
		return err;
	}
	op->keep = true;
	cairn__op_start(op);
	return cairn__sync_wait(c, &w, resp, st);
}

int cairn_client_run(struct cairn_client *c)
{
	if (!c->own)
		return -EINVAL;
	c->stop = false;
	while (!c->stop && uv_run(c->loop, UV_RUN_ONCE) != 0)
		;
	c->stop = false;
	return 0;
}

void cairn_client_stop(struct cairn_client *c)
{
	c->stop = true;
	if (c->own)
		uv_stop(c->loop);
}

/* ---- close ------------------------------------------------------------------ */

static void client_free(struct cairn_client *c)
{
	for (size_t i = 0; i < c->n_eps; i++)
		free(c->eps[i]);
	free(c->eps);
	free(c->user_agent);
	free(c->token);
	free(c);
}

static void timer_closed(uv_handle_t *h)
{
	struct cairn_client *c = h->data;
	if (!c->own)
		client_free(c);
}

void cairn_client_close(struct cairn_client *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	cairn__watch_close_all(c);
	cairn__ka_close_all(c);
	/* Every op ends now, cancelled. */
	while (c->ops) {
		struct cairn__op *op = c->ops;
		if (op->call) {
			rpc_call_cancel(op->call);
			op->call = NULL;
		}
		op_fail(op, CAIRN_CANCELLED, CAIRN_REASON_CANCELLED, "client closed");
	}
	if (c->conn)
		retire(c, c->conn);
	while (c->retired) {
		struct cairn__conn *conn = c->retired;
		c->retired = conn->next;
		if (conn->rc)
			rpc_client_close(conn->rc);
		free(conn);
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, timer_closed);
	if (c->own) {
		uv_run(&c->own_loop, UV_RUN_DEFAULT);
		uv_loop_close(&c->own_loop);
		client_free(c);
	}
}
