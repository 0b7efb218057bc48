/*
 * store/wal_writer.c - the writer thread: group commit by structure.
 *
 * The loop queues records into chunks and returns at once. The writer takes
 * every chunk queued since its last write (up to max_batch_bytes), frames
 * them as one batch (one header, one CRC over all their records), writes the
 * batch with one pwritev() and makes it durable with one fdatasync(). While
 * it does, new calls queue behind it and go out together next time: batch
 * size follows the load by itself, with no timer adding latency at low load
 * (raft.md 3.7, canonical/raft's uv_append.c, LogCabin's double buffering).
 *
 * After the sync the writer publishes, under the mutex, the logical state
 * recorded with the batch's last chunk: the (index, term) of the last entry,
 * the hard state, the snapshot index, the operation count. Then it calls
 * the host's notify callback. A write or sync error is fatal and sticky: no
 * queued chunk is marked durable, the error is published, and the writer
 * stops (an fdatasync() failure may have dropped dirty pages: retrying could
 * report data durable that is not).
 *
 * The testing hook CAIRN_WAL_FAULT=torn:<n>:<seed> makes the n-th batch a
 * torn write followed by SIGKILL (see tear()).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/wal_internal.h"

/* Linux's UIO_MAXIOV; IOV_MAX needs _XOPEN_SOURCE. */
#define WAL_IOV_MAX 1024

