/*
 * tests/store_mvcc/model.c - see model.h. Each function names the etcd
 * function it follows; simplicity over speed everywhere.
 */
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h" /* mvcc__sort_kvs only */

struct mentry {
	int64_t main, sub;
	bool tomb;
	ProtobufCBinaryData key, val;
	int64_t create, version, lease;
};

struct model {
	struct mentry *h;
	size_t n, cap;
	int64_t rev, compact;
	int64_t *leases;
	size_t n_leases, cap_leases;
	/* The write txn being applied (etcd's storeTxnWrite). */
	int64_t begin, changes;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

static ProtobufCBinaryData bdup(ProtobufCBinaryData b)
{
	ProtobufCBinaryData d = {b.len, NULL};
	if (b.len) {
		d.data = xrealloc(NULL, b.len);
		memcpy(d.data, b.data, b.len);
	}
	return d;
}

static int bcmp_(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

static int bcmp_bin(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	return bcmp_(a.data, a.len, b.data, b.len);
}

struct model *model_new(void)
{
	struct model *m = calloc(1, sizeof(*m));
	m->rev = 1;
	m->compact = -1;
	return m;
}

void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->h[i].key.data);
		free(m->h[i].val.data);
	}
	free(m->h);
	free(m->leases);
	free(m);
}

int64_t model_rev(const struct model *m)
{
	return m->rev;
}

int64_t model_compact_rev(const struct model *m)
{
	return m->compact;
}

/* The latest history entry of key with main <= rev (any sub), or NULL. */
static struct mentry *state_at(struct model *m, ProtobufCBinaryData key, int64_t rev)
{
	for (size_t i = m->n; i-- > 0;)
		if (m->h[i].main <= rev && bcmp_bin(m->h[i].key, key) == 0)
			return &m->h[i];
	return NULL;
}

static struct mentry *live_at(struct model *m, ProtobufCBinaryData key, int64_t rev)
{
	struct mentry *e = state_at(m, key, rev);
	return e && !e->tomb ? e : NULL;
}

static void *aalloc(struct store_mvcc_arena *a, size_t n)
{
	void *p = store_mvcc_arena_alloc(a, n);
	if (!p)
		abort();
	memset(p, 0, n);
	return p;
}

static Mvccpb__KeyValue *kv_of(struct store_mvcc_arena *a, const struct mentry *e)
{
	Mvccpb__KeyValue *kv = aalloc(a, sizeof(*kv));
	mvccpb__key_value__init(kv);
	kv->key = e->key;
	kv->value = e->val;
	kv->create_revision = e->create;
	kv->mod_revision = e->main;
	kv->version = e->version;
	kv->lease = e->lease;
	return kv;
}

static Etcdserverpb__ResponseHeader *hdr(struct store_mvcc_arena *a, int64_t rev)
{
	Etcdserverpb__ResponseHeader *h = aalloc(a, sizeof(*h));
	etcdserverpb__response_header__init(h);
	h->revision = rev;
	return h;
}

/* The distinct keys of the range (mkGteRange conventions) that are live at
 * rev, sorted. */
static size_t keys_in(struct model *m, ProtobufCBinaryData key, ProtobufCBinaryData end,
                      int64_t rev, struct mentry ***out)
{
	bool single = end.len == 0;
	bool unbounded = end.len == 1 && end.data[0] == 0;
	struct mentry **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++) {
		ProtobufCBinaryData k = m->h[i].key;
		if (single ? bcmp_bin(k, key) != 0
		           : (bcmp_bin(k, key) < 0 || (!unbounded && bcmp_bin(k, end) >= 0)))
			continue;
		bool seen = false;
		for (size_t j = 0; j < n && !seen; j++)
			seen = bcmp_bin(v[j]->key, k) == 0;
		if (seen)
			continue;
		struct mentry *e = live_at(m, k, rev);
		if (!e)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = e;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && bcmp_bin(v[j - 1]->key, v[j]->key) > 0; j--) {
			struct mentry *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	return n;
}

