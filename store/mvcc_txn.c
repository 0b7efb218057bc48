/*
 * store/mvcc_txn.c - Put, DeleteRange and Txn requests, and etcd's request
 * checks.
 *
 * Checks (etcdserver/api/v3rpc/key.go): checkTxnRequest, then
 * checkIntervals on each branch. The interval check keeps etcd's exact
 * evaluation order, which is observable: the puts of a nested txn are
 * checked against the deletes of this level and of the nested txns before
 * it, not after it ([txn{put k}, txn{del k}] passes, the reverse fails).
 * A DeleteRange whose range_end is "\0" becomes etcd's interval
 * [key, "\0"), which is empty, so it never conflicts with a put (etcd
 * accepts a from-key delete and a put of a key in it in one txn).
 *
 * Apply (etcdserver/apply.go): the compares of the txn and of every nested
 * txn on the taken path are evaluated first, on the state before the txn
 * (compareToPath); then checkPut (ignore_* on missing keys, unknown
 * leases) and checkRange (revisions) over the taken path; only then are the
 * ops executed, in order, each seeing the previous ones' writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

/* ------------------------------------------------------------------------
 * Request checks
 * ------------------------------------------------------------------------ */

int store_mvcc_check_range(struct store_mvcc *s, const Etcdserverpb__RangeRequest *r)
{
	(void)s;
	return r->key.len == 0 ? STORE_MVCC_EEMPTY_KEY : 0;
}

int mvcc__check_put(struct store_mvcc *s, const Etcdserverpb__PutRequest *r)
{
	if (r->key.len == 0)
		return STORE_MVCC_EEMPTY_KEY;
	if (r->ignore_value && r->value.len != 0)
		return STORE_MVCC_EVALUE_PROVIDED;
	if (r->ignore_lease && r->lease != 0)
		return STORE_MVCC_ELEASE_PROVIDED;
	if (r->key.len + r->value.len > s->o.max_request_bytes)
		return STORE_MVCC_EREQUEST_TOO_LARGE;
	return 0;
}

int store_mvcc_check_put(struct store_mvcc *s, const Etcdserverpb__PutRequest *r)
{
	return mvcc__check_put(s, r);
}

int store_mvcc_check_delete_range(struct store_mvcc *s, const Etcdserverpb__DeleteRangeRequest *r)
{
	(void)s;
	return r->key.len == 0 ? STORE_MVCC_EEMPTY_KEY : 0;
}

static int txn__check(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r, size_t max_ops);

static int txn__check_op(struct store_mvcc *s, const Etcdserverpb__RequestOp *op, size_t max_ops)
{
	switch (op->request_case) {
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
		if (op->request_range)
			return store_mvcc_check_range(s, op->request_range);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
		if (op->request_put)
			return mvcc__check_put(s, op->request_put);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		if (op->request_delete_range)
			return store_mvcc_check_delete_range(s, op->request_delete_range);
		break;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
		if (op->request_txn)
			return txn__check(s, op->request_txn, max_ops);
		break;
	default:
		break;
	}
	/* An empty RequestOp: etcd answers ErrGRPCKeyNotFound. */
	return STORE_MVCC_EKEY_NOT_FOUND;
}

static int txn__check(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r, size_t max_ops)
{
	size_t opc = r->n_compare;
	if (opc < r->n_success)
		opc = r->n_success;
	if (opc < r->n_failure)
		opc = r->n_failure;
	if (opc > max_ops)
		return STORE_MVCC_ETOO_MANY_OPS;
	for (size_t i = 0; i < r->n_compare; i++)
		if (!r->compare[i] || r->compare[i]->key.len == 0)
			return STORE_MVCC_EEMPTY_KEY;
	/* Nested txns get what is left of the budget, as in etcd. */
	for (size_t i = 0; i < r->n_success; i++) {
		int rc = txn__check_op(s, r->success[i], max_ops - opc);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < r->n_failure; i++) {
		int rc = txn__check_op(s, r->failure[i], max_ops - opc);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- checkIntervals ---- */

/* etcd's StringAffineComparable: the empty string is +infinity. */
static int aff_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen == 0)
		return blen == 0 ? 0 : 1;
	if (blen == 0)
		return -1;
	return mvcc__bytes_cmp(a, alen, b, blen);
}

