/*
 * Our client against our server on one loop: the call shapes etcd uses
 * (unary, server-streaming, bidi with half-close), the ways calls end
 * (status, cancel from either side, deadline, early closure, shutdown,
 * connection loss), limits and backpressure, and answers given later from a
 * timer or another thread. Each test asserts what the other side observes.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "rpc.pb-c.h"

/* ---- handlers ----------------------------------------------------------- */

static struct {
	int cancels, cancel_code, half_closes, messages, writables, fulls;
	long received;
	struct rpc_stream *held;
	uv_timer_t timer;
	uv_async_t async;
	const char *token, *hasleader;
	uint64_t deadline;
} h;

static void on_cancel(struct rpc_stream *s, int code)
{
	if (h.held == s)
		h.held = NULL;
	h.cancels++;
	h.cancel_code = code;
}

static void hold(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	h.messages++;
	h.held = s;
	h.deadline = rpc_stream_deadline(s);
}

static void range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)b;
	(void)n;
	const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)m;
	cr_assert_not_null(req);
	static char tok[64], hl[16];
	const char *t = rpc_stream_metadata(s, "token");
	const char *l = rpc_stream_metadata(s, "hasleader");
	h.token = t ? strcpy(tok, t) : NULL;
	h.hasleader = l ? strcpy(hl, l) : NULL;
	h.deadline = rpc_stream_deadline(s);
	Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	hdr.revision = 42;
	Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	resp.header = &hdr;
	resp.count = (int64_t)req->key.len;
	cr_assert_eq(rpc_stream_reply(s, &resp.base), 0);
}

static void fail_with(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	rpc_stream_finish(s, RPC_NOT_FOUND, n ? (const char *)b : "");
}

static void stream3(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rpc_stream_send_bytes(s, b, n), 0);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void bidi_msg(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	h.messages++;
	h.received += (long)n;
	if (n && b[0] == 'E')
		rpc_stream_send_bytes(s, b, n);
	if (n && b[0] == 'X')
		rpc_stream_finish(s, RPC_FAILED_PRECONDITION, "etcdserver: not leader");
	else if (n && b[0] == 'H')
		h.held = s;
}

static void bidi_half_close(struct rpc_stream *s)
{
	h.half_closes++;
	rpc_stream_finish(s, RPC_OK, NULL);
}

#define FLOOD_MSG   (64 * 1024)
#define FLOOD_TOTAL (4L * 1024 * 1024)
static long flood_sent;

static void flood_more(struct rpc_stream *s)
{
	static uint8_t buf[FLOOD_MSG];
	while (flood_sent < FLOOD_TOTAL) {
		int rv = rpc_stream_send_bytes(s, buf, FLOOD_MSG);
		cr_assert_geq(rv, 0);
		flood_sent += FLOOD_MSG;
		if (rv == RPC_SEND_FULL) {
			h.fulls++;
			return;
		}
	}
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void flood(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	flood_sent = 0;
	flood_more(s);
}

static void flood_writable(struct rpc_stream *s)
{
	h.writables++;
	flood_more(s);
}

static const struct rpc_method methods[] = {
    {.path = "/test.Echo/Unary", .kind = RPC_UNARY, .on_message = echo_on_message},
    {.path = "/test.Echo/Hold", .kind = RPC_UNARY, .on_message = hold, .on_cancel = on_cancel},
    {.path = "/test.Echo/Fail", .kind = RPC_UNARY, .on_message = fail_with},
    {.path = "/test.Echo/Stream", .kind = RPC_SERVER_STREAMING, .on_message = stream3},
    {.path = "/test.Echo/Bidi",
     .kind = RPC_BIDI,
     .on_message = bidi_msg,
     .on_half_close = bidi_half_close,
     .on_cancel = on_cancel},
    {.path = "/test.Echo/Flood",
     .kind = RPC_SERVER_STREAMING,
     .on_message = flood,
     .on_writable = flood_writable,
     .on_cancel = on_cancel},
    {.path = "/etcdserverpb.KV/Range",
     .kind = RPC_UNARY,
     .request = &etcdserverpb__range_request__descriptor,
     .on_message = range},
    {.path = "/etcdserverpb.KV/Txn",
     .kind = RPC_UNARY,
     .request = &etcdserverpb__txn_request__descriptor,
     .on_message = echo_on_message},
};

static struct fx f;

static void start(const struct rpc_server_options *so, const struct rpc_client_options *co)
{
	memset(&h, 0, sizeof h);
	fx_init(&f, so);
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		cr_assert_eq(rpc_server_register(f.srv, &methods[i]), 0);
	fx_connect(&f, co);
}

static struct rpc_call_options unary_opts(struct result *r)
{
	return (struct rpc_call_options){.on_reply = result_on_reply, .arg = r};
}

static struct rpc_call_options stream_opts(struct result *r)
{
	return (struct rpc_call_options){
	    .on_message = result_on_message, .on_end = result_on_end, .arg = r};
}

/* ---- unary -------------------------------------------------------------- */

Test(loopback, unary_echo_round_trip)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "hello", 5, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK, "code %d: %s", r.code, r.message);
	cr_assert_eq(r.len, 5);
	cr_assert_eq(memcmp(r.body, "hello", 5), 0);
	fx_fini(&f);
}