/* applierV3backend.Range over rangeKeys at current revision cur. */
static int range_at(struct model *m, const Etcdserverpb__RangeRequest *r, int64_t cur,
                    struct store_mvcc_arena *a, Etcdserverpb__RangeResponse **out)
{
	int64_t rev = r->revision;
	if (rev > cur)
		return STORE_MVCC_EFUTURE_REV;
	if (rev <= 0)
		rev = cur;
	if (rev < m->compact)
		return STORE_MVCC_ECOMPACTED;
	int64_t limit = r->limit;
	if (r->sort_order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE || r->min_mod_revision ||
	    r->max_mod_revision || r->min_create_revision || r->max_create_revision)
		limit = 0;
	if (limit > 0)
		limit++;
	struct mentry **es;
	size_t total = keys_in(m, r->key, r->range_end, rev, &es);
	Etcdserverpb__RangeResponse *resp = aalloc(a, sizeof(*resp));
	etcdserverpb__range_response__init(resp);
	resp->header = hdr(a, cur);
	resp->count = (int64_t)total;
	if (r->count_only || total == 0) {
		free(es);
		*out = resp;
		return 0;
	}
	size_t n = limit > 0 && (size_t)limit < total ? (size_t)limit : total;
	Mvccpb__KeyValue **kvs = aalloc(a, n * sizeof(*kvs));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		Mvccpb__KeyValue *kv = kv_of(a, es[i]);
		if (r->max_mod_revision && kv->mod_revision > r->max_mod_revision)
			continue;
		if (r->min_mod_revision && kv->mod_revision < r->min_mod_revision)
			continue;
		if (r->max_create_revision && kv->create_revision > r->max_create_revision)
			continue;
		if (r->min_create_revision && kv->create_revision < r->min_create_revision)
			continue;
		kvs[k++] = kv;
	}
	free(es);
	Etcdserverpb__RangeRequest__SortOrder order = r->sort_order;
	if (r->sort_target != ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
	    order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
		order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	if (order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND ||
	    order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND)
		mvcc__sort_kvs(kvs, k, r->sort_target,
		               order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);
	if (r->limit > 0 && k > (size_t)r->limit) {
		k = (size_t)r->limit;
		resp->more = true;
	}
	if (r->keys_only)
		for (size_t i = 0; i < k; i++)
			kvs[i]->value = (ProtobufCBinaryData){0, NULL};
	resp->kvs = kvs;
	resp->n_kvs = k;
	*out = resp;
	return 0;
}

int model_range(struct model *m, const Etcdserverpb__RangeRequest *r, struct store_mvcc_arena *a,
                Etcdserverpb__RangeResponse **out)
{
	if (r->key.len == 0)
		return STORE_MVCC_EEMPTY_KEY;
	return range_at(m, r, m->rev, a, out);
}

/* ---- writes: storeTxnWrite ---- */

static void txn_begin(struct model *m)
{
	m->begin = m->rev;
	m->changes = 0;
}

static int64_t txn_cur(const struct model *m)
{
	return m->begin + (m->changes > 0);
}

static void txn_end(struct model *m)
{
	if (m->changes)
		m->rev = m->begin + 1;
}

static void append(struct model *m, struct mentry e)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->h = xrealloc(m->h, m->cap * sizeof(*m->h));
	}
	m->h[m->n++] = e;
}

static void w_put(struct model *m, ProtobufCBinaryData key, ProtobufCBinaryData val, int64_t lease)
{
	int64_t rev = m->begin + 1;
	struct mentry *old = live_at(m, key, rev);
	struct mentry e = {
	    .main = rev, .sub = m->changes, .key = bdup(key), .val = bdup(val), .lease = lease};
	e.create = old ? old->create : rev;
	e.version = old ? old->version + 1 : 1;
	append(m, e);
	m->changes++;
}

static void w_delete(struct model *m, ProtobufCBinaryData key)
{
	struct mentry e = {.main = m->begin + 1, .sub = m->changes, .tomb = true, .key = bdup(key)};
	append(m, e);
	m->changes++;
}

/* apply.go Put with a txn. */
static void t_put(struct model *m, const Etcdserverpb__PutRequest *p, struct store_mvcc_arena *a,
                  Etcdserverpb__PutResponse **out)
{
	Etcdserverpb__PutResponse *resp = aalloc(a, sizeof(*resp));
	etcdserverpb__put_response__init(resp);
	ProtobufCBinaryData val = p->value;
	int64_t lease = p->lease;
	struct mentry *cur = live_at(m, p->key, txn_cur(m));
	if (cur && p->ignore_value)
		val = cur->val;
	if (cur && p->ignore_lease)
		lease = cur->lease;
	if (!cur && p->ignore_value)
		val = (ProtobufCBinaryData){0, NULL}; /* etcd panics; cairn's rule */
	if (!cur && p->ignore_lease)
		lease = 0;
	if (cur && p->prev_kv)
		resp->prev_kv = kv_of(a, cur);
	/* val may point into history that append() moves: copy first. */
	ProtobufCBinaryData v = {val.len, NULL};
	if (val.len) {
		v.data = aalloc(a, val.len);
		memcpy(v.data, val.data, val.len);
	}
	w_put(m, p->key, v, lease);
	resp->header = hdr(a, m->begin + 1);
	*out = resp;
}

