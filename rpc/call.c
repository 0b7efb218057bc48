/*
 * rpc/call.c - the client side of one call.
 *
 * A call is an HTTP/2 request whose body is a data provider over the call's
 * out-buffer (wire §3.4 item 3): a unary request is packed before the
 * request is submitted and ends with EOF; a streaming call returns DEFERRED
 * until the user sends or half-closes. Responses are cut out of DATA as it
 * arrives: a streaming call gets each message at once, a unary call keeps
 * its single response until the status arrives, so on_reply sees both.
 *
 * Lifetime mirrors the server's stream: the user holds the call until
 * on_end/on_reply returns or rpc_call_cancel() returns (ended); nghttp2
 * holds it until on_stream_close (h2_closed) or the session ends. It goes
 * back to the client's pool when both have let go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define POOL_MAX     256
#define KEEP_BUF     (64u * 1024)
#define MAX_METADATA 64

static void deadline_cb(struct rpc__tnode *tn);

struct rpc_call *rpc__call_new(struct rpc_client *cl)
{
	struct rpc_call *call = cl->pool;
	if (call) {
		cl->pool = call->pool_next;
		cl->pool_n--;
	} else {
		call = calloc(1, sizeof *call);
		if (!call)
			return NULL;
	}
	call->cl = cl;
	call->tn.fn = deadline_cb;
	rpc_deframer_init(&call->in, cl->opt.max_recv_msg);
	return call;
}

static void unlink_call(struct rpc_call *call)
{
	struct rpc_client *cl = call->cl;
	if (call->prev)
		call->prev->next = call->next;
	else if (cl->calls == call)
		cl->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	if (call->wqueued)
		for (struct rpc_call **pp = &cl->writable; *pp; pp = &(*pp)->wnext)
			if (*pp == call) {
				*pp = call->wnext;
				break;
			}
	call->wqueued = false;
}

void rpc__call_release(struct rpc_call *call)
{
	struct rpc_client *cl = call->cl;
	unlink_call(call);
	rpc__timerq_del(&cl->tq, &call->tn);
	if (cl->c.h2 && call->id > 0 && !call->h2_closed)
		nghttp2_session_set_stream_user_data(cl->c.h2, call->id, NULL);
	free(call->message);
	if (cl->pool_n >= POOL_MAX || cl->user_closed) {
		rpc__buf_free(&call->out);
		rpc__buf_free(&call->resp);
		rpc_deframer_free(&call->in);
		free(call);
		return;
	}
	struct rpc__buf out = call->out, resp = call->resp;
	struct rpc_deframer in = call->in;
	rpc__buf_trim(&out, KEEP_BUF);
	rpc__buf_trim(&resp, KEEP_BUF);
	if (in.cap > KEEP_BUF)
		rpc_deframer_free(&in);
	*call = (struct rpc_call){0};
	call->out = out;
	call->resp = resp;
	call->in = in;
	call->pool_next = cl->pool;
	cl->pool = call;
	cl->pool_n++;
}

void rpc__call_pool_free(struct rpc_client *cl)
{
	while (cl->pool) {
		struct rpc_call *call = cl->pool;
		cl->pool = call->pool_next;
		rpc__buf_free(&call->out);
		rpc__buf_free(&call->resp);
		rpc_deframer_free(&call->in);
		free(call);
	}
	cl->pool_n = 0;
}

static void dirty(struct rpc_call *call)
{
	rpc__conn_mark_dirty(&call->cl->c);
}

void rpc__call_end(struct rpc_call *call, int code, const char *message)
{
	struct rpc_client *cl = call->cl;
	if (call->ended)
		return;
	call->ended = true;
	cl->ncalls--;
	rpc__timerq_del(&cl->tq, &call->tn);
	if (!message)
		message = "";
	if (call->unary) {
		const uint8_t *bytes = rpc__buf_head(&call->resp);
		size_t len = rpc__buf_size(&call->resp);
		struct rpc__unpacked u = {0};
		char *owned = NULL;
		if (code == RPC_OK && call->nresp != 1) {
			code = RPC_INTERNAL;
			message = "rpc: unary response carries no message";
		} else if (code == RPC_OK && call->o.response &&
		           rpc__unpack(&cl->arena, call->o.response, call->recursive,
		                       cl->opt.max_depth, call->o.flags & RPC_KEEP_MESSAGES, bytes,
		                       len, &u)) {
			code = RPC_INTERNAL;
			message = owned =
			    rpc__strdupf("grpc: failed to unmarshal the received message");
		}
		if (code != RPC_OK) {
			bytes = NULL;
			len = 0;
		}
		if (call->o.on_reply)
			call->o.on_reply(call, call->o.arg, code, message, u.msg, bytes, len);
		rpc__unpacked_done(&cl->arena, &u);
		free(owned);
	} else if (call->o.on_end) {
		call->o.on_end(call, call->o.arg, code, message);
	}
	call->user_done = true;
}

void rpc__call_deliver(struct rpc_call *call, const uint8_t *p, size_t len)
{
	struct rpc_client *cl = call->cl;
	struct rpc__unpacked u = {0};
	if (call->o.response &&
	    rpc__unpack(&cl->arena, call->o.response, call->recursive, cl->opt.max_depth,
	                call->o.flags & RPC_KEEP_MESSAGES, p, len, &u)) {
		rpc__call_end(call, RPC_INTERNAL, "grpc: failed to unmarshal the received message");
		if (cl->c.h2 && !call->h2_closed)
			nghttp2_submit_rst_stream(cl->c.h2, NGHTTP2_FLAG_NONE, call->id,
			                          NGHTTP2_CANCEL);
		dirty(call);
		return;
	}
	if (call->o.on_message)
		call->o.on_message(call, call->o.arg, u.msg, p, len);
	rpc__unpacked_done(&cl->arena, &u);
}

static void deadline_cb(struct rpc__tnode *tn)
{
	struct rpc_call *call = (struct rpc_call *)((char *)tn - offsetof(struct rpc_call, tn));
	struct rpc_client *cl = call->cl;
	if (call->ended)
		return;
	rpc__conn_enter(&cl->c);
	/* wire §3.4 item 6: RST_STREAM(CANCEL) and DEADLINE_EXCEEDED. */
	if (cl->c.h2 && call->id > 0 && !call->h2_closed)
		nghttp2_submit_rst_stream(cl->c.h2, NGHTTP2_FLAG_NONE, call->id, NGHTTP2_CANCEL);
	dirty(call);
	rpc__call_end(call, RPC_DEADLINE_EXCEEDED, RPC_MSG_DEADLINE_EXCEEDED);
	rpc__conn_leave(&cl->c);
}

