#include "rawh2.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- server thread ------------------------------------------------------ */

static void st_main(void *arg)
{
	struct srvthread *st = arg;
	uv_run(&st->loop, UV_RUN_DEFAULT);
}

static void st_done(struct rpc_server *srv, void *arg)
{
	(void)srv;
	((struct srvthread *)arg)->done = true;
}

static void st_stop_cb(uv_async_t *a)
{
	struct srvthread *st = a->data;
	rpc_server_shutdown(st->srv, st->grace_ms, RPC_UNAVAILABLE, "etcdserver: server stopped",
	                    st_done, st);
	uv_close((uv_handle_t *)a, NULL);
}

void st_init(struct srvthread *st, const struct rpc_server_options *opts)
{
	memset(st, 0, sizeof *st);
	cr_assert_eq(uv_loop_init(&st->loop), 0);
	cr_assert_eq(rpc_server_new(&st->loop, opts, &st->srv), 0);
	cr_assert_eq(rpc_server_listen(st->srv, "127.0.0.1:0", &st->port), 0);
	uv_async_init(&st->loop, &st->stop, st_stop_cb);
	st->stop.data = st;
}

void st_run(struct srvthread *st)
{
	cr_assert_eq(uv_thread_create(&st->th, st_main, st), 0);
}

void st_shutdown(struct srvthread *st, uint64_t grace_ms)
{
	st->grace_ms = grace_ms;
	st->stopping = true;
	uv_async_send(&st->stop);
}

void st_fini(struct srvthread *st)
{
	if (!st->stopping)
		uv_async_send(&st->stop);
	uv_thread_join(&st->th);
	cr_assert(st->done, "server shutdown did not complete");
	cr_assert_eq(uv_loop_close(&st->loop), 0, "handles left open on the server loop");
}

/* ---- client socket ------------------------------------------------------ */

void rc_open(struct rawconn *rc, int port)
{
	memset(rc, 0, sizeof *rc);
	rc->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(rc->fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(rc->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	int one = 1;
	setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	nghttp2_hd_inflater *inf;
	cr_assert_eq(nghttp2_hd_inflate_new(&inf), 0);
	rc->inflater = inf;
}

int rc_listen(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(fd, 4), 0);
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return fd;
}

void rc_accept(struct rawconn *rc, int lfd)
{
	memset(rc, 0, sizeof *rc);
	rc->fd = accept(lfd, NULL, NULL);
	cr_assert_geq(rc->fd, 0);
	nghttp2_hd_inflater *inf;
	cr_assert_eq(nghttp2_hd_inflate_new(&inf), 0);
	rc->inflater = inf;
	rc->skip_magic = true;
	struct rawbuf b = {0};
	raw_settings(&b, NULL, 0);
	rc_send(rc, &b);
	rb_free(&b);
}

void rc_send_raw(struct rawconn *rc, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n > 0) {
		ssize_t w = send(rc->fd, q, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the server may have closed on us; tests check that */
		q += w;
		n -= (size_t)w;
	}
}

void rc_send(struct rawconn *rc, const struct rawbuf *b)
{
	rc_send_raw(rc, b->p, b->len);
}

static struct rawstream *stream(struct rawconn *rc, int32_t id)
{
	for (int i = 0; i < rc->nstreams; i++)
		if (rc->streams[i]->id == id)
			return rc->streams[i];
	cr_assert_lt(rc->nstreams, 16);
	struct rawstream *s = calloc(1, sizeof *s);
	s->id = id;
	s->grpc_status = -1;
	s->rst = -1;
	rc->streams[rc->nstreams++] = s;
	return s;
}

static void on_header_block(struct rawconn *rc, int32_t id, uint8_t flags, const uint8_t *p,
                            size_t len)
{
	struct rawstream *s = stream(rc, id);
	s->header_blocks++;
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(rc->inflater, &nv, &fl, p, len, 1);
		cr_assert_geq(n, 0, "bad HPACK from the server");
		p += n;
		len -= (size_t)n;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			char v[512];
			size_t vl = nv.valuelen < sizeof v - 1 ? nv.valuelen : sizeof v - 1;
			memcpy(v, nv.value, vl);
			v[vl] = '\0';
			if (nv.namelen == 7 && !memcmp(nv.name, ":status", 7))
				s->http_status = atoi(v);
			else if (nv.namelen == 12 && !memcmp(nv.name, "content-type", 12))
				snprintf(s->content_type, sizeof s->content_type, "%.63s", v);
			else if (nv.namelen == 11 && !memcmp(nv.name, "grpc-status", 11))
				s->grpc_status = atoi(v);
			else if (nv.namelen == 12 && !memcmp(nv.name, "grpc-message", 12))
				snprintf(s->grpc_message, sizeof s->grpc_message, "%s", v);
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(rc->inflater);
			break;
		}
		if (len == 0 && !(fl & NGHTTP2_HD_INFLATE_EMIT))
			break;
	}
	if (flags & FL_END_STREAM)
		s->end_stream = true;
}

