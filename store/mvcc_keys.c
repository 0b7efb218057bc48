/*
 * store/mvcc_keys.c - skeys, the index and history record codecs, point
 * lookups, and the key iterator that yields keys in true byte order.
 *
 * See store/mvcc_internal.h for the layout. The one subtle piece is the
 * iterator: LMDB orders skeys, and skeys order like keys except among long
 * keys (> 479 bytes) that share their 479-byte prefix, whose skeys end in a
 * SHA-256. Such a run is read whole, sorted by full key and then yielded;
 * everything before and after the run is correctly ordered relative to it
 * (a short key is never longer than the prefix, so it sorts before or
 * after the whole run).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

size_t mvcc__skey(const uint8_t *key, size_t len, uint8_t *buf)
{
	if (len <= MVCC_SKEY_PREFIX) {
		if (len)
			memcpy(buf, key, len);
		return len;
	}
	memcpy(buf, key, MVCC_SKEY_PREFIX);
	mvcc__sha256(key, len, buf + MVCC_SKEY_PREFIX);
	return MVCC_SKEY_LONG;
}

void mvcc__irec_encode(const struct mvcc_irec *r, uint8_t out[MVCC_IREC_SIZE])
{
	mvcc__put_be64(out, ~(uint64_t)r->main);
	uint64_t s = ~(uint64_t)r->sub & (uint64_t)MVCC_SUB_MAX;
	for (int i = 13; i >= 8; i--) {
		out[i] = (uint8_t)s;
		s >>= 8;
	}
	out[14] = (uint8_t)(r->flags >> 8);
	out[15] = (uint8_t)r->flags;
	mvcc__put_le64(out + 16, (uint64_t)r->create);
	mvcc__put_le64(out + 24, (uint64_t)r->version);
	mvcc__put_le64(out + 32, (uint64_t)r->lease);
}

void mvcc__irec_decode(const void *p, struct mvcc_irec *r)
{
	const uint8_t *b = p;
	r->main = (int64_t)~mvcc__get_be64(b);
	uint64_t s = 0;
	for (int i = 8; i < 14; i++)
		s = (s << 8) | b[i];
	r->sub = (int64_t)(~s & (uint64_t)MVCC_SUB_MAX);
	r->flags = (unsigned)b[14] << 8 | b[15];
	r->create = (int64_t)mvcc__get_le64(b + 16);
	r->version = (int64_t)mvcc__get_le64(b + 24);
	r->lease = (int64_t)mvcc__get_le64(b + 32);
}

void mvcc__irec_bound(int64_t rev, uint8_t out[MVCC_IREC_SIZE])
{
	memset(out, 0, MVCC_IREC_SIZE);
	mvcc__put_be64(out, ~(uint64_t)rev);
}

void mvcc__hkey(int64_t main, int64_t sub, uint8_t out[MVCC_HKEY_SIZE])
{
	mvcc__put_be64(out, (uint64_t)main);
	mvcc__put_be64(out + 8, (uint64_t)sub);
}

int mvcc__hrec_decode(const void *p, size_t len, struct mvcc_hrec *r)
{
	const uint8_t *b = p;
	if (len < MVCC_HREC_HDR)
		return STORE_MVCC_EDAMAGED;
	size_t klen = (size_t)b[4] | (size_t)b[5] << 8 | (size_t)b[6] << 16 | (size_t)b[7] << 24;
	if (klen > len - MVCC_HREC_HDR)
		return STORE_MVCC_EDAMAGED;
	r->flags = b[0];
	r->create = (int64_t)mvcc__get_le64(b + 8);
	r->version = (int64_t)mvcc__get_le64(b + 16);
	r->lease = (int64_t)mvcc__get_le64(b + 24);
	r->prev_main = (int64_t)mvcc__get_le64(b + 32);
	r->prev_sub = (int64_t)mvcc__get_le64(b + 40);
	r->key = b + MVCC_HREC_HDR;
	r->key_len = klen;
	r->value = b + MVCC_HREC_HDR + klen;
	r->value_len = len - MVCC_HREC_HDR - klen;
	return 0;
}

int mvcc__hist_get(struct mvcc_view *v, int64_t main, int64_t sub, struct mvcc_hrec *r)
{
	uint8_t kb[MVCC_HKEY_SIZE];
	mvcc__hkey(main, sub, kb);
	MDB_val k = {MVCC_HKEY_SIZE, kb}, d;
	int rc = mdb_get(v->txn, v->e->dbi[MVCC_DB_HISTORY], &k, &d);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return mvcc__lmdb_err(rc);
	return mvcc__hrec_decode(d.mv_data, d.mv_size, r);
}

int mvcc__idx_newest(struct mvcc_view *v, const MDB_val *skey, struct mvcc_irec *r)
{
	MDB_val k = *skey, d;
	int rc = mdb_cursor_get(v->idx2, &k, &d, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return mvcc__lmdb_err(rc);
	if (d.mv_size != MVCC_IREC_SIZE)
		return STORE_MVCC_EDAMAGED;
	mvcc__irec_decode(d.mv_data, r);
	return 0;
}

int mvcc__idx_at(struct mvcc_view *v, const MDB_val *skey, int64_t rev, struct mvcc_irec *r)
{
	uint8_t bound[MVCC_IREC_SIZE];
	mvcc__irec_bound(rev, bound);
	MDB_val k = *skey, d = {MVCC_IREC_SIZE, bound};
	int rc = mdb_cursor_get(v->idx2, &k, &d, MDB_GET_BOTH_RANGE);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return mvcc__lmdb_err(rc);
	if (d.mv_size != MVCC_IREC_SIZE)
		return STORE_MVCC_EDAMAGED;
	mvcc__irec_decode(d.mv_data, r);
	return 0;
}

int mvcc__full_key(struct mvcc_view *v, const MDB_val *skey, const struct mvcc_irec *newest,
                   const uint8_t **key, size_t *len)
{
	if (!mvcc__skey_is_long(skey->mv_size)) {
		*key = skey->mv_data;
		*len = skey->mv_size;
		return 0;
	}
	struct mvcc_hrec h;
	int rc = mvcc__hist_get(v, newest->main, newest->sub, &h);
	if (rc == -ENOENT)
		return STORE_MVCC_EDAMAGED;
	if (rc)
		return rc;
	*key = h.key;
	*len = h.key_len;
	return 0;
}

int mvcc__bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

void mvcc__krange(struct mvcc_krange *kr, const uint8_t *key, size_t key_len,
                  const uint8_t *range_end, size_t range_end_len)
{
	kr->key = key;
	kr->key_len = key_len;
	kr->end = NULL;
	kr->end_len = 0;
	kr->single = range_end_len == 0;
	/* etcd's mkGteRange: "\0" means no upper bound. */
	if (range_end_len > 0 && !(range_end_len == 1 && range_end[0] == 0)) {
		kr->end = range_end;
		kr->end_len = range_end_len;
	}
}