struct ivl {
	const uint8_t *b, *e;
	size_t blen, elen;
	bool point; /* [b, b + "\0"): end is implied */
};

struct ivl_set {
	struct ivl *v;
	size_t n, cap;
	/* Query index: sorted by begin, prefix maximum of ends. */
	struct ivl *sorted;
	size_t *maxend; /* index into sorted of the max end so far */
	size_t built;   /* n at the last build */
};

struct key_set {
	ProtobufCBinaryData *slots;
	size_t cap, n;
};

struct ivl_ctx {
	struct store_mvcc_arena *a;
};

static uint64_t key_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static int key_set_add(struct ivl_ctx *c, struct key_set *s, const uint8_t *p, size_t len,
                       bool *had)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		ProtobufCBinaryData *slots = store_mvcc_arena_alloc(c->a, cap * sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		memset(slots, 0, cap * sizeof(*slots));
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slots[i].data)
				continue;
			size_t j = key_hash(s->slots[i].data, s->slots[i].len) & (cap - 1);
			while (slots[j].data)
				j = (j + 1) & (cap - 1);
			slots[j] = s->slots[i];
		}
		s->slots = slots;
		s->cap = cap;
	}
	size_t j = key_hash(p, len) & (s->cap - 1);
	while (s->slots[j].data) {
		if (s->slots[j].len == len && !memcmp(s->slots[j].data, p, len)) {
			*had = true;
			return 0;
		}
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j].data = (uint8_t *)p;
	s->slots[j].len = len;
	s->n++;
	*had = false;
	return 0;
}

static bool key_set_has(const struct key_set *s, const uint8_t *p, size_t len)
{
	if (!s->cap)
		return false;
	size_t j = key_hash(p, len) & (s->cap - 1);
	while (s->slots[j].data) {
		if (s->slots[j].len == len && !memcmp(s->slots[j].data, p, len))
			return true;
		j = (j + 1) & (s->cap - 1);
	}
	return false;
}

static int ivl_add(struct ivl_ctx *c, struct ivl_set *s, const struct ivl *iv)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct ivl *v = store_mvcc_arena_alloc(c->a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (s->n)
			memcpy(v, s->v, s->n * sizeof(*v));
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *iv;
	return 0;
}

static int ivl_begin_cmp(const void *x, const void *y)
{
	const struct ivl *a = x, *b = y;
	return aff_cmp(a->b, a->blen, b->b, b->blen);
}

/* Is point k inside [b, e)? With e affine, and a point interval's end
 * being b + "\0". The point [k, k+"\0") overlaps [b, e) exactly when
 * b <= k < e (etcd's Interval.Compare). */
static bool ivl_end_gt(const struct ivl *iv, const uint8_t *k, size_t klen)
{
	if (iv->point) /* end = b + "\0" > k  <=>  b >= k */
		return aff_cmp(iv->b, iv->blen, k, klen) >= 0;
	return aff_cmp(iv->e, iv->elen, k, klen) > 0;
}