static void parse(struct rawconn *rc)
{
	size_t off = 0;
	while (rc->in.len - off >= 9) {
		const uint8_t *h = rc->in.p + off;
		size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		if (rc->in.len - off < 9 + len)
			break;
		uint8_t type = h[3], flags = h[4];
		int32_t id = (int32_t)(((uint32_t)h[5] & 0x7f) << 24 | (uint32_t)h[6] << 16 |
		                       (uint32_t)h[7] << 8 | h[8]);
		const uint8_t *p = h + 9;
		off += 9 + len;
		switch (type) {
		case F_DATA: {
			struct rawstream *s = stream(rc, id);
			size_t pad = 0;
			if (flags & FL_PADDED) {
				pad = p[0];
				p++;
				len--;
			}
			len -= pad;
			size_t room = sizeof s->data - s->data_len;
			size_t k = len < room ? len : room;
			memcpy(s->data + s->data_len, p, k);
			s->data_len += k;
			s->data_total += len;
			if (flags & FL_END_STREAM)
				s->end_stream = true;
			break;
		}
		case F_HEADERS:
		case F_CONTINUATION:
			if (type == F_HEADERS) {
				rc->hdrblock.len = 0;
				rc->hdrstream = id;
				rc->hdrflags = flags;
				size_t pad = 0;
				if (flags & FL_PADDED) {
					pad = p[0];
					p++;
					len--;
				}
				if (flags & 0x20) {
					p += 5;
					len -= 5;
				}
				len -= pad;
			}
			rb_put(&rc->hdrblock, p, len);
			if (flags & FL_END_HEADERS)
				on_header_block(rc, rc->hdrstream, rc->hdrflags, rc->hdrblock.p,
				                rc->hdrblock.len);
			break;
		case F_RST:
			stream(rc, id)->rst =
			    (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			              (uint32_t)p[2] << 8 | p[3]);
			break;
		case F_SETTINGS:
			if (!(flags & FL_ACK)) {
				struct rawbuf b = {0};
				raw_frame(&b, F_SETTINGS, FL_ACK, 0, NULL, 0);
				rc_send(rc, &b);
				rb_free(&b);
			}
			break;
		case F_PING:
			if (flags & FL_ACK) {
				rc->pings_acked++;
			} else {
				if (rc->pings < 8)
					rc->ping_ms[rc->pings] = uv_hrtime() / 1000000;
				rc->pings++;
				if (rc->ack_pings) {
					struct rawbuf b = {0};
					raw_frame(&b, F_PING, FL_ACK, 0, p, 8);
					rc_send(rc, &b);
					rb_free(&b);
				}
			}
			break;
		case F_GOAWAY:
			rc->goaway = true;
			rc->goaways++;
			rc->goaway_last =
			    (int32_t)(((uint32_t)p[0] & 0x7f) << 24 | (uint32_t)p[1] << 16 |
			              (uint32_t)p[2] << 8 | p[3]);
			rc->goaway_code = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
			                  (uint32_t)p[6] << 8 | p[7];
			break;
		default:
			break;
		}
	}
	memmove(rc->in.p, rc->in.p + off, rc->in.len - off);
	rc->in.len -= off;
}

static bool read_some(struct rawconn *rc, int timeout_ms)
{
	struct pollfd pfd = {.fd = rc->fd, .events = POLLIN};
	if (rc->eof || poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	uint8_t buf[65536];
	ssize_t n = recv(rc->fd, buf, sizeof buf, 0);
	if (n <= 0) {
		rc->eof = true;
		return false;
	}
	rc->bytes += (size_t)n;
	rb_put(&rc->in, buf, (size_t)n);
	if (rc->skip_magic) {
		if (rc->in.len < 24)
			return true;
		memmove(rc->in.p, rc->in.p + 24, rc->in.len - 24);
		rc->in.len -= 24;
		rc->skip_magic = false;
	}
	parse(rc);
	return true;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

struct rawstream *rc_wait_stream(struct rawconn *rc, int32_t id, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	struct rawstream *s = stream(rc, id);
	while (!s->end_stream && s->rst < 0 && !rc->eof && now_ms() < end)
		read_some(rc, (int)(end - now_ms()));
	return s;
}

bool rc_wait_eof(struct rawconn *rc, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (!rc->eof && now_ms() < end)
		read_some(rc, (int)(end - now_ms()));
	return rc->eof;
}

void rc_pump(struct rawconn *rc, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (!rc->eof && now_ms() < end)
		read_some(rc, (int)(end - now_ms()));
}

void rc_close(struct rawconn *rc)
{
	if (rc->fd >= 0)
		close(rc->fd);
	rc->fd = -1;
	nghttp2_hd_inflate_del(rc->inflater);
	for (int i = 0; i < rc->nstreams; i++)
		free(rc->streams[i]);
	rb_free(&rc->in);
	rb_free(&rc->hdrblock);
}
