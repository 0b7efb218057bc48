/*
 * store/mvcc_txn.c - Put, DeleteRange and Txn requests (etcdserver/
 * apply.go), after the checks of mvcc_check.c.
 *
 * Txn: the compares of the txn and of every nested txn on the taken path
 * are evaluated first, on the state before the txn (compareToPath); then
 * checkPut (ignore_* on missing keys, unknown leases) and checkRange
 * (revisions) over the taken path; only then are the ops executed, in
 * order, each seeing the previous ones' writes, all at one revision.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

/* ------------------------------------------------------------------------
 * Put and DeleteRange
 * ------------------------------------------------------------------------ */

/* The live current state of a key in the batch: 0, or -ENOENT. */
static int txn__current(struct mvcc_view *v, const uint8_t *key, size_t key_len,
                        struct mvcc_irec *r)
{
	uint8_t sk[MVCC_SKEY_LONG];
	MDB_val skey = {mvcc__skey(key, key_len, sk), sk};
	int rc = mvcc__idx_newest(v, &skey, r);
	if (rc == 0 && (r->flags & MVCC_IREC_TOMB))
		rc = -ENOENT;
	return rc;
}

/* applierV3backend.Put with a txn (checks done by the caller). */
static int txn__put(struct store_mvcc_batch *b, const Etcdserverpb__PutRequest *p,
                    struct store_mvcc_arena *a, Etcdserverpb__PutResponse **out)
{
	struct mvcc_view *v = &b->v;
	Etcdserverpb__PutResponse *resp = store_mvcc_arena_alloc(a, sizeof(*resp));
	if (!resp)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__put_response__init(resp);
	const uint8_t *val = p->value.data;
	size_t val_len = p->value.len;
	int64_t lease = p->lease;
	if (p->ignore_value || p->ignore_lease || p->prev_kv) {
		struct mvcc_irec cur;
		int rc = txn__current(v, p->key.data, p->key.len, &cur);
		if (rc && rc != -ENOENT)
			return mvcc__fail(b, rc);
		if (rc == 0) {
			Mvccpb__KeyValue *kv;
			/* Copied now: the put below may move LMDB nodes. */
			rc = mvcc__make_kv(v, p->prev_kv ? a : &b->scratch, p->key.data, p->key.len,
			                   &cur, true, &kv);
			if (rc)
				return mvcc__fail(b, rc);
			if (p->ignore_value) {
				val = kv->value.data;
				val_len = kv->value.len;
			}
			if (p->ignore_lease)
				lease = kv->lease;
			if (p->prev_kv)
				resp->prev_kv = kv;
		}
		/* A missing key here was present before the txn (checkPut) and
		 * deleted by an earlier from-key delete of the same txn: etcd
		 * panics. cairn puts an empty value / no lease, the same on every
		 * member. */
	}
	int rc = mvcc__w_put(b, p->key.data, p->key.len, val, val_len, lease);
	if (rc)
		return rc;
	resp->header = mvcc__header(a, b->begin_rev + 1);
	if (!resp->header)
		return mvcc__fail(b, -ENOMEM);
	*out = resp;
	return 0;
}

/* applierV3backend.DeleteRange with a txn. */
static int txn__delete(struct store_mvcc_batch *b, const Etcdserverpb__DeleteRangeRequest *d,
                       struct store_mvcc_arena *a, Etcdserverpb__DeleteRangeResponse **out)
{
	Etcdserverpb__DeleteRangeResponse *resp = store_mvcc_arena_alloc(a, sizeof(*resp));
	if (!resp)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__delete_range_response__init(resp);
	struct mvcc_krange kr;
	mvcc__krange(&kr, d->key.data, d->key.len, d->range_end.data, d->range_end.len);
	int rc;
	if (d->prev_kv) {
		/* etcd: txn.Range(key, end, RangeOptions{}) before deleting. */
		Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
		Etcdserverpb__RangeResponse *rr;
		rq.key = d->key;
		rq.range_end = d->range_end;
		rc = mvcc__range(&b->v, mvcc__req_rev(b), &rq, a, &rr);
		if (rc)
			return mvcc__fail(b, rc);
		resp->prev_kvs = rr->kvs;
		resp->n_prev_kvs = rr->n_kvs;
	}
	int64_t deleted = 0;
	rc = mvcc__w_delete_range(b, &kr, &deleted);
	if (rc)
		return rc;
	resp->deleted = deleted;
	resp->header = mvcc__header(a, b->changes > 0 ? b->begin_rev + 1 : b->begin_rev);
	if (!resp->header)
		return mvcc__fail(b, -ENOMEM);
	*out = resp;
	return 0;
}

