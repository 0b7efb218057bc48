/*
 * store/wal_log.c - the loop's side of the WAL: the in-memory log, the
 * mutating calls that feed the writer, and the reads.
 *
 * The in-memory log is an array of small descriptors, one per entry in
 * [first, last], each saying where the payload lives: in a chunk (memory
 * the loop encoded it into, still queued, in flight, or kept as cache) or
 * at an offset in a segment file. Every mutating call applies its change to
 * this array at once and encodes one or more records into the open chunk,
 * so reads see the log as the host built it, durable or not, and the disk
 * catches up in the same order.
 *
 * The cache is the done chunks themselves: after the writer has synced a
 * chunk, the loop keeps it until done chunks exceed opt.cache_bytes, then
 * evicts the oldest, repointing its entries at their file offsets. Reading
 * those is a pointer into a read-only mmap of the segment: no syscall, no
 * copy, and no buffer whose lifetime the caller must manage beyond the
 * rule in wal.h (valid until the next mutating call).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/wal_internal.h"

/* ---- descriptors ---------------------------------------------------- */

uint64_t wal__last_index(const struct store_wal *w)
{
	return w->snap_index + w->ents_len;
}

struct wal__ent *wal__ent_at(struct store_wal *w, uint64_t index)
{
	return &w->ents[w->ents_start + (size_t)(index - w->snap_index - 1)];
}

/* Room for n descriptors in total, starting at ents_start. */
int wal__ents_reserve(struct store_wal *w, size_t n)
{
	if (w->ents_start + n <= w->ents_cap)
		return 0;
	if (w->ents_start) {
		memmove(w->ents, w->ents + w->ents_start, w->ents_len * sizeof *w->ents);
		w->ents_start = 0;
	}
	return wal__grow((void **)&w->ents, &w->ents_cap, n, sizeof *w->ents);
}

static uint64_t wal__term_of(struct store_wal *w, uint64_t index)
{
	return index == w->snap_index ? w->snap_term : wal__ent_at(w, index)->term;
}

/* ---- segment mappings ------------------------------------------------ */

int wal__map_add(struct store_wal *w, uint64_t seq, uint8_t *base, size_t len)
{
	if (wal__grow((void **)&w->maps, &w->maps_cap, w->n_maps + 1, sizeof *w->maps))
		return -ENOMEM;
	size_t i = w->n_maps;
	while (i > 0 && w->maps[i - 1].seq > seq) {
		w->maps[i] = w->maps[i - 1];
		i--;
	}
	w->maps[i] = (struct wal__map){.seq = seq, .base = base, .len = len};
	w->n_maps++;
	return 0;
}

void wal__maps_free(struct store_wal *w)
{
	for (size_t i = 0; i < w->n_maps; i++)
		munmap(w->maps[i].base, w->maps[i].len);
	free(w->maps);
	w->maps = NULL;
	w->n_maps = w->maps_cap = 0;
}

/* Unmaps segments below seq: called from mutating calls only, since it
 * invalidates pointers handed out by reads. */
static void wal__maps_trim(struct store_wal *w, uint64_t seq)
{
	size_t k = 0;
	while (k < w->n_maps && w->maps[k].seq < seq) {
		munmap(w->maps[k].base, w->maps[k].len);
		k++;
	}
	if (!k)
		return;
	memmove(w->maps, w->maps + k, (w->n_maps - k) * sizeof *w->maps);
	w->n_maps -= k;
}

/* Returns a mapping of segment seq covering [0, end). A segment only grows
 * before anything in it is done, so an existing mapping too short for a
 * done entry means a segment grown after it was mapped at open: the new,
 * longer mapping is added and the old one kept (pointers into it may be
 * live) until the segment is trimmed. */
