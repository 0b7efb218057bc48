/*
 * store/mvcc_snapshot.c - snapshots, defragmentation, install and restore.
 *
 * A snapshot is a compacted copy of the LMDB environment made by LMDB
 * itself (mdb_env_copyfd2 with MDB_CP_COMPACT) inside one read transaction:
 * consistent by construction, and it never blocks the writer. The copy is
 * a complete cairn store file, applied index included, so installing one
 * on a follower is just switching generations (mvcc_store.c).
 *
 * Defragmentation is the same copy into the next generation, made while
 * batches are held off (so nothing committed after the copy is lost) and
 * switched in; etcd blocks reads too, cairn's readers just finish on the
 * old file.
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

static int snap__fsync_parent(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int store_mvcc_snapshot_write(struct store_mvcc *s, int fd)
{
	struct mvcc_env *e = mvcc__env_ref(s);
	int rc = mdb_env_copyfd2(e->env, fd, MDB_CP_COMPACT);
	mvcc__env_unref(s, e);
	if (rc)
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "snapshot: %s", mdb_strerror(rc));
	return mvcc__lmdb_err(rc);
}

/* Copies the current generation (compacted) to path: path.tmp, fsync,
 * rename, fsync of the directory. */
static int snap__save(struct store_mvcc *s, struct mvcc_env *e, const char *path, uint64_t *size)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = -errno;
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "snapshot %s: %s", tmp, strerror(errno));
		return rc;
	}
	int rc = mvcc__lmdb_err(mdb_env_copyfd2(e->env, fd, MDB_CP_COMPACT));
	struct stat st;
	if (!rc && fsync(fd))
		rc = -errno;
	if (!rc && fstat(fd, &st))
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = snap__fsync_parent(path);
	if (rc) {
		unlink(tmp);
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "snapshot %s: %s", path,
		          store_mvcc_strerror(rc));
		return rc;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int store_mvcc_snapshot_save(struct store_mvcc *s, const char *path, uint64_t *size)
{
	struct mvcc_env *e = mvcc__env_ref(s);
	int rc = snap__save(s, e, path, size);
	mvcc__env_unref(s, e);
	return rc;
}

static int snap__info(struct store_mvcc *s, const char *path, struct store_mvcc_snapshot_info *info)
{
	struct mvcc_env *e;
	int rc = mvcc__snapshot_env_open(s, path, &e);
	if (rc)
		return rc;
	MDB_txn *txn;
	rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
	if (!rc) {
		struct mvcc_meta_state st;
		rc = mvcc__state_load(txn, e, &st);
		if (!rc && info) {
			struct stat sb;
			info->revision = st.rev;
			info->compact_revision = st.compact_rev;
			info->applied_index = st.applied_index;
			info->applied_term = st.applied_term;
			info->size = stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
		}
		mdb_txn_abort(txn);
	}
	mvcc__env_destroy(e, false);
	return rc;
}

int store_mvcc_snapshot_info(const char *path, struct store_mvcc_snapshot_info *info)
{
	struct store_mvcc *s;
	int rc = mvcc__store_alloc(NULL, &s);
	if (rc)
		return rc;
	rc = snap__info(s, path, info);
	store_mvcc_close(s);
	return rc;
}

int store_mvcc_defrag(struct store_mvcc *s)
{
	pthread_mutex_lock(&s->write_mu);
	struct mvcc_env *e = mvcc__env_ref(s);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s/data-%" PRIu64 ".mdb.tmp", s->dir, e->gen + 1);
	int64_t before = mvcc__db_size(s, e->env);
	unlink(tmp);
	int rc = mvcc__lmdb_err(mdb_env_copy2(e->env, tmp, MDB_CP_COMPACT));
	mvcc__env_unref(s, e);
	if (!rc) {
		int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd))
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!rc)
		rc = mvcc__switch_generation(s, tmp);
	if (rc) {
		unlink(tmp);
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "defrag: %s", store_mvcc_strerror(rc));
	} else {
		struct store_mvcc_state st;
		store_mvcc_state(s, &st);
		mvcc__log(s, STORE_MVCC_LOG_INFO, "defrag: %" PRId64 " -> %" PRId64 " bytes",
		          before, st.db_size);
	}
	pthread_mutex_unlock(&s->write_mu);
	return rc;
}

/* Copies src to dst (created), then fsyncs dst. */
static int snap__copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		int rc = -errno;
		close(in);
		return rc;
	}
	int rc = 0;
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				rc = -errno;
				break;
			}
			off += w;
		}
		if (rc)
			break;
	}
	if (!rc && fsync(out))
		rc = -errno;
	close(in);
	close(out);
	if (rc)
		unlink(dst);
	return rc;
}

int store_mvcc_install(struct store_mvcc *s, const char *path)
{
	int rc = snap__info(s, path, NULL);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->write_mu);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s/data-%" PRIu64 ".mdb.tmp", s->dir, s->cur->gen + 1);
	unlink(tmp);
	bool copied = false;
	if (rename(path, tmp)) {
		rc = errno == EXDEV ? snap__copy_file(path, tmp) : -errno;
		copied = true;
	} else {
		int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd))
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!rc) {
		rc = mvcc__switch_generation(s, tmp);
		/* On failure the candidate is back at tmp: give it back. */
		if (rc && copied)
			unlink(tmp);
		else if (rc)
			rename(tmp, path);
		else if (copied)
			unlink(path);
	}
	if (!rc) {
		MDB_txn *txn;
		struct mvcc_env *e = mvcc__env_ref(s);
		rc = mvcc__lmdb_err(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn));
		if (!rc) {
			rc = mvcc__lessor_load(s, txn, e);
			mdb_txn_abort(txn);
		}
		mvcc__env_unref(s, e);
	}
	if (rc)
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "install %s: %s", path, store_mvcc_strerror(rc));
	else
		mvcc__log(s, STORE_MVCC_LOG_INFO, "installed snapshot %s", path);
	pthread_mutex_unlock(&s->write_mu);
	return rc;
}

static int snap__dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			rc = STORE_MVCC_EFOREIGN;
			break;
		}
	closedir(d);
	return rc;
}

int store_mvcc_restore(const char *dir, const char *path)
{
	struct store_mvcc *s;
	int rc = mvcc__store_alloc(NULL, &s);
	if (rc)
		return rc;
	rc = snap__info(s, path, NULL);
	if (rc)
		goto out;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if ((rc = snap__dir_empty(dir))) {
		mvcc__log(s, STORE_MVCC_LOG_ERROR, "restore: %s is not empty", dir);
		goto out;
	}
	s->dir = strdup(dir);
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!s->dir || s->dir_fd < 0) {
		rc = s->dir ? -errno : -ENOMEM;
		goto out;
	}
	char tmp[4096], final[4096];
	snprintf(tmp, sizeof(tmp), "%s/data-1.mdb.tmp", dir);
	snprintf(final, sizeof(final), "%s/data-1.mdb", dir);
	rc = snap__copy_file(path, tmp);
	if (!rc && rename(tmp, final))
		rc = -errno;
	if (!rc)
		rc = mvcc__write_current(s, 1);
out:
	store_mvcc_close(s);
	return rc;
}
