/*
 * The server against hand-made HTTP/2: what a peer sees when it sends what
 * etcd's clients send (empty-DATA half-close, RST_STREAM, grpc-timeout) and
 * what they must never send (bad content-type, two messages on a unary call,
 * compressed messages, oversized prefixes, garbage, slow or vanished
 * readers). The server runs on its own thread; the test thread is the peer.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "rawh2.h"

static struct {
	atomic_int cancels;
	atomic_int cancel_code;
	atomic_int fulls;
	atomic_int writables;
	atomic_long sent;
	atomic_long max_buffered;
	atomic_int half_closes;
	atomic_int messages;
	atomic_int finished;
	char peer_meta[128];
	uint64_t deadline;
} g;

static struct rpc_stream *held;

/* ---- handlers ----------------------------------------------------------- */

static void unary_echo(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	atomic_fetch_add(&g.messages, 1);
	const char *tok = rpc_stream_metadata(s, "token");
	if (tok)
		snprintf(g.peer_meta, sizeof g.peer_meta, "%s", tok);
	rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void on_cancel(struct rpc_stream *s, int code)
{
	(void)s;
	atomic_store(&g.cancel_code, code);
	atomic_fetch_add(&g.cancels, 1);
	held = NULL;
}

static void hold(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	held = s;
	g.deadline = rpc_stream_deadline(s);
	atomic_fetch_add(&g.messages, 1);
}

static void bidi_msg(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	atomic_fetch_add(&g.messages, 1);
	rpc_stream_send_bytes(s, b, n);
}

static void bidi_half_close(struct rpc_stream *s)
{
	atomic_fetch_add(&g.half_closes, 1);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void early(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	rpc_stream_finish(s, RPC_FAILED_PRECONDITION, "etcdserver: not leader");
}

#define FLOOD_MSG   (64 * 1024)
#define FLOOD_TOTAL (4L * 1024 * 1024)
static uint8_t flood_buf[FLOOD_MSG];

static void flood_more(struct rpc_stream *s)
{
	for (;;) {
		if (atomic_load(&g.sent) >= FLOOD_TOTAL) {
			rpc_stream_finish(s, RPC_OK, NULL);
			atomic_fetch_add(&g.finished, 1);
			return;
		}
		int rv = rpc_stream_send_bytes(s, flood_buf, FLOOD_MSG);
		cr_assert_geq(rv, 0);
		atomic_fetch_add(&g.sent, FLOOD_MSG);
		long b = (long)rpc_stream_buffered(s);
		if (b > atomic_load(&g.max_buffered))
			atomic_store(&g.max_buffered, b);
		if (rv == RPC_SEND_FULL) {
			atomic_fetch_add(&g.fulls, 1);
			return;
		}
	}
}

static void flood(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	flood_more(s);
}

static void flood_writable(struct rpc_stream *s)
{
	atomic_fetch_add(&g.writables, 1);
	flood_more(s);
}

static struct srvthread st;

static void setup(const struct rpc_server_options *o)
{
	memset(&g, 0, sizeof g);
	held = NULL;
	st_init(&st, o);
	const struct rpc_method ms[] = {
	    {.path = "/t.S/Unary", .kind = RPC_UNARY, .on_message = unary_echo},
	    {.path = "/t.S/Hold", .kind = RPC_UNARY, .on_message = hold, .on_cancel = on_cancel},
	    {.path = "/t.S/Bidi",
	     .kind = RPC_BIDI,
	     .on_message = bidi_msg,
	     .on_half_close = bidi_half_close,
	     .on_cancel = on_cancel},
	    {.path = "/t.S/Early", .kind = RPC_BIDI, .on_message = early, .on_cancel = on_cancel},
	    {.path = "/t.S/Flood",
	     .kind = RPC_SERVER_STREAMING,
	     .on_message = flood,
	     .on_writable = flood_writable,
	     .on_cancel = on_cancel},
	};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		cr_assert_eq(rpc_server_register(st.srv, &ms[i]), 0);
	st_run(&st);
}

static void setup_default(void)
{
	setup(NULL);
}

static void teardown(void)
{
	st_fini(&st);
}

/* Opens a connection with the client preface and empty SETTINGS. */
static void open_conn(struct rawconn *rc)
{
	rc_open(rc, st.port);
	struct rawbuf b = {0};
	raw_preface(&b);
	raw_settings(&b, NULL, 0);
	rc_send(rc, &b);
	rb_free(&b);
}

static void wait_for(atomic_int *v, int want, int ms)
{
	for (int i = 0; i < ms && atomic_load(v) < want; i++)
		usleep(1000);
}

TestSuite(robust, .init = setup_default, .fini = teardown);

Test(robust, unary_round_trip_with_metadata)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *extra[] = {"token", "abc.def", NULL};
	raw_grpc_request(&b, 1, "/t.S/Unary", extra, false);
	raw_grpc_message(&b, 1, 0, "ping", 4, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->http_status, 200);
	cr_assert_str_eq(s->content_type, "application/grpc");
	cr_assert_eq(s->grpc_status, 0);
	cr_assert_eq(s->header_blocks, 2, "headers then trailers");
	cr_assert_eq(s->data_len, 9);
	cr_assert_eq(memcmp(s->data, "\0\0\0\0\4ping", 9), 0);
	cr_assert_str_eq(g.peer_meta, "abc.def");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, unknown_service_is_trailers_only_unimplemented)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/nope.Svc/Get", NULL, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	raw_grpc_request(&b, 3, "/t.S/Missing", NULL, false);
	raw_grpc_message(&b, 3, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->header_blocks, 1, "Trailers-Only is one HEADERS frame");
	cr_assert(s->end_stream);
	cr_assert_eq(s->http_status, 200);
	cr_assert_eq(s->grpc_status, RPC_UNIMPLEMENTED);
	cr_assert_str_eq(s->grpc_message, "unknown service nope.Svc");
	s = rc_wait_stream(&rc, 3, 5000);
	cr_assert_eq(s->grpc_status, RPC_UNIMPLEMENTED);
	cr_assert_str_eq(s->grpc_message, "unknown method Missing for service t.S");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, bad_content_type_gets_415_and_internal)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *nv[] = {
	    ":method",    "POST",       ":scheme", "http",         ":path",
	    "/t.S/Unary", ":authority", "x",       "content-type", "application/json",
	    NULL};
	raw_headers(&b, 1, 0, nv);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->http_status, 415);
	cr_assert_eq(s->grpc_status, RPC_INTERNAL);
	cr_assert_str_eq(s->grpc_message, "invalid gRPC request content-type \"application/json\"");
	cr_assert_eq(atomic_load(&g.messages), 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, content_type_with_suffix_is_grpc)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *nv[] = {
	    ":method",    "POST",       ":scheme", "http",         ":path",
	    "/t.S/Unary", ":authority", "x",       "content-type", "application/grpc+proto",
	    NULL};
	raw_headers(&b, 1, 0, nv);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, unary_with_two_messages_is_internal)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 1, 0, "a", 1, false);
	raw_grpc_message(&b, 1, 0, "b", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_INTERNAL);
	cr_assert_eq(atomic_load(&g.messages), 0, "the handler never sees the call");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, unary_with_no_message_is_internal)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_INTERNAL);
	cr_assert_eq(s->header_blocks, 1);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, compressed_flag_without_encoding_is_internal)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 1, 1, "zz", 2, true);
	const char *gz[] = {"grpc-encoding", "gzip", NULL};
	raw_grpc_request(&b, 3, "/t.S/Unary", gz, false);
	raw_grpc_message(&b, 3, 1, "zz", 2, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_INTERNAL);
	cr_assert_str_eq(s->grpc_message,
	                 "grpc: compressed flag set with identity or empty encoding");
	s = rc_wait_stream(&rc, 3, 5000);
	cr_assert_eq(s->grpc_status, RPC_UNIMPLEMENTED);
	cr_assert_str_eq(s->grpc_message,
	                 "grpc: Decompressor is not installed for grpc-encoding \"gzip\"");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, oversized_prefix_is_refused_before_the_payload)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
	/* Only the prefix of a 3 MiB message: the answer must not wait for it. */
	uint8_t prefix[5] = {0, 0, 0x30, 0, 0};
	raw_frame(&b, F_DATA, 0, 1, prefix, 5);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_RESOURCE_EXHAUSTED);
	cr_assert_str_eq(s->grpc_message,
	                 "grpc: received message larger than max (3145728 vs. 2097152)");
	/* Early closure: trailers, then RST_STREAM(NO_ERROR). */
	rc_pump(&rc, 100);
	cr_assert_eq(s->rst, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, bidi_half_close_on_empty_data_gets_reply_then_ok)
{
	/* python3-etcd3's Lease.refresh(): one request, half-close on an empty
	 * DATA frame, read until the server ends the stream. */
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Bidi", NULL, false);
	raw_grpc_message(&b, 1, 0, "ka", 2, false);
	raw_frame(&b, F_DATA, FL_END_STREAM, 1, NULL, 0);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert(s->end_stream);
	cr_assert_eq(s->grpc_status, 0);
	cr_assert_eq(s->data_len, 7);
	cr_assert_eq(atomic_load(&g.half_closes), 1);
	cr_assert_eq(s->rst, -1, "a clean end needs no RST_STREAM");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, early_server_closure_sends_trailers_then_rst_no_error)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Early", NULL, false);
	raw_grpc_message(&b, 1, 0, "x", 1, false);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert(s->end_stream);
	cr_assert_eq(s->grpc_status, RPC_FAILED_PRECONDITION);
	cr_assert_str_eq(s->grpc_message, "etcdserver: not leader");
	rc_pump(&rc, 100);
	cr_assert_eq(s->rst, 0, "RST_STREAM(NO_ERROR) after the trailers");
	cr_assert_eq(atomic_load(&g.cancels), 0, "a handler that finished hears nothing more");
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, server_deadline_expiry_sends_rst_cancel)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *tmo[] = {"grpc-timeout", "100m", NULL};
	raw_grpc_request(&b, 1, "/t.S/Hold", tmo, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->rst, 8, "RST_STREAM(CANCEL)");
	wait_for(&g.cancels, 1, 1000);
	cr_assert_eq(atomic_load(&g.cancel_code), RPC_DEADLINE_EXCEEDED);
	cr_assert_neq(g.deadline, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, malformed_grpc_timeout_is_internal)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *tmo[] = {"grpc-timeout", "10x", NULL};
	raw_grpc_request(&b, 1, "/t.S/Unary", tmo, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_INTERNAL);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, client_rst_cancel_reaches_on_cancel)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Hold", NULL, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	wait_for(&g.messages, 1, 2000);
	b.len = 0;
	raw_rst(&b, 1, 8);
	rc_send(&rc, &b);
	wait_for(&g.cancels, 1, 2000);
	cr_assert_eq(atomic_load(&g.cancel_code), RPC_CANCELLED);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, abrupt_disconnect_cancels_held_calls)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Hold", NULL, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	raw_grpc_request(&b, 3, "/t.S/Bidi", NULL, false);
	raw_grpc_message(&b, 3, 0, "half a message", 14, false);
	rc_send(&rc, &b);
	wait_for(&g.messages, 2, 2000);
	rc_close(&rc);
	wait_for(&g.cancels, 2, 2000);
	cr_assert_eq(atomic_load(&g.cancels), 2);
	cr_assert_eq(atomic_load(&g.cancel_code), RPC_UNAVAILABLE);
	rb_free(&b);
}

