/*
 * Our client against a scripted server: each test writes the exact frames a
 * misbehaving (or merely unusual) server could send, and checks the status
 * every call ends with (wire §1.5, §1.6, §3.4).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture.h"
#include "h2build.h"

struct script {
	int lfd, port;
	struct rawbuf bytes;
	bool no_settings;
	uv_thread_t th;
};

static void serve(void *arg)
{
	struct script *sc = arg;
	int fd = accept(sc->lfd, NULL, NULL);
	if (fd < 0)
		return;
	if (sc->bytes.len)
		(void)!write(fd, sc->bytes.p, sc->bytes.len);
	char buf[65536];
	while (read(fd, buf, sizeof buf) > 0) {
	}
	close(fd);
}

static void script_start(struct script *sc)
{
	sc->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(sc->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(sc->lfd, 4), 0);
	socklen_t len = sizeof sa;
	getsockname(sc->lfd, (struct sockaddr *)&sa, &len);
	sc->port = ntohs(sa.sin_port);
	uv_thread_create(&sc->th, serve, sc);
}

static void script_end(struct script *sc)
{
	uv_thread_join(&sc->th);
	close(sc->lfd);
	rb_free(&sc->bytes);
}

static const char *ok_hdrs[] = {":status", "200", "content-type", "application/grpc", NULL};

static void preface(struct rawbuf *b)
{
	raw_settings(b, NULL, 0);
	raw_frame(b, F_SETTINGS, FL_ACK, 0, NULL, 0);
}

static struct fx f;
static int seen[8];

static void note_state(struct rpc_client *c, enum rpc_client_state st, int err, void *arg)
{
	(void)c;
	(void)err;
	(void)arg;
	seen[st]++;
}

/* Runs n unary calls (stream ids 1, 3, 5, ...) against the script. */
static void run_calls(struct script *sc, struct result *r, int n,
                      const struct rpc_client_options *opts)
{
	memset(&f, 0, sizeof f);
	memset(seen, 0, sizeof seen);
	script_start(sc);
	cr_assert_eq(uv_loop_init(&f.loop), 0);
	snprintf(f.addr, sizeof f.addr, "127.0.0.1:%d", sc->port);
	struct rpc_client_options co = {0};
	if (opts)
		co = *opts;
	co.on_state = note_state;
	cr_assert_eq(rpc_client_connect(&f.loop, f.addr, &co, &f.cl), 0);
	for (int i = 0; i < n; i++) {
		struct rpc_call_options o = {.on_reply = result_on_reply, .arg = &r[i]};
		cr_assert_eq(rpc_call_unary_bytes(f.cl, "/t.S/M", "q", 1, &o, NULL), 0);
	}
	for (int i = 0; i < n; i++)
		cr_assert(fx_run_until(&f, &r[i].done, 10000), "call %d never ended", i);
	rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 100 && uv_loop_alive(&f.loop); i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
	script_end(sc);
}

Test(client_robust, statuses_from_trailers_trailers_only_and_their_absence)
{
	struct script sc = {0};
	struct rawbuf *b = &sc.bytes;
	preface(b);
	/* 1: normal; 3: Trailers-Only error; 5: trailers without grpc-status;
	 * 7: DATA with END_STREAM, no trailers; 9: malformed grpc-status. */
	raw_response(b, 1, false, ok_hdrs);
	raw_grpc_message(b, 1, 0, "r", 1, false);
	const char *t0[] = {"grpc-status", "0", NULL};
	raw_response(b, 1, true, t0);
	const char *to[] = {
	    ":status",     "200", "content-type", "application/grpc",
	    "grpc-status", "5",   "grpc-message", "etcdserver: requested lease not found",
	    NULL};
	raw_response(b, 3, true, to);
	raw_response(b, 5, false, ok_hdrs);
	const char *none[] = {"grpc-message", "x", NULL};
	raw_response(b, 5, true, none);
	raw_response(b, 7, false, ok_hdrs);
	raw_grpc_message(b, 7, 0, "r", 1, true);
	raw_response(b, 9, false, ok_hdrs);
	const char *bad[] = {"grpc-status", "zero", NULL};
	raw_response(b, 9, true, bad);
	struct result r[5] = {0};
	run_calls(&sc, r, 5, NULL);
	cr_assert_eq(r[0].code, RPC_OK);
	cr_assert_eq(r[0].len, 1);
	cr_assert_eq(r[1].code, RPC_NOT_FOUND);
	cr_assert_str_eq(r[1].message, "etcdserver: requested lease not found");
	cr_assert_eq(r[2].code, RPC_UNKNOWN);
	cr_assert_eq(r[3].code, RPC_INTERNAL);
	cr_assert_str_eq(r[3].message, "server closed the stream without sending trailers");
	cr_assert_eq(r[4].code, RPC_INTERNAL);
	cr_assert_str_eq(r[4].message, "transport: malformed grpc-status");
}

