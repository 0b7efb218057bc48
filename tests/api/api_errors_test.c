/*
 * The errors the etcd services answer with (server/api.c api_status_of,
 * over node_strerror/node_grpc_code and the store's): etcd's exact gRPC
 * code and message for each, since clientv3 maps the message text to typed
 * errors and retries by code (shared/reference/etcd-api.md section 4).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "server/api_internal.h"

static void expect(int err, int code, const char *msg)
{
	int c;
	const char *m;
	api_status_of(err, &c, &m);
	cr_assert_eq(c, code, "error %d: code %d, want %d", err, c, code);
	cr_assert_str_eq(m, msg, "error %d", err);
}

Test(api_errors, kv_errors_are_etcds)
{
	expect(STORE_MVCC_EEMPTY_KEY, RPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
	expect(STORE_MVCC_EKEY_NOT_FOUND, RPC_INVALID_ARGUMENT, "etcdserver: key not found");
	expect(STORE_MVCC_EVALUE_PROVIDED, RPC_INVALID_ARGUMENT, "etcdserver: value is provided");
	expect(STORE_MVCC_ELEASE_PROVIDED, RPC_INVALID_ARGUMENT, "etcdserver: lease is provided");
	expect(STORE_MVCC_ETOO_MANY_OPS, RPC_INVALID_ARGUMENT,
	       "etcdserver: too many operations in txn request");
	expect(STORE_MVCC_EDUPLICATE_KEY, RPC_INVALID_ARGUMENT,
	       "etcdserver: duplicate key given in txn request");
	expect(STORE_MVCC_ECOMPACTED, RPC_OUT_OF_RANGE,
	       "etcdserver: mvcc: required revision has been compacted");
	expect(STORE_MVCC_EFUTURE_REV, RPC_OUT_OF_RANGE,
	       "etcdserver: mvcc: required revision is a future revision");
	expect(STORE_MVCC_ENOSPACE, RPC_RESOURCE_EXHAUSTED,
	       "etcdserver: mvcc: database space exceeded");
	expect(STORE_MVCC_ECORRUPT, RPC_DATA_LOSS, "etcdserver: corrupt cluster");
}

Test(api_errors, lease_and_member_errors_are_etcds)
{
	expect(STORE_MVCC_ELEASE_NOT_FOUND, RPC_NOT_FOUND, "etcdserver: requested lease not found");
	expect(STORE_MVCC_ELEASE_EXISTS, RPC_FAILED_PRECONDITION,
	       "etcdserver: lease already exists");
	expect(STORE_MVCC_ELEASE_TTL_TOO_LARGE, RPC_OUT_OF_RANGE,
	       "etcdserver: too large lease TTL");
	expect(STORE_MVCC_EMEMBER_NOT_FOUND, RPC_NOT_FOUND, "etcdserver: member not found");
	expect(STORE_MVCC_EMEMBER_EXISTS, RPC_FAILED_PRECONDITION,
	       "etcdserver: member ID already exist");
	expect(STORE_MVCC_EPEER_URL_EXISTS, RPC_FAILED_PRECONDITION,
	       "etcdserver: Peer URLs already exists");
	expect(NODE_EINVALID_URLS, RPC_INVALID_ARGUMENT,
	       "etcdserver: given member URLs are invalid");
	expect(NODE_EBAD_TRANSFEREE, RPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee");
}

/* Transient conditions are Unavailable (clientv3 retries them); the two
 * errors util.go sends without a status are Unknown. */
Test(api_errors, cluster_conditions_and_their_retry_codes)
{
	expect(NODE_ENOLEADER, RPC_UNAVAILABLE, "etcdserver: no leader");
	expect(NODE_ETIMEOUT, RPC_UNAVAILABLE, "etcdserver: request timed out");
	expect(NODE_ESTOPPED, RPC_UNAVAILABLE, "etcdserver: server stopped");
	expect(NODE_ELEARNER_RPC, RPC_UNAVAILABLE, "etcdserver: rpc not supported for learner");
	expect(NODE_ETOO_MANY_REQUESTS, RPC_UNKNOWN, "etcdserver: too many requests");
	expect(NODE_EREQUEST_TOO_LARGE, RPC_INVALID_ARGUMENT, "etcdserver: request is too large");
	expect(NODE_ENOTLEADER, RPC_FAILED_PRECONDITION, "etcdserver: not leader");
}

Test(api_errors, no_error_is_ever_answered_ok)
{
	int errs[] = {-ENOMEM, -EIO, -EAGAIN, STORE_MVCC_EFAILED, STORE_MVCC_EMAP_FULL, -1, -99999};
	for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
		int c;
		const char *m;
		api_status_of(errs[i], &c, &m);
		cr_assert_neq(c, RPC_OK, "error %d", errs[i]);
		cr_assert_not_null(m);
	}
}

Test(api_errors, every_method_has_a_service_path)
{
	for (int m = 0; m < API_N_METHODS; m++) {
		cr_assert_not_null(api_method_name(m));
		cr_assert_not_null(api_method_service(m));
	}
	cr_assert_str_eq(api_method_service(API_WATCH), "etcdserverpb.Watch");
	cr_assert_str_eq(api_method_name(API_LEASE_KEEPALIVE), "LeaseKeepAlive");
	cr_assert_str_eq(api_method_service(API_HEALTH_CHECK), "grpc.health.v1.Health");
}
