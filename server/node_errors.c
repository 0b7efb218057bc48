/*
 * node_errors.c - node.h's error codes with etcd's exact messages and gRPC
 * codes (etcdserver/api/v3rpc/rpctypes/error.go, util.go), delegating store
 * errors to store/mvcc.h. clientv3 maps the message text, not the code, to
 * its typed errors: every byte counts.
 */
#include <string.h>

#include "rpc/rpc.h"
#include "server/node.h"

static const struct {
	int err;
	int code;
	const char *msg;
} node_errors[] = {
    {NODE_ENOLEADER, RPC_UNAVAILABLE, "etcdserver: no leader"},
    {NODE_ENOTLEADER, RPC_FAILED_PRECONDITION, "etcdserver: not leader"},
    {NODE_ELEADER_CHANGED, RPC_UNAVAILABLE, "etcdserver: leader changed"},
    {NODE_ETIMEOUT, RPC_UNAVAILABLE, "etcdserver: request timed out"},
    {NODE_ETIMEOUT_LEADER, RPC_UNAVAILABLE,
     "etcdserver: request timed out, possibly due to previous leader failure"},
    /* Declared ResourceExhausted but sent without a status: Unknown. */
    {NODE_ETOO_MANY_REQUESTS, RPC_UNKNOWN, "etcdserver: too many requests"},
    {NODE_ESTOPPED, RPC_UNAVAILABLE, "etcdserver: server stopped"},
    {NODE_EREQUEST_TOO_LARGE, RPC_INVALID_ARGUMENT, "etcdserver: request is too large"},
    {NODE_ELEARNER_NOT_READY, RPC_FAILED_PRECONDITION,
     "etcdserver: can only promote a learner member which is in sync with leader"},
    {NODE_EUNHEALTHY, RPC_UNAVAILABLE, "etcdserver: unhealthy cluster"},
    {NODE_EBAD_TRANSFEREE, RPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee"},
    {NODE_ELEARNER_RPC, RPC_UNAVAILABLE, "etcdserver: rpc not supported for learner"},
    {NODE_EINVALID_URLS, RPC_INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"},
    {NODE_ECANCELED, RPC_CANCELLED, "etcdserver: request cancelled"},
    /* Declared FailedPrecondition, sent as Unknown (util.go). */
    {NODE_ENOT_ENOUGH_STARTED, RPC_UNKNOWN,
     "etcdserver: re-configuration failed due to not enough started members"},
    /* etcd returns raft's context error as is: no status, so Unknown. */
    {NODE_EDEADLINE, RPC_UNKNOWN, "context deadline exceeded"},
};

#define N_NODE_ERRORS (sizeof node_errors / sizeof node_errors[0])

const char *node_strerror(int err)
{
	for (size_t i = 0; i < N_NODE_ERRORS; i++)
		if (node_errors[i].err == err)
			return node_errors[i].msg;
	return store_mvcc_strerror(err);
}

int node_grpc_code(int err)
{
	if (err == 0)
		return RPC_OK;
	for (size_t i = 0; i < N_NODE_ERRORS; i++)
		if (node_errors[i].err == err)
			return node_errors[i].code;
	return store_mvcc_grpc_code(err);
}

/* The error whose message is msg (a forwarded call's answer), or 0. */
int node__error_from_message(const char *msg);
int node__error_from_message(const char *msg)
{
	if (!msg || !*msg)
		return 0;
	for (size_t i = 0; i < N_NODE_ERRORS; i++)
		if (!strcmp(node_errors[i].msg, msg))
			return node_errors[i].err;
	for (int e = -4201; e >= -4260; e--)
		if (!strcmp(store_mvcc_strerror(e), msg))
			return e;
	return NODE_ETIMEOUT;
}
