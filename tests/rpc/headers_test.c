/*
 * The server against hand-made request header blocks: what rpc/ accepts
 * that a strict reading of RFC 9113 would not (an :authority carrying a
 * scheme, as grpc-go sends for etcdctl's --cluster commands, and as grpc-go
 * servers and so etcd accept), and every rule of nghttp2's HTTP messaging
 * that rpc/ now checks itself (missing or repeated pseudo-headers,
 * connection-specific fields, te, content-length, trailers): a malformed
 * request gets RST_STREAM(PROTOCOL_ERROR) and the connection carries on.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "rawh2.h"

#define PROTOCOL_ERROR 1 /* RFC 9113 §7 */

static struct {
	atomic_int messages;
	char token[128];
} g;

static void unary_echo(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	atomic_fetch_add(&g.messages, 1);
	const char *tok = rpc_stream_metadata(s, "token");
	snprintf(g.token, sizeof g.token, "%s", tok ? tok : "(none)");
	rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static struct srvthread st;

static void setup(void)
{
	memset(&g, 0, sizeof g);
	st_init(&st, NULL);
	const struct rpc_method m = {
	    .path = "/t.S/Unary", .kind = RPC_UNARY, .on_message = unary_echo};
	cr_assert_eq(rpc_server_register(st.srv, &m), 0);
	st_run(&st);
}

static void teardown(void)
{
	st_fini(&st);
}

TestSuite(headers, .init = setup, .fini = teardown);

static void open_conn(struct rawconn *rc)
{
	rc_open(rc, st.port);
	struct rawbuf b = {0};
	raw_preface(&b);
	raw_settings(&b, NULL, 0);
	rc_send(rc, &b);
	rb_free(&b);
}

/* Sends the header block nv on stream 1 with a one-message body, and
 * returns stream 1's outcome. */
static struct rawstream *call_with(struct rawconn *rc, const char *const *nv)
{
	struct rawbuf b = {0};
	raw_headers(&b, 1, 0, nv);
	raw_grpc_message(&b, 1, 0, "ping", 4, true);
	rc_send(rc, &b);
	rb_free(&b);
	return rc_wait_stream(rc, 1, 5000);
}

static void expect_echo(const struct rawstream *s)
{
	cr_assert_eq(s->rst, -1, "stream reset with %lld", (long long)s->rst);
	cr_assert_eq(s->http_status, 200);
	cr_assert_eq(s->grpc_status, 0);
	cr_assert_eq(s->data_len, 9);
	cr_assert_eq(memcmp(s->data, "\0\0\0\0\4ping", 9), 0);
}

/* A gRPC call naming its server in field (":authority" or "host"). */
static struct rawstream *call_as(struct rawconn *rc, const char *field, const char *authority)
{
	const char *nv[] = {":method",    "POST",     ":scheme", "http",         ":path",
	                    "/t.S/Unary", field,      authority, "content-type", "application/grpc",
	                    "te",         "trailers", NULL};
	return call_with(rc, nv);
}

Test(headers, authority_with_a_scheme_is_a_normal_call)
{
	/* grpc-go 1.33's passthrough resolver, dialing etcdctl's
	 * "http://127.0.0.1:2379" endpoint (--cluster), sends it as the
	 * authority; grpc-go servers, so etcd, take any authority. */
	static const char *const authorities[] = {"http://127.0.0.1:2379",
	                                          "https://m1.example.com:2379/", "127.0.0.1:2379",
	                                          "unix:///run/etcd.sock"};
	for (size_t i = 0; i < sizeof authorities / sizeof authorities[0]; i++) {
		atomic_store(&g.messages, 0);
		struct rawconn rc;
		open_conn(&rc);
		expect_echo(call_as(&rc, ":authority", authorities[i]));
		cr_assert_eq(atomic_load(&g.messages), 1, "%s", authorities[i]);
		rc_close(&rc);
	}
}

Test(headers, host_with_a_scheme_instead_of_authority_is_a_normal_call)
{
	struct rawconn rc;
	open_conn(&rc);
	expect_echo(call_as(&rc, "host", "http://127.0.0.1:2379"));
	rc_close(&rc);
}

Test(headers, content_length_that_matches_the_body_is_a_normal_call)
{
	struct rawconn rc;
	open_conn(&rc);
	const char *nv[] = {
	    ":method",        "POST",       ":scheme", "http",         ":path",
	    "/t.S/Unary",     ":authority", "x",       "content-type", "application/grpc",
	    "content-length", "9",          NULL};
	expect_echo(call_with(&rc, nv));
	rc_close(&rc);
}

/* Malformed requests (RFC 9113 §8.1.1), one per connection: stream 1 is
 * reset with PROTOCOL_ERROR, the handler never sees it, and a good call on
 * stream 3 of the same connection goes through. */
static const char *const malformed[][24] = {
    /* missing pseudo-headers */
    {":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", NULL},
    {":method", "POST", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":authority", "x", "content-type", "application/grpc",
     NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", "content-type",
     "application/grpc", NULL},
    /* repeated, empty, unknown or late pseudo-headers */
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":path", "/t.S/Unary",
     ":authority", "x", "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", ":authority",
     "y", "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "", ":authority", "x", "content-type",
     "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "", "content-type",
     "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", ":protocol",
     "websocket", "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", "content-type", "application/grpc", ":path",
     "/t.S/Unary", ":authority", "x", NULL},
    /* bad pseudo-header values: the authority is still a field value */
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "a\r\nb: c",
     "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", " x",
     "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "1http", ":path", "/t.S/Unary", ":authority", "x",
     "content-type", "application/grpc", NULL},
    {":method", "PO ST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x",
     "content-type", "application/grpc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", NULL},
    /* regular fields with an upper-case or invalid name, or an invalid value
     * (nghttp2 1.52 resets these too: rpc/ sets no on_invalid_header) */
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "Token", "abc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "to ken", "abc", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "token", "a\x01z", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "token", "abc ", NULL},
    /* connection-specific fields, te other than "trailers" */
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "connection", "keep-alive", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "keep-alive", "timeout=5", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "proxy-connection", "close", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "transfer-encoding", "chunked", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "upgrade", "h2c", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "te", "gzip", NULL},
    /* content-length: not a number, twice, or not the body's length */
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "content-length", "nine", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "content-length", "9", "content-length", "9", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "content-length", "4", NULL},
    {":method", "POST", ":scheme", "http", ":path", "/t.S/Unary", ":authority", "x", "content-type",
     "application/grpc", "content-length", "10", NULL},
};

