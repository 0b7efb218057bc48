/*
 * tests/rpc/fuzz/fuzz_rpc.c - LLVMFuzzerTestOneInput for rpc/: real TCP on
 * 127.0.0.1, one loop, the server and client exactly as cairnd and libcairn
 * use them. Bytes go through the kernel, so what is fuzzed is what a peer
 * can send. See fuzz.h for the input format.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rpc.pb-c.h"
#include "rpc/rpc.h"

#define MAX_RECV (64 * 1024)
#define HANG_MS  5000

static struct {
	bool init;
	uv_loop_t loop;
	struct rpc_server *srv;
	int port;
	uv_tcp_t fake; /* the fake server for the client side */
	int fake_port;
	uv_timer_t hang; /* an input that does not end is a bug */
	const uint8_t *data;
	size_t len;
	bool srv_done;
} F;

static void die(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

/* ---- the server's handlers ------------------------------------------------ */

static void echo(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void hold(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)s;
	(void)m;
	(void)b;
	(void)n;
}

static void on_cancel(struct rpc_stream *s, int code)
{
	(void)s;
	(void)code;
}

static void three(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	for (int i = 0; i < 3; i++)
		rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, "done");
}

static void bidi(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	if (n && b[0] == 'X')
		rpc_stream_finish(s, RPC_ABORTED, "early \xff%");
	else
		rpc_stream_send_bytes(s, b, n);
}

static void bidi_half_close(struct rpc_stream *s)
{
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)b;
	(void)n;
	const Etcdserverpb__RangeRequest *r = (const Etcdserverpb__RangeRequest *)m;
	if (!rpc_stream_metadata(s, "token") && r->limit == 7) {
		rpc_stream_finish(s, RPC_UNAUTHENTICATED, "etcdserver: invalid auth token");
		return;
	}
	Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	resp.count = (int64_t)r->key.len;
	rpc_stream_reply(s, &resp.base);
}

static void txn_keep(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)b;
	(void)n;
	/* RPC_KEEP_MESSAGES: ours to free. */
	protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void http1(void *arg, const struct rpc_http1_request *req, struct rpc_http1_reply *reply)
{
	(void)arg;
	if (strcmp(req->path, "/metrics") == 0)
		rpc_http1_respond(reply, 200, NULL, "cairn_up 1\n", 11);
	else
		rpc_http1_respond(reply, 404, NULL, req->target, strlen(req->target));
}

static const struct rpc_method methods[] = {
    {.path = "/f.S/Echo", .kind = RPC_UNARY, .on_message = echo},
    {.path = "/f.S/Hold", .kind = RPC_UNARY, .on_message = hold, .on_cancel = on_cancel},
    {.path = "/f.S/Three", .kind = RPC_SERVER_STREAMING, .on_message = three},
    {.path = "/f.S/Bidi",
     .kind = RPC_BIDI,
     .on_message = bidi,
     .on_half_close = bidi_half_close,
     .on_cancel = on_cancel},
    {.path = "/etcdserverpb.KV/Range",
     .kind = RPC_UNARY,
     .request = &etcdserverpb__range_request__descriptor,
     .on_message = range},
    {.path = "/etcdserverpb.KV/Txn",
     .kind = RPC_UNARY,
     .request = &etcdserverpb__txn_request__descriptor,
     .flags = RPC_KEEP_MESSAGES,
     .on_message = txn_keep},
};

/* ---- the client side: a fake server writes the input -------------------- */

struct peer {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	bool closed;
};

static void peer_closed(uv_handle_t *h)
{
	((struct peer *)h->data)->closed = true;
}

static void peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	(void)h;
	(void)n;
	static char buf[65536];
	*b = uv_buf_init(buf, sizeof buf);
}

static void peer_read(uv_stream_t *t, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	if (n < 0 && !uv_is_closing((uv_handle_t *)t))
		uv_close((uv_handle_t *)t, peer_closed);
}

static void peer_shut(uv_shutdown_t *r, int status)
{
	(void)r;
	(void)status;
}

static void peer_wrote(uv_write_t *w, int status)
{
	struct peer *p = w->data;
	if (status == 0)
		uv_shutdown(&p->sreq, (uv_stream_t *)&p->tcp, peer_shut);
}

static void peer_send(struct peer *p)
{
	uv_buf_t b = uv_buf_init((char *)F.data, (unsigned)F.len);
	p->wreq.data = p;
	if (uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, peer_wrote))
		uv_close((uv_handle_t *)&p->tcp, peer_closed);
	uv_read_start((uv_stream_t *)&p->tcp, peer_alloc, peer_read);
}

static struct peer fake_peer;
static bool fake_accepted;

static void fake_conn(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	struct peer *p = &fake_peer;
	memset(p, 0, sizeof *p);
	uv_tcp_init(&F.loop, &p->tcp);
	p->tcp.data = p;
	if (uv_accept(l, (uv_stream_t *)&p->tcp)) {
		uv_close((uv_handle_t *)&p->tcp, peer_closed);
		return;
	}
	fake_accepted = true;
	peer_send(p);
}

/* ---- the server side: a raw client writes the input --------------------- */