static int wal__map_get(struct store_wal *w, uint64_t seq, uint64_t end, const uint8_t **base)
{
	for (size_t i = w->n_maps; i-- > 0;) {
		if (w->maps[i].seq == seq && w->maps[i].len >= end) {
			*base = w->maps[i].base;
			return 0;
		}
	}
	char name[WAL__NAME_LEN + 8];
	wal__seg_name(name, seq, false);
	int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? -errno : 0;
	if (!rc && (uint64_t)st.st_size < end)
		rc = -EIO;
	void *p = MAP_FAILED;
	if (!rc) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			rc = -errno;
	}
	close(fd);
	if (!rc && (rc = wal__map_add(w, seq, p, (size_t)st.st_size)) != 0)
		munmap(p, (size_t)st.st_size);
	if (rc) {
		wal__log(w, STORE_WAL_LOG_ERROR, "cannot map %s/%s for reading: %s", w->dir, name,
		         store_wal_strerror(rc));
		return rc;
	}
	*base = p;
	return 0;
}

/* ---- chunks and the cache ------------------------------------------- */

static void wal__chunk_free(struct wal__chunk *c)
{
	free(c->buf);
	free(c);
}

void wal__chunks_free(struct store_wal *w)
{
	for (struct wal__chunk *c = w->fifo_head, *next; c; c = next) {
		next = c->next;
		wal__chunk_free(c);
	}
	for (struct wal__chunk *c = w->recycled, *next; c; c = next) {
		next = c->next;
		wal__chunk_free(c);
	}
	w->fifo_head = w->fifo_tail = w->done_cursor = w->recycled = NULL;
}

/* Evicted chunks are kept for reuse, a few at a time: memory the process
 * has already touched, so that a steady stream of appends takes no page
 * faults and no trips to the allocator. */
#define RECYCLE_MAX 8

static void wal__chunk_recycle(struct store_wal *w, struct wal__chunk *c)
{
	if (w->n_recycled >= RECYCLE_MAX || c->cap > 2 * w->opt.max_batch_bytes) {
		wal__chunk_free(c);
		return;
	}
	c->next = w->recycled;
	w->recycled = c;
	w->n_recycled++;
}

/* Returns the open chunk with room for bytes more, creating it if the
 * writer took the last one or it would grow past a batch. mu held. */
static struct wal__chunk *wal__chunk_open(struct store_wal *w, size_t bytes)
{
	struct wal__chunk *c = w->fifo_tail;
	if (c && !c->taken && (c->len + bytes <= w->opt.max_batch_bytes || !c->len)) {
		if (c->len + bytes > c->cap) {
			size_t cap = c->cap * 2;
			if (cap < c->len + bytes)
				cap = c->len + bytes;
			uint8_t *buf = realloc(c->buf, cap);
			if (!buf)
				return NULL;
			c->buf = buf;
			c->cap = cap;
		}
		return c;
	}
	size_t cap = bytes < 4096 ? 4096 : bytes;
	c = w->recycled;
	if (c && c->cap < cap) {
		uint8_t *buf = realloc(c->buf, cap);
		if (!buf)
			return NULL;
		c->buf = buf;
		c->cap = cap;
	}
	if (c) {
		w->recycled = c->next;
		w->n_recycled--;
		*c = (struct wal__chunk){.buf = c->buf, .cap = c->cap};
	} else {
		c = calloc(1, sizeof *c);
		if (c)
			c->buf = malloc(cap);
		if (!c || !c->buf) {
			free(c);
			return NULL;
		}
		c->cap = cap;
	}
	c->id = ++w->next_chunk_id;
	if (w->fifo_tail)
		w->fifo_tail->next = c;
	else
		w->fifo_head = c;
	w->fifo_tail = c;
	if (!w->done_cursor)
		w->done_cursor = c;
	if (!w->q_head)
		w->q_head = c;
	return c;
}

/* Records the logical state after c's last record (what the writer will
 * publish once c is durable), hands c to the writer, and unlocks mu. */
static void wal__chunk_submit(struct store_wal *w, struct wal__chunk *c)
{
	c->op_seq = ++w->op_seq;
	c->end_index = wal__last_index(w);
	c->end_term = wal__term_of(w, c->end_index);
	c->end_snap_index = w->snap_index;
	c->end_hs = w->hs;
	bool wake = w->writer_idle;
	pthread_mutex_unlock(&w->mu);
	if (wake)
		pthread_cond_signal(&w->writer_cond);
}

