/*
 * server/api_auth.c - etcdserverpb.Auth while authentication is disabled,
 * and grpc.health.v1.Health/Check.
 *
 * cairn has no auth store yet. What a cluster without users answers is
 * known exactly (etcd 3.4.23 asked with these calls on a fresh member):
 * Authenticate "authentication is not enabled", AuthEnable "root user does
 * not exist", AuthDisable OK, UserList/RoleList empty, lookups of a user
 * or role "... name not found", empty names "... name is empty". Creating
 * users and roles needs the store: Unimplemented until it exists.
 */
#include <string.h>

#include "auth.pb-c.h"
#include "server/api_internal.h"

#define E(text) "etcdserver: " text

static void fail(struct api *a, struct rpc_stream *s, int method, int code, const char *msg)
{
	api_finish(a, s, method, code, msg);
}

static void reply_header_only(struct api *a, struct rpc_stream *s, int method,
                              ProtobufCMessage *resp)
{
	api_fill_header(a, resp);
	api_reply(a, s, method, resp);
}

void api_auth_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                         size_t n)
{
	struct api_method_ref *ref = api_ref(s);
	struct api *a = ref->a;
	int method = ref->method;
	if (!api_precheck(a, s, method, false))
		return;
	switch (method) {
	case API_AUTHENTICATE:
		fail(a, s, method, RPC_FAILED_PRECONDITION, E("authentication is not enabled"));
		return;
	case API_AUTH_ENABLE:
		fail(a, s, method, RPC_FAILED_PRECONDITION, E("root user does not exist"));
		return;
	case API_AUTH_DISABLE: {
		Etcdserverpb__AuthDisableResponse r = ETCDSERVERPB__AUTH_DISABLE_RESPONSE__INIT;
		reply_header_only(a, s, method, &r.base);
		return;
	}
	case API_USER_LIST: {
		Etcdserverpb__AuthUserListResponse r = ETCDSERVERPB__AUTH_USER_LIST_RESPONSE__INIT;
		reply_header_only(a, s, method, &r.base);
		return;
	}
	case API_ROLE_LIST: {
		Etcdserverpb__AuthRoleListResponse r = ETCDSERVERPB__AUTH_ROLE_LIST_RESPONSE__INIT;
		reply_header_only(a, s, method, &r.base);
		return;
	}
	case API_USER_GET:
	case API_USER_DELETE:
	case API_USER_CHANGE_PASSWORD:
	case API_USER_GRANT_ROLE:
	case API_USER_REVOKE_ROLE:
		fail(a, s, method, RPC_FAILED_PRECONDITION, E("user name not found"));
		return;
	case API_ROLE_GET:
	case API_ROLE_DELETE:
	case API_ROLE_GRANT_PERMISSION:
	case API_ROLE_REVOKE_PERMISSION:
		fail(a, s, method, RPC_FAILED_PRECONDITION, E("role name not found"));
		return;
	case API_USER_ADD: {
		const Etcdserverpb__AuthUserAddRequest *req =
		    (const Etcdserverpb__AuthUserAddRequest *)m;
		if (!req->name || !req->name[0])
			fail(a, s, method, RPC_INVALID_ARGUMENT, E("user name is empty"));
		else
			fail(a, s, method, RPC_UNIMPLEMENTED, "cairn: users are not supported yet");
		return;
	}
	case API_ROLE_ADD: {
		const Etcdserverpb__AuthRoleAddRequest *req =
		    (const Etcdserverpb__AuthRoleAddRequest *)m;
		if (!req->name || !req->name[0])
			fail(a, s, method, RPC_INVALID_ARGUMENT, E("role name is empty"));
		else
			fail(a, s, method, RPC_UNIMPLEMENTED, "cairn: roles are not supported yet");
		return;
	}
	default:
		fail(a, s, method, RPC_UNIMPLEMENTED, "cairn: not implemented");
		return;
	}
}

/*
 * grpc.health.v1.Health/Check (etcd registers grpc's health server with
 * status SERVING for the empty service name). HealthCheckRequest is
 * { string service = 1; }, HealthCheckResponse { ServingStatus status = 1;
 * } with SERVING = 1: one field each, read and written by hand.
 */
void api_health_check(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	size_t service_len = 0;
	size_t i = 0;
	while (i < n) {
		uint64_t key = 0;
		int shift = 0;
		while (i < n && shift < 64) {
			key |= (uint64_t)(b[i] & 0x7f) << shift;
			shift += 7;
			if (!(b[i++] & 0x80))
				break;
		}
		if ((key & 7) != 2) /* only length-delimited fields expected */
			break;
		uint64_t len = 0;
		shift = 0;
		while (i < n && shift < 64) {
			len |= (uint64_t)(b[i] & 0x7f) << shift;
			shift += 7;
			if (!(b[i++] & 0x80))
				break;
		}
		if (len > n - i)
			break;
		if ((key >> 3) == 1)
			service_len = (size_t)len;
		i += (size_t)len;
	}
	if (service_len) {
		api_finish(a, s, API_HEALTH_CHECK, RPC_NOT_FOUND, "unknown service");
		return;
	}
	static const uint8_t serving[] = {0x08, 0x01};
	int rc = rpc_stream_send_bytes(s, serving, sizeof serving);
	api_finish(a, s, API_HEALTH_CHECK, rc < 0 ? RPC_INTERNAL : RPC_OK, NULL);
}
