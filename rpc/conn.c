/*
 * rpc/conn.c - what server and client connections share: the TCP handle,
 * the write path and the dirty list.
 *
 * Writing (wire §3.1 item 4). Frames are pulled from nghttp2 with
 * mem_send into the connection's current write buffer, and the buffer goes
 * out in one uv_write per flush. A buffer in flight is never touched again;
 * the next flush fills a fresh one (two are kept for reuse). While libuv
 * holds more than WQ_CAP unwritten bytes (the peer reads slowly) we stop
 * pulling: DATA then stays in the streams' own out-buffers, where senders
 * see it as backpressure.
 *
 * When to flush. After every read, and from a uv_prepare handle that runs
 * before the loop blocks: any function that queues frames (a reply from a
 * timer, a watch event for another connection) marks its connection dirty,
 * and the prepare callback flushes every dirty connection once. The prepare
 * handle is active only while something is dirty.
 *
 * Closing. rpc__conn_close() may be asked from anywhere, including inside
 * nghttp2 callbacks; while any entry point of ours is on the stack for this
 * connection (conn_enter/conn_leave), the request is parked and the
 * outermost leave carries it out. The memory lives until libuv's close
 * callback, which is where the owner frees it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define WQ_CAP     (1u << 20) /* stop pulling frames above this */
#define WBUF_CHUNK (512u * 1024)
#define RBUF_SIZE  (64u * 1024)
#define WBUF_KEEP  (256u * 1024)

static void prepare_cb(uv_prepare_t *p)
{
	struct rpc__flusher *fl = p->data;
	while (fl->dirty) {
		struct rpc__conn *c = fl->dirty;
		fl->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = false;
		rpc__conn_enter(c);
		rpc__conn_flush(c);
		rpc__conn_leave(c);
	}
	uv_prepare_stop(p);
	fl->started = false;
}

void rpc__flusher_init(uv_loop_t *loop, struct rpc__flusher *fl)
{
	*fl = (struct rpc__flusher){0};
	uv_prepare_init(loop, &fl->prep);
	fl->prep.data = fl;
}

void rpc__flusher_close(struct rpc__flusher *fl, uv_close_cb cb)
{
	free(fl->rbuf);
	fl->rbuf = NULL;
	fl->dirty = NULL;
	uv_close((uv_handle_t *)&fl->prep, cb);
}

void rpc__conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct rpc__conn *c = h->data;
	struct rpc__flusher *fl = c->fl;
	if (!fl->rbuf) {
		fl->rbuf = malloc(RBUF_SIZE);
		fl->rbuf_cap = fl->rbuf ? RBUF_SIZE : 0;
	}
	*buf = uv_buf_init((char *)fl->rbuf, (unsigned)fl->rbuf_cap);
}

void rpc__conn_init(struct rpc__conn *c, struct rpc__flusher *fl, const struct rpc__conn_ops *ops)
{
	c->fl = fl;
	c->ops = ops;
	c->tcp.data = c;
}

void rpc__conn_enter(struct rpc__conn *c)
{
	c->busy++;
}

void rpc__conn_leave(struct rpc__conn *c)
{
	assert(c->busy > 0);
	if (--c->busy == 0 && c->close_pending) {
		c->close_pending = false;
		rpc__conn_close(c);
	}
}

void rpc__conn_mark_dirty(struct rpc__conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	c->dirty_next = c->fl->dirty;
	c->fl->dirty = c;
	if (!c->fl->started) {
		uv_prepare_start(&c->fl->prep, prepare_cb);
		c->fl->started = true;
	}
}

static void unlink_dirty(struct rpc__conn *c)
{
	if (!c->dirty)
		return;
	for (struct rpc__conn **pp = &c->fl->dirty; *pp; pp = &(*pp)->dirty_next)
		if (*pp == c) {
			*pp = c->dirty_next;
			break;
		}
	c->dirty = false;
	c->dirty_next = NULL;
}

static struct rpc__wreq *wreq_get(struct rpc__conn *c)
{
	if (c->cur)
		return c->cur;
	struct rpc__wreq *w = c->spare;
	if (w) {
		c->spare = w->next;
	} else {
		w = calloc(1, sizeof *w);
		if (!w)
			return NULL;
	}
	w->c = c;
	w->next = NULL;
	c->cur = w;
	return w;
}

static void wreq_put(struct rpc__conn *c, struct rpc__wreq *w)
{
	int nspare = 0;
	for (struct rpc__wreq *s = c->spare; s; s = s->next)
		nspare++;
	if (nspare >= 2 || c->closing) {
		rpc__buf_free(&w->b);
		free(w);
		return;
	}
	rpc__buf_trim(&w->b, WBUF_KEEP);
	w->next = c->spare;
	c->spare = w;
}

static void write_cb(uv_write_t *req, int status)
{
	struct rpc__wreq *w = (struct rpc__wreq *)req;
	struct rpc__conn *c = w->c;
	c->writes--;
	if (status == 0)
		c->bytes_out += rpc__buf_size(&w->b);
	wreq_put(c, w);
	if (c->closing)
		return;
	rpc__conn_enter(c);
	if (status < 0)
		rpc__conn_close(c);
	else
		rpc__conn_flush(c);
	rpc__conn_leave(c);
}

