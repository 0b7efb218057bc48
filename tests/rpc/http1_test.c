/*
 * HTTP/1.1 on the gRPC port, as etcd serves /metrics, /health and /version
 * next to gRPC: a connection that does not start with the HTTP/2 preface is
 * read as one HTTP/1.1 request and answered by the registered handler, at
 * once or later.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawh2.h"

static struct srvthread st;
static uv_timer_t later;
static struct rpc_http1_reply *pending;
static atomic_int requests;
static char seen_query[64];

static void respond_later(uv_timer_t *t)
{
	(void)t;
	rpc_http1_respond(pending, 200, "application/json", "{\"health\":\"true\"}", 17);
	pending = NULL;
}

static void handler(void *arg, const struct rpc_http1_request *req, struct rpc_http1_reply *reply)
{
	(void)arg;
	atomic_fetch_add(&requests, 1);
	if (strcmp(req->path, "/metrics") == 0) {
		snprintf(seen_query, sizeof seen_query, "%s", req->query);
		const char *body = "# TYPE cairn_up gauge\ncairn_up 1\n";
		rpc_http1_respond(reply, 200, "text/plain; version=0.0.4", body, strlen(body));
	} else if (strcmp(req->path, "/health") == 0) {
		pending = reply;
		uv_timer_start(&later, respond_later, 50, 0);
	} else {
		rpc_http1_respond(reply, 404, NULL, "404 page not found\n", 19);
	}
}

static void setup(void)
{
	st_init(&st, NULL);
	rpc_server_set_http1(st.srv, handler, NULL);
	uv_timer_init(&st.loop, &later);
	st_run(&st);
}

static void teardown(void)
{
	st_fini(&st);
}

static void close_timer_cb(uv_async_t *a)
{
	uv_close((uv_handle_t *)&later, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

/* The timer belongs to the server loop: close it there before the fini. */
static void teardown_with_timer(void)
{
	static uv_async_t a;
	uv_async_init(&st.loop, &a, close_timer_cb);
	uv_async_send(&a);
	st_fini(&st);
}

/* Sends req (in pieces of step bytes) and reads until the server closes. */
static size_t exchange(const char *req, size_t step, char *out, size_t cap)
{
	struct rawconn rc;
	rc_open(&rc, st.port);
	size_t n = strlen(req);
	for (size_t i = 0; i < n; i += step) {
		rc_send_raw(&rc, req + i, n - i < step ? n - i : step);
		if (step < n)
			usleep(1000);
	}
	size_t len = 0;
	for (;;) {
		struct pollfd p = {.fd = rc.fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 5000), 0, "no answer");
		ssize_t k = recv(rc.fd, out + len, cap - 1 - len, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	out[len] = '\0';
	rc_close(&rc);
	return len;
}

TestSuite(http1, .init = setup, .fini = teardown_with_timer);

Test(http1, get_metrics)
{
	char out[4096];
	exchange("GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88\r\n\r\n",
	         1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "Content-Type: text/plain; version=0.0.4\r\n"));
	cr_assert_not_null(strstr(out, "Content-Length: 33\r\n"));
	cr_assert_not_null(strstr(out, "Connection: close\r\n"));
	cr_assert_not_null(strstr(out, "\r\n\r\n# TYPE cairn_up gauge\ncairn_up 1\n"));
	cr_assert_str_eq(seen_query, "x=1");
}

Test(http1, a_request_split_into_single_bytes)
{
	char out[4096];
	exchange("GET /metrics HTTP/1.0\r\n\r\n", 1, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
}

Test(http1, head_has_no_body)
{
	char out[4096];
	size_t n = exchange("HEAD /metrics HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert_not_null(strstr(out, "Content-Length: 33\r\n"));
	cr_assert_eq(out[n - 1], '\n');
	cr_assert_null(strstr(out, "cairn_up"));
}

Test(http1, answered_later)
{
	char out[4096];
	exchange("GET /health HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "\r\n\r\n{\"health\":\"true\"}"));
}

Test(http1, unknown_path_and_garbage)
{
	char out[4096];
	exchange("GET /nope HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", out);
	exchange("\x01\x02\x03 hello\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
}

Test(http1, oversized_head_gets_431)
{
	static char req[10000];
	memset(req, 'a', sizeof req - 1);
	memcpy(req, "GET /", 5);
	char out[4096];
	exchange(req, 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 431 ", 13) == 0, "%s", out);
}

Test(http1, client_gone_before_a_late_answer)
{
	struct rawconn rc;
	rc_open(&rc, st.port);
	rc_send_raw(&rc, "GET /health HTTP/1.1\r\n\r\n", 24);
	usleep(10000);
	rc_close(&rc);
	usleep(100000); /* the answer comes for a closed connection: dropped */
	char out[4096];
	exchange("GET /metrics HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
}

Test(http1, grpc_still_works_on_the_same_port)
{
	char out[4096];
	exchange("GET /metrics HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	struct rawconn rc;
	rc_open(&rc, st.port);
	struct rawbuf b = {0};
	raw_preface(&b);
	raw_settings(&b, NULL, 0);
	raw_grpc_request(&b, 1, "/x.Y/Z", NULL, true);
	rc_send(&rc, &b);
	struct rawstream *s = rc_wait_stream(&rc, 1, 5000);
	cr_assert_eq(s->grpc_status, RPC_UNIMPLEMENTED);
	rb_free(&b);
	rc_close(&rc);
}

static void setup_bare(void)
{
	st_init(&st, NULL);
	st_run(&st);
}

Test(http1_bare, no_handler_means_404, .init = setup_bare, .fini = teardown)
{
	char out[4096];
	exchange("GET /metrics HTTP/1.1\r\n\r\n", 1 << 20, out, sizeof out);
	cr_assert(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", out);
}
