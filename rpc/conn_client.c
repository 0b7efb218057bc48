/*
 * rpc/conn_client.c - the client connection: resolve, connect, the nghttp2
 * client session and its callbacks, keepalive, teardown.
 *
 * One rpc_client is one connection attempt (wire §3.4). The nghttp2 session
 * exists from the start, so calls can be submitted while we resolve and
 * connect; the first flush after connecting emits the preface, our SETTINGS
 * and every queued request. The client is READY when the server's SETTINGS
 * arrive, as grpc-go counts it.
 *
 * Keepalive (wire §2 items 7 and 10): real etcd counts pings on a connection
 * without streams as strikes and answers too_many_pings, so we ping only
 * while calls are open, only after keepalive_ms without reading anything,
 * and never more often than every 10 s.
 *
 * Freeing: the client is freed when the user has closed it and every uv
 * handle it owns (TCP, flusher, timer heap, a pending getaddrinfo) has
 * reported closed. A lost connection closes the handles at once but keeps
 * the object until rpc_client_close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS   20000
#define DEFAULT_KEEPALIVE_TIMEOUT_MS 20000

static void cconn_teardown(struct rpc__conn *c);
static void cconn_freed(struct rpc__conn *c);
static void cconn_after_flush(struct rpc__conn *c);

static const struct rpc__conn_ops cconn_ops = {
    .teardown = cconn_teardown,
    .freed = cconn_freed,
    .after_flush = cconn_after_flush,
};

static void set_state(struct rpc_client *cl, enum rpc_client_state st, int err)
{
	if (cl->state == st)
		return;
	cl->state = st;
	cl->err = err;
	if (!cl->user_closed && cl->opt.on_state)
		cl->opt.on_state(cl, st, err, cl->opt.arg);
}

void rpc__client_draining(struct rpc_client *cl)
{
	if (cl->state == RPC_CLIENT_READY || cl->state == RPC_CLIENT_CONNECTING)
		set_state(cl, RPC_CLIENT_DRAINING, 0);
}

static struct rpc_call *call_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static bool is(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(p, lit, l) == 0;
}

static int parse_status(const uint8_t *v, size_t n)
{
	if (n == 0 || n > 9)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		r = r * 10 + (v[i] - '0');
	}
	return r;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	(void)flags;
	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct rpc_call *call = call_of(h2, frame->hd.stream_id);
	if (!call)
		return 0;
	if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		call->got_headers = true;
		if (is(name, namelen, ":status")) {
			call->http_status = parse_status(value, valuelen);
			return 0;
		}
		if (is(name, namelen, "content-type")) {
			call->ct_ok = rpc__is_grpc_content_type(value, valuelen);
			return 0;
		}
	}
	if (is(name, namelen, "grpc-status")) {
		call->has_status = true;
		call->code = parse_status(value, valuelen);
	} else if (is(name, namelen, "grpc-message")) {
		free(call->message);
		call->message = rpc__decode_message((const char *)value, valuelen);
	}
	return 0;
}

static void rst(struct rpc_call *call, uint32_t code)
{
	nghttp2_session *h2 = call->cl->c.h2;
	if (h2 && call->id > 0 && !call->h2_closed)
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, call->id, code);
	rpc__conn_mark_dirty(&call->cl->c);
}

/* The response ended (END_STREAM on HEADERS: trailers or Trailers-Only;
 * or on DATA: no trailers). wire §3.4 item 5 and §1.5. */