static void on_range_reply(struct rpc_call *call, void *arg, int code, const char *message,
                           const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	struct result *r = arg;
	result_on_reply(call, arg, code, message, resp, bytes, len);
	const Etcdserverpb__RangeResponse *rr = (const Etcdserverpb__RangeResponse *)resp;
	cr_assert_not_null(rr);
	r->nmsg = (int)rr->count;
	cr_assert_eq(rr->header->revision, 42);
}

Test(loopback, messages_are_unpacked_and_metadata_and_deadline_reach_the_handler)
{
	start(NULL, NULL);
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	req.key.data = (uint8_t *)"foo";
	req.key.len = 3;
	struct result r = {0};
	struct rpc_metadata md[] = {{"token", "tok.123"}, {"hasleader", "true"}};
	struct rpc_call_options o = {.response = &etcdserverpb__range_response__descriptor,
	                             .on_reply = on_range_reply,
	                             .arg = &r,
	                             .metadata = md,
	                             .n_metadata = 2,
	                             .timeout_ms = 5000};
	cr_assert_eq(rpc_call_unary(f.cl, "/etcdserverpb.KV/Range", &req.base, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK, "%s", r.message);
	cr_assert_eq(r.nmsg, 3, "the handler saw the key");
	cr_assert_str_eq(h.token, "tok.123");
	cr_assert_str_eq(h.hasleader, "true");
	uint64_t now = uv_now(&f.loop);
	cr_assert(h.deadline > now && h.deadline <= now + 5000, "deadline from grpc-timeout");
	fx_fini(&f);
}

static void keep_reply(struct rpc_call *call, void *arg, int code, const char *message,
                       const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	result_on_reply(call, arg, code, message, resp, bytes, len);
	cr_assert_not_null(resp);
	/* RPC_KEEP_MESSAGES: ours to keep and free. */
	memcpy(((struct result *)arg)->last, &resp, sizeof resp);
}

Test(loopback, keep_messages_hands_over_ownership)
{
	start(NULL, NULL);
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	struct result r = {0};
	struct rpc_call_options o = {.response = &etcdserverpb__range_response__descriptor,
	                             .flags = RPC_KEEP_MESSAGES,
	                             .on_reply = keep_reply,
	                             .arg = &r};
	cr_assert_eq(rpc_call_unary(f.cl, "/etcdserverpb.KV/Range", &req.base, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	Etcdserverpb__RangeResponse *kept;
	memcpy(&kept, r.last, sizeof kept);
	cr_assert_eq(kept->header->revision, 42);
	etcdserverpb__range_response__free_unpacked(kept, NULL);
	fx_fini(&f);
}

Test(loopback, error_status_and_message_survive_percent_encoding)
{
	start(NULL, NULL);
	const char *text = "etcdserver: 100% caf\xc3\xa9\nline two";
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(
	    rpc_call_unary_bytes(f.cl, "/test.Echo/Fail", text, strlen(text) + 1, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_NOT_FOUND);
	cr_assert_str_eq(r.message, text);
	cr_assert_eq(r.len, 0);
	fx_fini(&f);
}

Test(loopback, unknown_method_is_unimplemented)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/etcdserverpb.Auth/AuthEnable", "", 0, &o, NULL),
	             0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_UNIMPLEMENTED);
	cr_assert_str_eq(r.message, "unknown service etcdserverpb.Auth");
	fx_fini(&f);
}

Test(loopback, a_thousand_concurrent_unary_calls)
{
	start(NULL, NULL);
	static struct result r[1000];
	memset(r, 0, sizeof r);
	for (int i = 0; i < 1000; i++) {
		struct rpc_call_options o = unary_opts(&r[i]);
		char body[16];
		int n = snprintf(body, sizeof body, "%d", i);
		cr_assert_eq(
		    rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", body, (size_t)n, &o, NULL), 0);
	}
	cr_assert(fx_run_until(&f, &r[999].done, 10000));
	for (int i = 0; i < 1000; i++) {
		fx_run_until(&f, &r[i].done, 1000);
		cr_assert_eq(r[i].code, RPC_OK);
		char body[16];
		int n = snprintf(body, sizeof body, "%d", i);
		cr_assert_eq(r[i].len, (size_t)n);
		cr_assert_eq(memcmp(r[i].body, body, (size_t)n), 0);
	}
	cr_assert_eq(rpc_client_open_calls(f.cl), 0);
	fx_fini(&f);
}

/* ---- streams ------------------------------------------------------------ */

Test(loopback, server_streaming_delivers_every_message_then_ok)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Stream", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "chunk", 5), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(r.nmsg, 3);
	cr_assert_eq(memcmp(r.last, "chunk", 5), 0);
	fx_fini(&f);
}

Test(loopback, bidi_reply_then_ok_after_half_close)
{
	/* The LeaseKeepAlive shape python3-etcd3's refresh() relies on. */
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "Eka", 3), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "late", 4), -EPIPE);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(r.nmsg, 1);
	cr_assert_eq(h.half_closes, 1);
	fx_fini(&f);
}

