/*
 * rpc/stream.c - the server side of one call.
 *
 * Sending (wire §3.3). The first message submits the response HEADERS with a
 * data provider reading the stream's out-buffer; later messages are appended
 * and, if nghttp2 had been told "nothing yet" (DEFERRED), the provider is
 * resumed. Finishing records the status; when the provider finds the buffer
 * drained it ends the DATA with EOF|NO_END_STREAM and submits the trailers
 * from inside the read callback (nghttp2.h allows it), so trailers always
 * follow the last message. A call finished before anything was sent is
 * answered Trailers-Only: one HEADERS frame with END_STREAM.
 *
 * Lifetime. The handler holds a stream from its first callback until it
 * finishes it or receives on_cancel (user_done). nghttp2 holds it until
 * on_stream_close (h2_closed), or until the session is deleted. The object
 * goes back to the server's pool when both have let go; no uv handle is
 * attached to it (deadlines live in the server's timer heap), so release is
 * synchronous and reuse allocates nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define POOL_MAX 1024
#define KEEP_BUF (64u * 1024)

#define NV(n, v)                                                                               \
	{                                                                                      \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

static void deadline_cb(struct rpc__tnode *tn);

struct rpc_stream *rpc__stream_new(struct rpc__sconn *sc, int32_t id)
{
	struct rpc_server *srv = sc->srv;
	struct rpc_stream *s = srv->pool;
	if (s) {
		srv->pool = s->pool_next;
		srv->pool_n--;
	} else {
		s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
	}
	s->conn = sc;
	s->id = id;
	s->tn.fn = deadline_cb;
	rpc_deframer_init(&s->in, srv->opt.max_recv_msg);
	s->next = sc->streams;
	if (s->next)
		s->next->prev = s;
	s->prev = NULL;
	sc->streams = s;
	srv->stats.streams_open++;
	srv->stats.streams_total++;
	return s;
}

void rpc__stream_release(struct rpc_stream *s)
{
	struct rpc__sconn *sc = s->conn;
	struct rpc_server *srv = sc->srv;
	if (s->prev)
		s->prev->next = s->next;
	else
		sc->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->wqueued)
		for (struct rpc_stream **pp = &sc->writable; *pp; pp = &(*pp)->wnext)
			if (*pp == s) {
				*pp = s->wnext;
				break;
			}
	rpc__timerq_del(&srv->tq, &s->tn);
	srv->stats.streams_open--;
	free(s->message);
	if (srv->pool_n >= POOL_MAX || srv->shutting) {
		rpc__md_free(&s->md);
		rpc__buf_free(&s->out);
		rpc__buf_free(&s->req);
		rpc_deframer_free(&s->in);
		free(s);
		return;
	}
	/* Scrub the state, keep modest buffers for the next call. */
	struct rpc__md md = s->md;
	struct rpc__buf out = s->out, req = s->req;
	struct rpc_deframer in = s->in;
	rpc__md_reset(&md);
	rpc__buf_trim(&out, KEEP_BUF);
	rpc__buf_trim(&req, KEEP_BUF);
	if (in.cap > KEEP_BUF)
		rpc_deframer_free(&in);
	*s = (struct rpc_stream){0};
	s->md = md;
	s->out = out;
	s->req = req;
	s->in = in;
	s->pool_next = srv->pool;
	srv->pool = s;
	srv->pool_n++;
}

void rpc__stream_pool_free(struct rpc_server *srv)
{
	while (srv->pool) {
		struct rpc_stream *s = srv->pool;
		srv->pool = s->pool_next;
		rpc__md_free(&s->md);
		rpc__buf_free(&s->out);
		rpc__buf_free(&s->req);
		rpc_deframer_free(&s->in);
		free(s);
	}
	srv->pool_n = 0;
}

static nghttp2_session *h2of(const struct rpc_stream *s)
{
	return s->conn->c.h2;
}

static void dirty(struct rpc_stream *s)
{
	rpc__conn_mark_dirty(&s->conn->c);
}