/* Compares the ends of two intervals (for the prefix maximum). */
static int ivl_end_cmp(const struct ivl *x, const struct ivl *y)
{
	if (x->point && y->point)
		return aff_cmp(x->b, x->blen, y->b, y->blen);
	if (!x->point && !y->point)
		return aff_cmp(x->e, x->elen, y->e, y->elen);
	/* One point end p+"\0" against a plain end e. */
	const struct ivl *p = x->point ? x : y, *q = x->point ? y : x;
	int c; /* sign of (p.b + "\0") - q.e */
	if (q->elen == 0)
		c = -1;
	else {
		int d = mvcc__bytes_cmp(p->b, p->blen, q->e, q->elen);
		/* p.b < e: p.b+"\0" <= e, equal iff e == p.b+"\0". */
		if (d < 0)
			c = (q->elen == p->blen + 1 && !memcmp(q->e, p->b, p->blen) &&
			     q->e[p->blen] == 0)
			        ? 0
			        : -1;
		else
			c = 1;
	}
	return x->point ? c : -c;
}

static int ivl_build(struct ivl_ctx *c, struct ivl_set *s)
{
	if (s->built == s->n && s->sorted)
		return 0;
	s->sorted = store_mvcc_arena_alloc(c->a, (s->n + 1) * sizeof(*s->sorted));
	s->maxend = store_mvcc_arena_alloc(c->a, (s->n + 1) * sizeof(*s->maxend));
	if (!s->sorted || !s->maxend)
		return -ENOMEM;
	if (s->n)
		memcpy(s->sorted, s->v, s->n * sizeof(*s->v));
	qsort(s->sorted, s->n, sizeof(*s->sorted), ivl_begin_cmp);
	for (size_t i = 0; i < s->n; i++) {
		size_t m = i;
		if (i > 0 && ivl_end_cmp(&s->sorted[s->maxend[i - 1]], &s->sorted[i]) > 0)
			m = s->maxend[i - 1];
		s->maxend[i] = m;
	}
	s->built = s->n;
	return 0;
}

static int ivl_intersects(struct ivl_ctx *c, struct ivl_set *s, const uint8_t *k, size_t klen,
                          bool *hit)
{
	*hit = false;
	if (s->n == 0)
		return 0;
	int rc = ivl_build(c, s);
	if (rc)
		return rc;
	/* Last interval with begin <= k. */
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (aff_cmp(s->sorted[mid].b, s->sorted[mid].blen, k, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	*hit = ivl_end_gt(&s->sorted[s->maxend[lo - 1]], k, klen);
	return 0;
}

struct ivl_result {
	struct key_set puts;
	struct ivl_set dels;
};

static int check_intervals(struct ivl_ctx *c, Etcdserverpb__RequestOp *const *reqs, size_t n,
                           struct ivl_result *out);

/* Checks each put of `from` against puts and dels, adding it to puts.
 * safe: puts of the then-branch, which the else-branch may repeat. */
static int ivl_merge_puts(struct ivl_ctx *c, const struct key_set *from, struct key_set *puts,
                          struct ivl_set *dels, const struct key_set *safe)
{
	for (size_t i = 0; i < from->cap; i++) {
		const ProtobufCBinaryData *k = &from->slots[i];
		if (!k->data)
			continue;
		if (key_set_has(puts, k->data, k->len) &&
		    !(safe && key_set_has(safe, k->data, k->len)))
			return STORE_MVCC_EDUPLICATE_KEY;
		bool hit, had;
		int rc = ivl_intersects(c, dels, k->data, k->len, &hit);
		if (rc)
			return rc;
		if (hit)
			return STORE_MVCC_EDUPLICATE_KEY;
		rc = key_set_add(c, puts, k->data, k->len, &had);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_intervals(struct ivl_ctx *c, Etcdserverpb__RequestOp *const *reqs, size_t n,
                           struct ivl_result *out)
{
	memset(out, 0, sizeof(*out));
	int rc;
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case !=
		        ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE ||
		    !reqs[i]->request_delete_range)
			continue;
		const Etcdserverpb__DeleteRangeRequest *d = reqs[i]->request_delete_range;
		struct ivl iv = {.b = d->key.data, .blen = d->key.len};
		if (d->range_end.len) {
			iv.e = d->range_end.data;
			iv.elen = d->range_end.len;
		} else {
			iv.point = true;
		}
		if ((rc = ivl_add(c, &out->dels, &iv)))
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN ||
		    !reqs[i]->request_txn)
			continue;
		const Etcdserverpb__TxnRequest *t = reqs[i]->request_txn;
		struct ivl_result then_r, else_r;
		if ((rc = check_intervals(c, t->success, t->n_success, &then_r)) ||
		    (rc = check_intervals(c, t->failure, t->n_failure, &else_r)))
			return rc;
		if ((rc = ivl_merge_puts(c, &then_r.puts, &out->puts, &out->dels, NULL)) ||
		    (rc = ivl_merge_puts(c, &else_r.puts, &out->puts, &out->dels, &then_r.puts)))
			return rc;
		for (size_t j = 0; j < then_r.dels.n; j++)
			if ((rc = ivl_add(c, &out->dels, &then_r.dels.v[j])))
				return rc;
		for (size_t j = 0; j < else_r.dels.n; j++)
			if ((rc = ivl_add(c, &out->dels, &else_r.dels.v[j])))
				return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT ||
		    !reqs[i]->request_put)
			continue;
		const ProtobufCBinaryData *k = &reqs[i]->request_put->key;
		if (key_set_has(&out->puts, k->data, k->len))
			return STORE_MVCC_EDUPLICATE_KEY;
		bool hit, had;
		if ((rc = ivl_intersects(c, &out->dels, k->data, k->len, &hit)))
			return rc;
		if (hit)
			return STORE_MVCC_EDUPLICATE_KEY;
		if ((rc = key_set_add(c, &out->puts, k->data, k->len, &had)))
			return rc;
	}
	return 0;
}

