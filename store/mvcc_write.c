/*
 * store/mvcc_write.c - batches and the primitive changes every write
 * request is made of: put one key, delete one key, both at the revision of
 * the request being applied (etcd's storeTxnWrite: beginRev + 1, with a
 * sub-revision per change), plus the change feed they record.
 *
 * Request atomicity: request functions check everything that can fail with
 * an etcd error before their first change. A storage error in the middle of
 * a request fails the whole batch (mvcc__fail), so a half-applied request
 * can never be committed.
 *
 * Pointers into LMDB pages must not be held across a write in the same
 * transaction (a page split moves nodes): what a request reads before it
 * writes is decoded into structs or copied into the batch's scratch arena.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

int64_t mvcc__lease_key(int64_t id, uint8_t out[8])
{
	/* Sign flipped so that big-endian byte order is numeric order. */
	mvcc__put_be64(out, (uint64_t)id ^ (1ull << 63));
	return id;
}

int64_t mvcc__lease_id(const uint8_t in[8])
{
	return (int64_t)(mvcc__get_be64(in) ^ (1ull << 63));
}

int mvcc__fail(struct store_mvcc_batch *b, int err)
{
	if (!b->failed) {
		b->failed = true;
		b->fail_err = err;
		mvcc__log(b->s, STORE_MVCC_LOG_ERROR, "batch failed: %s", store_mvcc_strerror(err));
	}
	return err;
}

/* ------------------------------------------------------------------------
 * Batch lifecycle
 * ------------------------------------------------------------------------ */

int store_mvcc_batch_begin(struct store_mvcc *s, unsigned flags,
                           struct store_mvcc_arena *feed_arena, struct store_mvcc_batch **out)
{
	if (flags & STORE_MVCC_FEED_PREV_KV)
		flags |= STORE_MVCC_FEED;
	if ((flags & STORE_MVCC_FEED) && !feed_arena)
		return -EINVAL;
	pthread_mutex_lock(&s->write_mu);
	struct store_mvcc_batch *b = &s->batch;
	struct mvcc_env *e = mvcc__env_ref(s);
	MDB_txn *txn = NULL;
	int rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, 0, &txn));
	if (!rc)
		rc = mvcc__lmdb_err(mdb_cursor_open(txn, e->dbi[MVCC_DB_INDEX], &b->v.idx));
	if (!rc)
		rc = mvcc__lmdb_err(mdb_cursor_open(txn, e->dbi[MVCC_DB_INDEX], &b->v.idx2));
	if (!rc)
		rc = mvcc__lmdb_err(mdb_cursor_open(txn, e->dbi[MVCC_DB_HISTORY], &b->v.hist));
	if (!rc)
		rc = mvcc__state_load(txn, e, &b->st);
	if (rc) {
		if (txn)
			mdb_txn_abort(txn);
		mvcc__env_unref(s, e);
		pthread_mutex_unlock(&s->write_mu);
		return rc;
	}
	b->s = s;
	b->v.s = s;
	b->v.e = e;
	b->v.txn = txn;
	b->v.compact_rev = b->st.compact_rev;
	b->v.copy = true;
	b->flags = flags;
	b->open = true;
	b->skip = b->failed = false;
	b->fail_err = 0;
	b->feed_arena = feed_arena;
	b->feed_n = 0;
	b->ops_n = 0;
	if (b->scratch.chunk_size == 0)
		store_mvcc_arena_init(&b->scratch, 0);
	store_mvcc_arena_reset(&b->scratch);
	pthread_mutex_lock(&s->state_mu);
	b->nospace = s->nospace;
	b->corrupt = s->corrupt;
	pthread_mutex_unlock(&s->state_mu);
	*out = b;
	return 0;
}

static void mvcc__batch_end(struct store_mvcc_batch *b)
{
	struct store_mvcc *s = b->s;
	mvcc__env_unref(s, b->v.e);
	b->v.txn = NULL;
	b->v.idx = b->v.idx2 = b->v.hist = NULL;
	b->open = false;
	pthread_mutex_unlock(&s->write_mu);
}

void store_mvcc_batch_abort(struct store_mvcc_batch *b)
{
	if (!b || !b->open)
		return;
	mdb_txn_abort(b->v.txn);
	mvcc__batch_end(b);
}

int store_mvcc_batch_entry(struct store_mvcc_batch *b, uint64_t index, uint64_t term)
{
	if (b->failed)
		return STORE_MVCC_EFAILED;
	if (index <= b->st.applied_index) {
		b->skip = true;
		return 1;
	}
	b->skip = false;
	b->st.applied_index = index;
	b->st.applied_term = term;
	return 0;
}