Test(loopback, bidi_half_close_without_messages)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &o, &call), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(r.nmsg, 0);
	cr_assert_eq(h.half_closes, 1);
	fx_fini(&f);
}

Test(loopback, client_cancel_reaches_the_handler)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "Hwatch", 6), 0);
	fx_run_for(&f, 50);
	cr_assert_not_null(h.held, "the watch-like stream is open");
	rpc_call_cancel(call);
	fx_run_for(&f, 50);
	cr_assert_not(r.done, "no callback after cancel");
	cr_assert_eq(h.cancels, 1);
	cr_assert_eq(h.cancel_code, RPC_CANCELLED);
	cr_assert_null(h.held);
	fx_fini(&f);
}

static void cancel_on_message(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                              const uint8_t *bytes, size_t len)
{
	result_on_message(call, arg, msg, bytes, len);
	rpc_call_cancel(call);
}

Test(loopback, cancel_from_inside_on_message)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	o.on_message = cancel_on_message;
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Stream", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "x", 1), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	fx_run_for(&f, 100);
	cr_assert_eq(r.nmsg, 1, "the two messages after the cancel are dropped");
	cr_assert_not(r.done);
	fx_fini(&f);
}

Test(loopback, early_server_closure_reaches_a_client_still_sending)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "X", 1), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_FAILED_PRECONDITION);
	cr_assert_str_eq(r.message, "etcdserver: not leader");
	fx_run_for(&f, 50);
	struct rpc_server_stats st;
	rpc_server_stats(f.srv, &st);
	cr_assert_eq(st.streams_open, 0, "the stream is gone on both sides");
	cr_assert_eq(rpc_client_open_calls(f.cl), 0);
	fx_fini(&f);
}

/* ---- deadlines and limits ------------------------------------------------ */

Test(loopback, client_deadline_expires_with_deadline_exceeded)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	o.timeout_ms = 100;
	uint64_t t0 = uv_now(&f.loop);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "x", 1, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	uint64_t took = uv_now(&f.loop) - t0;
	cr_assert_eq(r.code, RPC_DEADLINE_EXCEEDED);
	cr_assert_str_eq(r.message, "context deadline exceeded");
	cr_assert(took >= 99 && took < 1000, "took %lu ms", (unsigned long)took);
	fx_run_for(&f, 50);
	cr_assert_eq(h.cancels, 1, "the handler is told");
	cr_assert(h.cancel_code == RPC_CANCELLED || h.cancel_code == RPC_DEADLINE_EXCEEDED);
	fx_fini(&f);
}