static void trailers_only(struct rpc_stream *s, int http_status, int code, const char *msg)
{
	char st[12], cs[12];
	snprintf(st, sizeof st, "%d", http_status);
	snprintf(cs, sizeof cs, "%d", code);
	char *enc = rpc__encode_message(msg);
	nghttp2_nv nva[] = {
	    NV(":status", st),
	    NV("content-type", "application/grpc"),
	    NV("grpc-status", cs),
	    NV("grpc-message", enc ? enc : ""),
	};
	s->responded = true;
	s->finished = true;
	if (h2of(s))
		nghttp2_submit_response(h2of(s), s->id, nva, 4, NULL);
	free(enc);
	dirty(s);
}

static int submit_response(struct rpc_stream *s)
{
	static const nghttp2_nv nva[] = {
	    {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
	     NGHTTP2_NV_FLAG_NONE},
	};
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = rpc__stream_read_cb};
	s->responded = true;
	int rv = nghttp2_submit_response(h2of(s), s->id, nva, 2, &prd);
	return rv < 0 ? -EPIPE : 0;
}

static void resume(struct rpc_stream *s)
{
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(h2of(s), s->id);
	}
	dirty(s);
}

/* The status goes out after whatever is queued. */
static void finish_internal(struct rpc_stream *s, int code, const char *msg)
{
	if (!h2of(s) || s->finished)
		return;
	if (!s->responded && rpc__buf_size(&s->out) == 0) {
		trailers_only(s, 200, code, msg);
		return;
	}
	s->code = code;
	free(s->message);
	/* The common case, OK with no message, allocates nothing. */
	s->message = msg && *msg ? rpc__encode_message(msg) : NULL;
	s->finished = true;
	if (!s->responded)
		submit_response(s);
	resume(s);
}

void rpc__stream_reject(struct rpc_stream *s, int http_status, int code, const char *msg)
{
	s->user_done = true;
	trailers_only(s, http_status, code, msg);
}

static void cancel_cb(struct rpc_stream *s, int code)
{
	const struct rpc_method *m = s->m ? &s->m->m : NULL;
	if (s->seen && m && m->on_cancel) {
		s->in_cancel = true;
		m->on_cancel(s, code);
		s->in_cancel = false;
	}
}

void rpc__stream_abort(struct rpc_stream *s, int cancel_code, int code, const char *msg)
{
	if (s->user_done)
		return;
	s->user_done = true;
	rpc__timerq_del(&s->conn->srv->tq, &s->tn);
	cancel_cb(s, cancel_code);
	finish_internal(s, code, msg);
}

void rpc__stream_gone(struct rpc_stream *s, int cancel_code)
{
	if (!s->user_done) {
		s->user_done = true;
		cancel_cb(s, cancel_code);
	}
	rpc__stream_release(s);
}

static void deadline_cb(struct rpc__tnode *tn)
{
	struct rpc_stream *s = (struct rpc_stream *)((char *)tn - offsetof(struct rpc_stream, tn));
	struct rpc__conn *c = &s->conn->c;
	if (s->user_done || !c->h2)
		return;
	rpc__conn_enter(c);
	/* wire §1.4 item 4: abandon the work, RST_STREAM(CANCEL). */
	s->user_done = true;
	nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	cancel_cb(s, RPC_DEADLINE_EXCEEDED);
	rpc__conn_mark_dirty(c);
	rpc__conn_leave(c);
}

void rpc__stream_deliver(struct rpc_stream *s, const uint8_t *p, size_t len)
{
	struct rpc_server *srv = s->conn->srv;
	const struct rpc_method *m = &s->m->m;
	struct rpc__unpacked u = {0};
	if (m->request && rpc__unpack(&srv->arena, m->request, s->m->recursive, srv->opt.max_depth,
	                              m->flags & RPC_KEEP_MESSAGES, p, len, &u)) {
		/* grpc-go server.go: codes.Internal on an unmarshal failure. */
		rpc__stream_abort(s, RPC_INTERNAL, RPC_INTERNAL,
		                  "grpc: error unmarshalling request");
		return;
	}
	s->seen = true;
	m->on_message(s, u.msg, p, len);
	rpc__unpacked_done(&srv->arena, &u);
}

