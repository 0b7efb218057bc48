/*
 * store/mvcc_errors.c - error texts and gRPC codes.
 *
 * The etcd texts are etcd v3.4.23's, byte for byte
 * (etcdserver/api/v3rpc/rpctypes/error.go): clientv3 maps an error by its
 * message, so one changed character turns a typed error into an unknown
 * one on the client side (reference/etcd-api.md §4).
 */
#include <string.h>

#include "store/mvcc_internal.h"

struct mvcc_err_desc {
	int err;
	int grpc;
	const char *text;
};

/* gRPC status codes used below. */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_NOT_FOUND = 5,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
};

static const struct mvcc_err_desc mvcc__errs[] = {
    {STORE_MVCC_EEMPTY_KEY, GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided"},
    {STORE_MVCC_EKEY_NOT_FOUND, GRPC_INVALID_ARGUMENT, "etcdserver: key not found"},
    {STORE_MVCC_EVALUE_PROVIDED, GRPC_INVALID_ARGUMENT, "etcdserver: value is provided"},
    {STORE_MVCC_ELEASE_PROVIDED, GRPC_INVALID_ARGUMENT, "etcdserver: lease is provided"},
    {STORE_MVCC_ETOO_MANY_OPS, GRPC_INVALID_ARGUMENT,
     "etcdserver: too many operations in txn request"},
    {STORE_MVCC_EDUPLICATE_KEY, GRPC_INVALID_ARGUMENT,
     "etcdserver: duplicate key given in txn request"},
    {STORE_MVCC_EREQUEST_TOO_LARGE, GRPC_INVALID_ARGUMENT, "etcdserver: request is too large"},
    {STORE_MVCC_ECOMPACTED, GRPC_OUT_OF_RANGE,
     "etcdserver: mvcc: required revision has been compacted"},
    {STORE_MVCC_EFUTURE_REV, GRPC_OUT_OF_RANGE,
     "etcdserver: mvcc: required revision is a future revision"},
    {STORE_MVCC_ELEASE_TTL_TOO_LARGE, GRPC_OUT_OF_RANGE, "etcdserver: too large lease TTL"},
    {STORE_MVCC_ENOSPACE, GRPC_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"},
    {STORE_MVCC_ELEASE_NOT_FOUND, GRPC_NOT_FOUND, "etcdserver: requested lease not found"},
    {STORE_MVCC_ELEASE_EXISTS, GRPC_FAILED_PRECONDITION, "etcdserver: lease already exists"},
    {STORE_MVCC_EMEMBER_NOT_FOUND, GRPC_NOT_FOUND, "etcdserver: member not found"},
    {STORE_MVCC_EMEMBER_EXISTS, GRPC_FAILED_PRECONDITION, "etcdserver: member ID already exist"},
    {STORE_MVCC_EPEER_URL_EXISTS, GRPC_FAILED_PRECONDITION, "etcdserver: Peer URLs already exists"},
    {STORE_MVCC_EMEMBER_NOT_LEARNER, GRPC_FAILED_PRECONDITION,
     "etcdserver: can only promote a learner member"},
    {STORE_MVCC_ETOO_MANY_LEARNERS, GRPC_FAILED_PRECONDITION,
     "etcdserver: too many learner members in cluster"},
    {STORE_MVCC_ECORRUPT, GRPC_DATA_LOSS, "etcdserver: corrupt cluster"},
    {STORE_MVCC_EAPPLIED, GRPC_INTERNAL, "cairn mvcc: raft entry already applied"},
    {STORE_MVCC_EFAILED, GRPC_INTERNAL, "cairn mvcc: batch failed after a storage error"},
    {STORE_MVCC_EFOREIGN, GRPC_INTERNAL, "cairn mvcc: directory is not a cairn MVCC store"},
    {STORE_MVCC_EDAMAGED, GRPC_INTERNAL, "cairn mvcc: store files are damaged"},
    {STORE_MVCC_EVERSION, GRPC_INTERNAL, "cairn mvcc: unsupported store format version"},
    {STORE_MVCC_ELOCKED, GRPC_INTERNAL, "cairn mvcc: store is in use by another process"},
    {STORE_MVCC_EMAP_FULL, GRPC_INTERNAL, "cairn mvcc: LMDB map size reached"},
    {STORE_MVCC_ENOT_PRIMARY, GRPC_UNAVAILABLE, "cairn mvcc: not the lease primary"},
    {STORE_MVCC_ELEASE_EXPIRED, GRPC_INTERNAL, "cairn mvcc: lease expired, revoke pending"},
};

static const struct mvcc_err_desc *mvcc__err_find(int err)
{
	for (size_t i = 0; i < sizeof(mvcc__errs) / sizeof(mvcc__errs[0]); i++)
		if (mvcc__errs[i].err == err)
			return &mvcc__errs[i];
	return NULL;
}

const char *store_mvcc_strerror(int err)
{
	if (err == 0)
		return "success";
	const struct mvcc_err_desc *d = mvcc__err_find(err);
	if (d)
		return d->text;
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "cairn mvcc: unknown error";
}

int store_mvcc_grpc_code(int err)
{
	if (err == 0)
		return 0;
	const struct mvcc_err_desc *d = mvcc__err_find(err);
	return d ? d->grpc : GRPC_INTERNAL;
}