Test(loopback, oversized_request_is_resource_exhausted_with_etcds_text)
{
	struct rpc_server_options so = {.max_recv_msg = 1024};
	start(&so, NULL);
	static char big[2000];
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", big, sizeof big, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_RESOURCE_EXHAUSTED);
	cr_assert_str_eq(r.message, "grpc: received message larger than max (2000 vs. 1024)");
	fx_fini(&f);
}

Test(loopback, default_limit_is_two_mebibytes)
{
	struct rpc_client_options co = {.max_send_msg = 4 << 20};
	start(NULL, &co);
	size_t n = 2 * 1024 * 1024;
	char *big = calloc(1, n + 1);
	struct result ok = {0}, over = {0};
	struct rpc_call_options o1 = unary_opts(&ok), o2 = unary_opts(&over);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", big, n, &o1, NULL), 0);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", big, n + 1, &o2, NULL), 0);
	cr_assert(fx_run_until(&f, &over.done, 5000));
	cr_assert_eq(over.code, RPC_RESOURCE_EXHAUSTED);
	cr_assert_str_eq(over.message,
	                 "grpc: received message larger than max (2097153 vs. 2097152)");
	fx_run_for(&f, 50);
	cr_assert_eq(h.messages, 1, "exactly 2 MiB is accepted");
	free(big);
	fx_fini(&f);
}

Test(loopback, oversized_response_is_refused_by_the_client)
{
	struct rpc_client_options co = {.max_recv_msg = 100};
	start(NULL, &co);
	static char big[200];
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", big, sizeof big, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_RESOURCE_EXHAUSTED);
	cr_assert_str_eq(r.message, "grpc: received message larger than max (200 vs. 100)");
	fx_fini(&f);
}

Test(loopback, client_send_limit_refuses_before_sending)
{
	start(NULL, NULL);
	size_t n = RPC_DEFAULT_MAX_SEND_MSG + 1;
	char *big = calloc(1, n);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", big, n, &o, NULL), -EMSGSIZE);
	struct rpc_call_options so = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &so, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, big, n), -EMSGSIZE);
	rpc_call_cancel(call);
	free(big);
	fx_fini(&f);
}

