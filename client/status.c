/*
 * client/status.c - rendering statuses as clientv3 prints its errors.
 *
 * clientv3 turns a gRPC error whose message is one of etcd's error texts
 * into a typed error that prints bare (etcd v3.4.23
 * etcdserver/api/v3rpc/rpctypes/error.go, errStringToError); any other
 * status prints as grpc-go formats it: "rpc error: code = <Name> desc =
 * <message>". A deadline that passed on our side is Go's
 * context.DeadlineExceeded: "context deadline exceeded".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/internal.h"

static const char *const etcd_errors[] = {
    "etcdserver: key is not provided",
    "etcdserver: key not found",
    "etcdserver: value is provided",
    "etcdserver: lease is provided",
    "etcdserver: too many operations in txn request",
    "etcdserver: duplicate key given in txn request",
    "etcdserver: mvcc: required revision has been compacted",
    "etcdserver: mvcc: required revision is a future revision",
    "etcdserver: mvcc: database space exceeded",
    "etcdserver: lease not found",
    "etcdserver: requested lease not found",
    "etcdserver: lease already exists",
    "etcdserver: too large lease TTL",
    "etcdserver: member ID already exist",
    "etcdserver: Peer URLs already exists",
    "etcdserver: member not found",
    "etcdserver: given member URLs are invalid",
    "etcdserver: member is not learner",
    "etcdserver: can only promote a learner member",
    "etcdserver: can only promote a learner member which is in sync with leader",
    "etcdserver: too many learner members in cluster",
    "etcdserver: request is too large",
    "etcdserver: too many requests",
    "etcdserver: root user does not exist",
    "etcdserver: root user does not have root role",
    "etcdserver: user name already exists",
    "etcdserver: user name is empty",
    "etcdserver: user name not found",
    "etcdserver: role name already exists",
    "etcdserver: role name not found",
    "etcdserver: role name is empty",
    "etcdserver: authentication failed, invalid user ID or password",
    "etcdserver: permission denied",
    "etcdserver: role is not granted to the user",
    "etcdserver: permission is not granted to the role",
    "etcdserver: authentication is not enabled",
    "etcdserver: invalid auth token",
    "etcdserver: invalid auth management",
    "etcdserver: revision of auth store is old",
    "etcdserver: no leader",
    "etcdserver: not leader",
    "etcdserver: leader changed",
    "etcdserver: not capable",
    "etcdserver: server stopped",
    "etcdserver: request timed out",
    "etcdserver: request timed out, possibly due to previous leader failure",
    "etcdserver: request timed out, possibly due to connection lost",
    "etcdserver: request timed out, waiting for the applied index took too long",
    "etcdserver: unhealthy cluster",
    "etcdserver: corrupt cluster",
    "etcdserver: bad leader transferee",
    "etcdserver: re-configuration failed due to not enough started members",
    "etcdserver: rpc not supported for learner",
    "etcdserver: watch canceled",
};

int cairn_is_etcd_error(const char *message)
{
	if (!message)
		return 0;
	for (size_t i = 0; i < sizeof etcd_errors / sizeof etcd_errors[0]; i++)
		if (strcmp(message, etcd_errors[i]) == 0)
			return 1;
	return 0;
}

const char *cairn_status_text(const struct cairn_status *st, char *buf, size_t cap)
{
	if (!cap)
		return buf;
	if (!st || st->code == CAIRN_OK) {
		snprintf(buf, cap, "OK");
	} else if (st->code == CAIRN_DEADLINE_EXCEEDED &&
	           (st->reason == CAIRN_REASON_DEADLINE ||
	            st->reason == CAIRN_REASON_NO_CONNECTION)) {
		snprintf(buf, cap, "context deadline exceeded");
	} else if (st->code == CAIRN_CANCELLED && st->reason == CAIRN_REASON_CANCELLED) {
		snprintf(buf, cap, "context canceled");
	} else if (cairn_is_etcd_error(st->message)) {
		snprintf(buf, cap, "%s", st->message);
	} else {
		snprintf(buf, cap, "rpc error: code = %s desc = %s", rpc_code_name(st->code),
		         st->message);
	}
	return buf;
}

const char *cairn_strerror(int err)
{
	if (err == CAIRN_ESTATUS)
		return "the call ended with an error status";
	if (err == -ESHUTDOWN)
		return "client closed";
	return rpc_strerror(err);
}

const char *cairn_code_name(int code)
{
	return rpc_code_name(code);
}