Test(robust, slow_reader_gets_backpressure_then_everything)
{
	struct rawconn rc;
	rc_open(&rc, st.port);
	struct rawbuf b = {0};
	raw_preface(&b);
	raw_settings(&b, NULL, 0); /* 64 KiB windows: the server blocks quickly */
	raw_grpc_request(&b, 1, "/t.S/Flood", NULL, false);
	raw_grpc_message(&b, 1, 0, "go", 2, true);
	rc_send(&rc, &b);
	wait_for(&g.fulls, 1, 2000);
	usleep(100 * 1000);
	cr_assert_eq(atomic_load(&g.fulls), 1, "the handler paused on RPC_SEND_FULL");
	long sent = atomic_load(&g.sent);
	cr_assert_lt(sent, FLOOD_TOTAL, "a reader that does not read stops the sender");
	cr_assert_leq(atomic_load(&g.max_buffered),
	              RPC_DEFAULT_SEND_HIGH_WATER + FLOOD_MSG + RPC_FRAME_HEADER);
	/* Now read, granting window as we go. */
	b.len = 0;
	raw_window_update(&b, 0, 64 << 20);
	raw_window_update(&b, 1, 64 << 20);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 10000);
	cr_assert(s->end_stream);
	cr_assert_eq(s->grpc_status, 0);
	cr_assert_eq(s->data_total, (size_t)(FLOOD_TOTAL / FLOOD_MSG) * (FLOOD_MSG + 5));
	cr_assert_geq(atomic_load(&g.writables), 1);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, reader_that_vanishes_mid_flood_is_cleaned_up)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Flood", NULL, false);
	raw_grpc_message(&b, 1, 0, "go", 2, true);
	rc_send(&rc, &b);
	wait_for(&g.fulls, 1, 2000);
	rc_close(&rc);
	wait_for(&g.cancels, 1, 2000);
	cr_assert_eq(atomic_load(&g.cancel_code), RPC_UNAVAILABLE);
	rb_free(&b);
}

