/*
 * store/mvcc_store.c - opening, closing and refusing directories; the
 * generations of the data file; read contexts; the committed state.
 *
 * A store directory holds one live LMDB environment, data-<g>.mdb, named by
 * CURRENT. Defragmentation and snapshot installation build generation g+1
 * beside it and switch CURRENT with an atomic rename; read contexts hold a
 * reference to the generation they began on, so a switch never waits for
 * readers and never pulls a page from under one: the old generation is
 * closed and unlinked when its last reader ends. Each generation has its
 * own LMDB lock file (MDB_NOSUBDIR: data-<g>.mdb-lock), which is what makes
 * two environments open in one process safe.
 *
 * Refusals never modify anything: the directory listing is checked before
 * the LOCK file is created, and a data file is checked for LMDB's magic
 * before LMDB opens it (LMDB initialises an empty file in place).
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

const char *const mvcc__db_names[MVCC_DB_COUNT] = {
    "meta", "index", "history", "lease", "lease_keys", "member", "member_removed", "alarm", "umeta",
};

static const unsigned mvcc__db_flags[MVCC_DB_COUNT] = {
    [MVCC_DB_INDEX] = MDB_DUPSORT | MDB_DUPFIXED,
    [MVCC_DB_LEASE_KEYS] = MDB_DUPSORT,
};

#define MVCC_LMDB_MAGIC 0xBEEFC0DEu
#define GiB             (1024ull * 1024 * 1024)

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

static void mvcc__state_init(struct mvcc_meta_state *st)
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
 * Files
 * ------------------------------------------------------------------------ */

int mvcc__fsync_dir(int dir_fd)
{
	return fsync(dir_fd) ? -errno : 0;
}

/* Writes CURRENT naming generation gen: CURRENT.tmp, fsync, rename, fsync
 * of the directory. */
int mvcc__write_current(struct store_mvcc *s, uint64_t gen)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", gen);
	int fd = openat(s->dir_fd, "CURRENT.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (write(fd, buf, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (!rc && renameat(s->dir_fd, "CURRENT.tmp", s->dir_fd, "CURRENT"))
		rc = -errno;
	if (!rc)
		rc = mvcc__fsync_dir(s->dir_fd);
	if (rc)
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: writing CURRENT: %s", s->dir,
		          strerror(-rc));
	return rc;
}

static int mvcc__read_current(struct store_mvcc *s, uint64_t *gen)
{
	char buf[32];
	int fd = openat(s->dir_fd, "CURRENT", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 1 || buf[n - 1] != '\n') {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s/CURRENT: malformed", s->dir);
		return STORE_MVCC_EDAMAGED;
	}
	buf[n - 1] = 0;
	char *end;
	errno = 0;
	unsigned long long g = strtoull(buf, &end, 10);
	if (errno || *end || g == 0 || buf[0] < '1' || buf[0] > '9') {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s/CURRENT: malformed", s->dir);
		return STORE_MVCC_EDAMAGED;
	}
	*gen = g;
	return 0;
}

/* data-<g>.mdb, data-<g>.mdb-lock, data-<g>.mdb.tmp: sets *gen, *kind (0
 * data, 1 lock, 2 tmp). Returns false for any other name. */