static void want_writable(struct rpc_call *call)
{
	struct rpc_client *cl = call->cl;
	if (call->full && !call->wqueued &&
	    rpc__buf_size(&call->out) <= cl->opt.send_high_water / 2) {
		call->wqueued = true;
		call->wnext = cl->writable;
		cl->writable = call;
	}
}

ssize_t rpc__call_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user)
{
	(void)h2;
	(void)id;
	(void)user;
	struct rpc_call *call = src->ptr;
	size_t avail = rpc__buf_size(&call->out);
	size_t n = RPC_MIN(avail, length);
	if (n) {
		memcpy(buf, rpc__buf_head(&call->out), n);
		rpc__buf_consume(&call->out, n);
		want_writable(call);
	}
	if (n == avail && call->send_closed) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (n == 0) {
		call->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

void rpc__call_writable(struct rpc_client *cl)
{
	while (cl->writable) {
		struct rpc_call *call = cl->writable;
		cl->writable = call->wnext;
		call->wqueued = false;
		call->wnext = NULL;
		if (call->ended || !call->full)
			continue;
		call->full = false;
		if (call->o.on_writable)
			call->o.on_writable(call, call->o.arg);
	}
}

/* ---- starting calls ----------------------------------------------------- */

#define NVS(n, v, vl)                                                                 \
	(nghttp2_nv)                                                                  \
	{                                                                             \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), (vl), NGHTTP2_NV_FLAG_NONE \
	}

static bool reserved_key(const char *k)
{
	static const char *const r[] = {"content-type",
	                                "te",
	                                "user-agent",
	                                "grpc-timeout",
	                                "grpc-encoding",
	                                "grpc-accept-encoding",
	                                "host",
	                                "connection",
	                                "transfer-encoding",
	                                "keep-alive",
	                                "upgrade",
	                                "proxy-connection"};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		if (strcmp(k, r[i]) == 0)
			return true;
	return false;
}

static int start(struct rpc_client *cl, const char *path, const struct rpc_call_options *o,
                 bool unary, const ProtobufCMessage *req, const void *bytes, size_t len,
                 struct rpc_call **out)
{
	if (out)
		*out = NULL;
	if (!cl || !path || path[0] != '/' || !o)
		return -EINVAL;
	if (unary ? !o->on_reply : !o->on_end)
		return -EINVAL;
	if (o->n_metadata > MAX_METADATA || (o->n_metadata && !o->metadata))
		return -EINVAL;
	for (size_t i = 0; i < o->n_metadata; i++)
		if (!rpc__md_key_ok(o->metadata[i].key) || reserved_key(o->metadata[i].key) ||
		    !o->metadata[i].value)
			return -EINVAL;
	if (cl->user_closed || cl->c.closing || !cl->c.h2 || cl->state == RPC_CLIENT_DRAINING ||
	    cl->state == RPC_CLIENT_FAILED || cl->state == RPC_CLIENT_CLOSED)
		return -ENOTCONN;
	if (unary) {
		size_t n = req ? protobuf_c_message_get_packed_size(req) : len;
		if (n > cl->opt.max_send_msg)
			return -EMSGSIZE;
	}
	struct rpc_call *call = rpc__call_new(cl);
	if (!call)
		return -ENOMEM;
	call->o = *o;
	call->o.metadata = NULL;
	call->o.n_metadata = 0;
	call->unary = unary;
	call->recursive = o->response && rpc__client_recursive(cl, o->response);
	int rv = 0;
	if (unary) {
		rv = req ? rpc__frame_msg(&call->out, req)
		         : rpc__frame_bytes(&call->out, bytes, len);
		call->send_closed = true;
	}
	char tmo[RPC_TIMEOUT_BUFSZ];
	nghttp2_nv nva[8 + MAX_METADATA];
	size_t n = 0;
	nva[n++] = NVS(":method", "POST", 4);
	nva[n++] = NVS(":scheme", "http", 4);
	nva[n++] = NVS(":path", path, strlen(path));
	nva[n++] = NVS(":authority", cl->authority, strlen(cl->authority));
	nva[n++] = NVS("content-type", "application/grpc", 16);
	nva[n++] = NVS("user-agent", cl->user_agent, strlen(cl->user_agent));
	nva[n++] = NVS("te", "trailers", 8);
	if (o->timeout_ms) {
		size_t tl = rpc_timeout_format(o->timeout_ms, tmo);
		nva[n++] = NVS("grpc-timeout", tmo, tl);
	}
	for (size_t i = 0; i < o->n_metadata; i++)
		nva[n++] =
		    NVS(o->metadata[i].key, o->metadata[i].value, strlen(o->metadata[i].value));
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = rpc__call_read_cb};
	int32_t id = rv ? -1 : nghttp2_submit_request(cl->c.h2, NULL, nva, n, &prd, call);
	if (id < 0) {
		call->user_done = true;
		rpc__call_release(call);
		if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
			rpc__client_draining(cl);
			return -ENOTCONN;
		}
		return rv ? rv : -ENOMEM;
	}
	/* Stream ids run out after 2^30 calls (hours at full speed): say
	 * DRAINING early, as for a GOAWAY, so the owner opens a new client
	 * while this one finishes its calls. */
	if (nghttp2_session_get_next_stream_id(cl->c.h2) > RPC__STREAM_ID_DRAIN)
		rpc__client_draining(cl);
	call->id = id;
	call->next = cl->calls;
	if (call->next)
		call->next->prev = call;
	cl->calls = call;
	cl->ncalls++;
	if (o->timeout_ms) {
		uint64_t now = uv_now(cl->loop);
		uint64_t when = o->timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + o->timeout_ms;
		rpc__timerq_add(&cl->tq, &call->tn, when);
	}
	rpc__client_keepalive_arm(cl);
	dirty(call);
	if (out)
		*out = call;
	return 0;
}