Test(robust, garbage_after_the_preface_closes_the_connection)
{
	struct rawconn rc;
	rc_open(&rc, st.port);
	struct rawbuf b = {0};
	raw_preface(&b);
	rb_put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12);
	rc_send(&rc, &b);
	cr_assert(rc_wait_eof(&rc, 5000), "the server must drop the connection");
	cr_assert(rc.goaway, "with a GOAWAY first");
	rb_free(&b);
	rc_close(&rc);
	/* And keeps serving others. */
	open_conn(&rc);
	b = (struct rawbuf){0};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 1, 0, "x", 1, true);
	rc_send(&rc, &b);
	cr_assert_eq(rc_wait_stream(&rc, 1, 5000)->grpc_status, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, missing_path_resets_the_stream_only)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *nv[] = {":method", "POST",         ":scheme",          "http", ":authority",
	                    "x",       "content-type", "application/grpc", NULL};
	raw_headers(&b, 1, FL_END_STREAM, nv);
	raw_grpc_request(&b, 3, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 3, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->rst, 1, "RST_STREAM(PROTOCOL_ERROR)");
	cr_assert_eq(rc_wait_stream(&rc, 3, 5000)->grpc_status, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, many_cancelled_streams_do_not_trip_the_reset_limit)
{
	/* nghttp2's default bucket (1000, 33/s) would GOAWAY a cancel-heavy
	 * client such as a watch-churning apiserver. */
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	for (int32_t id = 1; id < 2 * 3000; id += 2) {
		raw_grpc_request(&b, id, "/t.S/Hold", NULL, false);
		raw_rst(&b, id, 8);
	}
	raw_grpc_request(&b, 6001, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 6001, 0, "x", 1, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 6001, 10000);
	cr_assert_not(rc.goaway, "no GOAWAY for 3000 resets");
	cr_assert_eq(s->grpc_status, 0);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, pings_are_acked)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	uint8_t bdp[8] = {2, 4, 16, 16, 9, 14, 7, 7};
	raw_frame(&b, F_PING, 0, 0, bdp, 8);
	rc_send(&rc, &b);
	for (int i = 0; i < 50 && !rc.pings_acked; i++)
		rc_pump(&rc, 20);
	cr_assert_eq(rc.pings_acked, 1);
	rb_free(&b);
	rc_close(&rc);
}

