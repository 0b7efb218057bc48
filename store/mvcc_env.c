/*
 * store/mvcc_env.c - the store's directory and the generations of its data
 * file: CURRENT, refusing what is not ours, LMDB environments, switching
 * generations (defragmentation and snapshot installs), creating a fresh
 * store.
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

int mvcc__read_current(struct store_mvcc *s, uint64_t *gen)
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
int mvcc__scan_dir(struct store_mvcc *s, bool *has_current, int *n_data, bool *has_gen1)
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
void mvcc__remove_stale(struct store_mvcc *s, uint64_t gen)
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

/* Creates generation 1 of a fresh store: built as init.mdb, renamed into
 * place, then CURRENT written, so a crash leaves either nothing or a store. */
int mvcc__create_fresh(struct store_mvcc *s)
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

/* data-1.mdb without CURRENT: creation was interrupted between the rename
 * and CURRENT. Adopted only if it is a cairn store that never applied
 * anything; anything else without CURRENT is refused. */
int mvcc__adopt_fresh(struct store_mvcc *s)
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