static void client_connected(uv_connect_t *req, int status)
{
	struct peer *p = req->data;
	if (status < 0) {
		uv_close((uv_handle_t *)&p->tcp, peer_closed);
		return;
	}
	peer_send(p);
}

static void hang_cb(uv_timer_t *t)
{
	(void)t;
	die("an input did not finish: a hang");
}

static void run_until(bool *flag)
{
	uv_timer_start(&F.hang, hang_cb, HANG_MS, 0);
	while (!*flag)
		uv_run(&F.loop, UV_RUN_ONCE);
	uv_timer_stop(&F.hang);
}

static void server_side(void)
{
	static struct peer p;
	memset(&p, 0, sizeof p);
	uv_tcp_init(&F.loop, &p.tcp);
	p.tcp.data = &p;
	p.creq.data = &p;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", F.port, &sa);
	if (uv_tcp_connect(&p.creq, &p.tcp, (struct sockaddr *)&sa, client_connected))
		die("connect");
	run_until(&p.closed);
}

static int calls_open;

static void on_reply(struct rpc_call *c, void *arg, int code, const char *msg,
                     const ProtobufCMessage *r, const uint8_t *b, size_t n)
{
	(void)c;
	(void)arg;
	(void)code;
	(void)msg;
	(void)r;
	(void)b;
	(void)n;
	calls_open--;
}

static void on_message(struct rpc_call *c, void *arg, const ProtobufCMessage *m, const uint8_t *b,
                       size_t n)
{
	(void)arg;
	(void)m;
	if (n && b[0] == 'C')
		rpc_call_cancel(c), calls_open--;
}

static void on_end(struct rpc_call *c, void *arg, int code, const char *msg)
{
	(void)c;
	(void)arg;
	(void)code;
	(void)msg;
	calls_open--;
}

static void client_side(void)
{
	char addr[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", F.fake_port);
	struct rpc_client_options co = {.max_recv_msg = MAX_RECV};
	struct rpc_client *cl;
	if (rpc_client_connect(&F.loop, addr, &co, &cl))
		die("rpc_client_connect");
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	struct rpc_call_options uo = {.response = &etcdserverpb__range_response__descriptor,
	                              .on_reply = on_reply,
	                              .timeout_ms = 3000};
	struct rpc_call_options wo = {.response = &etcdserverpb__watch_response__descriptor,
	                              .on_message = on_message,
	                              .on_end = on_end};
	struct rpc_call_options ro = {.on_message = on_message, .on_end = on_end};
	struct rpc_call *w, *r;
	calls_open = 3;
	fake_accepted = false;
	if (rpc_call_unary(cl, "/etcdserverpb.KV/Range", &rr.base, &uo, NULL) ||
	    rpc_call_start(cl, "/etcdserverpb.Watch/Watch", &wo, &w) ||
	    rpc_call_start(cl, "/f.S/Raw", &ro, &r))
		die("call start");
	rpc_call_send_bytes(r, "raw", 3);
	rpc_call_close_send(r);
	bool ended = false;
	uv_timer_start(&F.hang, hang_cb, HANG_MS, 0);
	while (calls_open > 0)
		uv_run(&F.loop, UV_RUN_ONCE);
	ended = true;
	(void)ended;
	rpc_client_close(cl);
	if (fake_accepted)
		while (!fake_peer.closed)
			uv_run(&F.loop, UV_RUN_ONCE);
	uv_timer_stop(&F.hang);
}

static void init(void)
{
	if (uv_loop_init(&F.loop))
		die("loop");
	struct rpc_server_options so = {.max_recv_msg = MAX_RECV};
	if (rpc_server_new(&F.loop, &so, &F.srv))
		die("server");
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		rpc_server_register(F.srv, &methods[i]);
	rpc_server_set_http1(F.srv, http1, NULL);
	if (rpc_server_listen(F.srv, "127.0.0.1:0", &F.port))
		die("listen");
	uv_tcp_init(&F.loop, &F.fake);
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&F.fake, (struct sockaddr *)&sa, 0) ||
	    uv_listen((uv_stream_t *)&F.fake, 128, fake_conn))
		die("fake listen");
	struct sockaddr_storage ss;
	int len = sizeof ss;
	uv_tcp_getsockname(&F.fake, (struct sockaddr *)&ss, &len);
	F.fake_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_timer_init(&F.loop, &F.hang);
	F.init = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.init)
		init();
	if (size < 1)
		return 0;
	F.data = data + 1;
	F.len = size - 1;
	if (data[0] & 1)
		client_side();
	else
		server_side();
	return 0;
}

static void srv_done(struct rpc_server *srv, void *arg)
{
	(void)srv;
	(void)arg;
	F.srv_done = true;
}

void fuzz_fini(void)
{
	if (!F.init)
		return;
	rpc_server_shutdown(F.srv, 0, RPC_UNAVAILABLE, "bye", srv_done, NULL);
	while (!F.srv_done)
		uv_run(&F.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&F.fake, NULL);
	uv_close((uv_handle_t *)&F.hang, NULL);
	uv_run(&F.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&F.loop))
		die("handles left open");
	F.init = false;
}