/* apply.go DeleteRange with a txn. */
static void t_delete(struct model *m, const Etcdserverpb__DeleteRangeRequest *d,
                     struct store_mvcc_arena *a, Etcdserverpb__DeleteRangeResponse **out)
{
	Etcdserverpb__DeleteRangeResponse *resp = aalloc(a, sizeof(*resp));
	etcdserverpb__delete_range_response__init(resp);
	struct mentry **es;
	size_t n = keys_in(m, d->key, d->range_end, txn_cur(m), &es);
	if (d->prev_kv && n) {
		resp->prev_kvs = aalloc(a, n * sizeof(*resp->prev_kvs));
		for (size_t i = 0; i < n; i++)
			resp->prev_kvs[i] = kv_of(a, es[i]);
		resp->n_prev_kvs = n;
	}
	ProtobufCBinaryData *ks = aalloc(a, (n + 1) * sizeof(*ks));
	for (size_t i = 0; i < n; i++)
		ks[i] = es[i]->key; /* points into history: copy below */
	for (size_t i = 0; i < n; i++) {
		ProtobufCBinaryData k = {ks[i].len, aalloc(a, ks[i].len + 1)};
		memcpy(k.data, ks[i].data, ks[i].len);
		ks[i] = k;
	}
	free(es);
	for (size_t i = 0; i < n; i++)
		w_delete(m, ks[i]);
	resp->deleted = (int64_t)n;
	resp->header = hdr(a, (n || m->changes) ? m->begin + 1 : m->begin);
	*out = resp;
}

bool model_lease_exists(const struct model *m, int64_t id)
{
	for (size_t i = 0; i < m->n_leases; i++)
		if (m->leases[i] == id)
			return true;
	return false;
}

static int check_put(const Etcdserverpb__PutRequest *p)
{
	if (p->key.len == 0)
		return STORE_MVCC_EEMPTY_KEY;
	if (p->ignore_value && p->value.len)
		return STORE_MVCC_EVALUE_PROVIDED;
	if (p->ignore_lease && p->lease)
		return STORE_MVCC_ELEASE_PROVIDED;
	return 0;
}

int model_put(struct model *m, const Etcdserverpb__PutRequest *r, struct store_mvcc_arena *a,
              Etcdserverpb__PutResponse **out)
{
	int rc = check_put(r);
	if (rc)
		return rc;
	if (r->lease && !model_lease_exists(m, r->lease))
		return STORE_MVCC_ELEASE_NOT_FOUND;
	if ((r->ignore_value || r->ignore_lease) && !live_at(m, r->key, m->rev))
		return STORE_MVCC_EKEY_NOT_FOUND;
	txn_begin(m);
	t_put(m, r, a, out);
	txn_end(m);
	return 0;
}

int model_delete_range(struct model *m, const Etcdserverpb__DeleteRangeRequest *r,
                       struct store_mvcc_arena *a, Etcdserverpb__DeleteRangeResponse **out)
{
	if (r->key.len == 0)
		return STORE_MVCC_EEMPTY_KEY;
	txn_begin(m);
	t_delete(m, r, a, out);
	txn_end(m);
	return 0;
}

/* ---- txn: key.go checks ---- */

static int check_txn(const Etcdserverpb__TxnRequest *r, int max);

static int check_op(const Etcdserverpb__RequestOp *u, int max)
{
	switch (u->request_case) {
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
		return u->request_range->key.len ? 0 : STORE_MVCC_EEMPTY_KEY;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
		return check_put(u->request_put);
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		return u->request_delete_range->key.len ? 0 : STORE_MVCC_EEMPTY_KEY;
	case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
		return check_txn(u->request_txn, max);
	default:
		return STORE_MVCC_EKEY_NOT_FOUND;
	}
}

