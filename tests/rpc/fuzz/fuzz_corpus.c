/*
 * tests/rpc/fuzz/fuzz_corpus.c - the seed corpus: valid (and classically
 * invalid) exchanges for both sides, so that mutations start from inputs
 * that reach deep into the parsers instead of dying at the preface.
 */
#include <stdlib.h>
#include <string.h>

#include "../h2build.h"
#include "fuzz.h"
#include "rpc.pb-c.h"

#define MAXC 64

static struct fuzz_input *out;
static size_t nout;

static void add(const char *name, struct rawbuf *b)
{
	out[nout].p = b->p;
	out[nout].n = b->len;
	out[nout].name = name;
	nout++;
	*b = (struct rawbuf){0};
}

static void start(struct rawbuf *b, uint8_t mode)
{
	rb_put(b, &mode, 1);
	if (mode == 0) {
		raw_preface(b);
		uint32_t s[] = {4, 65535, 3, 100};
		raw_settings(b, s, 2);
	}
}

static void server_settings(struct rawbuf *b)
{
	uint32_t s[] = {3, 1000, 4, 1 << 20, 5, 1 << 14};
	raw_settings(b, s, 3);
	raw_frame(b, F_SETTINGS, FL_ACK, 0, NULL, 0);
}

static void msg(struct rawbuf *b, int32_t id, const void *p, size_t n, bool end)
{
	raw_grpc_message(b, id, 0, p, n, end);
}

static size_t range_bytes(uint8_t *buf, int64_t limit)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key.data = (uint8_t *)"foo";
	r.key.len = 3;
	r.range_end.data = (uint8_t *)"fop";
	r.range_end.len = 3;
	r.limit = limit;
	return etcdserverpb__range_request__pack(&r, buf);
}

static size_t txn_bytes(uint8_t *buf, int levels)
{
	uint8_t tmp[1024];
	size_t n = 0;
	for (int i = 0; i < levels; i++) {
		tmp[0] = 0x22;
		tmp[1] = (uint8_t)n;
		memcpy(tmp + 2, buf, n);
		buf[0] = 0x12;
		buf[1] = (uint8_t)(n + 2);
		memcpy(buf + 2, tmp, n + 2);
		n += 4;
	}
	return n;
}

static void server_inputs(void)
{
	struct rawbuf b = {0};
	uint8_t pb[512];

	start(&b, 0);
	raw_grpc_request(&b, 1, "/f.S/Echo", NULL, false);
	msg(&b, 1, "hello", 5, true);
	add("unary", &b);

	start(&b, 0);
	raw_grpc_request(&b, 1, "/f.S/Echo", NULL, false);
	raw_frame(&b, F_DATA, 0, 1, "\0\0\0\0\5he", 7);
	raw_frame(&b, F_DATA, 0, 1, "llo", 3);
	raw_frame(&b, F_DATA, FL_END_STREAM, 1, NULL, 0);
	add("unary split over DATA frames, empty DATA end", &b);

	start(&b, 0);
	raw_grpc_request(&b, 1, "/f.S/Bidi", NULL, false);
	msg(&b, 1, "one", 3, false);
	msg(&b, 1, "two", 3, false);
	raw_frame(&b, F_DATA, FL_END_STREAM, 1, NULL, 0);
	raw_grpc_request(&b, 3, "/f.S/Bidi", NULL, false);
	msg(&b, 3, "X", 1, false);
	add("bidi half-close and early closure", &b);

	start(&b, 0);
	const char *md[] = {"grpc-timeout", "1m", "token", "t", "hasleader", "true", NULL};
	raw_grpc_request(&b, 1, "/f.S/Hold", md, false);
	msg(&b, 1, "h", 1, true);
	raw_grpc_request(&b, 3, "/f.S/Three", NULL, false);
	msg(&b, 3, "3", 1, true);
	raw_rst(&b, 1, 8);
	add("deadline, server streaming, rst", &b);

	start(&b, 0);
	raw_grpc_request(&b, 1, "/etcdserverpb.KV/Range", md, false);
	msg(&b, 1, pb, range_bytes(pb, 0), true);
	raw_grpc_request(&b, 3, "/etcdserverpb.KV/Range", NULL, false);
	msg(&b, 3, pb, range_bytes(pb, 7), true);
	raw_grpc_request(&b, 5, "/etcdserverpb.KV/Txn", NULL, false);
	msg(&b, 5, pb, txn_bytes(pb, 20), true);
	add("descriptor-typed requests, nested txn", &b);

	start(&b, 0);
	raw_grpc_request(&b, 1, "/nope.S/X", NULL, true);
	const char *bad[] = {":method",      "GET",        ":scheme",    "http",
	                     ":path",        "/f.S/Echo",  ":authority", "a",
	                     "content-type", "text/plain", NULL};
	raw_headers(&b, 3, FL_END_STREAM, bad);
	const char *gz[] = {"grpc-encoding", "gzip", NULL};
	raw_grpc_request(&b, 5, "/f.S/Echo", gz, false);
	raw_grpc_message(&b, 5, 1, "zz", 2, true);
	raw_grpc_request(&b, 7, "/f.S/Echo", NULL, false);
	raw_frame(&b, F_DATA, 0, 7, "\0\0\x10\0\0", 5);
	add("unknown path, bad method/content-type, compression, oversize", &b);

	start(&b, 0);
	uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	raw_frame(&b, F_PING, 0, 0, ping, 8);
	raw_window_update(&b, 0, 1 << 20);
	raw_grpc_request(&b, 1, "/f.S/Echo", NULL, false);
	uint8_t padded[] = {3, 0, 0, 0, 0, 1, 'p', 0, 0, 0};
	raw_frame(&b, F_DATA, FL_END_STREAM | FL_PADDED, 1, padded, sizeof padded);
	uint8_t ga[8] = {0, 0, 0, 1, 0, 0, 0, 0};
	raw_frame(&b, F_GOAWAY, 0, 0, ga, 8);
	add("ping, window update, padding, client goaway", &b);

	/* A header block split over HEADERS + CONTINUATION. */
	start(&b, 0);
	struct rawbuf h = {0};
	raw_grpc_request(&h, 1, "/f.S/Echo", md, false);
	size_t blen = h.len - 9, half = blen / 2;
	raw_frame(&b, F_HEADERS, 0, 1, h.p + 9, half);
	raw_frame(&b, F_CONTINUATION, FL_END_HEADERS, 1, h.p + 9 + half, blen - half);
	rb_free(&h);
	msg(&b, 1, "c", 1, true);
	add("continuation", &b);

	const char *h1[] = {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	                    "HEAD /x?y=1 HTTP/1.0\r\n\r\n", "PRI * HTTP/1.1\r\n\r\n"};
	for (size_t i = 0; i < 3; i++) {
		start(&b, 2);
		rb_put(&b, h1[i], strlen(h1[i]));
		add("http/1.1", &b);
	}
}