void mvcc__kiter_init(struct mvcc_kiter *it, struct mvcc_view *v, const uint8_t *start,
                      size_t start_len, const uint8_t *end, size_t end_len)
{
	memset(it, 0, sizeof(*it));
	it->v = v;
	it->start = start;
	it->start_len = start_len;
	it->end = end;
	it->end_len = end_len;
}

void mvcc__kiter_close(struct mvcc_kiter *it)
{
	free(it->run);
	it->run = NULL;
	it->run_n = it->run_cap = it->run_i = 0;
}

static int kiter__cmp(const void *a, const void *b)
{
	const struct mvcc_kent *x = a, *y = b;
	return mvcc__bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int kiter__entry(struct mvcc_kiter *it, const MDB_val *k, const MDB_val *d,
                        struct mvcc_kent *e)
{
	if (d->mv_size != MVCC_IREC_SIZE)
		return STORE_MVCC_EDAMAGED;
	e->skey = *k;
	mvcc__irec_decode(d->mv_data, &e->newest);
	return mvcc__full_key(it->v, k, &e->newest, &e->key, &e->key_len);
}

/* Reads the run of long skeys sharing the prefix of k (the cursor is on k),
 * sorted by full key, leaving the cursor on the run's last key. */
static int kiter__read_run(struct mvcc_kiter *it, MDB_val k, MDB_val d)
{
	const uint8_t *prefix = k.mv_data;
	it->run_n = it->run_i = 0;
	for (;;) {
		if (it->run_n == it->run_cap) {
			size_t cap = it->run_cap ? it->run_cap * 2 : 8;
			struct mvcc_kent *r = realloc(it->run, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			it->run = r;
			it->run_cap = cap;
		}
		int rc = kiter__entry(it, &k, &d, &it->run[it->run_n]);
		if (rc)
			return rc;
		it->run_n++;
		rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_NEXT_NODUP);
		if (rc == MDB_NOTFOUND) {
			/* Stay on the last key: the next NEXT_NODUP says NOTFOUND. */
			rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_LAST);
			if (rc)
				return mvcc__lmdb_err(rc);
			break;
		}
		if (rc)
			return mvcc__lmdb_err(rc);
		if (!mvcc__skey_is_long(k.mv_size) || memcmp(k.mv_data, prefix, MVCC_SKEY_PREFIX)) {
			rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_PREV_NODUP);
			if (rc)
				return mvcc__lmdb_err(rc);
			break;
		}
	}
	qsort(it->run, it->run_n, sizeof(*it->run), kiter__cmp);
	return 0;
}

