/*
 * store/mvcc_lease.c - leases: the replicated part in LMDB (grant, revoke,
 * checkpoint, attached keys), and the lessor, the leader's in-memory expiry
 * queue (etcd's lease/lessor.go).
 *
 * What is replicated lives in LMDB: each lease's granted TTL and
 * checkpointed remaining TTL, and the keys attached to it (lease_keys,
 * maintained by every put and delete). What is local is only time: when
 * each lease expires on this member. As in etcd, only the primary (the
 * leader) has finite expiries; everywhere else a lease lives "forever"
 * until a LeaseRevoke is applied. The lessor holds one small record per
 * lease in a hash table plus a min-heap on the next time to look at it:
 * its expiry, or, once reported expired, the retry time 3 s later (etcd's
 * expiredLeaseRetryInterval) while the revoke goes through Raft.
 *
 * Lessor changes made by a batch (grants, revokes, checkpoints) are applied
 * at commit, so an aborted batch leaves the lessor untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

#define NS_PER_S          1000000000LL
#define FOREVER           INT64_MAX
#define RETRY_NS          (3 * NS_PER_S) /* etcd's expiredLeaseRetryInterval */
#define LEASE_REVOKE_RATE 1000           /* etcd's leaseRevokeRate */
#define FOREVER_TTL_S     9223372036LL   /* time.Duration(MaxInt64).Seconds() */

/* ------------------------------------------------------------------------
 * The lessor's table and heap
 * ------------------------------------------------------------------------ */

static size_t lessor__hash(int64_t id, size_t n)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 17) & (n - 1);
}

static struct mvcc_lease_item **lessor__slot(struct mvcc_lessor *l, int64_t id)
{
	if (!l->n_slots)
		return NULL;
	size_t i = lessor__hash(id, l->n_slots);
	while (l->slots[i]) {
		if (l->slots[i]->id == id)
			return &l->slots[i];
		i = (i + 1) & (l->n_slots - 1);
	}
	return NULL;
}

static struct mvcc_lease_item *lessor__find(struct mvcc_lessor *l, int64_t id)
{
	struct mvcc_lease_item **s = lessor__slot(l, id);
	return s ? *s : NULL;
}

static int lessor__grow(struct mvcc_lessor *l)
{
	size_t n = l->n_slots ? l->n_slots * 2 : 64;
	struct mvcc_lease_item **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < l->n_slots; i++) {
		struct mvcc_lease_item *it = l->slots[i];
		if (!it)
			continue;
		size_t j = lessor__hash(it->id, n);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = it;
	}
	free(l->slots);
	l->slots = slots;
	l->n_slots = n;
	return 0;
}

static bool heap__less(const struct mvcc_lease_item *a, const struct mvcc_lease_item *b)
{
	return a->queue_time < b->queue_time || (a->queue_time == b->queue_time && a->id < b->id);
}

static void heap__set(struct mvcc_lessor *l, size_t i, struct mvcc_lease_item *it)
{
	l->heap[i] = it;
	it->heap_idx = i;
}

static void heap__up(struct mvcc_lessor *l, size_t i)
{
	struct mvcc_lease_item *it = l->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap__less(it, l->heap[p]))
			break;
		heap__set(l, i, l->heap[p]);
		i = p;
	}
	heap__set(l, i, it);
}

static void heap__down(struct mvcc_lessor *l, size_t i)
{
	struct mvcc_lease_item *it = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->heap_n)
			break;
		if (c + 1 < l->heap_n && heap__less(l->heap[c + 1], l->heap[c]))
			c++;
		if (!heap__less(l->heap[c], it))
			break;
		heap__set(l, i, l->heap[c]);
		i = c;
	}
	heap__set(l, i, it);
}

static void heap__fix(struct mvcc_lessor *l, struct mvcc_lease_item *it)
{
	heap__up(l, it->heap_idx);
	heap__down(l, it->heap_idx);
}