int store_mvcc_put(struct store_mvcc_batch *b, const Etcdserverpb__PutRequest *req,
                   struct store_mvcc_arena *arena, Etcdserverpb__PutResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	if ((rc = mvcc__check_put(b->s, req)))
		return rc;
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	if (b->nospace)
		return STORE_MVCC_ENOSPACE;
	bool ok = mvcc__available(b->s, store_mvcc_cost_put(req));
	if (req->lease) {
		rc = mvcc__lease_exists(&b->v, req->lease);
		if (rc < 0)
			return mvcc__fail(b, rc);
		if (rc == 0)
			return STORE_MVCC_ELEASE_NOT_FOUND;
	}
	if (req->ignore_value || req->ignore_lease) {
		struct mvcc_irec cur;
		rc = txn__current(&b->v, req->key.data, req->key.len, &cur);
		if (rc == -ENOENT)
			return STORE_MVCC_EKEY_NOT_FOUND;
		if (rc)
			return mvcc__fail(b, rc);
	}
	rc = txn__put(b, req, arena, resp);
	if (rc)
		return rc;
	mvcc__req_end(b);
	return ok ? 0 : STORE_MVCC_ENOSPACE;
}

int store_mvcc_delete_range(struct store_mvcc_batch *b, const Etcdserverpb__DeleteRangeRequest *req,
                            struct store_mvcc_arena *arena,
                            Etcdserverpb__DeleteRangeResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	if ((rc = store_mvcc_check_delete_range(b->s, req)))
		return rc;
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	rc = txn__delete(b, req, arena, resp);
	if (rc)
		return rc;
	mvcc__req_end(b);
	return 0;
}

/* ------------------------------------------------------------------------
 * Txn
 * ------------------------------------------------------------------------ */

/* Where a txn runs: a batch (write) or a read context (read-only txn). */
struct txn_run {
	struct store_mvcc_batch *b; /* NULL on a read context */
	struct mvcc_view *v;
	int64_t pre_rev; /* the revision before the txn */
	bool *path;      /* compare results, preorder */
	size_t n_path, cap_path;
	struct store_mvcc_arena *tmp;
};

static int64_t txn__cur_rev(const struct txn_run *t)
{
	return t->b ? mvcc__req_rev(t->b) : t->pre_rev;
}

struct cmp_ctx {
	struct mvcc_view *v;
	const Etcdserverpb__Compare *c;
	bool result, any;
	int err;
};

static int txn__compare_kv(const Etcdserverpb__Compare *c, const Mvccpb__KeyValue *kv)
{
	int result = 0;
	int64_t want = 0;
	switch (c->target) {
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE: {
		const uint8_t *v = NULL;
		size_t vlen = 0;
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE) {
			v = c->value.data;
			vlen = c->value.len;
		}
		result = mvcc__bytes_cmp(kv->value.data, kv->value.len, v, vlen);
		result = result < 0 ? -1 : result > 0 ? 1 : 0;
		break;
	}
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION)
			want = c->create_revision;
		result = kv->create_revision < want ? -1 : kv->create_revision > want;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION)
			want = c->mod_revision;
		result = kv->mod_revision < want ? -1 : kv->mod_revision > want;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION)
			want = c->version;
		result = kv->version < want ? -1 : kv->version > want;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE)
			want = c->lease;
		result = kv->lease < want ? -1 : kv->lease > want;
		break;
	default:
		break;
	}
	switch (c->result) {
	case ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL:
		return result == 0;
	case ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL:
		return result != 0;
	case ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER:
		return result > 0;
	case ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS:
		return result < 0;
	default:
		return 1;
	}
}

static int txn__compare_visit(void *arg, const struct mvcc_kent *k, const struct mvcc_irec *at)
{
	struct cmp_ctx *c = arg;
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
	kv.create_revision = at->create;
	kv.mod_revision = at->main;
	kv.version = at->version;
	kv.lease = at->lease;
	(void)k;
	if (c->c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE) {
		struct mvcc_hrec h;
		int rc = mvcc__hist_get(c->v, at->main, at->sub, &h);
		if (rc)
			return rc == -ENOENT ? STORE_MVCC_EDAMAGED : rc;
		kv.value.data = (uint8_t *)h.value;
		kv.value.len = h.value_len;
	}
	c->any = true;
	if (!txn__compare_kv(c->c, &kv)) {
		c->result = false;
		return 1;
	}
	return 0;
}

