/*
 * rpc/conn_server.c - one accepted connection: preface detection, the
 * nghttp2 server session and its callbacks, teardown.
 *
 * A connection starts in DETECT: if its first bytes are the HTTP/2 client
 * preface it becomes an HTTP/2 session, else it is HTTP/1.1 (http1.c), so
 * /metrics and /health share the gRPC port as on etcd. Clients send their
 * preface without waiting for ours, so waiting for it costs nothing; the
 * moment it is seen our SETTINGS go out (grpc-go counts the connection ready
 * only after them, wire §2 item 1).
 *
 * Callbacks follow wire §3.2: a stream object per request HEADERS, header
 * fields checked (reqcheck.c) and copied as they come, routing when the
 * header block is complete, messages cut out of DATA as it arrives, the
 * request end (END_STREAM on HEADERS, DATA or an empty DATA frame)
 * dispatched to the handler. A malformed request is reset with
 * PROTOCOL_ERROR once its header block (or the DATA that breaks it) is in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

static void sconn_teardown(struct rpc__conn *c);
static void sconn_freed(struct rpc__conn *c);
static void sconn_after_flush(struct rpc__conn *c);

static const struct rpc__conn_ops sconn_ops = {
    .teardown = sconn_teardown,
    .freed = sconn_freed,
    .after_flush = sconn_after_flush,
};

static struct rpc_stream *stream_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	struct rpc__sconn *sc = user;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct rpc_stream *s = rpc__stream_new(sc, frame->hd.stream_id);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, s);
	return 0;
}

static bool is(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(p, lit, l) == 0;
}

/* RFC 9113 §8.1.1: a malformed request is a stream error of type
 * PROTOCOL_ERROR. The handler, if it has the stream, gets on_cancel when
 * nghttp2 closes it. */
