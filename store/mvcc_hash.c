/*
 * store/mvcc_hash.c - Hash and HashKV.
 *
 * HashKV reproduces etcd's HashByRev (mvcc/kvstore.go) bit for bit: a
 * CRC-32C (Castagnoli) of the bucket name "key", then, for each revision up
 * to the hashed one, the revision in etcd's key format (8-byte big-endian
 * main, '_', 8-byte big-endian sub, 't' for a tombstone) and the KeyValue in
 * etcd's protobuf encoding (a tombstone is just {key}). Revisions at or
 * below the compact revision count only if they are in etcd's keep set:
 * each key's newest revision at or below the hashed revision, if it is a
 * put; when that set is empty etcd does not filter, and the survivors of
 * the compaction count. Since the encoding is etcd's, a cairn member and an
 * etcd member with the same history report the same hash.
 *
 * Hash (the whole backend) is a CRC-32C of every record of every database,
 * in a fixed order: useful to compare a member with itself, not members.
 */
#include <errno.h>
#include <string.h>

#include "store/mvcc_internal.h"
#include "store/wal_internal.h"

uint32_t mvcc__crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* The WAL's CRC-32C (SSE4.2 or slicing-by-8), shared by the store. */
	return wal__crc32c(crc, buf, len);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* CRC of a KeyValue as gogoproto marshals it (fields in order, zero values
 * omitted, int64 as varint). */
static uint32_t crc_kv(uint32_t crc, const uint8_t *key, size_t key_len, int64_t create,
                       int64_t mod, int64_t version, const uint8_t *value, size_t value_len,
                       int64_t lease)
{
	uint8_t buf[64];
	size_t n = 0;
	if (key_len) {
		buf[n++] = 0x0a;
		n += put_varint(buf + n, key_len);
		crc = mvcc__crc32c(crc, buf, n);
		crc = mvcc__crc32c(crc, key, key_len);
		n = 0;
	}
	if (create) {
		buf[n++] = 0x10;
		n += put_varint(buf + n, (uint64_t)create);
	}
	if (mod) {
		buf[n++] = 0x18;
		n += put_varint(buf + n, (uint64_t)mod);
	}
	if (version) {
		buf[n++] = 0x20;
		n += put_varint(buf + n, (uint64_t)version);
	}
	if (value_len) {
		buf[n++] = 0x2a;
		n += put_varint(buf + n, value_len);
		crc = mvcc__crc32c(crc, buf, n);
		crc = mvcc__crc32c(crc, value, value_len);
		n = 0;
	}
	if (lease) {
		buf[n++] = 0x30;
		n += put_varint(buf + n, (uint64_t)lease);
	}
	return n ? mvcc__crc32c(crc, buf, n) : crc;
}

/* Is there a key whose newest record at or below rev is a put? */
static int hash__keep_nonempty(struct mvcc_view *v, int64_t rev, bool *nonempty)
{
	struct mvcc_kiter it;
	mvcc__kiter_init(&it, v, NULL, 0, NULL, 0);
	int rc;
	*nonempty = false;
	while ((rc = mvcc__kiter_next(&it)) > 0) {
		struct mvcc_irec at = it.cur.newest;
		if (at.main > rev) {
			rc = mvcc__idx_at(v, &it.cur.skey, rev, &at);
			if (rc == -ENOENT)
				continue;
			if (rc)
				break;
		}
		if (!(at.flags & MVCC_IREC_TOMB)) {
			*nonempty = true;
			rc = 0;
			break;
		}
	}
	mvcc__kiter_close(&it);
	return rc;
}

int store_mvcc_hash_kv(struct store_mvcc_read *rd, int64_t revision, uint32_t *hash,
                       int64_t *compact_rev, int64_t *hash_rev)
{
	struct mvcc_view *v = &rd->v;
	int64_t compact = rd->st.compact_rev, cur = rd->st.rev;
	if (compact_rev)
		*compact_rev = compact;
	if (revision > 0 && revision <= compact)
		return STORE_MVCC_ECOMPACTED;
	if (revision > 0 && revision > cur)
		return STORE_MVCC_EFUTURE_REV;
	int64_t rev = revision == 0 ? cur : revision;
	bool keep;
	int rc = hash__keep_nonempty(v, rev, &keep);
	if (rc)
		return rc;
	uint32_t crc = mvcc__crc32c(0, "key", 3);
	MDB_val k, d;
	for (rc = mdb_cursor_get(v->hist, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(v->hist, &k, &d, MDB_NEXT)) {
		int64_t main = (int64_t)mvcc__get_be64(k.mv_data);
		int64_t sub = (int64_t)mvcc__get_be64((const uint8_t *)k.mv_data + 8);
		if (main > rev)
			break;
		struct mvcc_hrec h;
		int r2 = mvcc__hrec_decode(d.mv_data, d.mv_size, &h);
		if (r2)
			return r2;
		bool tomb = h.flags & MVCC_HREC_TOMB;
		if (main <= compact) {
			uint8_t sk[MVCC_SKEY_LONG];
			MDB_val skey = {mvcc__skey(h.key, h.key_len, sk), sk};
			struct mvcc_irec at;
			r2 = mvcc__idx_at(v, &skey, keep ? rev : compact, &at);
			if (r2 && r2 != -ENOENT)
				return r2;
			if (r2 || at.main != main || at.sub != sub || tomb)
				continue;
		}
		uint8_t ek[18];
		mvcc__put_be64(ek, (uint64_t)main);
		ek[8] = '_';
		mvcc__put_be64(ek + 9, (uint64_t)sub);
		ek[17] = 't';
		crc = mvcc__crc32c(crc, ek, tomb ? 18 : 17);
		if (tomb)
			crc = crc_kv(crc, h.key, h.key_len, 0, 0, 0, NULL, 0, 0);
		else
			crc = crc_kv(crc, h.key, h.key_len, h.create, main, h.version, h.value,
			             h.value_len, h.lease);
	}
	if (rc != MDB_NOTFOUND && rc != 0)
		return mvcc__lmdb_err(rc);
	*hash = crc;
	if (hash_rev)
		*hash_rev = rev;
	return 0;
}

int store_mvcc_hash(struct store_mvcc_read *rd, uint32_t *hash)
{
	uint32_t crc = 0;
	for (int i = 0; i < MVCC_DB_COUNT; i++) {
		const char *name = mvcc__db_names[i];
		crc = mvcc__crc32c(crc, name, strlen(name));
		MDB_cursor *c;
		int rc = mdb_cursor_open(rd->v.txn, rd->v.e->dbi[i], &c);
		if (rc)
			return mvcc__lmdb_err(rc);
		MDB_val k, d;
		while ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
			crc = mvcc__crc32c(crc, k.mv_data, k.mv_size);
			crc = mvcc__crc32c(crc, d.mv_data, d.mv_size);
		}
		mdb_cursor_close(c);
		if (rc != MDB_NOTFOUND)
			return mvcc__lmdb_err(rc);
	}
	*hash = crc;
	return 0;
}