static int check_txn(const Etcdserverpb__TxnRequest *r, int max)
{
	int opc = (int)r->n_compare;
	if (opc < (int)r->n_success)
		opc = (int)r->n_success;
	if (opc < (int)r->n_failure)
		opc = (int)r->n_failure;
	if (opc > max)
		return STORE_MVCC_ETOO_MANY_OPS;
	for (size_t i = 0; i < r->n_compare; i++)
		if (r->compare[i]->key.len == 0)
			return STORE_MVCC_EEMPTY_KEY;
	for (size_t i = 0; i < r->n_success; i++) {
		int rc = check_op(r->success[i], max - opc);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < r->n_failure; i++) {
		int rc = check_op(r->failure[i], max - opc);
		if (rc)
			return rc;
	}
	return 0;
}

/* adt.StringAffineComparable and Interval.Compare, literally. */
static int aff(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	if (a.len == 0)
		return b.len == 0 ? 0 : 1;
	if (b.len == 0)
		return -1;
	return bcmp_bin(a, b);
}

struct ivl {
	ProtobufCBinaryData b, e;
};

static int ivl_compare(const struct ivl *x, const struct ivl *y)
{
	int bb = aff(x->b, y->b), be = aff(x->b, y->e), eb = aff(x->e, y->b);
	if (bb < 0 && eb <= 0)
		return -1;
	if (be >= 0)
		return 1;
	return 0;
}

struct ivset {
	struct ivl *v;
	size_t n;
};

struct kset {
	ProtobufCBinaryData *v;
	size_t n;
};

static bool kset_has(const struct kset *s, ProtobufCBinaryData k)
{
	for (size_t i = 0; i < s->n; i++)
		if (bcmp_bin(s->v[i], k) == 0)
			return true;
	return false;
}

static void kset_add(struct store_mvcc_arena *a, struct kset *s, ProtobufCBinaryData k)
{
	if (kset_has(s, k))
		return;
	ProtobufCBinaryData *v = aalloc(a, (s->n + 1) * sizeof(*v));
	if (s->n)
		memcpy(v, s->v, s->n * sizeof(*v));
	v[s->n++] = k;
	s->v = v;
}

static void ivset_add(struct store_mvcc_arena *a, struct ivset *s, struct ivl iv)
{
	struct ivl *v = aalloc(a, (s->n + 1) * sizeof(*v));
	if (s->n)
		memcpy(v, s->v, s->n * sizeof(*v));
	v[s->n++] = iv;
	s->v = v;
}

static struct ivl point(struct store_mvcc_arena *a, ProtobufCBinaryData k)
{
	struct ivl p = {.b = k};
	p.e.len = k.len + 1;
	p.e.data = aalloc(a, k.len + 1);
	if (k.len)
		memcpy(p.e.data, k.data, k.len);
	p.e.data[k.len] = 0;
	return p;
}

static bool intersects(struct store_mvcc_arena *a, const struct ivset *s, ProtobufCBinaryData k)
{
	struct ivl p = point(a, k);
	for (size_t i = 0; i < s->n; i++)
		if (ivl_compare(&p, &s->v[i]) == 0)
			return true;
	return false;
}

static int check_intervals(struct store_mvcc_arena *a, Etcdserverpb__RequestOp **reqs, size_t n,
                           struct kset *puts, struct ivset *dels)
{
	memset(puts, 0, sizeof(*puts));
	memset(dels, 0, sizeof(*dels));
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE)
			continue;
		const Etcdserverpb__DeleteRangeRequest *d = reqs[i]->request_delete_range;
		struct ivl iv =
		    d->range_end.len ? (struct ivl){d->key, d->range_end} : point(a, d->key);
		ivset_add(a, dels, iv);
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
			continue;
		const Etcdserverpb__TxnRequest *t = reqs[i]->request_txn;
		struct kset pt, pe;
		struct ivset dt, de;
		int rc = check_intervals(a, t->success, t->n_success, &pt, &dt);
		if (!rc)
			rc = check_intervals(a, t->failure, t->n_failure, &pe, &de);
		if (rc)
			return rc;
		for (size_t j = 0; j < pt.n; j++) {
			if (kset_has(puts, pt.v[j]) || intersects(a, dels, pt.v[j]))
				return STORE_MVCC_EDUPLICATE_KEY;
			kset_add(a, puts, pt.v[j]);
		}
		for (size_t j = 0; j < pe.n; j++) {
			if (kset_has(puts, pe.v[j]) && !kset_has(&pt, pe.v[j]))
				return STORE_MVCC_EDUPLICATE_KEY;
			if (intersects(a, dels, pe.v[j]))
				return STORE_MVCC_EDUPLICATE_KEY;
			kset_add(a, puts, pe.v[j]);
		}
		for (size_t j = 0; j < dt.n; j++)
			ivset_add(a, dels, dt.v[j]);
		for (size_t j = 0; j < de.n; j++)
			ivset_add(a, dels, de.v[j]);
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
			continue;
		ProtobufCBinaryData k = reqs[i]->request_put->key;
		if (kset_has(puts, k) || intersects(a, dels, k))
			return STORE_MVCC_EDUPLICATE_KEY;
		kset_add(a, puts, k);
	}
	return 0;
}