int rpc__deframe_cb(void *arg, uint8_t flags, const uint8_t *msg, size_t len)
{
	struct rpc_stream *s = arg;
	if (flags & 1) {
		/* wire §1.2 item 3, as grpc-go's rpc_util.go checkRecvPayload. */
		const char *enc = rpc__md_get(&s->md, "grpc-encoding");
		if (!enc || !*enc || strcmp(enc, "identity") == 0) {
			rpc__stream_abort(
			    s, RPC_INTERNAL, RPC_INTERNAL,
			    "grpc: compressed flag set with identity or empty encoding");
		} else {
			char *m = rpc__strdupf(
			    "grpc: Decompressor is not installed for grpc-encoding \"%s\"", enc);
			rpc__stream_abort(s, RPC_UNIMPLEMENTED, RPC_UNIMPLEMENTED, m);
			free(m);
		}
		return 1;
	}
	if (s->m->m.kind != RPC_BIDI) {
		if (++s->nreq > 1) {
			rpc__stream_abort(s, RPC_INTERNAL, RPC_INTERNAL,
			                  "grpc: more than one request message for a unary call");
			return 1;
		}
		if (rpc__buf_append(&s->req, msg, len)) {
			rpc__stream_abort(s, RPC_RESOURCE_EXHAUSTED, RPC_RESOURCE_EXHAUSTED,
			                  "rpc: out of memory");
			return 1;
		}
		return 0;
	}
	rpc__stream_deliver(s, msg, len);
	return s->user_done ? 1 : 0;
}

void rpc__stream_end_of_input(struct rpc_stream *s)
{
	if (rpc_deframer_partial(&s->in)) {
		rpc__stream_abort(s, RPC_INTERNAL, RPC_INTERNAL,
		                  "grpc: request ended in the middle of a message");
		return;
	}
	const struct rpc_method *m = &s->m->m;
	if (m->kind != RPC_BIDI) {
		if (s->nreq != 1) {
			rpc__stream_abort(s, RPC_INTERNAL, RPC_INTERNAL,
			                  "grpc: a unary call needs exactly one request message");
			return;
		}
		rpc__stream_deliver(s, rpc__buf_head(&s->req), rpc__buf_size(&s->req));
		if (!s->user_done)
			rpc__buf_reset(&s->req);
		return;
	}
	s->seen = true;
	if (m->on_half_close)
		m->on_half_close(s);
}

static void submit_trailers(struct rpc_stream *s)
{
	char cs[12];
	snprintf(cs, sizeof cs, "%d", s->code);
	nghttp2_nv nva[] = {
	    NV("grpc-status", cs),
	    NV("grpc-message", s->message ? s->message : ""),
	};
	nghttp2_submit_trailer(h2of(s), s->id, nva, 2);
}

static void want_writable(struct rpc_stream *s)
{
	size_t low = s->conn->srv->opt.send_high_water / 2;
	if (s->full && !s->wqueued && rpc__buf_size(&s->out) <= low) {
		s->wqueued = true;
		s->wnext = s->conn->writable;
		s->conn->writable = s;
	}
}

ssize_t rpc__stream_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
	(void)h2;
	(void)id;
	(void)user;
	struct rpc_stream *s = src->ptr;
	size_t avail = rpc__buf_size(&s->out);
	size_t n = RPC_MIN(avail, length);
	if (n) {
		memcpy(buf, rpc__buf_head(&s->out), n);
		rpc__buf_consume(&s->out, n);
		want_writable(s);
	}
	if (n == avail && s->finished) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		submit_trailers(s);
		return (ssize_t)n;
	}
	if (n == 0) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

void rpc__stream_writable(struct rpc__sconn *sc)
{
	while (sc->writable) {
		struct rpc_stream *s = sc->writable;
		sc->writable = s->wnext;
		s->wqueued = false;
		s->wnext = NULL;
		if (s->user_done || !s->full)
			continue;
		s->full = false;
		if (s->m->m.on_writable)
			s->m->m.on_writable(s);
	}
}