static size_t put_varint(uint8_t *p, size_t v)
{
	size_t k = 0;
	do {
		p[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return k;
}

/* TxnRequest{success: [RequestOp{request_txn: ...}]} levels deep, built from
 * the inside out: 2 message levels per Txn level. */
static size_t nest(uint8_t *buf, int levels)
{
	static uint8_t tmp[1 << 16];
	size_t n = 0;
	for (int i = 0; i < levels; i++) {
		size_t k = 0;
		tmp[k++] = 0x22; /* RequestOp.request_txn */
		k += put_varint(tmp + k, n);
		memcpy(tmp + k, buf, n);
		size_t op = k + n;
		k = 0;
		buf[k++] = 0x12; /* TxnRequest.success */
		k += put_varint(buf + k, op);
		memcpy(buf + k, tmp, op);
		n = k + op;
	}
	return n;
}

static int txn_depth_status(int levels)
{
	static uint8_t buf[1 << 16];
	size_t n = nest(buf, levels);
	Etcdserverpb__TxnRequest *t = etcdserverpb__txn_request__unpack(NULL, n, buf);
	cr_assert_not_null(t, "the test builds valid protobuf");
	etcdserverpb__txn_request__free_unpacked(t, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/etcdserverpb.KV/Txn", buf, n, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	if (r.code)
		cr_assert_str_eq(r.message, "grpc: error unmarshalling request");
	return r.code;
}

Test(loopback, nesting_deeper_than_the_bound_is_refused_not_recursed)
{
	start(NULL, NULL);
	/* L levels nest 2L+1 messages (the innermost request_txn is an empty
	 * TxnRequest): 49 levels are 99 deep, 50 are 101, past the bound. */
	cr_assert_eq(txn_depth_status(10), RPC_OK);
	cr_assert_eq(txn_depth_status(49), RPC_OK);
	cr_assert_eq(txn_depth_status(50), RPC_INTERNAL);
	cr_assert_eq(txn_depth_status(2000), RPC_INTERNAL);
	fx_fini(&f);
}

/* ---- backpressure -------------------------------------------------------- */

Test(loopback, server_backpressure_with_small_client_windows)
{
	struct rpc_client_options co = {.stream_window = 65535, .conn_window = 65535};
	start(NULL, &co);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Flood", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "go", 2), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	cr_assert(fx_run_until(&f, &r.done, 20000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(r.nmsg, FLOOD_TOTAL / FLOOD_MSG);
	cr_assert_gt(h.fulls, 0, "the sender saw RPC_SEND_FULL");
	cr_assert_eq(h.writables, h.fulls, "and was woken once per pause");
	fx_fini(&f);
}

struct pump {
	struct rpc_call *call;
	long sent, total;
	int fulls, writables;
	struct result r;
};

static void pump_more(struct pump *p)
{
	static uint8_t buf[FLOOD_MSG];
	while (p->sent < p->total) {
		int rv = rpc_call_send_bytes(p->call, buf, sizeof buf);
		cr_assert_geq(rv, 0);
		p->sent += FLOOD_MSG;
		if (rv == RPC_SEND_FULL) {
			p->fulls++;
			return;
		}
	}
	rpc_call_close_send(p->call);
}

static void pump_writable(struct rpc_call *call, void *arg)
{
	(void)call;
	struct pump *p = (struct pump *)((char *)arg - offsetof(struct pump, r));
	p->writables++;
	pump_more(p);
}

Test(loopback, client_backpressure_with_on_writable)
{
	start(NULL, NULL);
	static struct pump p;
	memset(&p, 0, sizeof p);
	p.total = FLOOD_TOTAL;
	struct rpc_call_options o = stream_opts(&p.r);
	o.on_writable = pump_writable;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Bidi", &o, &p.call), 0);
	pump_more(&p);
	cr_assert_eq(p.fulls, 1, "the first burst fills the buffer");
	cr_assert_leq(rpc_call_buffered(p.call), RPC_DEFAULT_SEND_HIGH_WATER + FLOOD_MSG + 5);
	cr_assert(fx_run_until(&f, &p.r.done, 20000));
	cr_assert_eq(p.r.code, RPC_OK);
	cr_assert_eq(h.received, FLOOD_TOTAL);
	cr_assert_eq(p.writables, p.fulls);
	fx_fini(&f);
}

static void overfill(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	static uint8_t buf[64 * 1024];
	int rv, sends = 0, fulls = 0;
	/* Nothing is flushed while the handler runs: the buffer only grows. */
	while ((rv = rpc_stream_send_bytes(s, buf, sizeof buf)) >= 0) {
		sends++;
		fulls += rv == RPC_SEND_FULL;
	}
	cr_assert_eq(rv, -ENOBUFS);
	cr_assert_leq(rpc_stream_buffered(s), 300 * 1024);
	h.messages = sends;
	h.fulls = fulls;
	rpc_stream_finish(s, RPC_OK, NULL);
}

Test(loopback, the_out_buffer_is_bounded)
{
	struct rpc_server_options so = {.send_high_water = 100 * 1024, .send_max = 300 * 1024};
	start(&so, NULL);
	const struct rpc_method m = {
	    .path = "/test.Echo/Overfill", .kind = RPC_SERVER_STREAMING, .on_message = overfill};
	cr_assert_eq(rpc_server_register(f.srv, &m), 0);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/test.Echo/Overfill", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "go", 2), 0);
	cr_assert_eq(rpc_call_close_send(call), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(h.messages, 4, "64 KiB messages: 4 fit in 300 KiB, the 5th is refused");
	cr_assert_eq(h.fulls, 3, "RPC_SEND_FULL once above 100 KiB");
	cr_assert_eq(r.nmsg, 4, "what was accepted is delivered");
	fx_fini(&f);
}

Test(loopback, one_server_listens_on_several_addresses)
{
	start(NULL, NULL);
	int port2;
	cr_assert_eq(rpc_server_listen(f.srv, "127.0.0.1:0", &port2), 0);
	cr_assert_neq(port2, f.port);
	cr_assert_eq(rpc_server_listen(f.srv, "127.0.0.1:nope", NULL), -EINVAL);
	cr_assert_eq(rpc_server_listen(f.srv, "127.0.0.1:65536", NULL), -EINVAL);
	cr_assert_eq(rpc_server_listen(f.srv, "256.0.0.1:0", NULL) < 0, 1);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port2);
	struct rpc_client *c2;
	cr_assert_eq(rpc_client_connect(&f.loop, addr, NULL, &c2), 0);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(c2, "/test.Echo/Unary", "2nd", 3, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	rpc_client_close(c2);
	fx_fini(&f);
}

/* ---- answers given later ------------------------------------------------ */

static void reply_later(uv_timer_t *t)
{
	(void)t;
	cr_assert_not_null(h.held);
	cr_assert_eq(rpc_stream_send_bytes(h.held, "later", 5), 0);
	cr_assert_eq(rpc_stream_finish(h.held, RPC_OK, NULL), 0);
	h.held = NULL;
}

Test(loopback, answer_from_a_timer)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "q", 1, &o, NULL), 0);
	fx_run_for(&f, 20);
	uv_timer_init(&f.loop, &h.timer);
	uv_timer_start(&h.timer, reply_later, 30, 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(memcmp(r.body, "later", 5), 0);
	uv_close((uv_handle_t *)&h.timer, NULL);
	fx_fini(&f);
}

static void reply_async(uv_async_t *a)
{
	if (h.held) {
		rpc_stream_send_bytes(h.held, "from thread", 11);
		rpc_stream_finish(h.held, RPC_OK, NULL);
		h.held = NULL;
	}
	uv_close((uv_handle_t *)a, NULL);
}

static void worker(void *arg)
{
	uv_sleep(30);
	uv_async_send(arg);
}

Test(loopback, answer_from_another_thread_through_uv_async)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "q", 1, &o, NULL), 0);
	fx_run_for(&f, 20);
	uv_async_init(&f.loop, &h.async, reply_async);
	uv_thread_t th;
	uv_thread_create(&th, worker, &h.async);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	uv_thread_join(&th);
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(memcmp(r.body, "from thread", 11), 0);
	fx_fini(&f);
}