/* ---- txn: apply.go ---- */

static bool compare_kv(const Etcdserverpb__Compare *c, const Mvccpb__KeyValue *kv)
{
	int result = 0;
	int64_t rev = 0;
	switch (c->target) {
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE: {
		ProtobufCBinaryData v = {0, NULL};
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE)
			v = c->value;
		result = bcmp_bin(kv->value, v);
		break;
	}
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION)
			rev = c->create_revision;
		result = kv->create_revision < rev ? -1 : kv->create_revision > rev;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION)
			rev = c->mod_revision;
		result = kv->mod_revision < rev ? -1 : kv->mod_revision > rev;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION)
			rev = c->version;
		result = kv->version < rev ? -1 : kv->version > rev;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
		if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE)
			rev = c->lease;
		result = kv->lease < rev ? -1 : kv->lease > rev;
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
		return true;
	}
}

static bool apply_compare(struct model *m, const Etcdserverpb__Compare *c,
                          struct store_mvcc_arena *a)
{
	struct mentry **es;
	size_t n = keys_in(m, c->key, c->range_end, m->rev, &es);
	bool ok = true;
	if (n == 0) {
		free(es);
		if (c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE)
			return false;
		Mvccpb__KeyValue zero = MVCCPB__KEY_VALUE__INIT;
		return compare_kv(c, &zero);
	}
	for (size_t i = 0; i < n && ok; i++)
		ok = compare_kv(c, kv_of(a, es[i]));
	free(es);
	return ok;
}

struct path {
	bool *v;
	size_t n;
};

static void compare_to_path(struct model *m, const Etcdserverpb__TxnRequest *r,
                            struct store_mvcc_arena *a, struct path *p)
{
	bool ok = true;
	for (size_t i = 0; i < r->n_compare && ok; i++)
		ok = apply_compare(m, r->compare[i], a);
	bool *v = aalloc(a, (p->n + 1) * sizeof(*v));
	if (p->n)
		memcpy(v, p->v, p->n * sizeof(*v));
	v[p->n++] = ok;
	p->v = v;
	Etcdserverpb__RequestOp **ops = ok ? r->success : r->failure;
	size_t n = ok ? r->n_success : r->n_failure;
	for (size_t i = 0; i < n; i++)
		if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
			compare_to_path(m, ops[i]->request_txn, a, p);
}

/* checkRequests: returns the number of nested txns consumed. */
static int check_requests(struct model *m, const Etcdserverpb__TxnRequest *r, const bool *path,
                          bool puts, size_t *consumed, int *err)
{
	Etcdserverpb__RequestOp **ops = path[0] ? r->success : r->failure;
	size_t n = path[0] ? r->n_success : r->n_failure;
	size_t txns = 0;
	const bool *p = path;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN) {
			size_t sub = 0;
			if (check_requests(m, op->request_txn, p + 1, puts, &sub, err))
				return 1;
			txns += sub + 1;
			p += sub + 1;
			continue;
		}
		if (puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT) {
			const Etcdserverpb__PutRequest *pr = op->request_put;
			if ((pr->ignore_value || pr->ignore_lease) &&
			    !live_at(m, pr->key, m->rev)) {
				*err = STORE_MVCC_EKEY_NOT_FOUND;
				return 1;
			}
			if (pr->lease && !model_lease_exists(m, pr->lease)) {
				*err = STORE_MVCC_ELEASE_NOT_FOUND;
				return 1;
			}
		}
		if (!puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) {
			int64_t rev = op->request_range->revision;
			if (rev == 0)
				continue;
			if (rev > m->rev) {
				*err = STORE_MVCC_EFUTURE_REV;
				return 1;
			}
			if (rev < m->compact) {
				*err = STORE_MVCC_ECOMPACTED;
				return 1;
			}
		}
	}
	*consumed = txns;
	return 0;
}