int mvcc__kiter_next(struct mvcc_kiter *it)
{
	while (!it->done) {
		struct mvcc_kent e;
		if (it->run_i < it->run_n) {
			e = it->run[it->run_i++];
		} else {
			MDB_val k, d;
			int rc;
			if (!it->started) {
				it->started = true;
				k.mv_data = (void *)it->start;
				k.mv_size = it->start_len > MVCC_SKEY_PREFIX ? MVCC_SKEY_PREFIX
				                                             : it->start_len;
				if (k.mv_size == 0) {
					rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_FIRST);
				} else {
					rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_SET_RANGE);
				}
			} else {
				rc = mdb_cursor_get(it->v->idx, &k, &d, MDB_NEXT_NODUP);
			}
			if (rc == MDB_NOTFOUND) {
				it->done = true;
				return 0;
			}
			if (rc)
				return mvcc__lmdb_err(rc);
			if (mvcc__skey_is_long(k.mv_size)) {
				rc = kiter__read_run(it, k, d);
				if (rc)
					return rc;
				continue;
			}
			rc = kiter__entry(it, &k, &d, &e);
			if (rc)
				return rc;
		}
		if (mvcc__bytes_cmp(e.key, e.key_len, it->start, it->start_len) < 0)
			continue;
		if (it->end_len && mvcc__bytes_cmp(e.key, e.key_len, it->end, it->end_len) >= 0) {
			it->done = true;
			return 0;
		}
		it->cur = e;
		return 1;
	}
	return 0;
}

int mvcc__visit(struct mvcc_view *v, const struct mvcc_krange *kr, int64_t rev, mvcc_visit_fn fn,
                void *arg)
{
	struct mvcc_irec at;
	int rc;
	if (kr->single) {
		uint8_t buf[MVCC_SKEY_LONG];
		size_t n = mvcc__skey(kr->key, kr->key_len, buf);
		MDB_val k = {n, buf}, d;
		rc = mdb_cursor_get(v->idx2, &k, &d, MDB_SET_KEY);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc)
			return mvcc__lmdb_err(rc);
		struct mvcc_kent e;
		if (d.mv_size != MVCC_IREC_SIZE)
			return STORE_MVCC_EDAMAGED;
		e.skey = k;
		mvcc__irec_decode(d.mv_data, &e.newest);
		rc = mvcc__full_key(v, &k, &e.newest, &e.key, &e.key_len);
		if (rc)
			return rc;
		at = e.newest;
		if (at.main > rev) {
			rc = mvcc__idx_at(v, &e.skey, rev, &at);
			if (rc == -ENOENT)
				return 0;
			if (rc)
				return rc;
		}
		if (at.flags & MVCC_IREC_TOMB)
			return 0;
		rc = fn(arg, &e, &at);
		return rc > 0 ? 0 : rc;
	}
	struct mvcc_kiter it;
	mvcc__kiter_init(&it, v, kr->key, kr->key_len, kr->end, kr->end_len);
	while ((rc = mvcc__kiter_next(&it)) > 0) {
		at = it.cur.newest;
		if (at.main > rev) {
			rc = mvcc__idx_at(v, &it.cur.skey, rev, &at);
			if (rc == -ENOENT)
				continue;
			if (rc)
				break;
		}
		if (at.flags & MVCC_IREC_TOMB)
			continue;
		rc = fn(arg, &it.cur, &at);
		if (rc)
			break;
	}
	mvcc__kiter_close(&it);
	return rc > 0 ? 0 : rc;
}
