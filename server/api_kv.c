/*
 * server/api_kv.c - etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
 *
 * Writes go through Raft (node_propose) after etcd's gRPC-layer checks, in
 * etcd's order: quota first (v3rpc quotaKVServer; over it, the NOSPACE alarm
 * is proposed and applied before the error is answered, as etcd's
 * quotaAlarmer waits for it), then the request checks (v3rpc/key.go). Reads are served from a read
 * context of the store: when serializable, at once unless a write this member answered is not yet
 * visible (NODE_BARRIER_ANSWERED, node.h: then after its commit); after a ReadIndex round
 * otherwise. A Txn whose
 * ops are all Ranges is a read (etcd's isTxnReadonly), served the same way
 * (serializable only if every Range is).
 *
 * Replies are packed straight from LMDB's memory into the stream's
 * out-buffer (store responses are zero-copy), with the api's scratch arena
 * reset after each: no allocation per read in steady state.
 */
#include <errno.h>
#include <string.h>

#include "server/api_internal.h"

static struct store_mvcc *store_of(struct api *a)
{
	return node_store(a->n);
}

/* ---- reads --------------------------------------------------------------- */

static int range_read(struct api *a, struct store_mvcc_read *rd, const void *req,
                      ProtobufCMessage **resp)
{
	return store_mvcc_range(rd, req, &a->arena, (Etcdserverpb__RangeResponse **)resp);
}

static int txn_read(struct api *a, struct store_mvcc_read *rd, const void *req,
                    ProtobufCMessage **resp)
{
	return store_mvcc_txn_read(rd, req, &a->arena, (Etcdserverpb__TxnResponse **)resp);
}

void api_kv_range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)m;
	/* A learner serves serializable ranges only (v3rpc/util.go). */
	if (!api_precheck(a, s, API_RANGE, req->serializable))
		return;
	int rc = store_mvcc_check_range(store_of(a), req);
	if (rc) {
		api_fail(a, s, API_RANGE, rc);
		return;
	}
	if (req->serializable)
		api_serve_read_after(a, s, API_RANGE, NODE_BARRIER_ANSWERED, range_read,
		                     &etcdserverpb__range_request__descriptor, req, b, n, true);
	else
		api_serve_read_linearizable(a, s, API_RANGE, range_read,
		                            &etcdserverpb__range_request__descriptor, b, n);
}

/* ---- writes ----------------------------------------------------------------- */

void api_kv_put(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__PutRequest *req = (const Etcdserverpb__PutRequest *)m;
	if (!api_precheck(a, s, API_PUT, false))
		return;
	if (!store_mvcc_quota_available(store_of(a), store_mvcc_cost_put(req))) {
		api_nospace(a, s, API_PUT);
		return;
	}
	int rc = store_mvcc_check_put(store_of(a), req);
	if (rc) {
		api_fail(a, s, API_PUT, rc);
		return;
	}
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_PUT;
	ir.put = (Etcdserverpb__PutRequest *)req;
	api_propose(a, s, API_PUT, &ir);
}

void api_kv_delete_range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                         size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__DeleteRangeRequest *req = (const Etcdserverpb__DeleteRangeRequest *)m;
	if (!api_precheck(a, s, API_DELETE_RANGE, false))
		return;
	int rc = store_mvcc_check_delete_range(store_of(a), req);
	if (rc) {
		api_fail(a, s, API_DELETE_RANGE, rc);
		return;
	}
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_DELETE_RANGE;
	ir.delete_range = (Etcdserverpb__DeleteRangeRequest *)req;
	api_propose(a, s, API_DELETE_RANGE, &ir);
}

/* etcd's isTxnSerializable: every op of both branches is a serializable
 * Range (a nested txn is not). */
static bool txn_serializable(const Etcdserverpb__TxnRequest *req)
{
	for (int branch = 0; branch < 2; branch++) {
		size_t n = branch ? req->n_failure : req->n_success;
		Etcdserverpb__RequestOp **ops = branch ? req->failure : req->success;
		for (size_t i = 0; i < n; i++)
			if (ops[i]->request_case !=
			        ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE ||
			    !ops[i]->request_range->serializable)
				return false;
	}
	return true;
}

void api_kv_txn(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__TxnRequest *req = (const Etcdserverpb__TxnRequest *)m;
	if (!api_precheck(a, s, API_TXN, false))
		return;
	/* etcd's quota lets a Txn that writes nothing through even over the
	 * quota (etcdserver/quota.go Available: cost 0 passes). */
	int64_t cost = store_mvcc_cost_txn(req);
	if (cost > 0 && !store_mvcc_quota_available(store_of(a), cost)) {
		api_nospace(a, s, API_TXN);
		return;
	}
	int rc = store_mvcc_check_txn(store_of(a), req);
	if (rc) {
		api_fail(a, s, API_TXN, rc);
		return;
	}
	if (store_mvcc_txn_is_readonly(req)) {
		if (txn_serializable(req))
			api_serve_read_after(a, s, API_TXN, NODE_BARRIER_ANSWERED, txn_read,
			                     &etcdserverpb__txn_request__descriptor, req, b, n,
			                     true);
		else
			api_serve_read_linearizable(a, s, API_TXN, txn_read,
			                            &etcdserverpb__txn_request__descriptor, b, n);
		return;
	}
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_TXN;
	ir.txn = (Etcdserverpb__TxnRequest *)req;
	api_propose(a, s, API_TXN, &ir);
}

/* ---- compaction ------------------------------------------------------------------- */

void api_kv_compact(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__CompactionRequest *req = (const Etcdserverpb__CompactionRequest *)m;
	if (!api_precheck(a, s, API_COMPACT, false))
		return;
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION;
	ir.compaction = (Etcdserverpb__CompactionRequest *)req;
	struct api_call *c = api_propose(a, s, API_COMPACT, &ir);
	if (c && req->physical)
		c->rev = req->revision;
}

#define COMPACT_POLL_MS 5

static void compact_poll(uv_timer_t *t)
{
	struct api *a = t->data;
	struct store_mvcc_state st;
	store_mvcc_state(store_of(a), &st);
	uint64_t now = uv_now(node_loop(a->n));
	bool waiting = false;
	struct api_call *c = a->calls;
	while (c) {
		struct api_call *next = c->next;
		if (c->physical_wait) {
			if (st.compacted_revision >= c->rev) {
				/* etcd answers with the current revision after the
				 * removal (v3_server.go Compact). */
				Etcdserverpb__CompactionResponse resp =
				    ETCDSERVERPB__COMPACTION_RESPONSE__INIT;
				Etcdserverpb__ResponseHeader h =
				    ETCDSERVERPB__RESPONSE_HEADER__INIT;
				resp.header = &h;
				api_fill_header(a, &resp.base);
				api_call_reply(c, &resp.base);
			} else if (now >= c->deadline) {
				api_call_fail(c, NODE_ETIMEOUT);
			} else {
				waiting = true;
			}
		}
		c = next;
	}
	if (!waiting)
		uv_timer_stop(t);
}

void api_kv_compact_wait(struct api_call *c)
{
	struct api *a = c->a;
	c->physical_wait = true;
	c->deadline = uv_now(node_loop(a->n)) + 5000 + 2 * a->opt.election_timeout_ms;
	if (!uv_is_active((uv_handle_t *)&a->compact_timer))
		uv_timer_start(&a->compact_timer, compact_poll, 0, COMPACT_POLL_MS);
}