int rpc_call_start(struct rpc_client *cl, const char *path, const struct rpc_call_options *o,
                   struct rpc_call **out)
{
	return start(cl, path, o, false, NULL, NULL, 0, out);
}

int rpc_call_unary(struct rpc_client *cl, const char *path, const ProtobufCMessage *req,
                   const struct rpc_call_options *o, struct rpc_call **out)
{
	if (!req)
		return -EINVAL;
	return start(cl, path, o, true, req, NULL, 0, out);
}

int rpc_call_unary_bytes(struct rpc_client *cl, const char *path, const void *req, size_t len,
                         const struct rpc_call_options *o, struct rpc_call **out)
{
	if (!req && len)
		return -EINVAL;
	return start(cl, path, o, true, NULL, req, len, out);
}

/* ---- sending ------------------------------------------------------------ */

static int send_check(struct rpc_call *call, size_t n)
{
	struct rpc_client *cl = call->cl;
	if (call->ended || call->send_closed || call->unary)
		return -EPIPE;
	if (!cl->c.h2 || cl->c.closing)
		return -EPIPE;
	if (n > cl->opt.max_send_msg)
		return -EMSGSIZE;
	size_t have = rpc__buf_size(&call->out);
	if (have && have + n + RPC_FRAME_HEADER > cl->opt.send_max)
		return -ENOBUFS;
	return 0;
}