static uint64_t wal__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void wal__fault_parse(struct wal__fault *f, const char *spec)
{
	unsigned long long n, seed;
	if (sscanf(spec, "torn:%llu:%llu", &n, &seed) == 2 && n > 0) {
		f->armed = true;
		f->batch = n;
		f->seed = seed;
	}
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Writes part of the batch the way a power loss can leave it, then dies
 * without syncing. The page cache survives SIGKILL, so the file then holds
 * exactly what a crash mid-write would have left on the platter. Three
 * shapes, chosen by the seed: a prefix of the batch; a random subset of its
 * 512-byte sectors (disks do not persist a write in order); or all of it
 * (a crash after the write, before the sync). */
__attribute__((noreturn)) static void wal__tear(struct store_wal *w, const uint8_t *batch,
                                                size_t len, uint64_t off)
{
	uint64_t s = w->fault.seed;
	switch (splitmix64(&s) % 3) {
	case 0: {
		size_t keep = (size_t)(splitmix64(&s) % len);
		if (keep && pwrite(w->seg_fd, batch, keep, (off_t)off) < 0)
			break;
		break;
	}
	case 1:
		for (uint64_t pos = off; pos < off + len;) {
			uint64_t end = (pos / WAL__SECTOR + 1) * WAL__SECTOR;
			if (end > off + len)
				end = off + len;
			if (splitmix64(&s) & 1) {
				if (pwrite(w->seg_fd, batch + (pos - off), end - pos, (off_t)pos) <
				    0)
					break;
			}
			pos = end;
		}
		break;
	default:
		if (pwrite(w->seg_fd, batch, len, (off_t)off) < 0)
			break;
		break;
	}
	raise(SIGKILL);
	abort();
}

static int wal__writev_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pwritev(fd, iov, n > WAL_IOV_MAX ? WAL_IOV_MAX : n, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)k;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Called with mu held. Moves to the next prepared segment, waiting for the
 * housekeeper if it is still preparing one, or preparing one itself if the
 * housekeeper failed (and so retrying a transient ENOSPC once). */
static int wal__roll(struct store_wal *w)
{
	int rc = wal__grow((void **)&w->closed, &w->closed_cap, w->n_closed + 1, sizeof *w->closed);
	if (rc)
		return rc;
	while (!w->n_spares && (w->hk_creating || !w->hk_error)) {
		pthread_cond_signal(&w->hk_cond);
		pthread_cond_wait(&w->spare_cond, &w->mu);
	}
	struct wal__spare sp;
	if (w->n_spares) {
		sp = w->spares[0];
		memmove(w->spares, w->spares + 1, --w->n_spares * sizeof *w->spares);
	} else {
		w->hk_error = 0;
		sp.seq = w->next_seq++;
		sp.size = w->opt.segment_size;
		pthread_mutex_unlock(&w->mu);
		rc = wal__segment_create(w, sp.seq, sp.size, &sp.fd);
		pthread_mutex_lock(&w->mu);
		if (rc)
			return rc;
		w->metrics.segments_created++;
	}
	w->closed[w->n_closed++] = (struct wal__closed){.seq = w->seg_seq, .hi = w->seg_hi};
	close(w->seg_fd);
	w->seg_fd = sp.fd;
	w->seg_seq = sp.seq;
	w->seg_size = sp.size;
	w->seg_used = WAL__SEG_HDR;
	w->seg_hi = 0;
	pthread_cond_signal(&w->hk_cond); /* prepare the next one */
	return 0;
}

/* Takes the queued chunks for one batch (mu held). At least one chunk; more
 * while the batch stays under max_batch_bytes. */
static int wal__take(struct store_wal *w, size_t *n_out, size_t *bytes_out)
{
	size_t n = 0, bytes = 0;
	for (struct wal__chunk *c = w->q_head; c; c = c->next) {
		if (n && bytes + c->len > w->opt.max_batch_bytes)
			break;
		n++;
		bytes += c->len;
	}
	if (wal__grow((void **)&w->taken, &w->taken_cap, n, sizeof *w->taken) ||
	    wal__grow((void **)&w->iov, &w->iov_cap, n + 1, sizeof *w->iov))
		return -ENOMEM;
	struct wal__chunk *c = w->q_head;
	for (size_t i = 0; i < n; i++, c = c->next) {
		c->taken = true;
		w->taken[i] = c;
		w->iov[i + 1] = (struct iovec){.iov_base = c->buf, .iov_len = c->len};
	}
	w->q_head = c;
	*n_out = n;
	*bytes_out = bytes;
	return 0;
}

static void wal__fail(struct store_wal *w, int rc, const char *what)
{
	char name[WAL__NAME_LEN + 8];
	wal__seg_name(name, w->seg_seq, false);
	wal__log(w, STORE_WAL_LOG_ERROR,
	         "%s of %s/%s at offset %llu failed: %s; the WAL accepts no more writes", what,
	         w->dir, name, (unsigned long long)w->seg_used, store_wal_strerror(rc));
	pthread_mutex_lock(&w->mu);
	w->durable.error = rc;
	pthread_cond_broadcast(&w->durable_cond);
	pthread_cond_broadcast(&w->hk_cond);
	pthread_mutex_unlock(&w->mu);
	if (w->opt.notify_cb)
		w->opt.notify_cb(w, w->opt.notify_data);
}

static void wal__record_sync(struct store_wal *w, uint64_t ns, size_t bytes, size_t n)
{
	struct store_wal_metrics *m = &w->metrics;
	m->syncs++;
	m->batches++;
	m->bytes_written += bytes;
	m->last_sync_ns = ns;
	m->sync_ns_sum += ns;
	for (size_t i = 0; i < n; i++)
		m->entries_written += w->taken[i]->n_entries;
	size_t b = 0;
	uint64_t bound = 1000000; /* 1 ms */
	while (b < STORE_WAL_SYNC_BUCKETS - 1 && ns > bound) {
		b++;
		bound *= 2;
	}
	m->sync_buckets[b]++;
}

/* Writes and syncs one batch of n taken chunks, data bytes in all. */
static int wal__write_batch(struct store_wal *w, size_t n, size_t data)
{
	size_t len = WAL__BATCH_HDR + data;
	int rc = 0;
	if (w->seg_used + len > w->seg_size && w->seg_used > WAL__SEG_HDR) {
		pthread_mutex_lock(&w->mu);
		rc = wal__roll(w);
		pthread_mutex_unlock(&w->mu);
		if (rc) {
			wal__fail(w, rc, "segment roll");
			return rc;
		}
	}
	/* A batch larger than a whole segment gets the fresh segment grown to
	 * fit. Rare (a huge entry); the size change is synced with the data. */
	if (w->seg_used + len > w->seg_size) {
		if (ftruncate(w->seg_fd, (off_t)(w->seg_used + len)) != 0) {
			rc = -errno;
			wal__fail(w, rc, "growing");
			return rc;
		}
		w->seg_size = w->seg_used + len;
	}

	uint32_t crc = 0;
	for (size_t i = 0; i < n; i++)
		crc = wal__crc32c(crc, w->taken[i]->buf, w->taken[i]->len);
	uint8_t hdr[WAL__BATCH_HDR];
	struct wal__batch_hdr h = {
	    .batch_seq = w->batch_seq + 1,
	    .segment_seq = w->seg_seq,
	    .offset = (uint32_t)w->seg_used,
	    .data_len = (uint32_t)data,
	    .data_crc = crc,
	};
	wal__batch_hdr_encode(hdr, &h);
	w->iov[0] = (struct iovec){.iov_base = hdr, .iov_len = sizeof hdr};

	if (w->fault.armed && ++w->batches_since_open == w->fault.batch) {
		uint8_t *flat = malloc(len);
		if (flat) {
			size_t off = 0;
			for (size_t i = 0; i <= n; i++) {
				memcpy(flat + off, w->iov[i].iov_base, w->iov[i].iov_len);
				off += w->iov[i].iov_len;
			}
			wal__tear(w, flat, len, w->seg_used);
		}
	}

	rc = wal__writev_all(w->seg_fd, w->iov, (int)n + 1, w->seg_used);
	if (rc) {
		wal__fail(w, rc, "write");
		return rc;
	}
	uint64_t t0 = wal__now_ns();
	if (fdatasync(w->seg_fd) != 0) {
		rc = -errno;
		wal__fail(w, rc, "fdatasync");
		return rc;
	}
	uint64_t ns = wal__now_ns() - t0;

	uint64_t off = w->seg_used + WAL__BATCH_HDR;
	uint64_t snap = 0;
	for (size_t i = 0; i < n; i++) {
		struct wal__chunk *c = w->taken[i];
		c->seg_seq = w->seg_seq;
		c->file_off = off;
		off += c->len;
		if (c->max_entry > w->seg_hi)
			w->seg_hi = c->max_entry;
		if (c->snap_index)
			snap = c->snap_index;
	}
	w->seg_used += len;
	w->batch_seq++;

	struct wal__chunk *last = w->taken[n - 1];
	pthread_mutex_lock(&w->mu);
	w->done_id = last->id;
	w->durable.index = last->end_index;
	w->durable.term = last->end_term;
	w->durable.hard_state = last->end_hs;
	w->durable.snapshot_index = last->end_snap_index;
	w->durable.seq = last->op_seq;
	wal__record_sync(w, ns, len, n);
	if (snap) {
		w->snap_seg = w->seg_seq;
		wal__doom_prefix(w, snap);
	}
	pthread_cond_broadcast(&w->durable_cond);
	pthread_mutex_unlock(&w->mu);
	if (w->opt.notify_cb)
		w->opt.notify_cb(w, w->opt.notify_data);
	return 0;
}

void *wal__writer_main(void *arg)
{
	struct store_wal *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->q_head && !w->closing) {
			w->writer_idle = true;
			pthread_cond_wait(&w->writer_cond, &w->mu);
		}
		w->writer_idle = false;
		if (!w->q_head)
			break; /* closing, and everything queued is written */
		size_t n, bytes;
		int rc = wal__take(w, &n, &bytes);
		pthread_mutex_unlock(&w->mu);
		if (rc)
			wal__fail(w, rc, "batch");
		else
			rc = wal__write_batch(w, n, bytes);
		pthread_mutex_lock(&w->mu);
		if (rc)
			break;
	}
	/* The housekeeper outlives the writer: a roll while draining at close
	 * may still need a spare segment. */
	w->writer_done = true;
	pthread_cond_broadcast(&w->hk_cond);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}
