/*
 * store/mvcc_events.c - watch history: events from a start revision on,
 * read from the history database in revision order (zero-copy).
 *
 * Events are what etcd's watchable store reads from its key bucket
 * (mvcc/watchable_store.go, syncWatchers): a PUT carries the key-value as
 * written; a DELETE carries the key and its deletion revision. prev_kv is
 * what etcd's watch server reads with a Range at revision - 1
 * (etcdserver/api/v3rpc/watch.go): here the `prev` link of the record.
 *
 * At exactly the compact revision C (a watch may start there), etcd serves
 * what survived the compaction: a key's last put at or below C, never a
 * tombstone. The same rule is applied logically, so the answer does not
 * depend on how far the physical compaction has got.
 */
#include <errno.h>
#include <string.h>

#include "store/mvcc_internal.h"

struct ev_list {
	Mvccpb__Event **v;
	size_t n, cap;
};

static int ev_push(struct store_mvcc_arena *a, struct ev_list *l, Mvccpb__Event *ev)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		Mvccpb__Event **v = store_mvcc_arena_alloc(a, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ev;
	return 0;
}

static bool ev_match(const struct store_mvcc_events_query *q, const struct mvcc_krange *kr,
                     const struct mvcc_hrec *h)
{
	if (q->key_len == 0)
		return true;
	if (kr->single)
		return mvcc__bytes_cmp(h->key, h->key_len, kr->key, kr->key_len) == 0;
	if (mvcc__bytes_cmp(h->key, h->key_len, kr->key, kr->key_len) < 0)
		return false;
	return kr->end_len == 0 || mvcc__bytes_cmp(h->key, h->key_len, kr->end, kr->end_len) < 0;
}

int store_mvcc_events(struct store_mvcc_read *rd, const struct store_mvcc_events_query *q,
                      struct store_mvcc_arena *arena, struct store_mvcc_events *out)
{
	struct mvcc_view *v = &rd->v;
	int64_t compact = rd->st.compact_rev, cur = rd->st.rev;
	memset(out, 0, sizeof(*out));
	if (q->start_revision < 1)
		return -EINVAL;
	if (q->start_revision < compact)
		return STORE_MVCC_ECOMPACTED;
	int64_t end = q->end_revision ? q->end_revision : cur;
	if (end > cur)
		return STORE_MVCC_EFUTURE_REV;
	out->next_revision = end + 1;
	struct mvcc_krange kr;
	mvcc__krange(&kr, q->key, q->key_len, q->range_end, q->range_end_len);
	struct ev_list l = {0};
	size_t bytes = 0;
	int64_t last_main = 0;
	uint8_t hk[MVCC_HKEY_SIZE];
	mvcc__hkey(q->start_revision, 0, hk);
	MDB_val k = {MVCC_HKEY_SIZE, hk}, d;
	int rc;
	for (rc = mdb_cursor_get(v->hist, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(v->hist, &k, &d, MDB_NEXT)) {
		int64_t main = (int64_t)mvcc__get_be64(k.mv_data);
		int64_t sub = (int64_t)mvcc__get_be64((const uint8_t *)k.mv_data + 8);
		if (main > end)
			break;
		if (main != last_main) {
			if ((q->max_events && l.n >= q->max_events) ||
			    (q->max_bytes && bytes >= q->max_bytes)) {
				out->next_revision = main;
				out->more = true;
				break;
			}
			last_main = main;
		}
		struct mvcc_hrec h;
		if ((rc = mvcc__hrec_decode(d.mv_data, d.mv_size, &h)))
			return rc;
		if (!ev_match(q, &kr, &h))
			continue;
		bool tomb = h.flags & MVCC_HREC_TOMB;
		if (main <= compact) {
			if (tomb)
				continue;
			uint8_t sk[MVCC_SKEY_LONG];
			MDB_val skey = {mvcc__skey(h.key, h.key_len, sk), sk};
			struct mvcc_irec at;
			int r2 = mvcc__idx_at(v, &skey, compact, &at);
			if (r2 && r2 != -ENOENT)
				return r2;
			if (r2 || at.main != main || at.sub != sub)
				continue;
		}
		Mvccpb__Event *ev = store_mvcc_arena_alloc(arena, sizeof(*ev));
		Mvccpb__KeyValue *kv = store_mvcc_arena_alloc(arena, sizeof(*kv));
		if (!ev || !kv)
			return -ENOMEM;
		mvccpb__event__init(ev);
		mvccpb__key_value__init(kv);
		ev->kv = kv;
		kv->key.data = (uint8_t *)h.key;
		kv->key.len = h.key_len;
		kv->mod_revision = main;
		if (tomb) {
			ev->type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
		} else {
			ev->type = MVCCPB__EVENT__EVENT_TYPE__PUT;
			kv->create_revision = h.create;
			kv->version = h.version;
			kv->lease = h.lease;
			kv->value.data = (uint8_t *)h.value;
			kv->value.len = h.value_len;
		}
		if (q->prev_kv && (tomb || h.create != main)) {
			int r2 = mvcc__prev_kv(v, h.key, h.key_len, main, arena, &ev->prev_kv);
			if (r2)
				return r2;
		}
		if ((rc = ev_push(arena, &l, ev)))
			return rc;
		bytes += h.key_len + h.value_len;
	}
	if (rc && rc != MDB_NOTFOUND)
		return rc < 0 ? rc : mvcc__lmdb_err(rc);
	out->events = l.v;
	out->n_events = l.n;
	return 0;
}