Test(robust, shutdown_sends_notice_then_goaway_and_ends_streams)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	raw_grpc_request(&b, 1, "/t.S/Bidi", NULL, false);
	raw_grpc_message(&b, 1, 0, "w", 1, false);
	rc_send(&rc, &b);
	wait_for(&g.messages, 1, 2000);
	st_shutdown(&st, 200);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_UNAVAILABLE);
	cr_assert_str_eq(s->grpc_message, "etcdserver: server stopped");
	cr_assert_eq(atomic_load(&g.cancel_code), RPC_UNAVAILABLE);
	cr_assert(rc_wait_eof(&rc, 5000), "the server closes the connection");
	cr_assert_eq(rc.goaways, 2, "a shutdown notice, then the real GOAWAY");
	cr_assert_eq(rc.goaway_last, 1);
	cr_assert_eq(rc.goaway_code, 0);
	rb_free(&b);
	rc_close(&rc);
}

static void setup_default_rst_limit(void)
{
	/* nghttp2's own defaults: the CVE-2023-44487 bucket of 1000, 33/s. */
	struct rpc_server_options o = {.rst_burst = 1000, .rst_rate = 33};
	setup(&o);
}

Test(robust_rst, nghttp2s_default_reset_limit_would_goaway, .init = setup_default_rst_limit,
     .fini = teardown)
{
	/* The control for many_cancelled_streams_do_not_trip_the_reset_limit:
	 * proves the option reaches nghttp2 (Debian's 1.52 backport). */
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	for (int32_t id = 1; id < 2 * 3000; id += 2) {
		raw_grpc_request(&b, id, "/t.S/Hold", NULL, false);
		raw_rst(&b, id, 8);
	}
	rc_send(&rc, &b);
	rc_wait_eof(&rc, 5000);
	cr_assert(rc.goaway, "GOAWAY once the bucket is empty");
	rb_free(&b);
	rc_close(&rc);
}
