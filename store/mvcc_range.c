/*
 * store/mvcc_range.c - Range, as etcd's applierV3backend.Range over
 * storeTxnRead.rangeKeys (etcdserver/apply.go, mvcc/kvstore_txn.go):
 *
 *   1. revision: > current: future-revision error; <= 0: current; below the
 *      compact revision: compacted error.
 *   2. count = every key of the range live at that revision. KeyValues are
 *      fetched for the first limit + 1 keys (key order), or for all of them
 *      when a sort order or a min/max filter is given.
 *   3. the min/max mod/create filters prune the fetched KeyValues;
 *   4. sort (order NONE with a target other than KEY means ASCEND), with
 *      Go's sort.Sort, so ties come out in etcd's order (mvcc_sort.c);
 *   5. truncate to limit, `more` if anything was cut; keys_only drops values.
 *
 * Counting walks only the index; values are read from history only for
 * the KeyValues returned (and for all of them when sorting by value).
 */
#include <errno.h>
#include <string.h>

#include "store/mvcc_internal.h"

Etcdserverpb__ResponseHeader *mvcc__header(struct store_mvcc_arena *a, int64_t rev)
{
	Etcdserverpb__ResponseHeader *h = store_mvcc_arena_alloc(a, sizeof(*h));
	if (!h)
		return NULL;
	etcdserverpb__response_header__init(h);
	h->revision = rev;
	return h;
}

void *mvcc__dup(struct store_mvcc_arena *a, const void *p, size_t len)
{
	if (!len)
		return NULL;
	void *d = store_mvcc_arena_alloc(a, len);
	if (d)
		memcpy(d, p, len);
	return d;
}

int mvcc__make_kv(struct mvcc_view *v, struct store_mvcc_arena *a, const uint8_t *key,
                  size_t key_len, const struct mvcc_irec *r, bool with_value,
                  Mvccpb__KeyValue **out)
{
	Mvccpb__KeyValue *kv = store_mvcc_arena_alloc(a, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	mvccpb__key_value__init(kv);
	kv->key.len = key_len;
	kv->key.data = v->copy ? mvcc__dup(a, key, key_len) : (uint8_t *)key;
	if (key_len && !kv->key.data)
		return -ENOMEM;
	kv->create_revision = r->create;
	kv->mod_revision = r->main;
	kv->version = r->version;
	kv->lease = r->lease;
	if (with_value) {
		struct mvcc_hrec h;
		int rc = mvcc__hist_get(v, r->main, r->sub, &h);
		if (rc)
			return rc == -ENOENT ? STORE_MVCC_EDAMAGED : rc;
		kv->value.len = h.value_len;
		kv->value.data = v->copy ? mvcc__dup(a, h.value, h.value_len) : (uint8_t *)h.value;
		if (h.value_len && !kv->value.data)
			return -ENOMEM;
	}
	*out = kv;
	return 0;
}

struct mvcc_range_ctx {
	struct mvcc_view *v;
	struct store_mvcc_arena *a;
	bool count_only, with_value;
	size_t fetch_limit; /* 0: all */
	int64_t total;
	Mvccpb__KeyValue **kvs;
	size_t n, cap;
};

static int mvcc__range_visit(void *arg, const struct mvcc_kent *k, const struct mvcc_irec *at)
{
	struct mvcc_range_ctx *c = arg;
	c->total++;
	if (c->count_only || (c->fetch_limit && c->n >= c->fetch_limit))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		Mvccpb__KeyValue **kvs = store_mvcc_arena_alloc(c->a, cap * sizeof(*kvs));
		if (!kvs)
			return -ENOMEM;
		if (c->n)
			memcpy(kvs, c->kvs, c->n * sizeof(*kvs));
		c->kvs = kvs;
		c->cap = cap;
	}
	return mvcc__make_kv(c->v, c->a, k->key, k->key_len, at, c->with_value, &c->kvs[c->n++]);
}

int mvcc__range(struct mvcc_view *v, int64_t cur_rev, const Etcdserverpb__RangeRequest *r,
                struct store_mvcc_arena *a, Etcdserverpb__RangeResponse **out)
{
	int64_t rev = r->revision;
	if (rev > cur_rev)
		return STORE_MVCC_EFUTURE_REV;
	if (rev <= 0)
		rev = cur_rev;
	if (rev < v->compact_rev)
		return STORE_MVCC_ECOMPACTED;

	bool filters = r->min_mod_revision || r->max_mod_revision || r->min_create_revision ||
	               r->max_create_revision;
	Etcdserverpb__RangeRequest__SortOrder order = r->sort_order;
	if (r->sort_target != ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
	    order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
		order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	bool sorting = order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND ||
	               order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;

	struct mvcc_range_ctx c = {.v = v, .a = a, .count_only = r->count_only};
	/* apply.go: limit + 1 to learn `more`, unless sorting (by the
	 * request's own order) or filtering needs everything. */
	if (r->limit > 0 && r->sort_order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE &&
	    !filters)
		c.fetch_limit = (size_t)r->limit + 1;
	c.with_value =
	    !r->keys_only ||
	    (sorting && r->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE);

	struct mvcc_krange kr;
	mvcc__krange(&kr, r->key.data, r->key.len, r->range_end.data, r->range_end.len);
	int rc = mvcc__visit(v, &kr, rev, mvcc__range_visit, &c);
	if (rc)
		return rc;

	size_t n = 0;
	for (size_t i = 0; i < c.n; i++) {
		const Mvccpb__KeyValue *kv = c.kvs[i];
		if (r->max_mod_revision && kv->mod_revision > r->max_mod_revision)
			continue;
		if (r->min_mod_revision && kv->mod_revision < r->min_mod_revision)
			continue;
		if (r->max_create_revision && kv->create_revision > r->max_create_revision)
			continue;
		if (r->min_create_revision && kv->create_revision < r->min_create_revision)
			continue;
		c.kvs[n++] = c.kvs[i];
	}
	if (sorting)
		mvcc__sort_kvs(c.kvs, n, r->sort_target,
		               order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);

	Etcdserverpb__RangeResponse *resp = store_mvcc_arena_alloc(a, sizeof(*resp));
	if (!resp)
		return -ENOMEM;
	etcdserverpb__range_response__init(resp);
	resp->header = mvcc__header(a, cur_rev);
	if (!resp->header)
		return -ENOMEM;
	if (r->limit > 0 && n > (size_t)r->limit) {
		n = (size_t)r->limit;
		resp->more = true;
	}
	if (r->keys_only)
		for (size_t i = 0; i < n; i++) {
			c.kvs[i]->value.data = NULL;
			c.kvs[i]->value.len = 0;
		}
	resp->kvs = c.kvs;
	resp->n_kvs = n;
	resp->count = c.total;
	*out = resp;
	return 0;
}

int store_mvcc_range(struct store_mvcc_read *rd, const Etcdserverpb__RangeRequest *req,
                     struct store_mvcc_arena *arena, Etcdserverpb__RangeResponse **resp)
{
	int rc = store_mvcc_check_range(rd->v.s, req);
	if (rc)
		return rc;
	return mvcc__range(&rd->v, rd->st.rev, req, arena, resp);
}