static size_t apply_txn(struct model *m, const Etcdserverpb__TxnRequest *r, const bool *path,
                        struct store_mvcc_arena *a, Etcdserverpb__TxnResponse *resp)
{
	Etcdserverpb__RequestOp **ops = path[0] ? r->success : r->failure;
	size_t n = path[0] ? r->n_success : r->n_failure;
	resp->succeeded = path[0];
	resp->n_responses = n;
	resp->responses = n ? aalloc(a, n * sizeof(*resp->responses)) : NULL;
	size_t txns = 0;
	const bool *p = path;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__RequestOp *op = ops[i];
		Etcdserverpb__ResponseOp *ro = aalloc(a, sizeof(*ro));
		etcdserverpb__response_op__init(ro);
		resp->responses[i] = ro;
		switch (op->request_case) {
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
			if (range_at(m, op->request_range, txn_cur(m), a, &ro->response_range))
				abort(); /* etcd panics; the checks make it impossible */
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
			t_put(m, op->request_put, a, &ro->response_put);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
			ro->response_case =
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
			t_delete(m, op->request_delete_range, a, &ro->response_delete_range);
			break;
		case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
			Etcdserverpb__TxnResponse *sub = aalloc(a, sizeof(*sub));
			etcdserverpb__txn_response__init(sub);
			sub->header = hdr(a, 0);
			ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
			ro->response_txn = sub;
			size_t used = apply_txn(m, op->request_txn, p + 1, a, sub);
			txns += used + 1;
			p += used + 1;
			break;
		}
		default:
			break;
		}
	}
	return txns;
}

