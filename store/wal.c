/*
 * store/wal.c - the WAL's lifecycle: open (options, directory, lock,
 * recovery, threads), close, and the calls any thread may make (durable
 * position, metrics, error names, logging).
 *
 * The moving parts live in their own files (see store/wal_internal.h); this
 * one wires them together and owns the rules that span them: the directory
 * is locked with flock() so that two processes never write one log, and
 * close drains the queue before stopping the threads, so that what the
 * host queued is durable when close returns 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/wal_internal.h"

#define MiB (1024ull * 1024ull)

const char *store_wal_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case STORE_WAL_ECORRUPT:
		return "WAL is corrupt";
	case STORE_WAL_EFOREIGN:
		return "directory is not a cairn WAL";
	case STORE_WAL_EVERSION:
		return "WAL format version not supported";
	case STORE_WAL_ECOMPACTED:
		return "index compacted into a snapshot";
	case STORE_WAL_EUNAVAIL:
		return "index beyond the end of the log";
	case STORE_WAL_EFAILED:
		return "WAL failed after a write error";
	case STORE_WAL_ELOCKED:
		return "WAL directory is in use by another process";
	default:
		return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
	}
}

static void wal__log_stderr(void *data, enum store_wal_log_level level, const char *msg)
{
	static const char *names[] = {"error", "warn", "info"};
	fprintf(stderr, "cairn wal: %s: %s\n", names[level], msg);
}

void wal__log(struct store_wal *w, enum store_wal_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->log_mu);
	w->opt.log_cb(w->opt.log_data, level, msg);
	pthread_mutex_unlock(&w->log_mu);
}

int wal__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 8;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static int wal__options(struct store_wal_options *o, const struct store_wal_options *in)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof *o);
	if (!o->segment_size)
		o->segment_size = 64 * MiB;
	if (!o->prealloc_segments)
		o->prealloc_segments = 1;
	if (!o->cache_bytes)
		o->cache_bytes = 8 * MiB;
	if (!o->max_batch_bytes)
		o->max_batch_bytes = 4 * MiB;
	if (!o->log_cb)
		o->log_cb = wal__log_stderr;
	if (o->segment_size < WAL__MIN_SEGMENT || o->segment_size > WAL__MAX_SEGMENT ||
	    o->segment_size % WAL__ALIGN || o->prealloc_segments > 64)
		return -EINVAL;
	if (o->max_batch_bytes > o->segment_size - WAL__SEG_HDR - WAL__BATCH_HDR)
		o->max_batch_bytes = o->segment_size - WAL__SEG_HDR - WAL__BATCH_HDR;
	return 0;
}

/* Opens dir, creating it if missing (and syncing its parent so that the
 * new name is durable). */
static int wal__dir_open(const char *dir, int *fd_out)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		char *parent = strdup(dir);
		if (!parent)
			return -ENOMEM;
		char *slash = strrchr(parent, '/');
		const char *pname = ".";
		if (slash == parent)
			pname = "/";
		else if (slash) {
			*slash = 0;
			pname = parent;
		}
		int pfd = open(pname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = pfd < 0 ? -errno : 0;
		if (pfd >= 0) {
			if (fsync(pfd) != 0)
				rc = -errno;
			close(pfd);
		}
		free(parent);
		if (rc)
			return rc;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*fd_out = fd;
	return 0;
}

static void wal__free(struct store_wal *w)
{
	wal__chunks_free(w);
	wal__maps_free(w);
	for (size_t i = 0; i < w->n_spares; i++)
		close(w->spares[i].fd);
	if (w->seg_fd >= 0)
		close(w->seg_fd);
	if (w->dirfd >= 0)
		close(w->dirfd); /* releases the flock */
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->log_mu);
	pthread_cond_destroy(&w->writer_cond);
	pthread_cond_destroy(&w->durable_cond);
	pthread_cond_destroy(&w->hk_cond);
	pthread_cond_destroy(&w->spare_cond);
	free(w->ents);
	free(w->snap_conf);
	free(w->spares);
	free(w->doomed);
	free(w->closed);
	free(w->iov);
	free(w->taken);
	free(w->dir);
	free(w);
}

static int wal__threads_start(struct store_wal *w)
{
	int rc = pthread_create(&w->writer, NULL, wal__writer_main, w);
	if (rc)
		return -rc;
	rc = pthread_create(&w->housekeeper, NULL, wal__housekeeper_main, w);
	if (rc) {
		pthread_mutex_lock(&w->mu);
		w->closing = true;
		pthread_cond_signal(&w->writer_cond);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->writer, NULL);
		return -rc;
	}
	w->threads_started = true;
	return 0;
}

int store_wal_open(const char *dir, const struct store_wal_options *opts, struct store_wal **out,
                   struct store_wal_state *state)
{
	struct store_wal *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->dirfd = -1;
	w->seg_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->log_mu, NULL);
	pthread_cond_init(&w->writer_cond, NULL);
	pthread_cond_init(&w->durable_cond, NULL);
	pthread_cond_init(&w->hk_cond, NULL);
	pthread_cond_init(&w->spare_cond, NULL);
	int rc = wal__options(&w->opt, opts);
	if (rc)
		goto err;
	w->dir = strdup(dir);
	if (!w->dir) {
		rc = -ENOMEM;
		goto err;
	}
	rc = wal__dir_open(dir, &w->dirfd);
	if (rc) {
		wal__log(w, STORE_WAL_LOG_ERROR, "cannot open WAL directory %s: %s", dir,
		         store_wal_strerror(rc));
		goto err;
	}
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? STORE_WAL_ELOCKED : -errno;
		wal__log(w, STORE_WAL_LOG_ERROR, "cannot lock WAL directory %s: %s", dir,
		         store_wal_strerror(rc));
		goto err;
	}
	const char *fault = getenv("CAIRN_WAL_FAULT");
	if (fault)
		wal__fault_parse(&w->fault, fault);

	rc = wal__recover(w);
	if (rc)
		goto err;
	rc = wal__threads_start(w);
	if (rc)
		goto err;
	if (state)
		store_wal_state(w, state);
	*out = w;
	return 0;
err:
	wal__free(w);
	return rc;
}

int store_wal_close(struct store_wal *w)
{
	if (!w)
		return 0;
	int rc = 0;
	if (w->threads_started) {
		/* The writer drains the queue before it honours closing. */
		pthread_mutex_lock(&w->mu);
		w->closing = true;
		pthread_cond_broadcast(&w->writer_cond);
		pthread_cond_broadcast(&w->hk_cond);
		pthread_cond_broadcast(&w->spare_cond);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->writer, NULL);
		pthread_join(w->housekeeper, NULL);
		rc = w->durable.error;
	}
	wal__free(w);
	return rc;
}

void store_wal_durable(struct store_wal *w, struct store_wal_durable *d)
{
	pthread_mutex_lock(&w->mu);
	*d = w->durable;
	pthread_mutex_unlock(&w->mu);
}

uint64_t store_wal_queued(struct store_wal *w)
{
	return w->op_seq;
}

int store_wal_wait(struct store_wal *w)
{
	uint64_t target = w->op_seq;
	pthread_mutex_lock(&w->mu);
	while (w->durable.seq < target && !w->durable.error)
		pthread_cond_wait(&w->durable_cond, &w->mu);
	int rc = w->durable.error ? STORE_WAL_EFAILED : 0;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void store_wal_metrics(struct store_wal *w, struct store_wal_metrics *m)
{
	pthread_mutex_lock(&w->mu);
	*m = w->metrics;
	pthread_mutex_unlock(&w->mu);
}