/* ---- connections --------------------------------------------------------- */

static void note_state(struct rpc_client *c, enum rpc_client_state st, int err, void *arg)
{
	(void)c;
	(void)err;
	int *seen = arg;
	seen[st]++;
}

Test(loopback, connection_refused_fails_pending_calls_unavailable)
{
	memset(&f, 0, sizeof f);
	uv_loop_init(&f.loop);
	/* A port nobody listens on: bind one and close it. */
	uv_tcp_t t;
	uv_tcp_init(&f.loop, &t);
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_bind(&t, (struct sockaddr *)&sa, 0);
	struct sockaddr_storage ss;
	int len = sizeof ss;
	uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
	int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&t, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	static int seen[8];
	struct rpc_client_options co = {.on_state = note_state, .arg = seen};
	cr_assert_eq(rpc_client_connect(&f.loop, addr, &co, &f.cl), 0);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "x", 1, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_UNAVAILABLE);
	cr_assert_eq(seen[RPC_CLIENT_FAILED], 1);
	cr_assert_eq(rpc_client_state(f.cl), RPC_CLIENT_FAILED);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "x", 1, &o, NULL), -ENOTCONN);
	rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 10; i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
}

Test(loopback, names_are_resolved)
{
	fx_init(&f, NULL);
	cr_assert_eq(rpc_server_register(f.srv, &methods[0]), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "http://localhost:%d/", f.port);
	static int seen[8];
	struct rpc_client_options co = {.on_state = note_state, .arg = seen};
	cr_assert_eq(rpc_client_connect(&f.loop, addr, &co, &f.cl), 0);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "x", 1, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK, "%d %s", r.code, r.message);
	cr_assert_eq(seen[RPC_CLIENT_READY], 1);
	fx_fini(&f);
}

Test(loopback, server_shutdown_drains_the_client)
{
	start(NULL, NULL);
	static int seen[8];
	/* A second client that records its states. */
	struct rpc_client *c2;
	struct rpc_client_options co = {.on_state = note_state, .arg = seen};
	cr_assert_eq(rpc_client_connect(&f.loop, f.addr, &co, &c2), 0);
	struct result r = {0};
	struct rpc_call_options o = stream_opts(&r);
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(c2, "/test.Echo/Bidi", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "Hw", 2), 0);
	fx_run_for(&f, 50);
	static bool done;
	done = false;
	rpc_server_shutdown(f.srv, 100, RPC_UNAVAILABLE, "etcdserver: server stopped", NULL, NULL);
	f.srv = NULL;
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_UNAVAILABLE);
	cr_assert_str_eq(r.message, "etcdserver: server stopped");
	cr_assert_eq(seen[RPC_CLIENT_DRAINING], 1, "GOAWAY seen");
	struct result r2 = {0};
	struct rpc_call_options o2 = unary_opts(&r2);
	cr_assert_eq(rpc_call_unary_bytes(c2, "/test.Echo/Unary", "x", 1, &o2, NULL), -ENOTCONN);
	fx_run_for(&f, 300);
	cr_assert_eq(seen[RPC_CLIENT_CLOSED], 1);
	cr_assert_eq(h.cancel_code, RPC_UNAVAILABLE);
	rpc_client_close(c2);
	(void)done;
	rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 100 && uv_loop_alive(&f.loop); i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
}