/* etcd's applyCompare on the state at rev. */
static int txn__compare(struct mvcc_view *v, int64_t rev, const Etcdserverpb__Compare *c, bool *ok)
{
	struct cmp_ctx cc = {.v = v, .c = c, .result = true};
	struct mvcc_krange kr;
	mvcc__krange(&kr, c->key.data, c->key.len, c->range_end.data, c->range_end.len);
	int rc = mvcc__visit(v, &kr, rev, txn__compare_visit, &cc);
	if (rc)
		return rc;
	if (!cc.any) {
		/* A missing key: VALUE always fails; the rest compare zeros. */
		if (c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE) {
			*ok = false;
			return 0;
		}
		Mvccpb__KeyValue zero = MVCCPB__KEY_VALUE__INIT;
		*ok = txn__compare_kv(c, &zero);
		return 0;
	}
	*ok = cc.result;
	return 0;
}

static int txn__path_push(struct txn_run *t, bool v)
{
	if (t->n_path == t->cap_path) {
		size_t cap = t->cap_path ? t->cap_path * 2 : 16;
		bool *p = store_mvcc_arena_alloc(t->tmp, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		if (t->n_path)
			memcpy(p, t->path, t->n_path * sizeof(*p));
		t->path = p;
		t->cap_path = cap;
	}
	t->path[t->n_path++] = v;
	return 0;
}

/* compareToPath: this txn's result, then its nested txns' paths. */
static int txn__compute_path(struct txn_run *t, const Etcdserverpb__TxnRequest *r)
{
	bool ok = true;
	for (size_t i = 0; i < r->n_compare && ok; i++) {
		int rc = txn__compare(t->v, t->pre_rev, r->compare[i], &ok);
		if (rc)
			return rc;
	}
	int rc = txn__path_push(t, ok);
	if (rc)
		return rc;
	Etcdserverpb__RequestOp *const *ops = ok ? r->success : r->failure;
	size_t n = ok ? r->n_success : r->n_failure;
	for (size_t i = 0; i < n; i++)
		if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN &&
		    ops[i]->request_txn && (rc = txn__compute_path(t, ops[i]->request_txn)))
			return rc;
	return 0;
}

/* checkRequests with checkPut (puts) or checkRange (!puts) over the taken
 * path starting at *pi. */
static int txn__check_path(struct txn_run *t, const Etcdserverpb__TxnRequest *r, size_t *pi,
                           bool puts)
{
	bool ok = t->path[(*pi)++];
	Etcdserverpb__RequestOp *const *ops = ok ? r->success : r->failure;
	size_t n = ok ? r->n_success : r->n_failure;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		int rc;
		if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN) {
			if ((rc = txn__check_path(t, op->request_txn, pi, puts)))
				return rc;
			continue;
		}
		if (puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT) {
			const Etcdserverpb__PutRequest *p = op->request_put;
			if (p->ignore_value || p->ignore_lease) {
				struct mvcc_irec cur;
				uint8_t sk[MVCC_SKEY_LONG];
				MDB_val skey = {mvcc__skey(p->key.data, p->key.len, sk), sk};
				rc = mvcc__idx_at(t->v, &skey, t->pre_rev, &cur);
				if (rc == -ENOENT || (rc == 0 && (cur.flags & MVCC_IREC_TOMB)))
					return STORE_MVCC_EKEY_NOT_FOUND;
				if (rc)
					return rc;
			}
			if (p->lease) {
				rc = mvcc__lease_exists(t->v, p->lease);
				if (rc < 0)
					return rc;
				if (rc == 0)
					return STORE_MVCC_ELEASE_NOT_FOUND;
			}
		}
		if (!puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) {
			int64_t rev = op->request_range->revision;
			if (rev == 0)
				continue;
			if (rev > t->pre_rev)
				return STORE_MVCC_EFUTURE_REV;
			if (rev < t->v->compact_rev)
				return STORE_MVCC_ECOMPACTED;
		}
	}
	return 0;
}