static void wal__chunk_evict(struct store_wal *w, struct wal__chunk *c)
{
	uint64_t lo = c->min_entry > w->snap_index ? c->min_entry : w->snap_index + 1;
	uint64_t hi = c->max_entry < wal__last_index(w) ? c->max_entry : wal__last_index(w);
	for (uint64_t i = lo; c->n_entries && i <= hi; i++) {
		struct wal__ent *d = wal__ent_at(w, i);
		if (d->chunk != c)
			continue;
		d->chunk = NULL;
		d->seg = (uint32_t)c->seg_seq;
		d->off += (uint32_t)c->file_off;
	}
}

/* Frees the oldest done chunks while the done ones exceed the cache. */
static void wal__cache_trim(struct store_wal *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t done = w->done_id;
	pthread_mutex_unlock(&w->mu);
	while (w->done_cursor && w->done_cursor->id <= done) {
		w->done_bytes += w->done_cursor->cap;
		w->done_cursor = w->done_cursor->next;
	}
	while (w->fifo_head && w->fifo_head->id <= done && w->done_bytes > w->opt.cache_bytes) {
		struct wal__chunk *c = w->fifo_head;
		wal__chunk_evict(w, c);
		w->done_bytes -= c->cap;
		w->fifo_head = c->next;
		if (!w->fifo_head)
			w->fifo_tail = NULL;
		wal__chunk_recycle(w, c);
	}
}

/* Starts a mutating call: locks mu and returns the open chunk with room for
 * bytes more. On error (the writer failed, or no memory) mu is unlocked and
 * nothing changed. The call ends with wal__end(). */
static int wal__begin(struct store_wal *w, size_t bytes, struct wal__chunk **out)
{
	pthread_mutex_lock(&w->mu);
	int rc = w->durable.error ? STORE_WAL_EFAILED : 0;
	if (!rc && !(*out = wal__chunk_open(w, bytes)))
		rc = -ENOMEM;
	if (rc)
		pthread_mutex_unlock(&w->mu);
	return rc;
}

/* Hands the chunk to the writer (unlocking mu) and trims the cache. */
static void wal__end(struct store_wal *w, struct wal__chunk *c)
{
	wal__chunk_submit(w, c);
	wal__cache_trim(w);
}

static void wal__encode_truncate(struct wal__chunk *c, uint64_t index)
{
	struct wal__rec r = {.kind = WAL__REC_TRUNCATE, .index = index};
	c->len += wal__rec_encode(c->buf + c->len, &r, NULL);
}

/* ---- mutating calls ------------------------------------------------- */

static int wal__check_truncate(struct store_wal *w, uint64_t index)
{
	if (index <= w->snap_index)
		return STORE_WAL_ECOMPACTED;
	if (index > wal__last_index(w) + 1)
		return STORE_WAL_EUNAVAIL;
	if (index <= w->hs.commit && index <= wal__last_index(w)) {
		wal__log(w, STORE_WAL_LOG_ERROR,
		         "refusing to truncate from index %llu: entries up to %llu are committed",
		         (unsigned long long)index, (unsigned long long)w->hs.commit);
		return -EINVAL;
	}
	return 0;
}

