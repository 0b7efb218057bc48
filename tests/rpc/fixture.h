/*
 * tests/rpc/fixture.h - a server and a client on one loop, for the rpc
 * tests, plus small handlers the tests share.
 */
#ifndef CAIRN_TESTS_RPC_FIXTURE_H
#define CAIRN_TESTS_RPC_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rpc/rpc.h"

struct fx {
	uv_loop_t loop;
	struct rpc_server *srv;
	struct rpc_client *cl;
	int port;
	char addr[64];
	bool srv_done;
	bool ready;
	enum rpc_client_state last_state;
	int state_changes;
};

/* Starts a server on 127.0.0.1:0 (opts may be NULL). */
void fx_init(struct fx *f, const struct rpc_server_options *opts);
/* Connects f->cl and runs the loop until it is READY. */
void fx_connect(struct fx *f, const struct rpc_client_options *opts);
/* Runs the loop until *flag is true or timeout_ms passes; returns *flag. */
bool fx_run_until(struct fx *f, const bool *flag, uint64_t timeout_ms);
/* Runs the loop for ms milliseconds. */
void fx_run_for(struct fx *f, uint64_t ms);
/* Closes the client, shuts the server down, runs the loop dry and checks
 * that every handle was closed. */
void fx_fini(struct fx *f);

/* Records what a call ended with. */
struct result {
	bool done;
	int code;
	char message[512];
	uint8_t body[4096];
	size_t len;
	int nmsg;
	uint8_t last[4096];
	size_t last_len;
};
void result_on_reply(struct rpc_call *call, void *arg, int code, const char *message,
                     const ProtobufCMessage *resp, const uint8_t *bytes, size_t len);
void result_on_message(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                       const uint8_t *bytes, size_t len);
void result_on_end(struct rpc_call *call, void *arg, int code, const char *message);

/* Server handler: replies with the request bytes. */
void echo_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                     size_t len);

#endif
