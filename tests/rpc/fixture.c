#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

static void on_state(struct rpc_client *c, enum rpc_client_state st, int err, void *arg)
{
	(void)c;
	(void)err;
	struct fx *f = arg;
	f->last_state = st;
	f->state_changes++;
	if (st == RPC_CLIENT_READY)
		f->ready = true;
}

void fx_init(struct fx *f, const struct rpc_server_options *opts)
{
	memset(f, 0, sizeof *f);
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	cr_assert_eq(rpc_server_new(&f->loop, opts, &f->srv), 0);
	cr_assert_eq(rpc_server_listen(f->srv, "127.0.0.1:0", &f->port), 0);
	cr_assert_gt(f->port, 0);
	snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->port);
}

void fx_connect(struct fx *f, const struct rpc_client_options *opts)
{
	struct rpc_client_options o = {0};
	if (opts)
		o = *opts;
	if (!o.on_state) {
		o.on_state = on_state;
		o.arg = f;
	}
	cr_assert_eq(rpc_client_connect(&f->loop, f->addr, &o, &f->cl), 0);
	if (o.on_state == on_state)
		cr_assert(fx_run_until(f, &f->ready, 5000), "client never became ready");
}

static void timeout_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

bool fx_run_until(struct fx *f, const bool *flag, uint64_t timeout_ms)
{
	bool expired = false;
	uv_timer_t t;
	uv_timer_init(&f->loop, &t);
	t.data = &expired;
	uv_timer_start(&t, timeout_cb, timeout_ms, 0);
	while (!*flag && !expired)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return *flag;
}

void fx_run_for(struct fx *f, uint64_t ms)
{
	bool never = false;
	fx_run_until(f, &never, ms);
}

static void srv_done(struct rpc_server *srv, void *arg)
{
	(void)srv;
	*(bool *)arg = true;
}

void fx_fini(struct fx *f)
{
	if (f->cl)
		rpc_client_close(f->cl);
	f->cl = NULL;
	if (f->srv)
		rpc_server_shutdown(f->srv, 0, RPC_UNAVAILABLE, "server stopped", srv_done,
		                    &f->srv_done);
	f->srv = NULL;
	cr_assert(fx_run_until(f, &f->srv_done, 5000), "server shutdown did not complete");
	/* Everything rpc/ opened must be closed now. */
	for (int i = 0; i < 100 && uv_loop_alive(&f->loop); i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	cr_assert_eq(uv_loop_close(&f->loop), 0, "handles left open on the loop");
}

void result_on_reply(struct rpc_call *call, void *arg, int code, const char *message,
                     const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)resp;
	struct result *r = arg;
	r->done = true;
	r->code = code;
	snprintf(r->message, sizeof r->message, "%s", message);
	r->len = len < sizeof r->body ? len : sizeof r->body;
	if (bytes)
		memcpy(r->body, bytes, r->len);
}

void result_on_message(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                       const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)msg;
	struct result *r = arg;
	r->nmsg++;
	r->last_len = len < sizeof r->last ? len : sizeof r->last;
	memcpy(r->last, bytes, r->last_len);
}

void result_on_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct result *r = arg;
	r->done = true;
	r->code = code;
	snprintf(r->message, sizeof r->message, "%s", message);
}

void echo_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                     size_t len)
{
	(void)msg;
	cr_assert_eq(rpc_stream_send_bytes(s, bytes, len), 0);
	cr_assert_eq(rpc_stream_finish(s, RPC_OK, NULL), 0);
}
