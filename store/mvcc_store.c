/*
 * store/mvcc_store.c - opening and closing a store, the committed state,
 * read contexts, logging and LMDB error mapping. The directory and the
 * generations of the data file are mvcc_env.c's.
 *
 * Read contexts are LMDB read transactions, pooled per generation and
 * reused with mdb_txn_reset/renew (and their cursors with mdb_cursor_renew),
 * so beginning one is a mutex, a renew and one lookup of the state record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/mvcc_internal.h"

#define GiB (1024ull * 1024 * 1024)

/* ------------------------------------------------------------------------
 * Logging and errors
 * ------------------------------------------------------------------------ */

void mvcc__log(struct store_mvcc *s, enum store_mvcc_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && s->o.log_cb) {
		pthread_mutex_lock(&s->log_mu);
		s->o.log_cb(s->o.log_data, level, msg);
		pthread_mutex_unlock(&s->log_mu);
		return;
	}
	fprintf(stderr, "cairn mvcc: %s\n", msg);
}

int mvcc__lmdb_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_MAP_FULL:
		return STORE_MVCC_EMAP_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_BAD_VALSIZE:
		return STORE_MVCC_EDAMAGED;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -ENOMEM;
	default:
		if (rc > 0 && rc < 4096)
			return -rc;
		return -EIO;
	}
}

/* ------------------------------------------------------------------------
 * The state record
 * ------------------------------------------------------------------------ */

void mvcc__state_encode(const struct mvcc_meta_state *st, uint8_t out[MVCC_META_STATE_SIZE])
{
	mvcc__put_le64(out, (uint64_t)st->rev);
	mvcc__put_le64(out + 8, (uint64_t)st->compact_rev);
	mvcc__put_le64(out + 16, (uint64_t)st->scan_main);
	mvcc__put_le64(out + 24, (uint64_t)st->scan_sub);
	mvcc__put_le64(out + 32, (uint64_t)st->compacted_rev);
	mvcc__put_le64(out + 40, st->applied_index);
	mvcc__put_le64(out + 48, st->applied_term);
}

int mvcc__state_decode(const void *p, size_t len, struct mvcc_meta_state *st)
{
	const uint8_t *b = p;
	if (len != MVCC_META_STATE_SIZE)
		return STORE_MVCC_EDAMAGED;
	st->rev = (int64_t)mvcc__get_le64(b);
	st->compact_rev = (int64_t)mvcc__get_le64(b + 8);
	st->scan_main = (int64_t)mvcc__get_le64(b + 16);
	st->scan_sub = (int64_t)mvcc__get_le64(b + 24);
	st->compacted_rev = (int64_t)mvcc__get_le64(b + 32);
	st->applied_index = mvcc__get_le64(b + 40);
	st->applied_term = mvcc__get_le64(b + 48);
	if (st->rev < 1 || st->compact_rev > st->rev)
		return STORE_MVCC_EDAMAGED;
	return 0;
}

int mvcc__state_load(MDB_txn *txn, const struct mvcc_env *e, struct mvcc_meta_state *st)
{
	MDB_val k = {5, "state"}, d;
	int rc = mdb_get(txn, e->dbi[MVCC_DB_META], &k, &d);
	if (rc == MDB_NOTFOUND)
		return STORE_MVCC_EDAMAGED;
	if (rc)
		return mvcc__lmdb_err(rc);
	return mvcc__state_decode(d.mv_data, d.mv_size, st);
}

void mvcc__state_init(struct mvcc_meta_state *st)
{
	memset(st, 0, sizeof(*st));
	st->rev = 1;
	st->compact_rev = -1;
	st->compacted_rev = -1;
}

int mvcc__count_alarms(MDB_txn *txn, const struct mvcc_env *e, int *nospace, int *corrupt)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, e->dbi[MVCC_DB_ALARM], &c);
	if (rc)
		return mvcc__lmdb_err(rc);
	*nospace = *corrupt = 0;
	MDB_val k, d;
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 12)
			continue;
		const uint8_t *b = k.mv_data;
		uint32_t type =
		    (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
		if (type == ETCDSERVERPB__ALARM_TYPE__NOSPACE)
			(*nospace)++;
		else if (type == ETCDSERVERPB__ALARM_TYPE__CORRUPT)
			(*corrupt)++;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : mvcc__lmdb_err(rc);
}

/* ------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------ */

