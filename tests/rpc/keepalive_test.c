/*
 * Client keepalive (wire §2 items 7 and 10), against a raw server that
 * records PINGs. Real etcd counts pings on a connection without streams as
 * strikes and answers too_many_pings after two, so our client pings only
 * while calls are open, never more often than every 10 s, and drops the
 * connection when a PING goes unanswered. Slow by nature (10 s minimum):
 * integration tier.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "rawh2.h"

struct side {
	int lfd, port;
	struct rawconn rc;
	int run_ms;
	bool ack;
	uv_thread_t th;
};

static void server(void *arg)
{
	struct side *sd = arg;
	rc_accept(&sd->rc, sd->lfd);
	sd->rc.ack_pings = sd->ack;
	rc_pump(&sd->rc, sd->run_ms);
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

static void start(struct side *sd, int run_ms, bool ack)
{
	memset(&f, 0, sizeof f);
	sd->lfd = rc_listen(&sd->port);
	sd->run_ms = run_ms;
	sd->ack = ack;
	uv_thread_create(&sd->th, server, sd);
	uv_loop_init(&f.loop);
	snprintf(f.addr, sizeof f.addr, "127.0.0.1:%d", sd->port);
	struct rpc_client_options co = {.keepalive_ms = 1000, /* clamped up to 10 s */
	                                .keepalive_timeout_ms = 2000,
	                                .on_state = note_state};
	cr_assert_eq(rpc_client_connect(&f.loop, f.addr, &co, &f.cl), 0);
}

static void finish(struct side *sd)
{
	if (f.cl)
		rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 100 && uv_loop_alive(&f.loop); i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
	uv_thread_join(&sd->th);
	rc_close(&sd->rc);
	close(sd->lfd);
}

Test(keepalive, no_pings_without_open_calls)
{
	static struct side sd;
	start(&sd, 12500, true);
	fx_run_for(&f, 12000);
	cr_assert_eq(seen[RPC_CLIENT_READY], 1);
	cr_assert_eq(rpc_client_state(f.cl), RPC_CLIENT_READY);
	finish(&sd);
	cr_assert_eq(sd.rc.pings, 0, "an idle connection must not ping (etcd counts strikes)");
}

Test(keepalive, pings_every_ten_seconds_while_a_call_is_open_and_drops_when_unanswered)
{
	static struct side sd;
	/* The server answers the first PING only: it stops reading after
	 * 15 s, so the second one (at ~20 s) goes unanswered. */
	start(&sd, 15000, true);
	struct result r = {0};
	struct rpc_call_options o = {
	    .on_message = result_on_message, .on_end = result_on_end, .arg = &r};
	struct rpc_call *call;
	cr_assert_eq(rpc_call_start(f.cl, "/t.S/Watch", &o, &call), 0);
	cr_assert_eq(rpc_call_send_bytes(call, "w", 1), 0);
	uint64_t t0 = uv_hrtime() / 1000000;
	cr_assert(fx_run_until(&f, &r.done, 30000));
	uint64_t took = uv_hrtime() / 1000000 - t0;
	char want[128];
	snprintf(want, sizeof want, "rpc: connection to %s lost: keepalive ping not acknowledged",
	         f.addr);
	cr_assert_eq(r.code, RPC_UNAVAILABLE);
	cr_assert_str_eq(r.message, want);
	/* First PING 10 s after the last read, answered; the second 10 s after
	 * that answer, unanswered; the drop 2 s later. */
	cr_assert(took >= 21900 && took < 25000, "dropped after %lu ms", (unsigned long)took);
	cr_assert_eq(seen[RPC_CLIENT_CLOSED], 1);
	finish(&sd);
	cr_assert_eq(sd.rc.pings, 1, "the server read exactly one PING before it stopped");
	cr_assert_geq(sd.rc.ping_ms[0] - t0, 9900, "not before 10 s");
	cr_assert_lt(sd.rc.ping_ms[0] - t0, 11000);
}