static int lessor__insert(struct mvcc_lessor *l, struct mvcc_lease_item *it)
{
	if ((l->n_items + 1) * 2 > l->n_slots && lessor__grow(l))
		return -ENOMEM;
	if (l->heap_n == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct mvcc_lease_item **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	size_t j = lessor__hash(it->id, l->n_slots);
	while (l->slots[j])
		j = (j + 1) & (l->n_slots - 1);
	l->slots[j] = it;
	l->n_items++;
	heap__set(l, l->heap_n++, it);
	heap__up(l, it->heap_idx);
	return 0;
}

static void lessor__remove(struct mvcc_lessor *l, int64_t id)
{
	struct mvcc_lease_item **s = lessor__slot(l, id);
	if (!s)
		return;
	struct mvcc_lease_item *it = *s;
	/* Backward-shift deletion keeps linear probing chains intact. */
	size_t i = (size_t)(s - l->slots), j = i;
	l->slots[i] = NULL;
	for (;;) {
		j = (j + 1) & (l->n_slots - 1);
		if (!l->slots[j])
			break;
		size_t home = lessor__hash(l->slots[j]->id, l->n_slots);
		bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
		if (movable) {
			l->slots[i] = l->slots[j];
			l->slots[j] = NULL;
			i = j;
		}
	}
	l->n_items--;
	size_t h = it->heap_idx;
	struct mvcc_lease_item *last = l->heap[--l->heap_n];
	if (h < l->heap_n) {
		heap__set(l, h, last);
		heap__fix(l, last);
	}
	free(it);
}

static void lessor__clear(struct mvcc_lessor *l)
{
	for (size_t i = 0; i < l->n_slots; i++) {
		free(l->slots[i]);
		l->slots[i] = NULL;
	}
	l->n_items = 0;
	l->heap_n = 0;
}

int mvcc__lessor_init(struct mvcc_lessor *l)
{
	memset(l, 0, sizeof(*l));
	return pthread_mutex_init(&l->mu, NULL) ? -ENOMEM : 0;
}

void mvcc__lessor_destroy(struct mvcc_lessor *l)
{
	lessor__clear(l);
	free(l->slots);
	free(l->heap);
	pthread_mutex_destroy(&l->mu);
}

/* etcd's Lease.RemainingTTL: the checkpointed remaining TTL if any, else
 * the TTL. */
static int64_t item__remaining_ttl(const struct mvcc_lease_item *it)
{
	return it->remaining > 0 ? it->remaining : it->ttl;
}

/* etcd's Lease.refresh(extend). */
static void item__refresh(struct mvcc_lessor *l, struct mvcc_lease_item *it, int64_t now,
                          int64_t extend)
{
	it->expiry = now + extend + item__remaining_ttl(it) * NS_PER_S;
	it->queue_time = it->expiry;
	heap__fix(l, it);
}

static int lessor__add(struct mvcc_lessor *l, int64_t id, int64_t ttl, int64_t remaining,
                       int64_t now)
{
	struct mvcc_lease_item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->id = id;
	it->ttl = ttl;
	it->remaining = remaining;
	it->expiry = it->queue_time = FOREVER;
	int rc = lessor__insert(l, it);
	if (rc) {
		free(it);
		return rc;
	}
	if (l->primary)
		item__refresh(l, it, now, 0);
	return 0;
}

static void lease__decode(const MDB_val *d, int64_t *ttl, int64_t *remaining)
{
	*ttl = *remaining = 0;
	if (d->mv_size >= 16) {
		*ttl = (int64_t)mvcc__get_le64(d->mv_data);
		*remaining = (int64_t)mvcc__get_le64((const uint8_t *)d->mv_data + 8);
	}
}

int mvcc__lessor_load(struct store_mvcc *s, MDB_txn *txn, const struct mvcc_env *e)
{
	struct mvcc_lessor *l = &s->lessor;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, e->dbi[MVCC_DB_LEASE], &c);
	if (rc)
		return mvcc__lmdb_err(rc);
	pthread_mutex_lock(&l->mu);
	lessor__clear(l);
	l->primary = false;
	MDB_val k, d;
	while ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
		int64_t ttl, remaining;
		if (k.mv_size != 8)
			continue;
		lease__decode(&d, &ttl, &remaining);
		if (lessor__add(l, mvcc__lease_id(k.mv_data), ttl, remaining, 0)) {
			rc = ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : mvcc__lmdb_err(rc);
}

void mvcc__lessor_apply(struct store_mvcc *s, const struct mvcc_lease_op *ops, size_t n)
{
	struct mvcc_lessor *l = &s->lessor;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		const struct mvcc_lease_op *op = &ops[i];
		struct mvcc_lease_item *it;
		switch (op->kind) {
		case MVCC_LEASE_OP_GRANT:
			if (lessor__add(l, op->id, op->ttl, 0, op->now))
				mvcc__log(s, STORE_MVCC_LOG_ERROR,
				          "lessor: out of memory adding lease %lld",
				          (long long)op->id);
			break;
		case MVCC_LEASE_OP_REVOKE:
			lessor__remove(l, op->id);
			break;
		case MVCC_LEASE_OP_CHECKPOINT:
			it = lessor__find(l, op->id);
			if (it) {
				it->remaining = op->remaining;
				it->next_cp = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------------
 * Lessor API
 * ------------------------------------------------------------------------ */

static int item_expiry_cmp(const void *x, const void *y)
{
	const struct mvcc_lease_item *a = *(struct mvcc_lease_item *const *)x;
	const struct mvcc_lease_item *b = *(struct mvcc_lease_item *const *)y;
	if (a->expiry != b->expiry)
		return a->expiry < b->expiry ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void store_mvcc_lease_promote(struct store_mvcc *s, int64_t now_ns, int64_t extend_ns)
{
	struct mvcc_lessor *l = &s->lessor;
	pthread_mutex_lock(&l->mu);
	l->primary = true;
	for (size_t i = 0; i < l->heap_n; i++) {
		struct mvcc_lease_item *it = l->heap[i];
		it->expiry = now_ns + extend_ns + item__remaining_ttl(it) * NS_PER_S;
		it->queue_time = it->expiry;
		it->next_cp = 0;
	}
	for (size_t i = l->heap_n / 2 + 1; i-- > 0;)
		if (i < l->heap_n)
			heap__down(l, i);
	if (l->n_items >= LEASE_REVOKE_RATE) {
		/* etcd's Promote: spread piled-up expiries so that no more than
		 * 3/4 of the revoke rate expire in any one-second window. */
		struct mvcc_lease_item **v = malloc(l->heap_n * sizeof(*v));
		if (v) {
			size_t n = l->heap_n;
			memcpy(v, l->heap, n * sizeof(*v));
			qsort(v, n, sizeof(*v), item_expiry_cmp);
			int64_t base = v[0]->expiry - now_ns;
			int64_t next = base + NS_PER_S;
			int64_t expires = 0;
			const int64_t target = (3 * LEASE_REVOKE_RATE) / 4;
			for (size_t i = 0; i < n; i++) {
				int64_t remaining = v[i]->expiry - now_ns;
				if (remaining > next) {
					base = remaining;
					next = base + NS_PER_S;
					expires = 1;
					continue;
				}
				expires++;
				if (expires <= target)
					continue;
				double delay_f = 1e9 * ((double)expires / (double)target);
				delay_f -= (double)(remaining - base);
				int64_t delay = (int64_t)delay_f;
				next = base + delay;
				item__refresh(l, v[i], now_ns, delay + extend_ns);
			}
			free(v);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

void store_mvcc_lease_demote(struct store_mvcc *s)
{
	struct mvcc_lessor *l = &s->lessor;
	pthread_mutex_lock(&l->mu);
	l->primary = false;
	for (size_t i = 0; i < l->heap_n; i++) {
		l->heap[i]->expiry = l->heap[i]->queue_time = FOREVER;
		l->heap[i]->next_cp = 0;
	}
	pthread_mutex_unlock(&l->mu);
}

bool store_mvcc_lease_is_primary(struct store_mvcc *s)
{
	pthread_mutex_lock(&s->lessor.mu);
	bool p = s->lessor.primary;
	pthread_mutex_unlock(&s->lessor.mu);
	return p;
}

size_t store_mvcc_lease_expired(struct store_mvcc *s, int64_t now_ns, int64_t *ids, size_t max)
{
	struct mvcc_lessor *l = &s->lessor;
	size_t n = 0;
	pthread_mutex_lock(&l->mu);
	while (l->primary && n < max && l->heap_n > 0) {
		struct mvcc_lease_item *it = l->heap[0];
		if (now_ns < it->queue_time)
			break;
		/* Reported: look again after the retry interval, by which time
		 * the revoke should have been applied. */
		it->queue_time = now_ns + RETRY_NS;
		heap__down(l, 0);
		if (it->expiry <= now_ns)
			ids[n++] = it->id;
	}
	pthread_mutex_unlock(&l->mu);
	return n;
}

int store_mvcc_lease_renew(struct store_mvcc *s, int64_t id, int64_t now_ns, int64_t *ttl)
{
	struct mvcc_lessor *l = &s->lessor;
	int rc = 0;
	pthread_mutex_lock(&l->mu);
	struct mvcc_lease_item *it = lessor__find(l, id);
	if (!l->primary)
		rc = STORE_MVCC_ENOT_PRIMARY;
	else if (!it)
		rc = STORE_MVCC_ELEASE_NOT_FOUND;
	else if (it->expiry <= now_ns)
		rc = STORE_MVCC_ELEASE_EXPIRED;
	else {
		/* etcd clears a checkpointed remaining TTL through Raft before
		 * refreshing; the refresh then uses the full TTL. */
		if (it->remaining > 0) {
			it->remaining = 0;
			rc = 1;
		}
		item__refresh(l, it, now_ns, 0);
		it->next_cp = 0;
		*ttl = it->ttl;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

size_t store_mvcc_lease_checkpoints(struct store_mvcc *s, int64_t now_ns, int64_t interval_ns,
                                    Etcdserverpb__LeaseCheckpoint *out, size_t max)
{
	struct mvcc_lessor *l = &s->lessor;
	size_t n = 0;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; l->primary && i < l->heap_n && n < max; i++) {
		struct mvcc_lease_item *it = l->heap[i];
		if (it->next_cp == 0) {
			/* etcd's scheduleCheckpointIfNeeded. */
			if (item__remaining_ttl(it) * NS_PER_S > interval_ns)
				it->next_cp = now_ns + interval_ns;
			continue;
		}
		if (it->next_cp > now_ns)
			continue;
		it->next_cp = now_ns + interval_ns;
		int64_t left = it->expiry - now_ns;
		int64_t remaining = (left + NS_PER_S - 1) / NS_PER_S; /* math.Ceil */
		if (remaining >= it->ttl)
			continue;
		etcdserverpb__lease_checkpoint__init(&out[n]);
		out[n].id = it->id;
		out[n].remaining_ttl = remaining;
		n++;
	}
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ------------------------------------------------------------------------
 * Replicated requests
 * ------------------------------------------------------------------------ */

static int lease__put(struct store_mvcc_batch *b, int64_t id, int64_t ttl, int64_t remaining)
{
	uint8_t kb[8], vb[16];
	mvcc__lease_key(id, kb);
	mvcc__put_le64(vb, (uint64_t)ttl);
	mvcc__put_le64(vb + 8, (uint64_t)remaining);
	MDB_val k = {8, kb}, d = {16, vb};
	int rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE], &k, &d, 0);
	return rc ? mvcc__fail(b, mvcc__lmdb_err(rc)) : 0;
}

static int lease__get(struct mvcc_view *v, int64_t id, int64_t *ttl, int64_t *remaining)
{
	uint8_t kb[8];
	mvcc__lease_key(id, kb);
	MDB_val k = {8, kb}, d;
	int rc = mdb_get(v->txn, v->e->dbi[MVCC_DB_LEASE], &k, &d);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return mvcc__lmdb_err(rc);
	lease__decode(&d, ttl, remaining);
	return 0;
}

int store_mvcc_lease_grant(struct store_mvcc_batch *b, const Etcdserverpb__LeaseGrantRequest *req,
                           int64_t now_ns, struct store_mvcc_arena *arena,
                           Etcdserverpb__LeaseGrantResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	if (b->nospace)
		return STORE_MVCC_ENOSPACE;
	bool ok = mvcc__available(b->s, STORE_MVCC_COST_LEASE_GRANT);
	/* lessor.Grant's order of checks. */
	if (req->id == 0)
		return STORE_MVCC_ELEASE_NOT_FOUND;
	if (req->ttl > MVCC_MAX_LEASE_TTL)
		return STORE_MVCC_ELEASE_TTL_TOO_LARGE;
	rc = mvcc__lease_exists(&b->v, req->id);
	if (rc < 0)
		return mvcc__fail(b, rc);
	if (rc > 0)
		return STORE_MVCC_ELEASE_EXISTS;
	int64_t ttl = req->ttl < b->s->o.min_lease_ttl ? b->s->o.min_lease_ttl : req->ttl;
	Etcdserverpb__LeaseGrantResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__lease_grant_response__init(r);
	r->header = mvcc__header(arena, b->st.rev);
	if (!r->header)
		return mvcc__fail(b, -ENOMEM);
	r->id = req->id;
	r->ttl = ttl;
	if ((rc = lease__put(b, req->id, ttl, 0)))
		return rc;
	struct mvcc_lease_op op = {
	    .kind = MVCC_LEASE_OP_GRANT, .id = req->id, .ttl = ttl, .now = now_ns};
	if ((rc = mvcc__lease_op(b, &op)))
		return rc;
	*resp = r;
	return ok ? 0 : STORE_MVCC_ENOSPACE;
}

int store_mvcc_lease_revoke(struct store_mvcc_batch *b, const Etcdserverpb__LeaseRevokeRequest *req,
                            struct store_mvcc_arena *arena,
                            Etcdserverpb__LeaseRevokeResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	rc = mvcc__lease_exists(&b->v, req->id);
	if (rc < 0)
		return mvcc__fail(b, rc);
	if (rc == 0)
		return STORE_MVCC_ELEASE_NOT_FOUND;
	Etcdserverpb__LeaseRevokeResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__lease_revoke_response__init(r);
	if ((rc = mvcc__w_delete_lease_keys(b, req->id)))
		return rc;
	uint8_t kb[8];
	mvcc__lease_key(req->id, kb);
	MDB_val k = {8, kb};
	rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE], &k, NULL);
	if (!rc || rc == MDB_NOTFOUND)
		rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_LEASE_KEYS], &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	struct mvcc_lease_op op = {.kind = MVCC_LEASE_OP_REVOKE, .id = req->id};
	if ((rc = mvcc__lease_op(b, &op)))
		return rc;
	mvcc__req_end(b);
	r->header = mvcc__header(arena, b->st.rev);
	if (!r->header)
		return mvcc__fail(b, -ENOMEM);
	*resp = r;
	return 0;
}

int store_mvcc_lease_checkpoint(struct store_mvcc_batch *b,
                                const Etcdserverpb__LeaseCheckpointRequest *req, int64_t now_ns,
                                struct store_mvcc_arena *arena,
                                Etcdserverpb__LeaseCheckpointResponse **resp)
{
	(void)now_ns;
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	for (size_t i = 0; i < req->n_checkpoints; i++) {
		const Etcdserverpb__LeaseCheckpoint *cp = req->checkpoints[i];
		int64_t ttl, remaining;
		rc = lease__get(&b->v, cp->id, &ttl, &remaining);
		if (rc == -ENOENT)
			continue;
		if (rc)
			return mvcc__fail(b, rc);
		if ((rc = lease__put(b, cp->id, ttl, cp->remaining_ttl)))
			return rc;
		struct mvcc_lease_op op = {
		    .kind = MVCC_LEASE_OP_CHECKPOINT, .id = cp->id, .remaining = cp->remaining_ttl};
		if ((rc = mvcc__lease_op(b, &op)))
			return rc;
	}
	Etcdserverpb__LeaseCheckpointResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__lease_checkpoint_response__init(r);
	r->header = mvcc__header(arena, b->st.rev);
	if (!r->header)
		return mvcc__fail(b, -ENOMEM);
	*resp = r;
	return 0;
}

/* ------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------ */

struct lease_key_item {
	const uint8_t *key;
	size_t len;
};

static int lease_key_item_cmp(const void *x, const void *y)
{
	const struct lease_key_item *a = x, *b = y;
	return mvcc__bytes_cmp(a->key, a->len, b->key, b->len);
}

int store_mvcc_lease_time_to_live(struct store_mvcc_read *rd,
                                  const Etcdserverpb__LeaseTimeToLiveRequest *req, int64_t now_ns,
                                  struct store_mvcc_arena *arena,
                                  Etcdserverpb__LeaseTimeToLiveResponse **resp)
{
	Etcdserverpb__LeaseTimeToLiveResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return -ENOMEM;
	etcdserverpb__lease_time_to_live_response__init(r);
	r->header = mvcc__header(arena, rd->st.rev);
	if (!r->header)
		return -ENOMEM;
	r->id = req->id;
	int64_t ttl, remaining;
	int rc = lease__get(&rd->v, req->id, &ttl, &remaining);
	if (rc == -ENOENT) {
		r->ttl = -1;
		*resp = r;
		return 0;
	}
	if (rc)
		return rc;
	r->grantedttl = ttl;
	r->ttl = FOREVER_TTL_S;
	struct mvcc_lessor *l = &rd->v.s->lessor;
	pthread_mutex_lock(&l->mu);
	struct mvcc_lease_item *it = lessor__find(l, req->id);
	if (it && it->expiry != FOREVER)
		r->ttl = (it->expiry - now_ns) / NS_PER_S; /* truncates like Go */
	pthread_mutex_unlock(&l->mu);
	if (req->keys) {
		uint8_t kb[8];
		mvcc__lease_key(req->id, kb);
		MDB_cursor *c;
		rc = mdb_cursor_open(rd->v.txn, rd->v.e->dbi[MVCC_DB_LEASE_KEYS], &c);
		if (rc)
			return mvcc__lmdb_err(rc);
		size_t n = 0, cap = 0;
		struct lease_key_item *items = NULL;
		MDB_val k = {8, kb}, d;
		for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY); rc == 0;
		     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct lease_key_item *ni =
				    store_mvcc_arena_alloc(arena, cap * sizeof(*ni));
				if (!ni) {
					rc = ENOMEM;
					break;
				}
				if (n)
					memcpy(ni, items, n * sizeof(*ni));
				items = ni;
			}
			struct mvcc_irec cur;
			int r2 = mvcc__idx_newest(&rd->v, &d, &cur);
			if (!r2)
				r2 = mvcc__full_key(&rd->v, &d, &cur, &items[n].key, &items[n].len);
			if (r2 == -ENOENT)
				continue;
			if (r2) {
				mdb_cursor_close(c);
				return r2;
			}
			n++;
		}
		mdb_cursor_close(c);
		if (rc != MDB_NOTFOUND)
			return rc == ENOMEM ? -ENOMEM : mvcc__lmdb_err(rc);
		if (n > 1)
			qsort(items, n, sizeof(*items), lease_key_item_cmp);
		r->keys = n ? store_mvcc_arena_alloc(arena, n * sizeof(*r->keys)) : NULL;
		if (n && !r->keys)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			r->keys[i].data = (uint8_t *)items[i].key;
			r->keys[i].len = items[i].len;
		}
		r->n_keys = n;
	}
	*resp = r;
	return 0;
}

struct lease_order {
	int64_t id, expiry;
};

static int lease_order_cmp(const void *x, const void *y)
{
	const struct lease_order *a = x, *b = y;
	if (a->expiry != b->expiry)
		return a->expiry < b->expiry ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

int store_mvcc_lease_leases(struct store_mvcc_read *rd, struct store_mvcc_arena *arena,
                            Etcdserverpb__LeaseLeasesResponse **resp)
{
	Etcdserverpb__LeaseLeasesResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return -ENOMEM;
	etcdserverpb__lease_leases_response__init(r);
	r->header = mvcc__header(arena, rd->st.rev);
	if (!r->header)
		return -ENOMEM;
	MDB_stat st;
	int rc = mdb_stat(rd->v.txn, rd->v.e->dbi[MVCC_DB_LEASE], &st);
	if (rc)
		return mvcc__lmdb_err(rc);
	size_t n = st.ms_entries;
	struct lease_order *v = n ? store_mvcc_arena_alloc(arena, n * sizeof(*v)) : NULL;
	if (n && !v)
		return -ENOMEM;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(rd->v.txn, rd->v.e->dbi[MVCC_DB_LEASE], &c)))
		return mvcc__lmdb_err(rc);
	struct mvcc_lessor *l = &rd->v.s->lessor;
	size_t i = 0;
	MDB_val k, d;
	pthread_mutex_lock(&l->mu);
	bool primary = l->primary;
	while (i < n && (rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
		v[i].id = mvcc__lease_id(k.mv_data);
		struct mvcc_lease_item *it = lessor__find(l, v[i].id);
		v[i].expiry = it ? it->expiry : FOREVER;
		i++;
	}
	pthread_mutex_unlock(&l->mu);
	mdb_cursor_close(c);
	n = i;
	if (primary && n > 1)
		qsort(v, n, sizeof(*v), lease_order_cmp);
	r->leases = n ? store_mvcc_arena_alloc(arena, n * sizeof(*r->leases)) : NULL;
	Etcdserverpb__LeaseStatus *ls = n ? store_mvcc_arena_alloc(arena, n * sizeof(*ls)) : NULL;
	if (n && (!r->leases || !ls))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		etcdserverpb__lease_status__init(&ls[i]);
		ls[i].id = v[i].id;
		r->leases[i] = &ls[i];
	}
	r->n_leases = n;
	*resp = r;
	return 0;
}