static bool mvcc__parse_data_name(const char *name, uint64_t *gen, int *kind)
{
	if (strncmp(name, "data-", 5) || name[5] < '1' || name[5] > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long g = strtoull(name + 5, &end, 10);
	if (errno)
		return false;
	*gen = g;
	if (!strcmp(end, ".mdb"))
		*kind = 0;
	else if (!strcmp(end, ".mdb-lock"))
		*kind = 1;
	else if (!strcmp(end, ".mdb.tmp"))
		*kind = 2;
	else
		return false;
	return true;
}

static bool mvcc__is_leftover(const char *name)
{
	return !strcmp(name, "CURRENT.tmp") || !strcmp(name, "init.mdb") ||
	       !strcmp(name, "init.mdb-lock") || !strcmp(name, "install.mdb.tmp");
}

/* Checks that the directory holds only a cairn store's files. Sets *has_current
 * and *has_data. */
static int mvcc__scan_dir(struct store_mvcc *s, bool *has_current, int *n_data, bool *has_gen1)
{
	int fd = dup(s->dir_fd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	*has_current = *has_gen1 = false;
	*n_data = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		uint64_t gen;
		int kind;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (!strcmp(n, "CURRENT")) {
			*has_current = true;
		} else if (!strcmp(n, "LOCK") || mvcc__is_leftover(n)) {
			continue;
		} else if (mvcc__parse_data_name(n, &gen, &kind)) {
			if (kind == 0) {
				(*n_data)++;
				*has_gen1 |= gen == 1;
			}
		} else {
			mvcc__log(
			    s, STORE_MVCC_LOG_ERROR,
			    "%s: refusing to open: \"%s\" is not a file of a cairn MVCC store",
			    s->dir, n);
			rc = STORE_MVCC_EFOREIGN;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Removes leftovers of interrupted inits and defragmentations, and retired
 * generations, once generation `gen` is known good. */
static void mvcc__remove_stale(struct store_mvcc *s, uint64_t gen)
{
	int fd = dup(s->dir_fd);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t g = 0;
		int kind = 0;
		bool stale =
		    mvcc__is_leftover(de->d_name) ||
		    (mvcc__parse_data_name(de->d_name, &g, &kind) && (g != gen || kind == 2));
		if (stale) {
			mvcc__log(s, STORE_MVCC_LOG_INFO, "%s: removing leftover %s", s->dir,
			          de->d_name);
			unlinkat(s->dir_fd, de->d_name, 0);
		}
	}
	closedir(d);
}

/* LMDB initialises an empty or short file as a new environment, writing to
 * it: check the first meta page's magic before letting LMDB see the file. */
static int mvcc__check_lmdb_file(struct store_mvcc *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: %s", path, strerror(errno));
		return rc == -ENOENT ? STORE_MVCC_EDAMAGED : rc;
	}
	uint8_t hdr[20];
	struct stat st;
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	int err = fstat(fd, &st);
	close(fd);
	if (err || n != (ssize_t)sizeof(hdr) || st.st_size < 8192) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: too short to be an LMDB file (%lld bytes)",
		          path, (long long)(err ? 0 : st.st_size));
		return STORE_MVCC_EDAMAGED;
	}
	/* The page header is 16 bytes; MDB_meta starts with its magic. */
	uint32_t magic = (uint32_t)hdr[16] | (uint32_t)hdr[17] << 8 | (uint32_t)hdr[18] << 16 |
	                 (uint32_t)hdr[19] << 24;
	if (magic != MVCC_LMDB_MAGIC) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: not an LMDB file (bad magic %#x)", path,
		          magic);
		return STORE_MVCC_EDAMAGED;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Environments
 * ------------------------------------------------------------------------ */

int mvcc__check_format(MDB_txn *txn, const struct mvcc_env *e, const char *what,
                       struct store_mvcc *s)
{
	MDB_val k = {6, "format"}, d;
	int rc = mdb_get(txn, e->dbi[MVCC_DB_META], &k, &d);
	if (rc || d.mv_size != MVCC_MAGIC_LEN + 4 ||
	    memcmp(d.mv_data, MVCC_MAGIC, MVCC_MAGIC_LEN)) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: no cairn MVCC format record", what);
		return STORE_MVCC_EFOREIGN;
	}
	const uint8_t *b = (const uint8_t *)d.mv_data + MVCC_MAGIC_LEN;
	uint32_t version =
	    (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	if (version != MVCC_FORMAT_VERSION) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR,
		          "%s: format version %u, this build reads version %u", what, version,
		          MVCC_FORMAT_VERSION);
		return STORE_MVCC_EVERSION;
	}
	return 0;
}

/* Opens the named databases: created in a fresh environment (create), else
 * they must all exist. */
static int mvcc__open_dbs(struct store_mvcc *s, struct mvcc_env *e, bool create, bool rdonly,
                          const char *path)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(e->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
	if (rc)
		return mvcc__lmdb_err(rc);
	/* The meta database first: its absence means "not ours". */
	for (int i = 0; i < MVCC_DB_COUNT; i++) {
		unsigned flags = mvcc__db_flags[i] | (create ? MDB_CREATE : 0);
		rc = mdb_dbi_open(txn, mvcc__db_names[i], flags, &e->dbi[i]);
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
			mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: %s database \"%s\"", path,
			          rc == MDB_NOTFOUND ? "no" : "incompatible", mvcc__db_names[i]);
			rc = i == MVCC_DB_META ? STORE_MVCC_EFOREIGN : STORE_MVCC_EDAMAGED;
			goto err;
		}
		if (rc) {
			rc = mvcc__lmdb_err(rc);
			goto err;
		}
		if (i == MVCC_DB_META && !create) {
			rc = mvcc__check_format(txn, e, path, s);
			if (rc)
				goto err;
		}
	}
	if (create) {
		uint8_t fmt[MVCC_MAGIC_LEN + 4];
		memcpy(fmt, MVCC_MAGIC, MVCC_MAGIC_LEN);
		fmt[MVCC_MAGIC_LEN] = MVCC_FORMAT_VERSION & 0xff;
		fmt[MVCC_MAGIC_LEN + 1] = fmt[MVCC_MAGIC_LEN + 2] = fmt[MVCC_MAGIC_LEN + 3] = 0;
		MDB_val k = {6, "format"}, d = {sizeof(fmt), fmt};
		rc = mdb_put(txn, e->dbi[MVCC_DB_META], &k, &d, 0);
		if (!rc) {
			struct mvcc_meta_state st;
			uint8_t sb[MVCC_META_STATE_SIZE];
			mvcc__state_init(&st);
			mvcc__state_encode(&st, sb);
			MDB_val sk = {5, "state"}, sd = {sizeof(sb), sb};
			rc = mdb_put(txn, e->dbi[MVCC_DB_META], &sk, &sd, 0);
		}
		if (rc) {
			rc = mvcc__lmdb_err(rc);
			goto err;
		}
	} else {
		struct mvcc_meta_state st;
		rc = mvcc__state_load(txn, e, &st);
		if (rc) {
			mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: bad state record", path);
			goto err;
		}
	}
	rc = mvcc__lmdb_err(mdb_txn_commit(txn));
	return rc;
