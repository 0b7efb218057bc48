/*
 * store/mvcc_check.c - etcd's request checks (etcdserver/api/v3rpc/key.go):
 * empty keys, ignore_* with a value or lease, the txn op limit, empty
 * RequestOps, and checkIntervals, the duplicate-key rule of txns.
 *
 * The interval check keeps etcd's exact evaluation order, which is
 * observable: the puts of a nested txn are checked against the deletes of
 * this level and of the nested txns before it, not after it ([txn{put k},
 * txn{del k}] passes, the reverse fails). A DeleteRange whose range_end is
 * "\0" becomes etcd's interval [key, "\0"), which is empty, so it never
 * conflicts with a put (etcd accepts a from-key delete and a put of a key
 * in it in one txn). etcd keeps the deletes in an interval tree; here a
 * sorted copy with a running maximum of the ends answers "does any delete
 * cover this key" in O(log n), rebuilt only when deletes were added.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

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

int mvcc__check_txn_all(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r,
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
	int rc = mvcc__check_txn_all(s, r, &a);
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
