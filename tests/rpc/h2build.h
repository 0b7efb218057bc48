/*
 * tests/rpc/h2build.h - building HTTP/2 frames by hand (HPACK through
 * nghttp2's deflater), for the robustness tests and the fuzz corpus. No
 * test framework here: the fuzz harness links it too.
 */
#ifndef CAIRN_TESTS_RPC_H2BUILD_H
#define CAIRN_TESTS_RPC_H2BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rawbuf {
	uint8_t *p;
	size_t len, cap;
};
void rb_put(struct rawbuf *b, const void *p, size_t n);
void rb_free(struct rawbuf *b);

enum {
	F_DATA = 0,
	F_HEADERS = 1,
	F_RST = 3,
	F_SETTINGS = 4,
	F_PING = 6,
	F_GOAWAY = 7,
	F_WINDOW_UPDATE = 8,
	F_CONTINUATION = 9
};
enum {
	FL_END_STREAM = 1,
	FL_ACK = 1,
	FL_END_HEADERS = 4,
	FL_PADDED = 8
};

void raw_frame(struct rawbuf *b, uint8_t type, uint8_t flags, int32_t stream, const void *payload,
               size_t len);
void raw_preface(struct rawbuf *b);
/* SETTINGS with (id, value) pairs. */
void raw_settings(struct rawbuf *b, const uint32_t *pairs, size_t npairs);
/* A HEADERS frame (END_HEADERS) from NULL-terminated name, value pairs. */
void raw_headers(struct rawbuf *b, int32_t stream, uint8_t flags, const char *const *nv);
/* The usual gRPC request headers for path, plus extra pairs (may be NULL). */
void raw_grpc_request(struct rawbuf *b, int32_t stream, const char *path, const char *const *extra,
                      bool end_stream);
/* One gRPC message (prefix + payload) in one DATA frame. */
void raw_grpc_message(struct rawbuf *b, int32_t stream, uint8_t msg_flags, const void *p,
                      size_t len, bool end_stream);
void raw_rst(struct rawbuf *b, int32_t stream, uint32_t code);
void raw_window_update(struct rawbuf *b, int32_t stream, uint32_t inc);

/* A response HEADERS block (":status", "200", ...) on stream, NULL-terminated
 * pairs; end_stream for trailers or Trailers-Only. */
void raw_response(struct rawbuf *b, int32_t stream, bool end_stream, const char *const *nv);

#endif