static bool txn_readonly(const Etcdserverpb__TxnRequest *r)
{
	for (size_t i = 0; i < r->n_success; i++)
		if (r->success[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE)
			return false;
	for (size_t i = 0; i < r->n_failure; i++)
		if (r->failure[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE)
			return false;
	return true;
}

int model_txn(struct model *m, const Etcdserverpb__TxnRequest *r, struct store_mvcc_arena *a,
              Etcdserverpb__TxnResponse **out)
{
	int rc = check_txn(r, 128);
	if (rc)
		return rc;
	struct kset ks;
	struct ivset is;
	if ((rc = check_intervals(a, r->success, r->n_success, &ks, &is)) ||
	    (rc = check_intervals(a, r->failure, r->n_failure, &ks, &is)))
		return rc;
	struct path path = {0};
	compare_to_path(m, r, a, &path);
	size_t used;
	int err = 0;
	if (!txn_readonly(r) && check_requests(m, r, path.v, true, &used, &err))
		return err;
	if (check_requests(m, r, path.v, false, &used, &err))
		return err;
	Etcdserverpb__TxnResponse *resp = aalloc(a, sizeof(*resp));
	etcdserverpb__txn_response__init(resp);
	txn_begin(m);
	apply_txn(m, r, path.v, a, resp);
	resp->header = hdr(a, txn_cur(m));
	txn_end(m);
	*out = resp;
	return 0;
}

/* ---- compaction (kvstore.go, keyIndex.compact) ---- */

int model_compact(struct model *m, int64_t rev)
{
	if (rev <= m->compact)
		return STORE_MVCC_ECOMPACTED;
	if (rev > m->rev)
		return STORE_MVCC_EFUTURE_REV;
	m->compact = rev;
	bool *drop = calloc(m->n + 1, sizeof(*drop));
	for (size_t i = 0; i < m->n; i++) {
		if (m->h[i].main > rev)
			continue;
		struct mentry *keep = state_at(m, m->h[i].key, rev);
		drop[i] = &m->h[i] != keep || keep->tomb;
	}
	size_t j = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (drop[i]) {
			free(m->h[i].key.data);
			free(m->h[i].val.data);
		} else {
			m->h[j++] = m->h[i];
		}
	}
	m->n = j;
	free(drop);
	return 0;
}

/* ---- leases ---- */

int model_lease_grant(struct model *m, int64_t id)
{
	if (id == 0)
		return STORE_MVCC_ELEASE_NOT_FOUND;
	if (model_lease_exists(m, id))
		return STORE_MVCC_ELEASE_EXISTS;
	m->leases = xrealloc(m->leases, (m->n_leases + 1) * sizeof(*m->leases));
	m->leases[m->n_leases++] = id;
	return 0;
}

int model_lease_revoke(struct model *m, int64_t id)
{
	size_t i;
	for (i = 0; i < m->n_leases && m->leases[i] != id; i++)
		;
	if (i == m->n_leases)
		return STORE_MVCC_ELEASE_NOT_FOUND;
	m->leases[i] = m->leases[--m->n_leases];
	/* lessor.Revoke: the attached keys, sorted, deleted in one txn. */
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	ProtobufCBinaryData all = {1, (uint8_t *)""};
	struct mentry **es;
	ProtobufCBinaryData zero = {1, (uint8_t *)""};
	size_t n = keys_in(m, zero, all, m->rev, &es);
	ProtobufCBinaryData *ks = aalloc(&a, (n + 1) * sizeof(*ks));
	size_t k = 0;
	for (size_t j = 0; j < n; j++)
		if (es[j]->lease == id)
			ks[k++] = bdup(es[j]->key);
	free(es);
	txn_begin(m);
	for (size_t j = 0; j < k; j++) {
		w_delete(m, ks[j]);
		free(ks[j].data);
	}
	txn_end(m);
	store_mvcc_arena_destroy(&a);
	return 0;
}

/* ---- events ---- */

int model_events(struct model *m, int64_t start, struct store_mvcc_arena *a,
                 Mvccpb__Event ***events, size_t *n_out)
{
	if (start < m->compact)
		return STORE_MVCC_ECOMPACTED;
	size_t n = 0;
	Mvccpb__Event **v = aalloc(a, (m->n + 1) * sizeof(*v));
	for (size_t i = 0; i < m->n; i++) {
		const struct mentry *e = &m->h[i];
		if (e->main < start)
			continue;
		Mvccpb__Event *ev = aalloc(a, sizeof(*ev));
		mvccpb__event__init(ev);
		ev->kv = kv_of(a, e);
		if (e->tomb) {
			ev->type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
			ev->kv->create_revision = ev->kv->version = ev->kv->lease = 0;
			ev->kv->value = (ProtobufCBinaryData){0, NULL};
		}
		bool create = !e->tomb && e->create == e->main;
		if (!create && e->main - 1 >= m->compact) {
			struct mentry *p = live_at(m, e->key, e->main - 1);
			if (p)
				ev->prev_kv = kv_of(a, p);
		}
		v[n++] = ev;
	}
	*events = v;
	*n_out = n;
	return 0;
}

/* ---- HashKV (kvstore.go HashByRev) ---- */

static uint32_t crc32c_bitwise(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

int model_hash_kv(struct model *m, int64_t rev, uint32_t *hash)
{
	if (rev > 0 && rev <= m->compact)
		return STORE_MVCC_ECOMPACTED;
	if (rev > 0 && rev > m->rev)
		return STORE_MVCC_EFUTURE_REV;
	if (rev == 0)
		rev = m->rev;
	/* keep: each key's latest revision <= rev, if a put. */
	bool *keep = calloc(m->n + 1, sizeof(*keep));
	size_t n_keep = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct mentry *e = state_at(m, m->h[i].key, rev);
		if (e == &m->h[i] && !e->tomb) {
			keep[i] = true;
			n_keep++;
		}
	}
	uint32_t crc = crc32c_bitwise(0, "key", 3);
	for (size_t i = 0; i < m->n; i++) {
		const struct mentry *e = &m->h[i];
		if (e->main > rev)
			break;
		if (e->main <= m->compact && n_keep > 0 && !keep[i])
			continue;
		uint8_t k[18];
		mvcc__put_be64(k, (uint64_t)e->main);
		k[8] = '_';
		mvcc__put_be64(k + 9, (uint64_t)e->sub);
		k[17] = 't';
		crc = crc32c_bitwise(crc, k, e->tomb ? 18 : 17);
		Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
		kv.key = e->key;
		if (!e->tomb) {
			kv.create_revision = e->create;
			kv.mod_revision = e->main;
			kv.version = e->version;
			kv.value = e->val;
			kv.lease = e->lease;
		}
		size_t len = mvccpb__key_value__get_packed_size(&kv);
		uint8_t *buf = xrealloc(NULL, len);
		mvccpb__key_value__pack(&kv, buf);
		crc = crc32c_bitwise(crc, buf, len);
		free(buf);
	}
	free(keep);
	*hash = crc;
	return 0;
}