void rpc__conn_write_out(struct rpc__conn *c)
{
	struct rpc__wreq *w = c->cur;
	if (!w || rpc__buf_size(&w->b) == 0 || c->closing)
		return;
	c->cur = NULL;
	uv_buf_t b = uv_buf_init((char *)rpc__buf_head(&w->b), (unsigned)rpc__buf_size(&w->b));
	int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rv < 0) {
		wreq_put(c, w);
		rpc__conn_close(c);
		return;
	}
	c->writes++;
}

int rpc__conn_write_raw(struct rpc__conn *c, const void *p, size_t n)
{
	struct rpc__wreq *w = wreq_get(c);
	if (!w)
		return -ENOMEM;
	return rpc__buf_append(&w->b, p, n);
}

static bool idle(struct rpc__conn *c)
{
	return c->writes == 0 && (!c->cur || rpc__buf_size(&c->cur->b) == 0) &&
	       (!c->h2 ||
	        (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)));
}

void rpc__conn_flush(struct rpc__conn *c)
{
	if (c->closing || !c->connected)
		return;
	if (c->h2) {
		while (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < WQ_CAP) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(c->h2, &data);
			if (n < 0) {
				rpc__conn_close(c);
				return;
			}
			if (n == 0)
				break;
			struct rpc__wreq *w = wreq_get(c);
			if (!w || rpc__buf_append(&w->b, data, (size_t)n)) {
				rpc__conn_close(c);
				return;
			}
			if (rpc__buf_size(&w->b) >= WBUF_CHUNK)
				rpc__conn_write_out(c);
		}
	}
	rpc__conn_write_out(c);
	if (c->closing)
		return;
	if (c->ops->after_flush)
		c->ops->after_flush(c);
	/* Nothing left to read or write (both sides sent GOAWAY, or the session
	 * failed): the connection is done. Also the end of a graceful drain. */
	if (c->h2 && idle(c))
		rpc__conn_close(c);
	else if (c->drain_close && idle(c))
		rpc__conn_close(c);
}

int rpc__conn_recv(struct rpc__conn *c, const uint8_t *p, size_t n)
{
	c->bytes_in += n;
	ssize_t rv = nghttp2_session_mem_recv(c->h2, p, n);
	return rv < 0 ? (int)rv : 0;
}

static void close_cb(uv_handle_t *h)
{
	struct rpc__conn *c = h->data;
	if (c->cur) {
		rpc__buf_free(&c->cur->b);
		free(c->cur);
		c->cur = NULL;
	}
	while (c->spare) {
		struct rpc__wreq *w = c->spare;
		c->spare = w->next;
		rpc__buf_free(&w->b);
		free(w);
	}
	c->ops->freed(c);
}

void rpc__conn_close(struct rpc__conn *c)
{
	if (c->closing)
		return;
	if (c->busy) {
		c->close_pending = true;
		return;
	}
	c->closing = true;
	unlink_dirty(c);
	c->busy++; /* teardown runs user callbacks: park nested closes */
	c->ops->teardown(c);
	c->busy--;
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

void rpc__format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		uv_ip4_name(in, ip, sizeof ip);
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		uv_ip6_name(in6, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%d", ip, port);
	} else {
		snprintf(out, cap, "?");
	}
}

int rpc__parse_host_port(const char *in, char *host, size_t host_cap, int *port)
{
	if (!in)
		return -EINVAL;
	if (strncmp(in, "http://", 7) == 0)
		in += 7;
	size_t len = strlen(in);
	while (len > 0 && in[len - 1] == '/')
		len--;
	const char *colon;
	const char *h;
	size_t hlen;
	if (len > 0 && in[0] == '[') {
		const char *rb = memchr(in, ']', len);
		if (!rb || rb + 1 >= in + len || rb[1] != ':')
			return -EINVAL;
		h = in + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = NULL;
		for (size_t i = 0; i < len; i++)
			if (in[i] == ':')
				colon = in + i;
		if (!colon)
			return -EINVAL;
		h = in;
		hlen = (size_t)(colon - in);
	}
	if (hlen == 0 || hlen >= host_cap)
		return -EINVAL;
	const char *p = colon + 1, *end = in + len;
	if (p == end || end - p > 5)
		return -EINVAL;
	int v = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = v;
	return 0;
}

ssize_t rpc__read_length_cb(nghttp2_session *h2, uint8_t frame_type, int32_t stream_id,
                            int32_t session_remote_window_size, int32_t stream_remote_window_size,
                            uint32_t remote_max_frame_size, void *user)
{
	(void)h2;
	(void)frame_type;
	(void)stream_id;
	(void)user;
	/* Bigger DATA frames than nghttp2's 16 KiB default, when the peer allows
	 * them (grpcio: 4 MiB), cut per-frame overhead on large responses. */
	int64_t n = RPC_MIN(session_remote_window_size, stream_remote_window_size);
	n = RPC_MIN(n, (int64_t)remote_max_frame_size);
	n = RPC_MIN(n, 256 * 1024);
	return n > 0 ? (ssize_t)n : 1;
}