static void client_inputs(void)
{
	struct rawbuf b = {0};
	uint8_t pb[256];
	const char *ok[] = {":status", "200", "content-type", "application/grpc", NULL};
	const char *tr0[] = {"grpc-status", "0", "grpc-message", "", NULL};

	Etcdserverpb__RangeResponse rr = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	rr.count = 3;
	size_t rn = etcdserverpb__range_response__pack(&rr, pb);
	start(&b, 1);
	server_settings(&b);
	raw_response(&b, 1, false, ok);
	msg(&b, 1, pb, rn, false);
	raw_response(&b, 1, true, tr0);
	Etcdserverpb__WatchResponse wr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	wr.created = 1;
	uint8_t wb[64];
	size_t wn = etcdserverpb__watch_response__pack(&wr, wb);
	raw_response(&b, 3, false, ok);
	msg(&b, 3, wb, wn, false);
	msg(&b, 3, wb, wn, false);
	raw_response(&b, 5, false, ok);
	msg(&b, 5, "r1", 2, false);
	msg(&b, 5, "C", 1, false);
	raw_response(&b, 3, true, tr0);
	add("replies, stream messages, trailers", &b);

	start(&b, 1);
	server_settings(&b);
	const char *to[] = {":status",
	                    "200",
	                    "content-type",
	                    "application/grpc",
	                    "grpc-status",
	                    "11",
	                    "grpc-message",
	                    "etcdserver: mvcc: required revision has been compacted",
	                    NULL};
	raw_response(&b, 1, true, to);
	raw_rst(&b, 3, 8);
	raw_rst(&b, 5, 7);
	add("trailers-only, rst", &b);

	start(&b, 1);
	server_settings(&b);
	const char *html[] = {":status", "503", "content-type", "text/html", NULL};
	raw_response(&b, 1, false, html);
	raw_frame(&b, F_DATA, FL_END_STREAM, 1, "<html>", 6);
	raw_response(&b, 3, false, ok);
	msg(&b, 3, wb, wn, true);
	const char *bs[] = {"grpc-status", "x1", NULL};
	raw_response(&b, 5, false, ok);
	raw_response(&b, 5, true, bs);
	add("non-gRPC answer, no trailers, bad status", &b);

	start(&b, 1);
	server_settings(&b);
	uint8_t ping[8] = {0};
	raw_frame(&b, F_PING, 0, 0, ping, 8);
	raw_response(&b, 1, false, ok);
	raw_frame(&b, F_DATA, 0, 1, "\0\x7f\xff\xff\xff", 5);
	raw_response(&b, 3, false, ok);
	raw_frame(&b, F_DATA, 0, 3, "\1\0\0\0\1z", 6);
	uint8_t ga[8] = {0, 0, 0, 1, 0, 0, 0, 0};
	raw_frame(&b, F_GOAWAY, 0, 0, ga, 8);
	add("ping, oversized, compressed, goaway", &b);
}

struct fuzz_input *fuzz_corpus(size_t *n)
{
	out = calloc(MAXC, sizeof *out);
	nout = 0;
	server_inputs();
	client_inputs();
	*n = nout;
	return out;
}

void fuzz_corpus_free(struct fuzz_input *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].p);
	free(c);
}