static void response_end(struct rpc_call *call, bool on_headers)
{
	if (call->ended)
		return;
	int code;
	char *owned = NULL;
	const char *msg;
	if (!call->got_headers) {
		code = RPC_INTERNAL;
		msg = "rpc: response without headers";
	} else if (!call->ct_ok || call->http_status != 200) {
		/* Not a gRPC answer: grpc-go takes the code from :status, unless a
		 * gRPC content-type came with an explicit grpc-status. */
		if (call->ct_ok && call->has_status && call->code >= 0) {
			code = call->code;
			msg = call->message ? call->message : "";
		} else {
			code = rpc__code_from_http(call->http_status);
			owned = rpc__strdupf("unexpected HTTP status code received from server: %d",
			                     call->http_status);
			msg = owned;
		}
	} else if (!on_headers) {
		code = RPC_INTERNAL;
		msg = "server closed the stream without sending trailers";
	} else if (!call->has_status) {
		code = RPC_UNKNOWN;
		msg = "rpc: response trailers carry no grpc-status";
	} else if (call->code < 0) {
		code = RPC_INTERNAL;
		msg = "transport: malformed grpc-status";
	} else {
		code = call->code;
		msg = call->message ? call->message : "";
	}
	rpc__call_end(call, code, msg);
	free(owned);
	/* The response is over while we were still sending: close our side. */
	nghttp2_session *h2 = call->cl->c.h2;
	if (!call->h2_closed && nghttp2_session_get_stream_local_close(h2, call->id) == 0)
		rst(call, NGHTTP2_NO_ERROR);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct rpc_client *cl = user;
	struct rpc_call *call;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		call = call_of(h2, frame->hd.stream_id);
		if (call && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			response_end(call, true);
		break;
	case NGHTTP2_DATA:
		call = call_of(h2, frame->hd.stream_id);
		if (call && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			response_end(call, false);
		break;
	case NGHTTP2_SETTINGS:
		if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && cl->state == RPC_CLIENT_CONNECTING) {
			rpc__timerq_del(&cl->tq, &cl->ctimer);
			set_state(cl, RPC_CLIENT_READY, 0);
		}
		break;
	case NGHTTP2_GOAWAY:
		rpc__client_draining(cl);
		break;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			cl->ping_sent = 0;
		break;
	default:
		break;
	}
	return 0;
}

static int call_deframe_cb(void *arg, uint8_t flags, const uint8_t *msg, size_t len)
{
	struct rpc_call *call = arg;
	if (flags & 1) {
		/* We never advertise grpc-accept-encoding. */
		rpc__call_end(call, RPC_INTERNAL,
		              "grpc: compressed flag set with identity or empty encoding");
		rst(call, NGHTTP2_CANCEL);
		return 1;
	}
	if (call->unary) {
		if (++call->nresp > 1) {
			rpc__call_end(call, RPC_INTERNAL,
			              "rpc: more than one response message for a unary call");
			rst(call, NGHTTP2_CANCEL);
			return 1;
		}
		if (rpc__buf_append(&call->resp, msg, len)) {
			rpc__call_end(call, RPC_RESOURCE_EXHAUSTED, "rpc: out of memory");
			rst(call, NGHTTP2_CANCEL);
			return 1;
		}
		return 0;
	}
	rpc__call_deliver(call, msg, len);
	return call->ended ? 1 : 0;
}

static int on_data_chunk_recv(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *user)
{
	(void)flags;
	(void)user;
	struct rpc_call *call = call_of(h2, id);
	if (!call || call->ended || !call->ct_ok || call->http_status != 200)
		return 0;
	int rv = rpc_deframer_feed(&call->in, data, len, call_deframe_cb, call);
	if (rv == RPC_DEFRAME_TOO_LARGE) {
		char *msg = rpc__strdupf("grpc: received message larger than max (%u vs. %zu)",
		                         call->in.too_large, call->in.max);
		rpc__call_end(call, RPC_RESOURCE_EXHAUSTED, msg);
		free(msg);
		rst(call, NGHTTP2_CANCEL);
	} else if (rv < 0) {
		rpc__call_end(call, RPC_RESOURCE_EXHAUSTED, "rpc: out of memory");
		rst(call, NGHTTP2_CANCEL);
	}
	return 0;
}

/* True if the call's deadline timer is still pending but due within a few
 * milliseconds: the loop may read the server's RST_STREAM(CANCEL) for the
 * same grpc-timeout before it runs our own timer. The loop's cached time
 * can lag, so read the clock (same monotonic base as uv_now()). */
