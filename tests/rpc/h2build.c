#include "h2build.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

void rb_put(struct rawbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void rb_free(struct rawbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

void raw_frame(struct rawbuf *b, uint8_t type, uint8_t flags, int32_t stream, const void *payload,
               size_t len)
{
	uint8_t h[9] = {(uint8_t)(len >> 16),
	                (uint8_t)(len >> 8),
	                (uint8_t)len,
	                type,
	                flags,
	                (uint8_t)((uint32_t)stream >> 24 & 0x7f),
	                (uint8_t)(stream >> 16),
	                (uint8_t)(stream >> 8),
	                (uint8_t)stream};
	rb_put(b, h, 9);
	rb_put(b, payload, len);
}

void raw_preface(struct rawbuf *b)
{
	rb_put(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
}

void raw_settings(struct rawbuf *b, const uint32_t *pairs, size_t npairs)
{
	uint8_t p[6 * 16];
	for (size_t i = 0; i < npairs; i++) {
		uint32_t id = pairs[2 * i], v = pairs[2 * i + 1];
		uint8_t *q = p + 6 * i;
		q[0] = (uint8_t)(id >> 8);
		q[1] = (uint8_t)id;
		q[2] = (uint8_t)(v >> 24);
		q[3] = (uint8_t)(v >> 16);
		q[4] = (uint8_t)(v >> 8);
		q[5] = (uint8_t)v;
	}
	raw_frame(b, F_SETTINGS, 0, 0, p, 6 * npairs);
}

void raw_headers(struct rawbuf *b, int32_t stream, uint8_t flags, const char *const *nv)
{
	nghttp2_nv v[64];
	size_t n = 0;
	for (; nv[2 * n]; n++) {
		v[n].name = (uint8_t *)nv[2 * n];
		v[n].value = (uint8_t *)nv[2 * n + 1];
		v[n].namelen = strlen(nv[2 * n]);
		v[n].valuelen = strlen(nv[2 * n + 1]);
		v[n].flags = NGHTTP2_NV_FLAG_NONE;
	}
	nghttp2_hd_deflater *d;
	if (nghttp2_hd_deflate_new(&d, 4096))
		abort();
	size_t cap = nghttp2_hd_deflate_bound(d, v, n);
	uint8_t *out = malloc(cap);
	ssize_t len = nghttp2_hd_deflate_hd(d, out, cap, v, n);
	if (!out || len < 0)
		abort();
	raw_frame(b, F_HEADERS, flags | FL_END_HEADERS, stream, out, (size_t)len);
	free(out);
	nghttp2_hd_deflate_del(d);
}

void raw_grpc_request(struct rawbuf *b, int32_t stream, const char *path, const char *const *extra,
                      bool end_stream)
{
	const char *nv[64] = {
	    ":method", "POST",         ":scheme",          "http", ":path",   path, ":authority",
	    "test",    "content-type", "application/grpc", "te",   "trailers"};
	size_t n = 12;
	for (size_t i = 0; extra && extra[i]; i++)
		nv[n++] = extra[i];
	nv[n] = NULL;
	raw_headers(b, stream, end_stream ? FL_END_STREAM : 0, nv);
}

void raw_grpc_message(struct rawbuf *b, int32_t stream, uint8_t msg_flags, const void *p,
                      size_t len, bool end_stream)
{
	struct rawbuf m = {0};
	uint8_t h[5] = {msg_flags, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
	                (uint8_t)len};
	rb_put(&m, h, 5);
	rb_put(&m, p, len);
	raw_frame(b, F_DATA, end_stream ? FL_END_STREAM : 0, stream, m.p, m.len);
	rb_free(&m);
}

void raw_rst(struct rawbuf *b, int32_t stream, uint32_t code)
{
	uint8_t p[4] = {(uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8),
	                (uint8_t)code};
	raw_frame(b, F_RST, 0, stream, p, 4);
}

void raw_window_update(struct rawbuf *b, int32_t stream, uint32_t inc)
{
	uint8_t p[4] = {(uint8_t)(inc >> 24), (uint8_t)(inc >> 16), (uint8_t)(inc >> 8),
	                (uint8_t)inc};
	raw_frame(b, F_WINDOW_UPDATE, 0, stream, p, 4);
}

void raw_response(struct rawbuf *b, int32_t stream, bool end_stream, const char *const *nv)
{
	raw_headers(b, stream, end_stream ? FL_END_STREAM : 0, nv);
}