static void reset_malformed(struct rpc_stream *s)
{
	s->malformed = true;
	if (s->reset)
		return;
	s->reset = true;
	nghttp2_submit_rst_stream(s->conn->c.h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
	rpc__conn_mark_dirty(&s->conn->c);
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	(void)flags;
	struct rpc__sconn *sc = user;
	struct rpc_stream *s = stream_of(h2, frame->hd.stream_id);
	if (!s || s->malformed || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	bool trailer = frame->headers.cat != NGHTTP2_HCAT_REQUEST;
	if (rpc__reqcheck_field(&s->chk, name, namelen, value, valuelen, trailer)) {
		s->malformed = true; /* reset when the block is complete */
		return 0;
	}
	if (trailer)
		return 0; /* client trailers carry nothing we use */
	if (name[0] == ':') {
		if (is(name, namelen, ":method")) {
			s->bad_method = !is(value, valuelen, "POST");
		} else if (is(name, namelen, ":path")) {
			if (rpc__md_add(&s->md, name, namelen, value, valuelen))
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		return 0;
	}
	if (is(name, namelen, "content-type")) {
		s->ct_ok = rpc__is_grpc_content_type(value, valuelen);
	} else if (is(name, namelen, "grpc-timeout")) {
		uint64_t ms;
		if (rpc_timeout_parse((const char *)value, valuelen, &ms) == 0) {
			uint64_t now = uv_now(sc->srv->loop);
			s->deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
		} else {
			s->bad_timeout = true;
		}
	}
	if (rpc__md_add(&s->md, name, namelen, value, valuelen))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

/* grpc-go server.go handleStream: the texts of an unroutable :path. */
static void reject_path(struct rpc_stream *s, const char *path)
{
	const struct rpc__registry *reg = &s->conn->srv->reg;
	const char *sm = path[0] == '/' ? path + 1 : path;
	const char *slash = strrchr(sm, '/');
	char *msg;
	if (!slash)
		msg = rpc__strdupf("malformed method name: \"%s\"", path);
	else if (rpc__registry_has_service(reg, sm, (size_t)(slash - sm)))
		msg = rpc__strdupf("unknown method %s for service %.*s", slash + 1,
		                   (int)(slash - sm), sm);
	else
		msg = rpc__strdupf("unknown service %.*s", (int)(slash - sm), sm);
	rpc__stream_reject(s, 200, RPC_UNIMPLEMENTED, msg);
	free(msg);
}

static void headers_done(struct rpc_stream *s)
{
	struct rpc_server *srv = s->conn->srv;
	const char *path = rpc__md_get(&s->md, ":path");
	s->path = path;
	if (s->bad_method) {
		rpc__stream_reject(s, 405, RPC_INTERNAL, "grpc: the request method must be POST");
		return;
	}
	if (!s->ct_ok) {
		const char *ct = rpc__md_get(&s->md, "content-type");
		char *msg = rpc__strdupf("invalid gRPC request content-type \"%s\"", ct ? ct : "");
		rpc__stream_reject(s, 415, RPC_INTERNAL, msg);
		free(msg);
		return;
	}
	if (s->md.overflow) {
		rpc__stream_reject(s, 200, RPC_RESOURCE_EXHAUSTED,
		                   "rpc: request metadata larger than 8192 bytes");
		return;
	}
	if (s->bad_timeout) {
		char *msg = rpc__strdupf("transport: malformed grpc-timeout: %s",
		                         rpc__md_get(&s->md, "grpc-timeout"));
		rpc__stream_reject(s, 200, RPC_INTERNAL, msg);
		free(msg);
		return;
	}
	const struct rpc__method *m =
	    path ? rpc__registry_find(&srv->reg, path, strlen(path)) : NULL;
	if (!m) {
		reject_path(s, path ? path : "");
		return;
	}
	s->m = m;
	s->routed = true;
	if (s->deadline && rpc__timerq_add(&srv->tq, &s->tn, s->deadline))
		rpc__stream_reject(s, 200, RPC_RESOURCE_EXHAUSTED, "rpc: out of memory");
}

static void end_of_input(struct rpc_stream *s)
{
	s->half_closed = true;
	if (!s->routed || s->user_done)
		return;
	rpc__stream_end_of_input(s);
}

/* A complete header block: the request's (every field fine, nothing
 * missing) or the client's trailers (which must end the stream); with
 * END_STREAM, the body must have been as long as content-length said. */
static bool header_block_ok(struct rpc_stream *s, const nghttp2_frame *frame)
{
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (s->malformed)
		return false;
	if (frame->headers.cat == NGHTTP2_HCAT_REQUEST ? rpc__reqcheck_headers_end(&s->chk) != 0
	                                               : !end)
		return false;
	return !end || rpc__reqcheck_data(&s->chk, 0, true) == 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	(void)user;
	struct rpc_stream *s;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		s = stream_of(h2, frame->hd.stream_id);
		if (!s)
			break;
		if (!header_block_ok(s, frame)) {
			reset_malformed(s);
			break;
		}
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			headers_done(s);
		if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
			end_of_input(s);
		break;
	case NGHTTP2_DATA:
		s = stream_of(h2, frame->hd.stream_id);
		if (!s || s->malformed || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		if (rpc__reqcheck_data(&s->chk, 0, true))
			reset_malformed(s);
		else
			end_of_input(s);
		break;
	default:
		break;
	}
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *user)
{
	(void)flags;
	(void)user;
	struct rpc_stream *s = stream_of(h2, id);
	if (!s || s->malformed)
		return 0;
	if (rpc__reqcheck_data(&s->chk, len, false)) {
		reset_malformed(s);
		return 0;
	}
	if (!s->routed || s->user_done)
		return 0;
	int rv = rpc_deframer_feed(&s->in, data, len, rpc__deframe_cb, s);
	if (rv == RPC_DEFRAME_TOO_LARGE) {
		/* etcd's text (grpc-go rpc_util.go recvMsg). */
		char *msg = rpc__strdupf("grpc: received message larger than max (%u vs. %zu)",
		                         s->in.too_large, s->in.max);
		rpc__stream_abort(s, RPC_RESOURCE_EXHAUSTED, RPC_RESOURCE_EXHAUSTED, msg);
		free(msg);
	} else if (rv < 0) {
		rpc__stream_abort(s, RPC_RESOURCE_EXHAUSTED, RPC_RESOURCE_EXHAUSTED,
		                  "rpc: out of memory");
	}
	return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	(void)user;
	/* Early server closure (wire §1.4 item 2): the status is out but the
	 * client is still sending; RST_STREAM(NO_ERROR) only after the trailers,
	 * since submitting it earlier would drop them. */
	if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(h2, frame->hd.stream_id) == 0)
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
		                          NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	(void)error_code;
	(void)user;
	struct rpc_stream *s = stream_of(h2, id);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	s->h2_closed = true;
	rpc__stream_gone(s, RPC_CANCELLED);
	return 0;
}

static int on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *frame, int lib_error_code,
                             void *user)
{
	(void)h2;
	struct rpc__sconn *sc = user;
	rpc__log(sc->srv->opt.log, sc->srv->opt.log_arg, 3,
	         "rpc: %s: frame type %d stream %d not sent: %s", sc->c.peer, frame->hd.type,
	         frame->hd.stream_id, nghttp2_strerror(lib_error_code));
	return 0;
}

static int on_error(nghttp2_session *h2, int lib_error_code, const char *msg, size_t len,
                    void *user)
{
	(void)h2;
	(void)lib_error_code;
	struct rpc__sconn *sc = user;
	rpc__log(sc->srv->opt.log, sc->srv->opt.log_arg, 3, "rpc: %s: http2: %.*s", sc->c.peer,
	         (int)len, msg);
	return 0;
}

int rpc__server_callbacks(nghttp2_session_callbacks **out)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs))
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, rpc__read_length_cb);
	*out = cbs;
	return 0;
}