/* applyTxn: executes the taken path, filling resp. */
static int txn__exec(struct txn_run *t, const Etcdserverpb__TxnRequest *r, size_t *pi,
                     struct store_mvcc_arena *a, Etcdserverpb__TxnResponse *resp)
{
	bool ok = t->path[(*pi)++];
	Etcdserverpb__RequestOp *const *ops = ok ? r->success : r->failure;
	size_t n = ok ? r->n_success : r->n_failure;
	resp->succeeded = ok;
	resp->n_responses = n;
	resp->responses = n ? store_mvcc_arena_alloc(a, n * sizeof(*resp->responses)) : NULL;
	if (n && !resp->responses)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		Etcdserverpb__ResponseOp *ro = store_mvcc_arena_alloc(a, sizeof(*ro));
		if (!ro)
			return -ENOMEM;
		etcdserverpb__response_op__init(ro);
		resp->responses[i] = ro;
		int rc = 0;
		switch (op->request_case) {
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
			rc = mvcc__range(t->v, txn__cur_rev(t), op->request_range, a,
			                 &ro->response_range);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
			rc = txn__put(t->b, op->request_put, a, &ro->response_put);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
			ro->response_case =
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
			rc = txn__delete(t->b, op->request_delete_range, a,
			                 &ro->response_delete_range);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
			Etcdserverpb__TxnResponse *sub = store_mvcc_arena_alloc(a, sizeof(*sub));
			if (!sub)
				return -ENOMEM;
			etcdserverpb__txn_response__init(sub);
			/* newTxnResp: nested txns get an empty header. */
			sub->header = mvcc__header(a, 0);
			if (!sub->header)
				return -ENOMEM;
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
			ro->response_txn = sub;
			rc = txn__exec(t, op->request_txn, pi, a, sub);
			break;
		}
		default:
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* The whole txn after the caller's alarm and quota decisions. */
static int txn__run(struct txn_run *t, const Etcdserverpb__TxnRequest *r,
                    struct store_mvcc_arena *a, Etcdserverpb__TxnResponse **out)
{
	int rc = txn__compute_path(t, r);
	if (rc)
		return rc;
	size_t pi = 0;
	if (!store_mvcc_txn_is_readonly(r) && (rc = txn__check_path(t, r, &pi, true)))
		return rc;
	pi = 0;
	if ((rc = txn__check_path(t, r, &pi, false)))
		return rc;
	Etcdserverpb__TxnResponse *resp = store_mvcc_arena_alloc(a, sizeof(*resp));
	if (!resp)
		return -ENOMEM;
	etcdserverpb__txn_response__init(resp);
	pi = 0;
	rc = txn__exec(t, r, &pi, a, resp);
	if (rc)
		return rc;
	resp->header = mvcc__header(a, txn__cur_rev(t));
	if (!resp->header)
		return -ENOMEM;
	*out = resp;
	return 0;
}

static bool is_etcd_error(int rc)
{
	return rc <= STORE_MVCC_EEMPTY_KEY && rc >= STORE_MVCC_ECORRUPT;
}

int store_mvcc_txn(struct store_mvcc_batch *b, const Etcdserverpb__TxnRequest *req,
                   struct store_mvcc_arena *arena, Etcdserverpb__TxnResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	rc = mvcc__check_txn_all(b->s, req, &b->scratch);
	if (rc)
		return is_etcd_error(rc) ? rc : mvcc__fail(b, rc);
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	int64_t cost = store_mvcc_cost_txn(req);
	if (b->nospace && cost > 0)
		return STORE_MVCC_ENOSPACE;
	/* Under a NOSPACE alarm etcd's capped applier skips the quota check. */
	bool ok = b->nospace || mvcc__available(b->s, cost);
	struct txn_run t = {.b = b, .v = &b->v, .pre_rev = b->begin_rev, .tmp = &b->scratch};
	rc = txn__run(&t, req, arena, resp);
	if (rc) {
		/* Before the first change an etcd error is clean; after it, only a
		 * storage error can happen, which fails the batch. */
		if (!is_etcd_error(rc) || b->changes > 0)
			return mvcc__fail(b, rc);
		return rc;
	}
	mvcc__req_end(b);
	return ok ? 0 : STORE_MVCC_ENOSPACE;
}

int store_mvcc_txn_read(struct store_mvcc_read *rd, const Etcdserverpb__TxnRequest *req,
                        struct store_mvcc_arena *arena, Etcdserverpb__TxnResponse **resp)
{
	if (!store_mvcc_txn_is_readonly(req))
		return -EINVAL;
	struct store_mvcc_arena tmp;
	store_mvcc_arena_init(&tmp, 0);
	int rc = mvcc__check_txn_all(rd->v.s, req, &tmp);
	if (!rc) {
		struct txn_run t = {.v = &rd->v, .pre_rev = rd->st.rev, .tmp = &tmp};
		rc = txn__run(&t, req, arena, resp);
	}
	store_mvcc_arena_destroy(&tmp);
	return rc;
}