Test(client_robust, non_grpc_answers_map_from_http_status)
{
	struct script sc = {0};
	struct rawbuf *b = &sc.bytes;
	preface(b);
	const char *s503[] = {":status", "503", "content-type", "text/html", NULL};
	raw_response(b, 1, false, s503);
	raw_frame(b, F_DATA, FL_END_STREAM, 1, "<html>", 6);
	const char *s404[] = {":status", "404", NULL};
	raw_response(b, 3, true, s404);
	const char *s200[] = {":status", "200", "content-type", "text/plain", NULL};
	raw_response(b, 5, true, s200);
	const char *s401[] = {":status", "401", "content-type", "application/json", NULL};
	raw_response(b, 7, true, s401);
	struct result r[4] = {0};
	run_calls(&sc, r, 4, NULL);
	cr_assert_eq(r[0].code, RPC_UNAVAILABLE);
	cr_assert_str_eq(r[0].message, "unexpected HTTP status code received from server: 503");
	cr_assert_eq(r[1].code, RPC_UNIMPLEMENTED);
	cr_assert_eq(r[2].code, RPC_UNKNOWN);
	cr_assert_eq(r[3].code, RPC_UNAUTHENTICATED);
}

Test(client_robust, rst_stream_codes_map_as_grpcio_does)
{
	struct script sc = {0};
	struct rawbuf *b = &sc.bytes;
	preface(b);
	raw_rst(b, 1, 7);  /* REFUSED_STREAM */
	raw_rst(b, 3, 8);  /* CANCEL */
	raw_rst(b, 5, 11); /* ENHANCE_YOUR_CALM */
	raw_rst(b, 7, 1);  /* PROTOCOL_ERROR */
	raw_response(b, 9, false, ok_hdrs);
	raw_rst(b, 9, 0); /* NO_ERROR before trailers */
	struct result r[5] = {0};
	run_calls(&sc, r, 5, NULL);
	cr_assert_eq(r[0].code, RPC_UNAVAILABLE);
	cr_assert_eq(r[1].code, RPC_CANCELLED);
	cr_assert_str_eq(r[1].message, "stream terminated by RST_STREAM with error code: CANCEL");
	cr_assert_eq(r[2].code, RPC_RESOURCE_EXHAUSTED);
	cr_assert_eq(r[3].code, RPC_INTERNAL);
	cr_assert_eq(r[4].code, RPC_INTERNAL);
}

Test(client_robust, goaway_drains_and_refuses_streams_above_the_last_id)
{
	struct script sc = {0};
	struct rawbuf *b = &sc.bytes;
	preface(b);
	uint8_t ga[8] = {0, 0, 0, 1, 0, 0, 0, 0};
	raw_frame(b, F_GOAWAY, 0, 0, ga, 8);
	raw_response(b, 1, false, ok_hdrs);
	raw_grpc_message(b, 1, 0, "r", 1, false);
	const char *t0[] = {"grpc-status", "0", NULL};
	raw_response(b, 1, true, t0);
	struct result r[2] = {0};
	run_calls(&sc, r, 2, NULL);
	cr_assert_eq(r[0].code, RPC_OK, "stream 1 is below the GOAWAY id: %s", r[0].message);
	cr_assert_eq(r[1].code, RPC_UNAVAILABLE, "stream 3 is above it");
	cr_assert_eq(seen[RPC_CLIENT_DRAINING], 1);
}

Test(client_robust, oversized_and_compressed_responses)
{
	struct script sc = {0};
	struct rawbuf *b = &sc.bytes;
	preface(b);
	raw_response(b, 1, false, ok_hdrs);
	raw_frame(b, F_DATA, 0, 1, "\0\0\0\4\1", 5);
	raw_response(b, 3, false, ok_hdrs);
	raw_grpc_message(b, 3, 1, "zz", 2, false);
	raw_response(b, 5, false, ok_hdrs);
	raw_grpc_message(b, 5, 0, "a", 1, false);
	raw_grpc_message(b, 5, 0, "b", 1, false);
	struct result r[3] = {0};
	struct rpc_client_options co = {.max_recv_msg = 1024};
	run_calls(&sc, r, 3, &co);
	cr_assert_eq(r[0].code, RPC_RESOURCE_EXHAUSTED);
	cr_assert_str_eq(r[0].message, "grpc: received message larger than max (1025 vs. 1024)");
	cr_assert_eq(r[1].code, RPC_INTERNAL);
	cr_assert_eq(r[2].code, RPC_INTERNAL, "two messages for a unary call");
}

Test(client_robust, a_server_that_never_sends_settings_times_out)
{
	struct script sc = {0};
	struct result r[1] = {0};
	struct rpc_client_options co = {.connect_timeout_ms = 200};
	run_calls(&sc, r, 1, &co);
	cr_assert_eq(r[0].code, RPC_UNAVAILABLE);
	cr_assert_eq(seen[RPC_CLIENT_FAILED], 1);
	cr_assert_eq(seen[RPC_CLIENT_READY], 0);
}

Test(client_robust, garbage_from_the_server_fails_calls_unavailable)
{
	struct script sc = {0};
	rb_put(&sc.bytes, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
	struct result r[2] = {0};
	run_calls(&sc, r, 2, NULL);
	cr_assert_eq(r[0].code, RPC_UNAVAILABLE);
	cr_assert_eq(r[1].code, RPC_UNAVAILABLE);
}
