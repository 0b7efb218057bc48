/*
 * store/mvcc_compact.c - Compact: logical at once, physical in steps.
 *
 * etcd's Compact(C) (mvcc/kvstore.go) makes revisions below C unreadable at
 * once and removes their records in the background, keeping for each key
 * its newest record at or below C unless that is a tombstone. Here the
 * logical part is the compact revision in the state record; the physical
 * part walks history from where the previous step stopped up to C. Every
 * history record names the live put it superseded (`prev`); when the walk
 * passes a record at or below C, that superseded put is unreachable and is
 * deleted with its index record, and a tombstone at or below C is deleted
 * itself. Each record is visited once over the store's whole life, so the
 * cost of a compaction is proportional to the history it removes, not to
 * the number of keys.
 */
#include <errno.h>
#include <string.h>

#include "store/mvcc_internal.h"

#define COMPACT_DEFAULT_BUDGET 10000

int store_mvcc_compact(struct store_mvcc_batch *b, const Etcdserverpb__CompactionRequest *req,
                       struct store_mvcc_arena *arena, Etcdserverpb__CompactionResponse **resp)
{
	int rc = mvcc__req_begin(b);
	if (rc)
		return rc;
	if (b->corrupt)
		return STORE_MVCC_ECORRUPT;
	if (req->revision <= b->st.compact_rev)
		return STORE_MVCC_ECOMPACTED;
	if (req->revision > b->st.rev)
		return STORE_MVCC_EFUTURE_REV;
	Etcdserverpb__CompactionResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__compaction_response__init(r);
	r->header = mvcc__header(arena, b->st.rev);
	if (!r->header)
		return mvcc__fail(b, -ENOMEM);
	b->st.compact_rev = req->revision;
	b->v.compact_rev = req->revision;
	*resp = r;
	return 0;
}

/* Deletes the index record (main, sub) of skey. */
static int compact__idx_del(struct store_mvcc_batch *b, const MDB_val *skey, int64_t main,
                            int64_t sub)
{
	struct mvcc_irec r = {.main = main, .sub = sub};
	uint8_t want[MVCC_IREC_SIZE];
	mvcc__irec_encode(&r, want);
	memset(want + 14, 0, MVCC_IREC_SIZE - 14);
	MDB_val k = *skey, d = {MVCC_IREC_SIZE, want};
	int rc = mdb_cursor_get(b->v.idx2, &k, &d, MDB_GET_BOTH_RANGE);
	if (rc == 0 && !memcmp(d.mv_data, want, 14))
		rc = mdb_cursor_del(b->v.idx2, 0);
	else if (rc == 0)
		rc = MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND) {
		mvcc__log(b->s, STORE_MVCC_LOG_WARN, "compaction: no index record %lld.%lld",
		          (long long)main, (long long)sub);
		return 0;
	}
	return rc ? mvcc__lmdb_err(rc) : 0;
}

static int compact__hist_del(struct store_mvcc_batch *b, int64_t main, int64_t sub)
{
	uint8_t hk[MVCC_HKEY_SIZE];
	mvcc__hkey(main, sub, hk);
	MDB_val k = {MVCC_HKEY_SIZE, hk};
	int rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_HISTORY], &k, NULL);
	return rc && rc != MDB_NOTFOUND ? mvcc__lmdb_err(rc) : 0;
}

int store_mvcc_compact_step(struct store_mvcc_batch *b, size_t budget)
{
	if (!b->open)
		return -EINVAL;
	if (b->failed)
		return STORE_MVCC_EFAILED;
	struct mvcc_meta_state *st = &b->st;
	if (st->compacted_rev >= st->compact_rev)
		return 0;
	if (budget == 0)
		budget = COMPACT_DEFAULT_BUDGET;
	for (size_t n = 0; n < budget; n++) {
		/* Re-seek every time: the deletes below move cursors. */
		uint8_t hk[MVCC_HKEY_SIZE];
		mvcc__hkey(st->scan_main, st->scan_sub, hk);
		MDB_val k = {MVCC_HKEY_SIZE, hk}, d;
		int rc = mdb_cursor_get(b->v.hist, &k, &d, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == MVCC_HKEY_SIZE &&
		    !memcmp(k.mv_data, hk, MVCC_HKEY_SIZE))
			rc = mdb_cursor_get(b->v.hist, &k, &d, MDB_NEXT);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc)
			return mvcc__fail(b, mvcc__lmdb_err(rc));
		if (k.mv_size != MVCC_HKEY_SIZE)
			return mvcc__fail(b, STORE_MVCC_EDAMAGED);
		int64_t main = (int64_t)mvcc__get_be64(k.mv_data);
		int64_t sub = (int64_t)mvcc__get_be64((const uint8_t *)k.mv_data + 8);
		if (main > st->compact_rev)
			break;
		struct mvcc_hrec h;
		if ((rc = mvcc__hrec_decode(d.mv_data, d.mv_size, &h)))
			return mvcc__fail(b, rc);
		uint8_t sk[MVCC_SKEY_LONG];
		MDB_val skey = {mvcc__skey(h.key, h.key_len, sk), sk};
		st->scan_main = main;
		st->scan_sub = sub;
		int64_t pm = h.prev_main, ps = h.prev_sub;
		bool tomb = h.flags & MVCC_HREC_TOMB;
		if (pm && ((rc = compact__idx_del(b, &skey, pm, ps)) ||
		           (rc = compact__hist_del(b, pm, ps))))
			return mvcc__fail(b, rc);
		if (tomb && ((rc = compact__idx_del(b, &skey, main, sub)) ||
		             (rc = compact__hist_del(b, main, sub))))
			return mvcc__fail(b, rc);
	}
	/* Done when the next record (if any) is above the compact revision. */
	uint8_t hk[MVCC_HKEY_SIZE];
	mvcc__hkey(st->scan_main, st->scan_sub, hk);
	MDB_val k = {MVCC_HKEY_SIZE, hk}, d;
	int rc = mdb_cursor_get(b->v.hist, &k, &d, MDB_SET_RANGE);
	if (rc == 0 && !memcmp(k.mv_data, hk, MVCC_HKEY_SIZE))
		rc = mdb_cursor_get(b->v.hist, &k, &d, MDB_NEXT);
	if (rc && rc != MDB_NOTFOUND)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	if (rc == MDB_NOTFOUND || (int64_t)mvcc__get_be64(k.mv_data) > st->compact_rev) {
		st->compacted_rev = st->compact_rev;
		return 0;
	}
	return 1;
}