int64_t store_mvcc_batch_revision(const struct store_mvcc_batch *b)
{
	return b->st.rev;
}

/* The feed's pointer array goes to the caller's arena too: the batch's own
 * is reused by the next batch, which may begin before the feed has been
 * read. */
static int feed_copy(struct store_mvcc_batch *b, struct store_mvcc_feed *feed)
{
	memset(feed, 0, sizeof(*feed));
	if (!b->feed_n)
		return 0;
	Mvccpb__Event **events = store_mvcc_arena_alloc(b->feed_arena, b->feed_n * sizeof(*events));
	if (!events)
		return -ENOMEM;
	memcpy(events, b->feed, b->feed_n * sizeof(*events));
	feed->n_events = b->feed_n;
	feed->events = events;
	feed->first_revision = b->feed[0]->kv->mod_revision;
	feed->last_revision = b->feed[b->feed_n - 1]->kv->mod_revision;
	return 0;
}

int store_mvcc_batch_feed(struct store_mvcc_batch *b, struct store_mvcc_feed *feed)
{
	if (!b->open || b->failed) {
		memset(feed, 0, sizeof(*feed));
		return b->failed ? STORE_MVCC_EFAILED : -EINVAL;
	}
	return feed_copy(b, feed);
}

int store_mvcc_batch_commit(struct store_mvcc_batch *b, struct store_mvcc_feed *feed)
{
	struct store_mvcc *s = b->s;
	if (feed)
		memset(feed, 0, sizeof(*feed));
	if (b->failed) {
		store_mvcc_batch_abort(b);
		return STORE_MVCC_EFAILED;
	}
	/* Copied before the commit, so that running out of memory cannot lose
	 * events of a committed batch. */
	struct store_mvcc_feed copy = {0};
	if (feed && feed_copy(b, &copy)) {
		store_mvcc_batch_abort(b);
		return -ENOMEM;
	}
	uint8_t sb[MVCC_META_STATE_SIZE];
	mvcc__state_encode(&b->st, sb);
	MDB_val k = {5, "state"}, d = {sizeof(sb), sb};
	int rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_META], &k, &d, 0);
	if (rc) {
		mdb_txn_abort(b->v.txn);
		mvcc__batch_end(b);
		return mvcc__lmdb_err(rc);
	}
	rc = mdb_txn_commit(b->v.txn);
	if (rc) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "commit: %s", mdb_strerror(rc));
		mvcc__batch_end(b);
		return mvcc__lmdb_err(rc);
	}
	pthread_mutex_lock(&s->state_mu);
	s->st = b->st;
	s->nospace = b->nospace;
	s->corrupt = b->corrupt;
	pthread_mutex_unlock(&s->state_mu);
	mvcc__lessor_apply(s, b->ops, b->ops_n);
	if (feed)
		*feed = copy;
	mvcc__batch_end(b);
	return 0;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

int mvcc__req_begin(struct store_mvcc_batch *b)
{
	if (!b->open)
		return -EINVAL;
	if (b->failed)
		return STORE_MVCC_EFAILED;
	if (b->skip)
		return STORE_MVCC_EAPPLIED;
	b->begin_rev = b->st.rev;
	b->changes = 0;
	store_mvcc_arena_reset(&b->scratch);
	return 0;
}

void mvcc__req_end(struct store_mvcc_batch *b)
{
	if (b->changes > 0)
		b->st.rev = b->begin_rev + 1;
}

int mvcc__lease_op(struct store_mvcc_batch *b, const struct mvcc_lease_op *op)
{
	if (b->ops_n == b->ops_cap) {
		size_t cap = b->ops_cap ? b->ops_cap * 2 : 16;
		struct mvcc_lease_op *o = realloc(b->ops, cap * sizeof(*o));
		if (!o)
			return mvcc__fail(b, -ENOMEM);
		b->ops = o;
		b->ops_cap = cap;
	}
	b->ops[b->ops_n++] = *op;
	return 0;
}