int store_wal_append(struct store_wal *w, const struct store_wal_entry *entries, size_t n)
{
	if (!n)
		return -EINVAL;
	size_t bytes = 0;
	for (size_t k = 0; k < n; k++) {
		const struct store_wal_entry *e = &entries[k];
		if (e->len > STORE_WAL_MAX_ENTRY_BYTES || (e->len && !e->data) ||
		    e->index != entries[0].index + k || (k && e->term < entries[k - 1].term))
			return -EINVAL;
		bytes += wal__rec_size(e->len);
	}
	if (bytes > WAL__MAX_CALL - WAL__REC_HDR)
		return -EINVAL;
	uint64_t first = entries[0].index;
	int rc = wal__check_truncate(w, first);
	if (rc)
		return rc;
	uint64_t prev_term = wal__term_of(w, first - 1);
	if (entries[0].term < prev_term) {
		wal__log(w, STORE_WAL_LOG_ERROR,
		         "refusing entry %llu with term %llu after term %llu: terms never go down",
		         (unsigned long long)first, (unsigned long long)entries[0].term,
		         (unsigned long long)prev_term);
		return -EINVAL;
	}
	bool truncating = first <= wal__last_index(w);
	if (truncating)
		bytes += WAL__REC_HDR;
	size_t keep = (size_t)(first - w->snap_index - 1);
	if ((rc = wal__ents_reserve(w, keep + n)) != 0)
		return rc;
	struct wal__chunk *c;
	if ((rc = wal__begin(w, bytes, &c)) != 0)
		return rc;
	if (truncating)
		wal__encode_truncate(c, first);
	w->ents_len = keep;
	for (size_t k = 0; k < n; k++) {
		const struct store_wal_entry *e = &entries[k];
		struct wal__rec r = {.kind = WAL__REC_ENTRY,
		                     .type = e->type,
		                     .len = (uint32_t)e->len,
		                     .index = e->index,
		                     .term = e->term};
		w->ents[w->ents_start + w->ents_len++] = (struct wal__ent){
		    .term = e->term,
		    .chunk = c,
		    .off = (uint32_t)(c->len + WAL__REC_HDR),
		    .len = (uint32_t)e->len,
		    .type = e->type,
		};
		c->len += wal__rec_encode(c->buf + c->len, &r, e->data);
	}
	if (!c->min_entry || first < c->min_entry)
		c->min_entry = first;
	if (first + n - 1 > c->max_entry)
		c->max_entry = first + n - 1;
	c->n_entries += (uint32_t)n;
	wal__end(w, c);
	return 0;
}

int store_wal_truncate(struct store_wal *w, uint64_t index)
{
	int rc = wal__check_truncate(w, index);
	if (rc || index == wal__last_index(w) + 1)
		return rc;
	struct wal__chunk *c;
	if ((rc = wal__begin(w, WAL__REC_HDR, &c)) != 0)
		return rc;
	wal__encode_truncate(c, index);
	w->ents_len = (size_t)(index - w->snap_index - 1);
	wal__end(w, c);
	return 0;
}

/* Term and vote only move forward (T2, T3). */
static int wal__check_hard_state(struct store_wal *w, const struct store_wal_hard_state *hs)
{
	const struct store_wal_hard_state *old = &w->hs;
	const char *why = NULL;
	if (hs->term < old->term)
		why = "the term would go down (T2)";
	else if (hs->term == old->term && old->vote && hs->vote != old->vote)
		why = "the vote would change within a term (T3)";
	if (!why)
		return 0;
	wal__log(w, STORE_WAL_LOG_ERROR,
	         "refusing hard state term %llu vote %llu after term %llu vote %llu: %s",
	         (unsigned long long)hs->term, (unsigned long long)hs->vote,
	         (unsigned long long)old->term, (unsigned long long)old->vote, why);
	return -EINVAL;
}

static void wal__encode_hard_state(struct wal__chunk *c, const struct store_wal_hard_state *hs)
{
	uint8_t payload[WAL__HS_LEN];
	wal__hs_encode(payload, hs);
	struct wal__rec r = {.kind = WAL__REC_HARD_STATE, .len = WAL__HS_LEN};
	c->len += wal__rec_encode(c->buf + c->len, &r, payload);
}

int store_wal_save_hard_state(struct store_wal *w, const struct store_wal_hard_state *hs)
{
	struct wal__chunk *c;
	int rc = wal__check_hard_state(w, hs);
	if (rc || (rc = wal__begin(w, wal__rec_size(WAL__HS_LEN), &c)) != 0)
		return rc;
	wal__encode_hard_state(c, hs);
	w->hs = *hs;
	wal__end(w, c);
	return 0;
}