static int txn__check_all(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r,
                          struct store_mvcc_arena *a)
{
	int rc = txn__check(s, r, s->o.max_txn_ops);
	if (rc)
		return rc;
	struct ivl_ctx c = {.a = a};
	struct ivl_result res;
	rc = check_intervals(&c, r->success, r->n_success, &res);
	if (!rc)
		rc = check_intervals(&c, r->failure, r->n_failure, &res);
	return rc;
}

int store_mvcc_check_txn(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r)
{
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	int rc = txn__check_all(s, r, &a);
	store_mvcc_arena_destroy(&a);
	return rc;
}

bool store_mvcc_txn_is_readonly(const Etcdserverpb__TxnRequest *r)
{
	for (size_t i = 0; i < r->n_success; i++)
		if (r->success[i]->request_case !=
		        ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE ||
		    !r->success[i]->request_range)
			return false;
	for (size_t i = 0; i < r->n_failure; i++)
		if (r->failure[i]->request_case !=
		        ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE ||
		    !r->failure[i]->request_range)
			return false;
	return true;
}

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
	rc = txn__check_all(b->s, req, &b->scratch);
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
	int rc = txn__check_all(rd->v.s, req, &tmp);
	if (!rc) {
		struct txn_run t = {.v = &rd->v, .pre_rev = rd->st.rev, .tmp = &tmp};
		rc = txn__run(&t, req, arena, resp);
	}
	store_mvcc_arena_destroy(&tmp);
	return rc;
}

/* ------------------------------------------------------------------------
 * Quota costs (etcdserver/quota.go)
 * ------------------------------------------------------------------------ */

int64_t store_mvcc_cost_put(const Etcdserverpb__PutRequest *req)
{
	return 256 + (int64_t)req->key.len + (int64_t)req->value.len;
}

static int64_t cost_ops(Etcdserverpb__RequestOp *const *ops, size_t n)
{
	int64_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT &&
		    ops[i]->request_put)
			c += store_mvcc_cost_put(ops[i]->request_put);
	return c;
}

int64_t store_mvcc_cost_txn(const Etcdserverpb__TxnRequest *req)
{
	int64_t s = cost_ops(req->success, req->n_success);
	int64_t f = cost_ops(req->failure, req->n_failure);
	return f > s ? f : s;
}