Test(headers, malformed_requests_reset_the_stream_only)
{
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		atomic_store(&g.messages, 0);
		struct rawconn rc;
		open_conn(&rc);
		struct rawstream *s = call_with(&rc, malformed[i]);
		cr_assert_eq(s->rst, PROTOCOL_ERROR,
		             "case %zu: RST_STREAM(PROTOCOL_ERROR), got rst %lld status %d", i,
		             (long long)s->rst, s->grpc_status);
		struct rawbuf b = {0};
		raw_grpc_request(&b, 3, "/t.S/Unary", NULL, false);
		raw_grpc_message(&b, 3, 0, "ping", 4, true);
		rc_send(&rc, &b);
		rb_free(&b);
		expect_echo(rc_wait_stream(&rc, 3, 5000));
		cr_assert_eq(atomic_load(&g.messages), 1, "case %zu: only stream 3 was served", i);
		cr_assert_not(rc.goaway, "case %zu", i);
		rc_close(&rc);
	}
}

Test(headers, client_trailers_must_end_the_stream_and_carry_no_pseudo_header)
{
	const char *const trailers[][4] = {
	    {":path", "/t.S/Unary", NULL},
	    {"x-trailer", "1", NULL},
	};
	const uint8_t flags[] = {FL_END_STREAM, 0};
	for (size_t i = 0; i < 2; i++) {
		struct rawconn rc;
		open_conn(&rc);
		struct rawbuf b = {0};
		raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
		raw_grpc_message(&b, 1, 0, "ping", 4, false);
		raw_headers(&b, 1, flags[i], trailers[i]);
		rc_send(&rc, &b);
		rb_free(&b);
		struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
		cr_assert_eq(s->rst, PROTOCOL_ERROR, "case %zu: got rst %lld", i,
		             (long long)s->rst);
		cr_assert_not(rc.goaway, "case %zu", i);
		rc_close(&rc);
	}
}

Test(headers, client_trailers_that_end_the_stream_complete_the_call)
{
	struct rawconn rc;
	open_conn(&rc);
	struct rawbuf b = {0};
	const char *trailers[] = {"x-trailer", "1", NULL};
	raw_grpc_request(&b, 1, "/t.S/Unary", NULL, false);
	raw_grpc_message(&b, 1, 0, "ping", 4, false);
	raw_headers(&b, 1, FL_END_STREAM, trailers);
	rc_send(&rc, &b);
	rb_free(&b);
	expect_echo(rc_wait_stream(&rc, 1, 5000));
	rc_close(&rc);
}