Test(loopback, closing_the_client_cancels_its_calls_and_the_server_hears)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "x", 1, &o, NULL), 0);
	fx_run_for(&f, 50);
	cr_assert_not_null(h.held);
	rpc_client_close(f.cl);
	f.cl = NULL;
	cr_assert(r.done, "on_reply runs inside rpc_client_close");
	cr_assert_eq(r.code, RPC_CANCELLED);
	fx_run_for(&f, 50);
	cr_assert_eq(h.cancels, 1);
	cr_assert_eq(h.cancel_code, RPC_UNAVAILABLE);
	fx_fini(&f);
}

static void close_client_in_reply(struct rpc_call *call, void *arg, int code, const char *message,
                                  const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	result_on_reply(call, arg, code, message, resp, bytes, len);
	rpc_client_close(f.cl);
	f.cl = NULL;
}

Test(loopback, closing_the_client_from_inside_a_callback)
{
	start(NULL, NULL);
	struct result r = {0}, r2 = {0};
	struct rpc_call_options o = unary_opts(&r), o2 = unary_opts(&r2);
	o.on_reply = close_client_in_reply;
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "x", 1, &o, NULL), 0);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "y", 1, &o2, NULL), 0);
	cr_assert(fx_run_until(&f, &r2.done, 5000));
	cr_assert_eq(r.code, RPC_OK);
	cr_assert_eq(r2.code, RPC_CANCELLED);
	fx_fini(&f);
}

Test(loopback, server_gone_fails_open_calls_unavailable)
{
	start(NULL, NULL);
	struct result r = {0};
	struct rpc_call_options o = unary_opts(&r);
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Hold", "x", 1, &o, NULL), 0);
	fx_run_for(&f, 30);
	static bool done;
	rpc_server_shutdown(f.srv, 0, RPC_UNAVAILABLE, "stopping", NULL, NULL);
	f.srv = NULL;
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_UNAVAILABLE);
	(void)done;
	fx_run_for(&f, 100);
	cr_assert_eq(f.last_state, RPC_CLIENT_CLOSED);
	rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 100 && uv_loop_alive(&f.loop); i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
}

/* White box: jump the client's stream ids to the end of their range. */
#include "rpc/internal.h"

Test(loopback, a_client_out_of_stream_ids_drains_instead_of_failing_calls)
{
	start(NULL, NULL);
	static int seen[8];
	struct rpc_client *c2;
	struct rpc_client_options co = {.on_state = note_state, .arg = seen};
	cr_assert_eq(rpc_client_connect(&f.loop, f.addr, &co, &c2), 0);
	struct result r0 = {0};
	struct rpc_call_options o0 = unary_opts(&r0);
	cr_assert_eq(rpc_call_unary_bytes(c2, "/test.Echo/Unary", "a", 1, &o0, NULL), 0);
	cr_assert(fx_run_until(&f, &r0.done, 5000));
	nghttp2_session_set_next_stream_id(c2->c.h2, INT32_MAX - 4);
	struct result r[3] = {0};
	struct rpc_call_options o = unary_opts(&r[0]);
	cr_assert_eq(rpc_call_unary_bytes(c2, "/test.Echo/Unary", "b", 1, &o, NULL), 0);
	cr_assert_eq(seen[RPC_CLIENT_DRAINING], 1, "told early, while calls still work");
	cr_assert_eq(rpc_client_state(c2), RPC_CLIENT_DRAINING);
	o.arg = &r[1];
	cr_assert_eq(rpc_call_unary_bytes(c2, "/test.Echo/Unary", "c", 1, &o, NULL), -ENOTCONN);
	cr_assert(fx_run_until(&f, &r[0].done, 5000));
	cr_assert_eq(r[0].code, RPC_OK, "the call already started completes");
	rpc_client_close(c2);
	fx_fini(&f);
}
