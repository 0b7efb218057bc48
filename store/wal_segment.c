/*
 * store/wal_segment.c - segment files, and the housekeeper thread that
 * creates them ahead of need and deletes them after compaction.
 *
 * Why prepare ahead: a segment is created at its full size and filled with
 * zeros before the writer touches it. Writes then land on allocated,
 * already-written blocks, so fdatasync() after a batch flushes the data and
 * nothing else: no file size change, no unwritten-extent conversion, no
 * journal commit (ext4). Filling takes a while (64 MiB), so the housekeeper
 * does it while the writer works on the previous segment; the pool target
 * is opt.prealloc_segments (canonical/raft keeps two, raft.md 3.8).
 *
 * A segment is prepared under a temporary name and renamed only once it is
 * complete and synced, then the directory is synced: a segment file with a
 * final name always has a valid header and zeros after it, and a crash
 * mid-preparation leaves only a .tmp file, which open deletes.
 *
 * Deleting after compaction is the housekeeper's too: unlink each doomed
 * segment, oldest first (a crash in between leaves a prefix gap that open
 * accepts, since a snapshot record covers it), then sync the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/wal_internal.h"

#define ZERO_CHUNK (256u * 1024u)
static uint8_t zeros[ZERO_CHUNK];

int wal__fsync_dir(struct store_wal *w)
{
	if (fsync(w->dirfd) != 0) {
		int rc = -errno;
		wal__log(w, STORE_WAL_LOG_ERROR, "fsync of directory %s failed: %s", w->dir,
		         store_wal_strerror(rc));
		return rc;
	}
	return 0;
}

static int wal__write_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int wal__segment_create(struct store_wal *w, uint64_t seq, uint64_t size, int *fd_out)
{
	char tmp[WAL__NAME_LEN + 8], name[WAL__NAME_LEN + 8];
	wal__seg_name(tmp, seq, true);
	wal__seg_name(name, seq, false);
	int fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = -errno;
		wal__log(w, STORE_WAL_LOG_ERROR, "cannot create %s/%s: %s", w->dir, tmp,
		         store_wal_strerror(rc));
		return rc;
	}
	uint8_t hdr[WAL__SEG_HDR];
	struct wal__seg_hdr h = {.version = WAL__VERSION, .wal_id = w->wal_id, .seq = seq};
	wal__seg_hdr_encode(hdr, &h);
	int rc = wal__write_all(fd, hdr, sizeof hdr, 0);
	for (uint64_t off = WAL__SEG_HDR; !rc && off < size; off += ZERO_CHUNK) {
		size_t n = size - off < ZERO_CHUNK ? (size_t)(size - off) : ZERO_CHUNK;
		rc = wal__write_all(fd, zeros, n, off);
	}
	if (!rc && fdatasync(fd) != 0)
		rc = -errno;
	if (!rc && renameat(w->dirfd, tmp, w->dirfd, name) != 0)
		rc = -errno;
	if (!rc)
		rc = wal__fsync_dir(w);
	if (rc) {
		wal__log(w, STORE_WAL_LOG_ERROR, "cannot prepare segment %s/%s: %s", w->dir, name,
		         store_wal_strerror(rc));
		close(fd);
		unlinkat(w->dirfd, tmp, 0);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* Called with mu held by whoever learned of a durable snapshot: dooms the
 * oldest closed segments whose entries are all <= snap_index. The segment
 * holding the last durable snapshot record, and every later one, stays:
 * that record and the hard state written with it are the only proof of the
 * prefix the deleted segments held (T6). */
void wal__doom_prefix(struct store_wal *w, uint64_t snap_index)
{
	size_t k = 0;
	while (k < w->n_closed && w->closed[k].hi <= snap_index && w->closed[k].seq < w->snap_seg)
		k++;
	if (!k)
		return;
	if (wal__grow((void **)&w->doomed, &w->doomed_cap, w->n_doomed + k, sizeof *w->doomed))
		return; /* out of memory: keep the segments; the next compaction retries */
	for (size_t i = 0; i < k; i++)
		w->doomed[w->n_doomed++] = w->closed[i].seq;
	memmove(w->closed, w->closed + k, (w->n_closed - k) * sizeof *w->closed);
	w->n_closed -= k;
	pthread_cond_signal(&w->hk_cond);
}

static void wal__delete(struct store_wal *w, const uint64_t *seqs, size_t n)
{
	size_t deleted = 0;
	for (size_t i = 0; i < n; i++) {
		char name[WAL__NAME_LEN + 8];
		wal__seg_name(name, seqs[i], false);
		if (unlinkat(w->dirfd, name, 0) != 0 && errno != ENOENT) {
			/* Left behind, the segment is harmless: open skips it under
			 * the snapshot. Stop here so that deletion stays a prefix. */
			wal__log(w, STORE_WAL_LOG_WARN, "cannot delete compacted segment %s/%s: %s",
			         w->dir, name, strerror(errno));
			break;
		}
		deleted++;
	}
	if (deleted)
		wal__fsync_dir(w);
	pthread_mutex_lock(&w->mu);
	w->metrics.segments_deleted += deleted;
	pthread_mutex_unlock(&w->mu);
}

void *wal__housekeeper_main(void *arg)
{
	struct store_wal *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->n_doomed) {
			size_t n = w->n_doomed;
			uint64_t *seqs = malloc(n * sizeof *seqs);
			if (seqs) {
				memcpy(seqs, w->doomed, n * sizeof *seqs);
				w->n_doomed = 0;
				pthread_mutex_unlock(&w->mu);
				wal__delete(w, seqs, n);
				free(seqs);
				pthread_mutex_lock(&w->mu);
				continue;
			}
		}
		if (w->closing && w->writer_done)
			break;
		if (w->n_spares < w->opt.prealloc_segments && !w->hk_error && !w->durable.error &&
		    !w->writer_done &&
		    !wal__grow((void **)&w->spares, &w->spares_cap, w->n_spares + 1,
		               sizeof *w->spares)) {
			uint64_t seq = w->next_seq++;
			w->hk_creating = true;
			pthread_mutex_unlock(&w->mu);
			int fd = -1;
			int rc = wal__segment_create(w, seq, w->opt.segment_size, &fd);
			pthread_mutex_lock(&w->mu);
			w->hk_creating = false;
			if (rc) {
				/* Give the number back: segments stay contiguous. The
				 * writer retries itself when it needs one. */
				w->next_seq--;
				w->hk_error = rc;
			} else {
				w->spares[w->n_spares++] = (struct wal__spare){
				    .seq = seq, .fd = fd, .size = w->opt.segment_size};
				w->metrics.segments_created++;
			}
			pthread_cond_broadcast(&w->spare_cond);
			continue;
		}
		pthread_cond_wait(&w->hk_cond, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}