static bool deadline_passed(const struct rpc_call *call)
{
	if (call->tn.idx == 0)
		return false;
	uint64_t now_ms = uv_hrtime() / 1000000;
	return now_ms + 5 >= call->tn.when;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	(void)user;
	struct rpc_call *call = call_of(h2, id);
	if (!call)
		return 0;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	call->h2_closed = true;
	if (!call->ended && error_code == NGHTTP2_CANCEL && deadline_passed(call)) {
		/* The server gave up on our grpc-timeout as we did: grpc-go
		 * reports DeadlineExceeded for a CANCEL past the deadline (wire
		 * §1.6), whichever side's timer fired first. */
		rpc__call_end(call, RPC_DEADLINE_EXCEEDED, RPC_MSG_DEADLINE_EXCEEDED);
	} else if (!call->ended) {
		char *msg = rpc__strdupf("stream terminated by RST_STREAM with error code: %s",
		                         nghttp2_http2_strerror(error_code));
		rpc__call_end(call, rpc__code_from_rst(error_code), msg);
		free(msg);
	}
	if (call->user_done)
		rpc__call_release(call);
	return 0;
}

/* A request that never went out (cancelled while queued, refused after
 * GOAWAY): nghttp2 may not open the stream at all, so on_stream_close
 * would never come. */
static int on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *frame, int lib_error_code,
                             void *user)
{
	struct rpc_client *cl = user;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct rpc_call *call = cl->calls;
	while (call && call->id != frame->hd.stream_id)
		call = call->next;
	if (!call || call->h2_closed)
		return 0;
	nghttp2_session_set_stream_user_data(h2, call->id, NULL);
	call->h2_closed = true;
	if (!call->ended) {
		char *msg =
		    rpc__strdupf("rpc: request not sent: %s", nghttp2_strerror(lib_error_code));
		rpc__call_end(call, RPC_UNAVAILABLE, msg);
		free(msg);
	}
	if (call->user_done)
		rpc__call_release(call);
	return 0;
}

static int on_error(nghttp2_session *h2, int lib_error_code, const char *msg, size_t len,
                    void *user)
{
	(void)h2;
	(void)lib_error_code;
	struct rpc_client *cl = user;
	rpc__log(cl->opt.log, cl->opt.log_arg, 3, "rpc: client %s: http2: %.*s", cl->authority,
	         (int)len, msg);
	return 0;
}

static nghttp2_session_callbacks *client_callbacks(void)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs))
		return NULL;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, rpc__read_length_cb);
	return cbs;
}

/* ---- connection -------------------------------------------------------- */

static void fail(struct rpc_client *cl, int err)
{
	if (cl->c.closing)
		return;
	if (!cl->err)
		cl->err = err;
	rpc__conn_close(&cl->c);
}