static int mvcc__resolve_options(struct store_mvcc *s, const struct store_mvcc_options *opts)
{
	if (opts)
		s->o = *opts;
	struct store_mvcc_options *o = &s->o;
	if (o->quota_bytes == 0)
		o->quota_bytes = (int64_t)(2 * GiB);
	if (o->max_readers == 0)
		o->max_readers = 1024;
	if (o->min_lease_ttl <= 0)
		o->min_lease_ttl = 2;
	if (o->max_txn_ops == 0)
		o->max_txn_ops = 128;
	if (o->max_request_bytes == 0)
		o->max_request_bytes = 1536 * 1024;
	if (o->sync_mode < STORE_MVCC_SYNC_DATA || o->sync_mode > STORE_MVCC_SYNC_NONE)
		return -EINVAL;
	uint64_t map = o->map_size;
	if (map == 0)
		map = o->quota_bytes > 0 ? 2 * (uint64_t)o->quota_bytes + GiB : 32 * GiB;
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	map = (map + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	if (o->quota_bytes > 0 && map <= (uint64_t)o->quota_bytes) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR,
		          "map size %" PRIu64 " must exceed the quota %" PRId64, map,
		          o->quota_bytes);
		return -EINVAL;
	}
	s->map_size = map;
	return 0;
}

int mvcc__store_alloc(const struct store_mvcc_options *opts, struct store_mvcc **out)
{
	struct store_mvcc *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir_fd = s->lock_fd = -1;
	pthread_mutex_init(&s->gen_mu, NULL);
	pthread_mutex_init(&s->write_mu, NULL);
	pthread_mutex_init(&s->state_mu, NULL);
	pthread_mutex_init(&s->log_mu, NULL);
	int rc = mvcc__lessor_init(&s->lessor);
	if (rc) {
		free(s);
		return rc;
	}
	rc = mvcc__resolve_options(s, opts);
	if (rc) {
		store_mvcc_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int store_mvcc_open(const char *dir, const struct store_mvcc_options *opts, struct store_mvcc **out)
{
	struct store_mvcc *s;
	int rc = mvcc__store_alloc(opts, &s);
	if (rc)
		return rc;
	s->dir = strdup(dir);
	if (!s->dir) {
		rc = -ENOMEM;
		goto err;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: mkdir: %s", dir, strerror(errno));
		goto err;
	}
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0) {
		rc = -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: %s", dir, strerror(errno));
		goto err;
	}
	bool has_current = false, has_gen1 = false;
	int n_data = 0;
	rc = mvcc__scan_dir(s, &has_current, &n_data, &has_gen1);
	if (rc)
		goto err;
	if (!has_current && n_data && !(n_data == 1 && has_gen1)) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: data files but no CURRENT file", dir);
		rc = STORE_MVCC_EDAMAGED;
		goto err;
	}
	s->lock_fd = openat(s->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		rc = -errno;
		goto err;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? STORE_MVCC_ELOCKED : -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: locked by another process", dir);
		goto err;
	}
	if (!has_current && n_data)
		rc = mvcc__adopt_fresh(s);
	else if (!has_current)
		rc = mvcc__create_fresh(s);
	if (rc)
		goto err;
	uint64_t gen = 0;
	rc = mvcc__read_current(s, &gen);
	if (rc)
		goto err;
	char path[4096];
	snprintf(path, sizeof(path), "%s/data-%" PRIu64 ".mdb", dir, gen);
	struct mvcc_env *e;
	rc = mvcc__env_open(s, path, 0, &e);
	if (rc)
		goto err;
	e->gen = gen;
	s->cur = e;
	mvcc__remove_stale(s, gen);
	MDB_txn *txn;
	rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		goto err;
	rc = mvcc__state_load(txn, e, &s->st);
	if (!rc)
		rc = mvcc__count_alarms(txn, e, &s->nospace, &s->corrupt);
	if (!rc)
		rc = mvcc__lessor_load(s, txn, e);
	mdb_txn_abort(txn);
	if (rc)
		goto err;
	*out = s;
	return 0;
err:
	store_mvcc_close(s);
	return rc;
}

void store_mvcc_close(struct store_mvcc *s)
{
	if (!s)
		return;
	if (s->batch.open)
		store_mvcc_batch_abort(&s->batch);
	store_mvcc_arena_destroy(&s->batch.scratch);
	free(s->batch.feed);
	free(s->batch.ops);
	if (s->cur)
		mvcc__env_destroy(s->cur, false);
	mvcc__lessor_destroy(&s->lessor);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	pthread_mutex_destroy(&s->gen_mu);
	pthread_mutex_destroy(&s->write_mu);
	pthread_mutex_destroy(&s->state_mu);
	pthread_mutex_destroy(&s->log_mu);
	free(s->dir);
	free(s);
}

int store_mvcc_sync(struct store_mvcc *s, uint64_t *durable_index)
{
	pthread_mutex_lock(&s->state_mu);
	uint64_t idx = s->st.applied_index;
	pthread_mutex_unlock(&s->state_mu);
	struct mvcc_env *e = mvcc__env_ref(s);
	int rc = mvcc__lmdb_err(mdb_env_sync(e->env, 1));
	mvcc__env_unref(s, e);
	if (!rc && durable_index)
		*durable_index = idx;
	return rc;
}