err:
	mdb_txn_abort(txn);
	return rc;
}

static int mvcc__env_open_flags(struct store_mvcc *s, const char *path, unsigned extra_flags,
                                bool create, struct mvcc_env **out)
{
	struct mvcc_env *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->path = strdup(path);
	if (!e->path) {
		free(e);
		return -ENOMEM;
	}
	int rc = mdb_env_create(&e->env);
	if (rc) {
		rc = mvcc__lmdb_err(rc);
		goto err;
	}
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | extra_flags;
	if (!(extra_flags & MDB_RDONLY)) {
		if (s->o.sync_mode == STORE_MVCC_SYNC_DATA)
			flags |= MDB_NOMETASYNC;
		else if (s->o.sync_mode == STORE_MVCC_SYNC_NONE)
			flags |= MDB_NOSYNC;
	}
	if ((rc = mdb_env_set_maxdbs(e->env, 16)) ||
	    (rc = mdb_env_set_mapsize(e->env, (size_t)s->map_size)) ||
	    (rc = mdb_env_set_maxreaders(e->env, s->o.max_readers)) ||
	    (rc = mdb_env_open(e->env, path, flags, 0600))) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: LMDB open: %s", path, mdb_strerror(rc));
		rc = mvcc__lmdb_err(rc);
		goto err;
	}
	if (mdb_env_get_maxkeysize(e->env) < (int)MVCC_SKEY_LONG) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "LMDB built with max key size %d < %u",
		          mdb_env_get_maxkeysize(e->env), MVCC_SKEY_LONG);
		rc = -EINVAL;
		goto err;
	}
	rc = mvcc__open_dbs(s, e, create, extra_flags & MDB_RDONLY, path);
	if (rc)
		goto err;
	e->refs = 1;
	*out = e;
	return 0;
err:
	if (e->env)
		mdb_env_close(e->env);
	free(e->path);
	free(e);
	return rc;
}

int mvcc__env_open(struct store_mvcc *s, const char *path, unsigned extra_flags,
                   struct mvcc_env **out)
{
	int rc = mvcc__check_lmdb_file(s, path);
	if (rc)
		return rc;
	return mvcc__env_open_flags(s, path, extra_flags, false, out);
}

void mvcc__env_destroy(struct mvcc_env *e, bool unlink_files)
{
	struct store_mvcc_read *rd = e->pool;
	while (rd) {
		struct store_mvcc_read *next = rd->next;
		mdb_cursor_close(rd->v.idx);
		mdb_cursor_close(rd->v.idx2);
		mdb_cursor_close(rd->v.hist);
		mdb_txn_abort(rd->v.txn);
		free(rd);
		rd = next;
	}
	mdb_env_close(e->env);
	if (unlink_files) {
		char lock[4096];
		snprintf(lock, sizeof(lock), "%s-lock", e->path);
		unlink(e->path);
		unlink(lock);
	}
	free(e->path);
	free(e);
}

int mvcc__snapshot_env_open(struct store_mvcc *s, const char *path, struct mvcc_env **out)
{
	int rc = mvcc__check_lmdb_file(s, path);
	if (rc)
		return rc;
	return mvcc__env_open_flags(s, path, MDB_RDONLY | MDB_NOLOCK, false, out);
}

struct mvcc_env *mvcc__env_ref(struct store_mvcc *s)
{
	pthread_mutex_lock(&s->gen_mu);
	struct mvcc_env *e = s->cur;
	e->refs++;
	pthread_mutex_unlock(&s->gen_mu);
	return e;
}

void mvcc__env_unref(struct store_mvcc *s, struct mvcc_env *e)
{
	pthread_mutex_lock(&s->gen_mu);
	bool dead = --e->refs == 0;
	pthread_mutex_unlock(&s->gen_mu);
	if (dead) {
		mvcc__log(s, STORE_MVCC_LOG_INFO, "%s: retired generation %" PRIu64, s->dir,
		          e->gen);
		mvcc__env_destroy(e, e->retired);
	}
}