/* ---- connection -------------------------------------------------------- */

static int h2_start(struct rpc__sconn *sc)
{
	struct rpc_server *srv = sc->srv;
	if (nghttp2_session_server_new2(&sc->c.h2, srv->cbs, sc, srv->h2opt))
		return -ENOMEM;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->opt.max_concurrent_streams},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->opt.stream_window},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 256 * 1024},
	};
	if (nghttp2_submit_settings(sc->c.h2, NGHTTP2_FLAG_NONE, iv, 3) ||
	    nghttp2_session_set_local_window_size(sc->c.h2, NGHTTP2_FLAG_NONE, 0,
	                                          (int32_t)srv->opt.conn_window))
		return -ENOMEM;
	sc->mode = SCONN_H2;
	if (srv->shutting)
		rpc__sconn_notice(sc);
	return 0;
}

static void h2_input(struct rpc__sconn *sc, const uint8_t *p, size_t n)
{
	if (!sc->c.h2 || sc->c.drain_close)
		return;
	int rv = rpc__conn_recv(&sc->c, p, n);
	if (rv < 0) {
		/* Fatal for the session (bad preface, flood, protocol error).
		 * nghttp2 has queued a GOAWAY for most; send what is queued and
		 * close. */
		rpc__log(sc->srv->opt.log, sc->srv->opt.log_arg, 2, "rpc: %s: closing: %s",
		         sc->c.peer, nghttp2_strerror(rv));
		nghttp2_session_terminate_session(sc->c.h2, NGHTTP2_PROTOCOL_ERROR);
		uv_read_stop((uv_stream_t *)&sc->c.tcp);
		sc->c.drain_close = true;
	}
}

static void input(struct rpc__sconn *sc, const uint8_t *p, size_t n)
{
	if (sc->mode == SCONN_DETECT) {
		size_t k = RPC_MIN(n, PREFACE_LEN - sc->detect_len);
		if (memcmp(p, preface + sc->detect_len, k) != 0) {
			sc->mode = SCONN_HTTP1;
			sc->srv->stats.http1_total++;
			sc->c.bytes_in += sc->detect_len + n;
			if (sc->detect_len)
				rpc__http1_input(sc, sc->detect, sc->detect_len);
			rpc__http1_input(sc, p, n);
			return;
		}
		memcpy(sc->detect + sc->detect_len, p, k);
		sc->detect_len += k;
		p += k;
		n -= k;
		if (sc->detect_len < PREFACE_LEN)
			return;
		if (h2_start(sc)) {
			rpc__conn_close(&sc->c);
			return;
		}
		h2_input(sc, sc->detect, PREFACE_LEN);
		if (n == 0)
			return;
	}
	if (sc->mode == SCONN_H2)
		h2_input(sc, p, n);
	else {
		sc->c.bytes_in += n;
		rpc__http1_input(sc, p, n);
	}
}