static void read_cb(uv_stream_t *t, ssize_t nread, const uv_buf_t *buf)
{
	struct rpc_client *cl = (struct rpc_client *)t->data;
	struct rpc__conn *c = &cl->c;
	if (c->closing)
		return;
	rpc__conn_enter(c);
	if (nread < 0) {
		c->eof = true;
		fail(cl, (int)nread);
	} else if (nread > 0) {
		cl->last_read = uv_now(cl->loop);
		if (!c->drain_close) {
			int rv = rpc__conn_recv(c, (const uint8_t *)buf->base, (size_t)nread);
			if (rv < 0) {
				rpc__log(cl->opt.log, cl->opt.log_arg, 2, "rpc: client %s: %s",
				         cl->authority, nghttp2_strerror(rv));
				nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
				uv_read_stop(t);
				cl->err = -EPROTO;
				c->drain_close = true;
			}
		}
	}
	rpc__conn_flush(c);
	rpc__conn_leave(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct rpc_client *cl = req->data;
	struct rpc__conn *c = &cl->c;
	cl->connecting = false;
	if (c->closing)
		return;
	rpc__conn_enter(c);
	if (status < 0) {
		fail(cl, status);
	} else {
		struct sockaddr_storage ss;
		int len = sizeof ss;
		c->connected = true;
		uv_tcp_nodelay(&c->tcp, 1);
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
			rpc__format_peer((struct sockaddr *)&ss, c->peer, sizeof c->peer);
		cl->last_read = uv_now(cl->loop);
		int rv = uv_read_start((uv_stream_t *)&c->tcp, rpc__conn_alloc_cb, read_cb);
		if (rv)
			fail(cl, rv);
		else
			rpc__conn_flush(c);
	}
	rpc__conn_leave(c);
}

static void start_connect(struct rpc_client *cl, const struct sockaddr *sa)
{
	cl->creq.data = cl;
	int rv = uv_tcp_connect(&cl->creq, &cl->c.tcp, sa, connect_cb);
	if (rv)
		fail(cl, rv);
	else
		cl->connecting = true;
}

static void maybe_free(struct rpc_client *cl);

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct rpc_client *cl = req->data;
	cl->resolving = false;
	cl->handles--;
	if (cl->c.closing) {
		uv_freeaddrinfo(res);
		maybe_free(cl);
		return;
	}
	rpc__conn_enter(&cl->c);
	/* One address is tried (one client is one connection attempt); IPv4
	 * first, since "localhost" often lists ::1 first while etcd-style
	 * servers listen on 127.0.0.1. */
	const struct addrinfo *ai = res;
	for (const struct addrinfo *a = res; a; a = a->ai_next)
		if (a->ai_family == AF_INET) {
			ai = a;
			break;
		}
	if (status < 0 || !ai)
		fail(cl, status < 0 ? status : UV_EAI_NONAME);
	else
		start_connect(cl, ai->ai_addr);
	uv_freeaddrinfo(res);
	rpc__conn_leave(&cl->c);
}

static void connect_timeout(struct rpc__tnode *n)
{
	struct rpc_client *cl =
	    (struct rpc_client *)((char *)n - offsetof(struct rpc_client, ctimer));
	if (cl->state != RPC_CLIENT_CONNECTING)
		return;
	rpc__conn_enter(&cl->c);
	fail(cl, -ETIMEDOUT);
	rpc__conn_leave(&cl->c);
}

static void keepalive_fire(struct rpc__tnode *n)
{
	struct rpc_client *cl =
	    (struct rpc_client *)((char *)n - offsetof(struct rpc_client, katimer));
	struct rpc__conn *c = &cl->c;
	if (c->closing || !cl->opt.keepalive_ms)
		return;
	uint64_t now = uv_now(cl->loop);
	if (cl->ping_sent) {
		if (now - cl->ping_sent >= cl->opt.keepalive_timeout_ms) {
			rpc__conn_enter(c);
			cl->err = -ETIMEDOUT;
			rpc__conn_close(c);
			rpc__conn_leave(c);
			return;
		}
		rpc__timerq_add(&cl->tq, n, cl->ping_sent + cl->opt.keepalive_timeout_ms);
		return;
	}
	if (cl->ncalls == 0)
		return; /* re-armed by the next call */
	if (now - cl->last_read >= cl->opt.keepalive_ms && c->connected) {
		static const uint8_t zero[8];
		nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, zero);
		cl->ping_sent = now ? now : 1;
		rpc__conn_mark_dirty(c);
		rpc__timerq_add(&cl->tq, n, now + cl->opt.keepalive_timeout_ms);
		return;
	}
	rpc__timerq_add(&cl->tq, n, cl->last_read + cl->opt.keepalive_ms);
}