static void mvcc__publish_state(struct store_mvcc *s, MDB_txn *txn, struct mvcc_env *e)
{
	struct mvcc_meta_state st;
	int nospace = 0, corrupt = 0;
	if (mvcc__state_load(txn, e, &st) == 0 &&
	    mvcc__count_alarms(txn, e, &nospace, &corrupt) == 0) {
		pthread_mutex_lock(&s->state_mu);
		s->st = st;
		s->nospace = nospace;
		s->corrupt = corrupt;
		pthread_mutex_unlock(&s->state_mu);
	}
}

/* A failed switch leaves the candidate where the caller had it. */
static void mvcc__undo_switch(const char *path, const char *new_file)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(lock);
	if (strcmp(new_file, path))
		rename(path, new_file);
	else
		unlink(path);
}

int mvcc__switch_generation(struct store_mvcc *s, const char *new_file)
{
	uint64_t gen = s->cur->gen + 1;
	char name[64], path[4096];
	snprintf(name, sizeof(name), "data-%" PRIu64 ".mdb", gen);
	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	if (strcmp(new_file, path) && rename(new_file, path)) {
		int rc = -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "rename %s -> %s: %s", new_file, path,
		          strerror(errno));
		return rc;
	}
	int rc = mvcc__fsync_dir(s->dir_fd);
	struct mvcc_env *e = NULL;
	if (!rc)
		rc = mvcc__env_open(s, path, 0, &e);
	if (rc) {
		mvcc__undo_switch(path, new_file);
		return rc;
	}
	e->gen = gen;
	MDB_txn *txn;
	rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
	if (!rc) {
		int ns, co;
		struct mvcc_meta_state st;
		rc = mvcc__state_load(txn, e, &st);
		if (!rc)
			rc = mvcc__count_alarms(txn, e, &ns, &co);
		mdb_txn_abort(txn);
	}
	if (!rc)
		rc = mvcc__write_current(s, gen);
	if (rc) {
		mvcc__env_destroy(e, false);
		mvcc__undo_switch(path, new_file);
		return rc;
	}
	pthread_mutex_lock(&s->gen_mu);
	struct mvcc_env *old = s->cur;
	s->cur = e;
	old->retired = true;
	pthread_mutex_unlock(&s->gen_mu);
	rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
	if (!rc) {
		mvcc__publish_state(s, txn, e);
		mdb_txn_abort(txn);
	}
	mvcc__env_unref(s, old);
	mvcc__log(s, STORE_MVCC_LOG_INFO, "%s: now on generation %" PRIu64, s->dir, gen);
	return 0;
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

/* Creates generation 1 of a fresh store: built as init.mdb, renamed into
 * place, then CURRENT written, so a crash leaves either nothing or a store. */
static int mvcc__create_fresh(struct store_mvcc *s)
{
	char path[4096], final[4096];
	snprintf(path, sizeof(path), "%s/init.mdb", s->dir);
	snprintf(final, sizeof(final), "%s/data-1.mdb", s->dir);
	unlinkat(s->dir_fd, "init.mdb", 0);
	unlinkat(s->dir_fd, "init.mdb-lock", 0);
	struct mvcc_env *e;
	int rc = mvcc__env_open_flags(s, path, 0, true, &e);
	if (rc)
		return rc;
	rc = mvcc__lmdb_err(mdb_env_sync(e->env, 1));
	mdb_env_close(e->env);
	free(e->path);
	free(e);
	unlinkat(s->dir_fd, "init.mdb-lock", 0);
	if (!rc && rename(path, final))
		rc = -errno;
	if (!rc)
		rc = mvcc__fsync_dir(s->dir_fd);
	if (!rc)
		rc = mvcc__write_current(s, 1);
	if (!rc)
		mvcc__log(s, STORE_MVCC_LOG_INFO, "%s: created a new store", s->dir);
	return rc;
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

/* data-1.mdb without CURRENT: creation was interrupted between the rename
 * and CURRENT. Adopted only if it is a cairn store that never applied
 * anything; anything else without CURRENT is refused. */
static int mvcc__adopt_fresh(struct store_mvcc *s)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/data-1.mdb", s->dir);
	struct mvcc_env *e;
	int rc = mvcc__env_open(s, path, 0, &e);
	struct mvcc_meta_state st = {0};
	MDB_txn *txn;
	if (!rc) {
		rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
		if (!rc) {
			rc = mvcc__state_load(txn, e, &st);
			mdb_txn_abort(txn);
		}
		mvcc__env_destroy(e, false);
	}
	if (rc || st.rev != 1 || st.applied_index != 0) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "%s: data files but no CURRENT file", s->dir);
		return STORE_MVCC_EDAMAGED;
	}
	mvcc__log(s, STORE_MVCC_LOG_INFO, "%s: completing an interrupted creation", s->dir);
	return mvcc__write_current(s, 1);
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