void store_mvcc_state(struct store_mvcc *s, struct store_mvcc_state *out)
{
	struct mvcc_env *e = mvcc__env_ref(s);
	int64_t size = mvcc__db_size(s, e->env);
	uint64_t gen = e->gen;
	mvcc__env_unref(s, e);
	pthread_mutex_lock(&s->state_mu);
	out->revision = s->st.rev;
	out->compact_revision = s->st.compact_rev;
	out->compacted_revision = s->st.compacted_rev;
	out->applied_index = s->st.applied_index;
	out->applied_term = s->st.applied_term;
	out->nospace = s->nospace > 0;
	out->corrupt = s->corrupt > 0;
	pthread_mutex_unlock(&s->state_mu);
	out->db_size = size;
	out->quota = s->o.quota_bytes > 0 ? s->o.quota_bytes : 0;
	out->generation = gen;
}

/* ------------------------------------------------------------------------
 * Read contexts
 * ------------------------------------------------------------------------ */

static int mvcc__read_cursors(struct store_mvcc_read *rd, bool renew)
{
	MDB_txn *t = rd->v.txn;
	const MDB_dbi *dbi = rd->v.e->dbi;
	int rc;
	if (renew) {
		if ((rc = mdb_cursor_renew(t, rd->v.idx)) ||
		    (rc = mdb_cursor_renew(t, rd->v.idx2)) ||
		    (rc = mdb_cursor_renew(t, rd->v.hist)))
			return mvcc__lmdb_err(rc);
		return 0;
	}
	if ((rc = mdb_cursor_open(t, dbi[MVCC_DB_INDEX], &rd->v.idx)) ||
	    (rc = mdb_cursor_open(t, dbi[MVCC_DB_INDEX], &rd->v.idx2)) ||
	    (rc = mdb_cursor_open(t, dbi[MVCC_DB_HISTORY], &rd->v.hist)))
		return mvcc__lmdb_err(rc);
	return 0;
}

static void mvcc__read_free(struct store_mvcc_read *rd)
{
	if (rd->v.idx)
		mdb_cursor_close(rd->v.idx);
	if (rd->v.idx2)
		mdb_cursor_close(rd->v.idx2);
	if (rd->v.hist)
		mdb_cursor_close(rd->v.hist);
	if (rd->v.txn)
		mdb_txn_abort(rd->v.txn);
	free(rd);
}

int store_mvcc_read_begin(struct store_mvcc *s, struct store_mvcc_read **out)
{
	pthread_mutex_lock(&s->gen_mu);
	struct mvcc_env *e = s->cur;
	e->refs++;
	struct store_mvcc_read *rd = e->pool;
	if (rd)
		e->pool = rd->next;
	pthread_mutex_unlock(&s->gen_mu);
	int rc;
	if (rd) {
		rc = mvcc__lmdb_err(mdb_txn_renew(rd->v.txn));
		if (!rc)
			rc = mvcc__read_cursors(rd, true);
	} else {
		rd = calloc(1, sizeof(*rd));
		if (!rd) {
			mvcc__env_unref(s, e);
			return -ENOMEM;
		}
		rd->v.s = s;
		rd->v.e = e;
		rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &rd->v.txn));
		if (!rc)
			rc = mvcc__read_cursors(rd, false);
	}
	if (!rc)
		rc = mvcc__state_load(rd->v.txn, e, &rd->st);
	if (rc) {
		mvcc__read_free(rd);
		mvcc__env_unref(s, e);
		return rc;
	}
	rd->v.compact_rev = rd->st.compact_rev;
	rd->v.copy = false;
	rd->next = NULL;
	*out = rd;
	return 0;
}

void store_mvcc_read_end(struct store_mvcc_read *rd)
{
	if (!rd)
		return;
	struct store_mvcc *s = rd->v.s;
	struct mvcc_env *e = rd->v.e;
	mdb_txn_reset(rd->v.txn);
	pthread_mutex_lock(&s->gen_mu);
	rd->next = e->pool;
	e->pool = rd;
	pthread_mutex_unlock(&s->gen_mu);
	mvcc__env_unref(s, e);
}

int64_t store_mvcc_read_revision(const struct store_mvcc_read *rd)
{
	return rd->st.rev;
}

int64_t store_mvcc_read_compact_revision(const struct store_mvcc_read *rd)
{
	return rd->st.compact_rev;
}

void store_mvcc_read_applied(const struct store_mvcc_read *rd, uint64_t *index, uint64_t *term)
{
	if (index)
		*index = rd->st.applied_index;
	if (term)
		*term = rd->st.applied_term;
}