static void read_cb(uv_stream_t *t, ssize_t nread, const uv_buf_t *buf)
{
	struct rpc__sconn *sc = (struct rpc__sconn *)t->data;
	struct rpc__conn *c = &sc->c;
	if (c->closing)
		return;
	rpc__conn_enter(c);
	if (nread < 0) {
		c->eof = true;
		uv_read_stop(t);
		/* An HTTP/1.1 client may half-close after its request; its
		 * answer is still owed. Everything else ends here. */
		if (!(sc->mode == SCONN_HTTP1 && (sc->h1reply || c->writes)))
			rpc__conn_close(c);
	} else if (nread > 0) {
		input(sc, (const uint8_t *)buf->base, (size_t)nread);
	}
	rpc__conn_flush(c);
	rpc__conn_leave(c);
}

int rpc__sconn_accept(struct rpc_server *srv, uv_stream_t *listener)
{
	struct rpc__sconn *sc = calloc(1, sizeof *sc);
	if (!sc)
		return -ENOMEM;
	rpc__conn_init(&sc->c, &srv->fl, &sconn_ops);
	sc->srv = srv;
	int rv = uv_tcp_init(srv->loop, &sc->c.tcp);
	if (rv) {
		free(sc);
		return rv;
	}
	sc->c.tcp.data = &sc->c;
	sc->next = srv->conns;
	if (sc->next)
		sc->next->prev = sc;
	srv->conns = sc;
	srv->stats.conns_open++;
	srv->stats.conns_total++;
	rv = uv_accept(listener, (uv_stream_t *)&sc->c.tcp);
	if (rv == 0) {
		struct sockaddr_storage ss;
		int len = sizeof ss;
		uv_tcp_nodelay(&sc->c.tcp, 1);
		if (uv_tcp_getpeername(&sc->c.tcp, (struct sockaddr *)&ss, &len) == 0)
			rpc__format_peer((struct sockaddr *)&ss, sc->c.peer, sizeof sc->c.peer);
		sc->c.connected = true;
		rv = uv_read_start((uv_stream_t *)&sc->c.tcp, rpc__conn_alloc_cb, read_cb);
	}
	if (rv)
		rpc__conn_close(&sc->c);
	return rv;
}

void rpc__sconn_notice(struct rpc__sconn *sc)
{
	if (sc->c.h2 && !sc->c.closing) {
		nghttp2_submit_shutdown_notice(sc->c.h2);
		rpc__conn_mark_dirty(&sc->c);
	}
}

void rpc__sconn_goaway(struct rpc__sconn *sc)
{
	struct rpc__conn *c = &sc->c;
	struct rpc_server *srv = sc->srv;
	if (c->closing)
		return;
	if (sc->mode != SCONN_H2 || !c->h2) {
		if (!sc->h1reply)
			rpc__conn_close(c);
		return;
	}
	rpc__conn_enter(c);
	if (!sc->goaway_sent) {
		sc->goaway_sent = true;
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
		                      nghttp2_session_get_last_proc_stream_id(c->h2),
		                      NGHTTP2_NO_ERROR, NULL, 0);
	}
	/* End every open stream with the caller's status. Aborting runs
	 * handlers, which may touch other streams, so restart from the head
	 * after each one. */
	for (;;) {
		struct rpc_stream *s = sc->streams;
		while (s && s->user_done)
			s = s->next;
		if (!s)
			break;
		rpc__stream_abort(s, RPC_UNAVAILABLE, srv->stop_code, srv->stop_msg);
	}
	c->drain_close = true;
	rpc__conn_mark_dirty(c);
	rpc__conn_leave(c);
}

static void sconn_after_flush(struct rpc__conn *c)
{
	rpc__stream_writable((struct rpc__sconn *)c);
}

static void sconn_teardown(struct rpc__conn *c)
{
	struct rpc__sconn *sc = (struct rpc__sconn *)c;
	struct rpc_server *srv = sc->srv;
	rpc__http1_detach(sc);
	rpc__timerq_del(&srv->tq, &sc->linger);
	/* The session goes away without on_stream_close (wire §3.5 item 3):
	 * every stream is ended here; handlers holding one hear on_cancel. */
	while (sc->streams)
		rpc__stream_gone(sc->streams, RPC_UNAVAILABLE);
	srv->stats.bytes_in += c->bytes_in;
	srv->stats.bytes_out += c->bytes_out;
}

static void sconn_freed(struct rpc__conn *c)
{
	struct rpc__sconn *sc = (struct rpc__sconn *)c;
	struct rpc_server *srv = sc->srv;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		srv->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	srv->stats.conns_open--;
	rpc__buf_free(&sc->h1in);
	free(sc);
	rpc__server_maybe_done(srv);
}