int mvcc__lease_exists(struct mvcc_view *v, int64_t id)
{
	uint8_t kb[8];
	mvcc__lease_key(id, kb);
	MDB_val k = {8, kb}, d;
	int rc = mdb_get(v->txn, v->e->dbi[MVCC_DB_LEASE], &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? mvcc__lmdb_err(rc) : 1;
}

static int mvcc__lease_attach(struct store_mvcc_batch *b, int64_t lease, const MDB_val *skey,
                              bool attach)
{
	uint8_t kb[8];
	mvcc__lease_key(lease, kb);
	MDB_val k = {8, kb}, d = *skey;
	int rc;
	if (attach) {
		rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE_KEYS], &k, &d, MDB_NODUPDATA);
		if (rc == MDB_KEYEXIST)
			rc = 0;
	} else {
		rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE_KEYS], &k, &d);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	return rc ? mvcc__fail(b, mvcc__lmdb_err(rc)) : 0;
}

/* ------------------------------------------------------------------------
 * The change feed
 * ------------------------------------------------------------------------ */

static int mvcc__feed_push(struct store_mvcc_batch *b, Mvccpb__Event *ev)
{
	if (b->feed_n == b->feed_cap) {
		size_t cap = b->feed_cap ? b->feed_cap * 2 : 64;
		Mvccpb__Event **f = realloc(b->feed, cap * sizeof(*f));
		if (!f)
			return mvcc__fail(b, -ENOMEM);
		b->feed = f;
		b->feed_cap = cap;
	}
	b->feed[b->feed_n++] = ev;
	return 0;
}

static Mvccpb__KeyValue *mvcc__feed_kv(struct store_mvcc_arena *a, const uint8_t *key,
                                       size_t key_len, const uint8_t *value, size_t value_len)
{
	Mvccpb__KeyValue *kv = store_mvcc_arena_alloc(a, sizeof(*kv));
	if (!kv)
		return NULL;
	mvccpb__key_value__init(kv);
	kv->key.data = mvcc__dup(a, key, key_len);
	kv->key.len = key_len;
	kv->value.data = mvcc__dup(a, value, value_len);
	kv->value.len = value_len;
	if ((key_len && !kv->key.data) || (value_len && !kv->value.data))
		return NULL;
	return kv;
}

int mvcc__prev_kv(struct mvcc_view *v, const uint8_t *key, size_t key_len, int64_t main,
                  struct store_mvcc_arena *a, Mvccpb__KeyValue **out)
{
	*out = NULL;
	/* etcd reads prev_kv with a Range at main - 1, which fails below the
	 * compact revision. The index finds that state even when the key
	 * changed several times within revision main (a from-key delete, a
	 * put and a delete of it in one txn), where `prev` links would stop
	 * at the put that recreated the key. */
	if (main - 1 < v->compact_rev)
		return 0;
	uint8_t sk[MVCC_SKEY_LONG];
	MDB_val skey = {mvcc__skey(key, key_len, sk), sk};
	struct mvcc_irec at;
	int rc = mvcc__idx_at(v, &skey, main - 1, &at);
	if (rc == -ENOENT || (!rc && (at.flags & MVCC_IREC_TOMB)))
		return 0;
	if (rc)
		return rc;
	struct mvcc_hrec p;
	rc = mvcc__hist_get(v, at.main, at.sub, &p);
	if (rc)
		return rc == -ENOENT ? STORE_MVCC_EDAMAGED : rc;
	Mvccpb__KeyValue *kv = store_mvcc_arena_alloc(a, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	mvccpb__key_value__init(kv);
	kv->key.data = v->copy ? mvcc__dup(a, p.key, p.key_len) : (uint8_t *)p.key;
	kv->key.len = p.key_len;
	kv->value.data = v->copy ? mvcc__dup(a, p.value, p.value_len) : (uint8_t *)p.value;
	kv->value.len = p.value_len;
	if ((p.key_len && !kv->key.data) || (p.value_len && !kv->value.data))
		return -ENOMEM;
	kv->create_revision = p.create;
	kv->mod_revision = at.main;
	kv->version = p.version;
	kv->lease = p.lease;
	*out = kv;
	return 0;
}

static int mvcc__feed_event(struct store_mvcc_batch *b, bool del, const uint8_t *key,
                            size_t key_len, const uint8_t *value, size_t value_len,
                            const struct mvcc_irec *r)
{
	struct store_mvcc_arena *a = b->feed_arena;
	Mvccpb__Event *ev = store_mvcc_arena_alloc(a, sizeof(*ev));
	if (!ev)
		return mvcc__fail(b, -ENOMEM);
	mvccpb__event__init(ev);
	ev->type = del ? MVCCPB__EVENT__EVENT_TYPE__DELETE : MVCCPB__EVENT__EVENT_TYPE__PUT;
	ev->kv = mvcc__feed_kv(a, key, key_len, value, value_len);
	if (!ev->kv)
		return mvcc__fail(b, -ENOMEM);
	ev->kv->mod_revision = r->main;
	if (!del) {
		ev->kv->create_revision = r->create;
		ev->kv->version = r->version;
		ev->kv->lease = r->lease;
	}
	bool create = !del && r->create == r->main;
	if ((b->flags & STORE_MVCC_FEED_PREV_KV) && !create) {
		int rc = mvcc__prev_kv(&b->v, key, key_len, r->main, a, &ev->prev_kv);
		if (rc)
			return mvcc__fail(b, rc);
	}
	return mvcc__feed_push(b, ev);
}

/* ------------------------------------------------------------------------
 * Primitive changes
 * ------------------------------------------------------------------------ */

/* Appends a history record and its index record. h->key/value are
 * written from the given buffers. */
static int mvcc__w_record(struct store_mvcc_batch *b, const MDB_val *skey,
                          const struct mvcc_irec *r, const struct mvcc_hrec *h)
{
	uint8_t hk[MVCC_HKEY_SIZE], ir[MVCC_IREC_SIZE];
	mvcc__hkey(r->main, r->sub, hk);
	MDB_val k = {MVCC_HKEY_SIZE, hk};
	MDB_val d = {MVCC_HREC_HDR + h->key_len + h->value_len, NULL};
	int rc = mdb_cursor_put(b->v.hist, &k, &d, MDB_APPEND | MDB_RESERVE);
	if (rc)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	uint8_t *p = d.mv_data;
	memset(p, 0, MVCC_HREC_HDR);
	p[0] = (uint8_t)h->flags;
	p[4] = (uint8_t)h->key_len;
	p[5] = (uint8_t)(h->key_len >> 8);
	p[6] = (uint8_t)(h->key_len >> 16);
	p[7] = (uint8_t)(h->key_len >> 24);
	mvcc__put_le64(p + 8, (uint64_t)h->create);
	mvcc__put_le64(p + 16, (uint64_t)h->version);
	mvcc__put_le64(p + 24, (uint64_t)h->lease);
	mvcc__put_le64(p + 32, (uint64_t)h->prev_main);
	mvcc__put_le64(p + 40, (uint64_t)h->prev_sub);
	if (h->key_len)
		memcpy(p + MVCC_HREC_HDR, h->key, h->key_len);
	if (h->value_len)
		memcpy(p + MVCC_HREC_HDR + h->key_len, h->value, h->value_len);
	mvcc__irec_encode(r, ir);
	MDB_val ik = *skey, id = {MVCC_IREC_SIZE, ir};
	rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_INDEX], &ik, &id, 0);
	if (rc)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	return 0;
}

