/*
 * Our client against our server on one loop: the call shapes etcd uses, and
 * the ways calls end. Each test asserts what the peer observes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

static const struct rpc_method echo = {
    .path = "/test.Echo/Unary",
    .kind = RPC_UNARY,
    .on_message = echo_on_message,
};

Test(loopback, unary_echo_round_trip)
{
	struct fx f;
	fx_init(&f, NULL);
	cr_assert_eq(rpc_server_register(f.srv, &echo), 0);
	fx_connect(&f, NULL);

	struct result r = {0};
	struct rpc_call_options o = {.on_reply = result_on_reply, .arg = &r};
	cr_assert_eq(rpc_call_unary_bytes(f.cl, "/test.Echo/Unary", "hello", 5, &o, NULL), 0);
	cr_assert(fx_run_until(&f, &r.done, 5000));
	cr_assert_eq(r.code, RPC_OK, "code %d: %s", r.code, r.message);
	cr_assert_eq(r.len, 5);
	cr_assert_eq(memcmp(r.body, "hello", 5), 0);
	fx_fini(&f);
}