/* ---- public ------------------------------------------------------------ */

static int send_check(struct rpc_stream *s)
{
	if (s->in_cancel)
		return -ECANCELED;
	if (s->user_done || s->finished)
		return -EPIPE;
	if (!h2of(s) || s->conn->c.closing)
		return -ECANCELED;
	return 0;
}

static int after_append(struct rpc_stream *s)
{
	if (!s->responded) {
		if (submit_response(s))
			return -EPIPE;
		dirty(s);
	} else {
		resume(s);
	}
	if (rpc__buf_size(&s->out) > s->conn->srv->opt.send_high_water) {
		s->full = true;
		return RPC_SEND_FULL;
	}
	return 0;
}

int rpc_stream_send(struct rpc_stream *s, const ProtobufCMessage *msg)
{
	int rv = send_check(s);
	if (rv)
		return rv;
	if (!msg)
		return -EINVAL;
	size_t n = protobuf_c_message_get_packed_size(msg);
	size_t have = rpc__buf_size(&s->out);
	if (have && have + n + RPC_FRAME_HEADER > s->conn->srv->opt.send_max)
		return -ENOBUFS;
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (rpc__buf_reserve(&s->out, RPC_FRAME_HEADER + n))
		return -ENOMEM;
	uint8_t *p = s->out.data + s->out.len;
	rpc_frame_header(p, 0, (uint32_t)n);
	protobuf_c_message_pack(msg, p + RPC_FRAME_HEADER);
	s->out.len += RPC_FRAME_HEADER + n;
	return after_append(s);
}

int rpc_stream_send_bytes(struct rpc_stream *s, const void *data, size_t len)
{
	int rv = send_check(s);
	if (rv)
		return rv;
	size_t have = rpc__buf_size(&s->out);
	if (have && have + len + RPC_FRAME_HEADER > s->conn->srv->opt.send_max)
		return -ENOBUFS;
	rv = rpc__frame_bytes(&s->out, data, len);
	if (rv)
		return rv;
	return after_append(s);
}

size_t rpc_stream_buffered(const struct rpc_stream *s)
{
	return rpc__buf_size(&s->out);
}

int rpc_stream_finish(struct rpc_stream *s, int code, const char *message)
{
	if (s->in_cancel)
		return -ECANCELED;
	if (s->user_done)
		return -EPIPE;
	s->user_done = true;
	rpc__timerq_del(&s->conn->srv->tq, &s->tn);
	finish_internal(s, code, message);
	return 0;
}

int rpc_stream_reply(struct rpc_stream *s, const ProtobufCMessage *msg)
{
	int rv = rpc_stream_send(s, msg);
	if (rv < 0)
		return rv;
	return rpc_stream_finish(s, RPC_OK, NULL);
}

const char *rpc_stream_metadata(const struct rpc_stream *s, const char *key)
{
	return key && *key != ':' ? rpc__md_get(&s->md, key) : NULL;
}

int rpc_stream_metadata_at(const struct rpc_stream *s, size_t i, const char **key,
                           const char **value)
{
	return rpc__md_at(&s->md, i, key, value);
}

const char *rpc_stream_path(const struct rpc_stream *s)
{
	return s->path ? s->path : "";
}

uint64_t rpc_stream_deadline(const struct rpc_stream *s)
{
	return s->deadline;
}

const char *rpc_stream_peer(const struct rpc_stream *s)
{
	return s->conn->c.peer;
}

int32_t rpc_stream_id(const struct rpc_stream *s)
{
	return s->id;
}

void *rpc_stream_method_data(const struct rpc_stream *s)
{
	return s->m ? s->m->m.data : NULL;
}

void rpc_stream_set_data(struct rpc_stream *s, void *data)
{
	s->data = data;
}

void *rpc_stream_data(const struct rpc_stream *s)
{
	return s->data;
}

int rpc_stream_half_closed(const struct rpc_stream *s)
{
	return s->half_closed;
}