int mvcc__w_put(struct store_mvcc_batch *b, const uint8_t *key, size_t key_len,
                const uint8_t *value, size_t value_len, int64_t lease)
{
	uint8_t sk[MVCC_SKEY_LONG];
	MDB_val skey = {mvcc__skey(key, key_len, sk), sk};
	struct mvcc_irec old, r;
	int rc = mvcc__idx_newest(&b->v, &skey, &old);
	if (rc && rc != -ENOENT)
		return mvcc__fail(b, rc);
	bool exists = rc == 0 && !(old.flags & MVCC_IREC_TOMB);
	struct mvcc_hrec h = {0};
	r.main = b->begin_rev + 1;
	r.sub = b->changes;
	r.flags = 0;
	r.create = exists ? old.create : r.main;
	r.version = exists ? old.version + 1 : 1;
	r.lease = lease;
	h.create = r.create;
	h.version = r.version;
	h.lease = lease;
	h.prev_main = exists ? old.main : 0;
	h.prev_sub = exists ? old.sub : 0;
	h.key = key;
	h.key_len = key_len;
	h.value = value;
	h.value_len = value_len;
	rc = mvcc__w_record(b, &skey, &r, &h);
	if (rc)
		return rc;
	int64_t old_lease = exists ? old.lease : 0;
	if (old_lease != lease) {
		if (old_lease && (rc = mvcc__lease_attach(b, old_lease, &skey, false)))
			return rc;
		if (lease && (rc = mvcc__lease_attach(b, lease, &skey, true)))
			return rc;
	}
	if (b->flags & STORE_MVCC_FEED) {
		rc = mvcc__feed_event(b, false, key, key_len, value, value_len, &r);
		if (rc)
			return rc;
	}
	b->changes++;
	return 0;
}

/* Deletes a key whose current record is cur (live). skey and key must not
 * point into LMDB pages. */