static int after_append(struct rpc_call *call)
{
	if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->cl->c.h2, call->id);
	}
	dirty(call);
	if (rpc__buf_size(&call->out) > call->cl->opt.send_high_water) {
		call->full = true;
		return RPC_SEND_FULL;
	}
	return 0;
}

int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg)
{
	if (!msg)
		return -EINVAL;
	size_t n = protobuf_c_message_get_packed_size(msg);
	int rv = send_check(call, n);
	if (rv)
		return rv;
	if (rpc__buf_reserve(&call->out, RPC_FRAME_HEADER + n))
		return -ENOMEM;
	uint8_t *p = call->out.data + call->out.len;
	rpc_frame_header(p, 0, (uint32_t)n);
	protobuf_c_message_pack(msg, p + RPC_FRAME_HEADER);
	call->out.len += RPC_FRAME_HEADER + n;
	return after_append(call);
}

int rpc_call_send_bytes(struct rpc_call *call, const void *data, size_t len)
{
	int rv = send_check(call, len);
	if (rv)
		return rv;
	rv = rpc__frame_bytes(&call->out, data, len);
	if (rv)
		return rv;
	return after_append(call);
}

size_t rpc_call_buffered(const struct rpc_call *call)
{
	return rpc__buf_size(&call->out);
}

int rpc_call_close_send(struct rpc_call *call)
{
	if (call->ended || call->send_closed)
		return -EPIPE;
	call->send_closed = true;
	if (call->cl->c.h2 && !call->cl->c.closing) {
		if (call->deferred) {
			call->deferred = false;
			nghttp2_session_resume_data(call->cl->c.h2, call->id);
		}
		dirty(call);
	}
	return 0;
}

void rpc_call_cancel(struct rpc_call *call)
{
	if (!call || call->ended)
		return;
	struct rpc_client *cl = call->cl;
	call->ended = true;
	call->user_done = true;
	cl->ncalls--;
	rpc__timerq_del(&cl->tq, &call->tn);
	if (cl->c.h2 && call->id > 0 && !call->h2_closed && !cl->c.closing) {
		nghttp2_submit_rst_stream(cl->c.h2, NGHTTP2_FLAG_NONE, call->id, NGHTTP2_CANCEL);
		dirty(call);
	}
	if (call->h2_closed || !cl->c.h2)
		rpc__call_release(call);
}