int store_wal_compact(struct store_wal *w, const struct store_wal_snapshot *snap)
{
	if (!snap->index || snap->index < w->snap_index || (snap->conf_len && !snap->conf) ||
	    snap->conf_len > STORE_WAL_MAX_ENTRY_BYTES)
		return -EINVAL;
	if (snap->index == w->snap_index) {
		if (snap->term != w->snap_term)
			return -EINVAL;
		return 0;
	}
	uint64_t last = wal__last_index(w);
	bool keep = snap->index <= last && wal__term_of(w, snap->index) == snap->term;
	bool truncate = !keep && snap->index < last;
	void *conf = NULL;
	if (snap->conf_len && !(conf = malloc(snap->conf_len)))
		return -ENOMEM;
	if (snap->conf_len)
		memcpy(conf, snap->conf, snap->conf_len);
	size_t bytes = wal__rec_size(WAL__HS_LEN) + wal__rec_size(snap->conf_len) +
	               (truncate ? WAL__REC_HDR : 0);
	struct wal__chunk *c;
	int rc = wal__begin(w, bytes, &c);
	if (rc) {
		free(conf);
		return rc;
	}
	if (truncate)
		wal__encode_truncate(c, snap->index + 1);
	wal__encode_hard_state(c, &w->hs);
	struct wal__rec r = {.kind = WAL__REC_SNAPSHOT,
	                     .len = (uint32_t)snap->conf_len,
	                     .index = snap->index,
	                     .term = snap->term};
	c->len += wal__rec_encode(c->buf + c->len, &r, snap->conf);
	c->snap_index = snap->index;

	if (keep) {
		size_t k = (size_t)(snap->index - w->snap_index);
		w->ents_start += k;
		w->ents_len -= k;
	} else {
		w->ents_start = 0;
		w->ents_len = 0;
	}
	w->snap_index = snap->index;
	w->snap_term = snap->term;
	free(w->snap_conf);
	w->snap_conf = conf;
	w->snap_conf_len = snap->conf_len;

	wal__end(w, c);

	/* Entries below the new first index no longer need their segments
	 * mapped. File-backed entries are a prefix of the log, and their
	 * segments never decrease along it. */
	if (w->ents_len && !w->ents[w->ents_start].chunk)
		wal__maps_trim(w, w->ents[w->ents_start].seg);
	else
		wal__maps_trim(w, UINT64_MAX);
	return 0;
}

/* ---- reads ---------------------------------------------------------- */

int store_wal_entries(struct store_wal *w, uint64_t lo, uint64_t hi, size_t max_bytes,
                      struct store_wal_entry *out, size_t cap, size_t *n)
{
	*n = 0;
	if (lo > hi)
		return -EINVAL;
	if (lo == hi)
		return 0;
	if (lo <= w->snap_index)
		return STORE_WAL_ECOMPACTED;
	if (hi > wal__last_index(w) + 1)
		return STORE_WAL_EUNAVAIL;
	if (!cap)
		return -EINVAL;
	size_t bytes = 0;
	for (uint64_t i = lo; i < hi && *n < cap; i++) {
		const struct wal__ent *d = wal__ent_at(w, i);
		if (*n && max_bytes && bytes + d->len > max_bytes)
			break;
		const uint8_t *data;
		if (d->chunk) {
			data = d->chunk->buf + d->off;
		} else {
			const uint8_t *base = NULL;
			int rc = wal__map_get(w, d->seg, (uint64_t)d->off + d->len, &base);
			if (rc)
				return rc;
			data = base + d->off;
		}
		out[(*n)++] = (struct store_wal_entry){
		    .index = i, .term = d->term, .type = d->type, .data = data, .len = d->len};
		bytes += d->len;
	}
	return 0;
}

int store_wal_term(struct store_wal *w, uint64_t index, uint64_t *term)
{
	if (index < w->snap_index)
		return STORE_WAL_ECOMPACTED;
	if (index > wal__last_index(w))
		return STORE_WAL_EUNAVAIL;
	*term = wal__term_of(w, index);
	return 0;
}

uint64_t store_wal_first_index(struct store_wal *w)
{
	return w->snap_index + 1;
}

uint64_t store_wal_last_index(struct store_wal *w)
{
	return wal__last_index(w);
}

void store_wal_state(struct store_wal *w, struct store_wal_state *s)
{
	s->hard_state = w->hs;
	s->snapshot = (struct store_wal_snapshot){.index = w->snap_index,
	                                          .term = w->snap_term,
	                                          .conf = w->snap_conf,
	                                          .conf_len = w->snap_conf_len};
	s->first_index = w->snap_index + 1;
	s->last_index = wal__last_index(w);
	s->last_term = wal__term_of(w, s->last_index);
}