static int mvcc__w_delete_one(struct store_mvcc_batch *b, const MDB_val *skey, const uint8_t *key,
                              size_t key_len, const struct mvcc_irec *cur)
{
	struct mvcc_irec r = {0};
	struct mvcc_hrec h = {0};
	r.main = b->begin_rev + 1;
	r.sub = b->changes;
	r.flags = MVCC_IREC_TOMB;
	h.flags = MVCC_HREC_TOMB;
	h.prev_main = cur->main;
	h.prev_sub = cur->sub;
	h.key = key;
	h.key_len = key_len;
	int rc = mvcc__w_record(b, skey, &r, &h);
	if (rc)
		return rc;
	if (cur->lease && (rc = mvcc__lease_attach(b, cur->lease, skey, false)))
		return rc;
	if (b->flags & STORE_MVCC_FEED) {
		rc = mvcc__feed_event(b, true, key, key_len, NULL, 0, &r);
		if (rc)
			return rc;
	}
	b->changes++;
	return 0;
}

struct mvcc_del_item {
	MDB_val skey;
	const uint8_t *key;
	size_t key_len;
	struct mvcc_irec cur;
};

struct mvcc_del_list {
	struct store_mvcc_batch *b;
	struct mvcc_del_item *items;
	size_t n, cap;
};

static int mvcc__del_collect(void *arg, const struct mvcc_kent *k, const struct mvcc_irec *at)
{
	struct mvcc_del_list *l = arg;
	struct store_mvcc_arena *a = &l->b->scratch;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct mvcc_del_item *it = store_mvcc_arena_alloc(a, cap * sizeof(*it));
		if (!it)
			return -ENOMEM;
		if (l->n)
			memcpy(it, l->items, l->n * sizeof(*it));
		l->items = it;
		l->cap = cap;
	}
	struct mvcc_del_item *it = &l->items[l->n];
	it->skey.mv_size = k->skey.mv_size;
	it->skey.mv_data = mvcc__dup(a, k->skey.mv_data, k->skey.mv_size);
	it->key = it->skey.mv_data;
	it->key_len = k->key_len;
	if (mvcc__skey_is_long(k->skey.mv_size))
		it->key = mvcc__dup(a, k->key, k->key_len);
	if (!it->skey.mv_data || !it->key)
		return -ENOMEM;
	it->cur = *at;
	l->n++;
	return 0;
}

static int mvcc__del_apply(struct mvcc_del_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int rc = mvcc__w_delete_one(l->b, &l->items[i].skey, l->items[i].key,
		                            l->items[i].key_len, &l->items[i].cur);
		if (rc)
			return rc;
	}
	return 0;
}

int mvcc__w_delete_range(struct store_mvcc_batch *b, const struct mvcc_krange *kr, int64_t *deleted)
{
	struct mvcc_del_list l = {.b = b};
	int rc = mvcc__visit(&b->v, kr, mvcc__req_rev(b), mvcc__del_collect, &l);
	if (rc)
		return mvcc__fail(b, rc);
	*deleted = (int64_t)l.n;
	return mvcc__del_apply(&l);
}

static int mvcc__del_item_cmp(const void *x, const void *y)
{
	const struct mvcc_del_item *a = x, *b = y;
	return mvcc__bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* Deletes the keys attached to a lease, in key order (etcd sorts them so
 * that every member deletes in the same order: sub-revisions and hashes
 * match). */
int mvcc__w_delete_lease_keys(struct store_mvcc_batch *b, int64_t lease)
{
	uint8_t kb[8];
	mvcc__lease_key(lease, kb);
	MDB_cursor *c;
	int rc = mdb_cursor_open(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE_KEYS], &c);
	if (rc)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	struct mvcc_del_list l = {.b = b};
	MDB_val k = {8, kb}, d;
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP)) {
		struct mvcc_kent e = {.skey = d};
		struct mvcc_irec cur;
		int r2 = mvcc__idx_newest(&b->v, &d, &cur);
		if (r2 == -ENOENT || (!r2 && (cur.flags & MVCC_IREC_TOMB || cur.lease != lease))) {
			mvcc__log(b->s, STORE_MVCC_LOG_WARN,
			          "lease %lld: attached key is not live with that lease",
			          (long long)lease);
			continue;
		}
		if (!r2)
			r2 = mvcc__full_key(&b->v, &d, &cur, &e.key, &e.key_len);
		if (!r2)
			r2 = mvcc__del_collect(&l, &e, &cur);
		if (r2) {
			mdb_cursor_close(c);
			return mvcc__fail(b, r2);
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), mvcc__del_item_cmp);
	return mvcc__del_apply(&l);
}