int rpc_client_connect(uv_loop_t *loop, const char *host_port,
                       const struct rpc_client_options *opts, struct rpc_client **out)
{
	if (!loop || !out)
		return -EINVAL;
	struct rpc_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		return -ENOMEM;
	if (rpc__parse_host_port(host_port, cl->host, sizeof cl->host, &cl->port)) {
		free(cl);
		return -EINVAL;
	}
	cl->loop = loop;
	if (opts)
		cl->opt = *opts;
	struct rpc_client_options *o = &cl->opt;
	if (!o->max_recv_msg || o->max_recv_msg > INT32_MAX)
		o->max_recv_msg = INT32_MAX;
	if (!o->max_send_msg)
		o->max_send_msg = RPC_DEFAULT_MAX_SEND_MSG;
	if (!o->stream_window || o->stream_window > INT32_MAX)
		o->stream_window = RPC_DEFAULT_STREAM_WINDOW;
	if (!o->conn_window || o->conn_window > INT32_MAX)
		o->conn_window = RPC_DEFAULT_CONN_WINDOW;
	if (!o->send_high_water)
		o->send_high_water = RPC_DEFAULT_SEND_HIGH_WATER;
	if (!o->send_max)
		o->send_max = RPC_DEFAULT_SEND_MAX;
	if (!o->connect_timeout_ms)
		o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (o->keepalive_ms && o->keepalive_ms < RPC_MIN_KEEPALIVE_MS)
		o->keepalive_ms = RPC_MIN_KEEPALIVE_MS;
	if (!o->keepalive_timeout_ms)
		o->keepalive_timeout_ms = DEFAULT_KEEPALIVE_TIMEOUT_MS;
	if (o->max_depth <= 0)
		o->max_depth = RPC_DEFAULT_MAX_DEPTH;
	const char *hp = strncmp(host_port, "http://", 7) == 0 ? host_port + 7 : host_port;
	cl->authority = strdup(o->authority ? o->authority : hp);
	cl->user_agent = strdup(o->user_agent ? o->user_agent : "cairn-rpc/0.1");
	if (cl->authority) {
		size_t n = strlen(cl->authority);
		while (n > 0 && cl->authority[n - 1] == '/')
			cl->authority[--n] = '\0';
	}
	o->authority = cl->authority;
	o->user_agent = cl->user_agent;

	nghttp2_session_callbacks *cbs = client_callbacks();
	if (!cbs || !cl->authority || !cl->user_agent ||
	    nghttp2_session_client_new(&cl->c.h2, cbs, cl)) {
		if (cbs)
			nghttp2_session_callbacks_del(cbs);
		free(cl->authority);
		free(cl->user_agent);
		free(cl);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_del(cbs);
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o->stream_window},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 256 * 1024},
	};
	nghttp2_submit_settings(cl->c.h2, NGHTTP2_FLAG_NONE, iv, 3);
	nghttp2_session_set_local_window_size(cl->c.h2, NGHTTP2_FLAG_NONE, 0,
	                                      (int32_t)o->conn_window);

	rpc__flusher_init(loop, &cl->fl);
	rpc__timerq_init(loop, &cl->tq);
	rpc__conn_init(&cl->c, &cl->fl, &cconn_ops);
	uv_tcp_init(loop, &cl->c.tcp);
	cl->c.tcp.data = &cl->c;
	cl->handles = 3;
	rpc__arena_init(&cl->arena);
	snprintf(cl->c.peer, sizeof cl->c.peer, "%s", cl->authority);
	cl->state = RPC_CLIENT_CONNECTING;
	cl->ctimer.fn = connect_timeout;
	cl->katimer.fn = keepalive_fire;
	rpc__timerq_add(&cl->tq, &cl->ctimer, uv_now(loop) + o->connect_timeout_ms);
	*out = cl;

	struct sockaddr_storage ss;
	if (uv_ip4_addr(cl->host, cl->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(cl->host, cl->port, (struct sockaddr_in6 *)&ss) == 0) {
		start_connect(cl, (struct sockaddr *)&ss);
		return 0;
	}
	char port[8];
	snprintf(port, sizeof port, "%d", cl->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	cl->gai.data = cl;
	int rv = uv_getaddrinfo(loop, &cl->gai, gai_cb, cl->host, port, &hints);
	if (rv) {
		fail(cl, rv);
		return 0; /* reported through on_state FAILED, calls UNAVAILABLE */
	}
	cl->resolving = true;
	cl->handles++;
	return 0;
}

void rpc__client_keepalive_arm(struct rpc_client *cl)
{
	if (cl->opt.keepalive_ms && !cl->katimer.idx && !cl->c.closing)
		rpc__timerq_add(&cl->tq, &cl->katimer, uv_now(cl->loop) + cl->opt.keepalive_ms);
}

static void cconn_after_flush(struct rpc__conn *c)
{
	rpc__call_writable((struct rpc_client *)c);
}

/* Ends every open call with one status. Callbacks may cancel or end other
 * calls, so the scan restarts from the head after each one. */
static void end_all_calls(struct rpc_client *cl, int code, const char *msg)
{
	for (;;) {
		struct rpc_call *call = cl->calls;
		while (call && call->ended)
			call = call->next;
		if (!call)
			break;
		rpc__call_end(call, code, msg);
	}
}

static void cconn_teardown(struct rpc__conn *c)
{
	struct rpc_client *cl = (struct rpc_client *)c;
	rpc__timerq_del(&cl->tq, &cl->ctimer);
	rpc__timerq_del(&cl->tq, &cl->katimer);
	if (cl->resolving)
		uv_cancel((uv_req_t *)&cl->gai);
	int code = cl->user_closed ? RPC_CANCELLED : RPC_UNAVAILABLE;
	char *msg;
	if (cl->user_closed)
		msg = rpc__strdupf("rpc: client closed");
	else if (cl->state == RPC_CLIENT_CONNECTING)
		msg = rpc__strdupf("rpc: connection to %s failed: %s", cl->authority,
		                   rpc_strerror(cl->err ? cl->err : -ECONNRESET));
	else if (cl->err == -ETIMEDOUT)
		msg = rpc__strdupf("rpc: connection to %s lost: keepalive ping not acknowledged",
		                   cl->authority);
	else
		msg = rpc__strdupf("rpc: connection to %s closed", cl->authority);
	end_all_calls(cl, code, msg ? msg : "rpc: connection closed");
	free(msg);
	while (cl->calls)
		rpc__call_release(cl->calls);
	if (cl->state == RPC_CLIENT_CONNECTING)
		set_state(cl, RPC_CLIENT_FAILED, cl->err ? cl->err : -ECONNRESET);
	else
		set_state(cl, RPC_CLIENT_CLOSED, cl->err);
}

static void handle_closed(uv_handle_t *h)
{
	struct rpc_client *cl = h->data;
	cl->handles--;
	maybe_free(cl);
}

static void maybe_free(struct rpc_client *cl)
{
	if (cl->handles > 0 || !cl->user_closed)
		return;
	rpc__call_pool_free(cl);
	rpc__arena_free(&cl->arena);
	free(cl->authority);
	free(cl->user_agent);
	free(cl);
}

static void cconn_freed(struct rpc__conn *c)
{
	struct rpc_client *cl = (struct rpc_client *)c;
	/* The TCP handle is closed; the flusher and timer heap follow. */
	cl->fl.prep.data = cl;
	rpc__flusher_close(&cl->fl, handle_closed);
	rpc__timerq_close(&cl->tq, handle_closed);
	cl->tq.timer.data = cl;
	cl->handles--;
	maybe_free(cl);
}

void rpc_client_close(struct rpc_client *cl)
{
	if (!cl || cl->user_closed)
		return;
	cl->user_closed = true;
	/* Calls end now, even if the close itself must wait for a callback of
	 * ours to unwind. */
	end_all_calls(cl, RPC_CANCELLED, "rpc: client closed");
	if (!cl->c.closing)
		rpc__conn_close(&cl->c);
	else
		maybe_free(cl);
}

enum rpc_client_state rpc_client_state(const struct rpc_client *cl)
{
	return cl->state;
}

size_t rpc_client_open_calls(const struct rpc_client *cl)
{
	return cl->ncalls;
}

bool rpc__client_recursive(struct rpc_client *cl, const ProtobufCMessageDescriptor *d)
{
	size_t n = sizeof cl->dcache / sizeof cl->dcache[0];
	for (size_t i = 0; i < n; i++) {
		if (cl->dcache[i].d == d)
			return cl->dcache[i].recursive;
		if (!cl->dcache[i].d) {
			cl->dcache[i].d = d;
			cl->dcache[i].recursive = rpc__pb_is_recursive(d);
			return cl->dcache[i].recursive;
		}
	}
	return rpc__pb_is_recursive(d);
}
