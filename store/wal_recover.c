/*
 * store/wal_recover.c - reading a WAL directory back at open.
 *
 * Three phases, and nothing on disk changes until the first two succeed:
 *
 * 1. Scan. List the directory (anything that is not ours: refuse, EFOREIGN),
 *    map every segment, check its header (magic, version, identity, name),
 *    and walk its batches, checking both checksums of each. A segment's walk
 *    ends at a zero batch header (the clean end) or at the first batch that
 *    fails (a "bad" end).
 *
 * 2. Judge the ends. The writer issues one batch at a time and the next only
 *    after the previous one's fdatasync(), so only the last batch written can
 *    be incomplete after a crash: a torn write. It lies after the last valid
 *    batch of the last segment holding any (the tail), or in the segment
 *    after it (the first write into a fresh segment). A bad end anywhere
 *    else, or a valid batch anywhere after the first bad byte, means a batch
 *    that was durable is now damaged: STORE_WAL_ECORRUPT, naming the file,
 *    the offset and the last good index. Otherwise any non-zero bytes in
 *    those two places are a torn write, to be zeroed. A torn write can leave
 *    its header sector unwritten and later sectors written, so the check
 *    covers every byte, not just the next header: bytes left behind would
 *    turn into "corruption in the middle" once later batches follow them.
 *
 * 3. Replay the records of the valid batches in order (see wal_format.c):
 *    the last hard state and the last snapshot win; entries above the
 *    snapshot build the log; truncate records cut it. Entries must follow on
 *    without gaps. Then, and only then, zero the torn tail, delete leftover
 *    .tmp segments, and hand the state to the loop and the writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/wal_internal.h"

struct rseg {
	uint64_t seq;
	uint8_t *base;
	size_t size;
	uint64_t end; /* offset just after the last valid batch */
	uint64_t hi;  /* highest entry index in its valid batches */
	uint64_t nbatches, first_bseq, last_bseq;
	uint64_t last_index; /* last entry index seen up to end, for messages */
	bool bad;            /* the walk stopped at a non-zero, invalid batch */
	uint64_t bad_len;    /* length claimed by the bad batch's valid header, or 0 */
	const char *why;
};

struct rrec {
	struct wal__rec r;
	size_t seg;
	uint64_t off; /* of the payload in the segment */
};

struct rctx {
	struct store_wal *w;
	struct rseg *segs;
	size_t nsegs, segs_cap;
	struct rrec *recs;
	size_t nrecs, recs_cap;
	uint64_t *tmps;
	size_t ntmps, tmps_cap;
	size_t tail; /* segment where writing resumes */
	struct {
		size_t seg;
		uint64_t from, to;
	} zero[2]; /* torn bytes to zero: after the tail, and in the segment after it */
	size_t nzero;
	uint64_t last_bseq;
};

static const char *seg_name(char buf[WAL__NAME_LEN + 8], uint64_t seq)
{
	wal__seg_name(buf, seq, false);
	return buf;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_seg(const void *a, const void *b)
{
	return cmp_u64(&((const struct rseg *)a)->seq, &((const struct rseg *)b)->seq);
}

/* ---- phase 1: scan --------------------------------------------------- */

static int rec__list(struct rctx *x)
{
	struct store_wal *w = x->w;
	int fd = dup(w->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		uint64_t seq;
		int kind = wal__seg_name_parse(de->d_name, &seq);
		struct stat st;
		if (kind && fstatat(w->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISREG(st.st_mode))
			kind = 0;
		if (!kind) {
			wal__log(w, STORE_WAL_LOG_ERROR,
			         "refusing %s: %s is not a cairn WAL file (a WAL directory holds "
			         "only NNNNNNNNNNNNNNNN.wal segments)",
			         w->dir, de->d_name);
			rc = STORE_WAL_EFOREIGN;
		} else if (kind == 1) {
			rc = wal__grow((void **)&x->segs, &x->segs_cap, x->nsegs + 1,
			               sizeof *x->segs);
			if (!rc)
				x->segs[x->nsegs++] = (struct rseg){.seq = seq};
		} else {
			rc = wal__grow((void **)&x->tmps, &x->tmps_cap, x->ntmps + 1,
			               sizeof *x->tmps);
			if (!rc)
				x->tmps[x->ntmps++] = seq;
		}
	}
	if (!rc && errno)
		rc = -errno;
	closedir(d);
	if (!rc && x->nsegs > 1)
		qsort(x->segs, x->nsegs, sizeof *x->segs, cmp_seg);
	return rc;
}

static int rec__map(struct rctx *x, struct rseg *s)
{
	struct store_wal *w = x->w;
	char name[WAL__NAME_LEN + 8];
	int fd = openat(w->dirfd, seg_name(name, s->seq), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? -errno : 0;
	if (!rc && (uint64_t)st.st_size < WAL__SEG_HDR) {
		/* Segments are renamed into place complete, so a short one is
		 * not a crash artefact. Without a header we cannot tell whose
		 * it is; refuse rather than guess. */
		wal__log(w, STORE_WAL_LOG_ERROR, "%s/%s: %lld bytes, shorter than a segment header",
		         w->dir, name, (long long)st.st_size);
		rc = STORE_WAL_ECORRUPT;
	}
	if (!rc && (uint64_t)st.st_size > WAL__MAX_SEGMENT + WAL__MAX_BATCH) {
		wal__log(w, STORE_WAL_LOG_ERROR, "%s/%s: %lld bytes, larger than any segment",
		         w->dir, name, (long long)st.st_size);
		rc = STORE_WAL_ECORRUPT;
	}
	if (!rc) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			rc = -errno;
		else {
			s->base = p;
			s->size = (size_t)st.st_size;
		}
	}
	close(fd);
	return rc;
}

static int rec__header(struct rctx *x, struct rseg *s, bool first)
{
	struct store_wal *w = x->w;
	char name[WAL__NAME_LEN + 8];
	seg_name(name, s->seq);
	struct wal__seg_hdr h;
	int rc = wal__seg_hdr_decode(s->base, &h);
	if (rc == STORE_WAL_EFOREIGN)
		wal__log(w, STORE_WAL_LOG_ERROR, "refusing %s: %s lacks the cairn WAL magic",
		         w->dir, name);
	else if (rc == STORE_WAL_EVERSION)
		wal__log(w, STORE_WAL_LOG_ERROR,
		         "refusing %s: %s is in WAL format version %u; this build reads %u", w->dir,
		         name, (unsigned)h.version, WAL__VERSION);
	else if (rc)
		wal__log(w, STORE_WAL_LOG_ERROR, "%s/%s: segment header checksum mismatch", w->dir,
		         name);
	if (rc)
		return rc;
	if (first)
		w->wal_id = h.wal_id;
	if (h.wal_id != w->wal_id) {
		wal__log(w, STORE_WAL_LOG_ERROR,
		         "refusing %s: %s belongs to another WAL (identity %016llx, not %016llx)",
		         w->dir, name, (unsigned long long)h.wal_id, (unsigned long long)w->wal_id);
		return STORE_WAL_EFOREIGN;
	}
	if (h.seq != s->seq) {
		wal__log(w, STORE_WAL_LOG_ERROR, "%s/%s: header says segment %016llx", w->dir, name,
		         (unsigned long long)h.seq);
		return STORE_WAL_ECORRUPT;
	}
	return 0;
}

static bool rec__zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks the batch at pos of s. Returns its total length, or 0 with s->why
 * set (and s->bad_len if the header itself was sound). */
static uint64_t rec__batch(struct rseg *s, uint64_t pos, struct wal__batch_hdr *h)
{
	const uint8_t *p = s->base + pos;
	if (!wal__batch_hdr_decode(p, h)) {
		s->why = "batch header checksum mismatch";
		return 0;
	}
	if (h->segment_seq != s->seq || h->offset != pos) {
		s->why = "batch header names another position";
		return 0;
	}
	uint64_t len = WAL__BATCH_HDR + (uint64_t)h->data_len;
	if (len > s->size - pos) {
		s->why = "batch runs past the end of the segment";
		return 0;
	}
	if (s->nbatches && h->batch_seq != s->last_bseq + 1) {
		s->why = "batch sequence number out of order";
		return 0;
	}
	if (wal__crc32c(0, p + WAL__BATCH_HDR, h->data_len) != h->data_crc) {
		s->bad_len = len;
		s->why = "record checksum mismatch";
		return 0;
	}
	return len;
}

static int rec__records(struct rctx *x, size_t k, uint64_t pos, const struct wal__batch_hdr *h)
{
	struct rseg *s = &x->segs[k];
	const uint8_t *p = s->base + pos + WAL__BATCH_HDR;
	size_t avail = h->data_len;
	while (avail) {
		struct wal__rec r;
		size_t n = wal__rec_decode(p, avail, &r);
		if (!n) {
			/* The checksum held, so this is what was written: a bug
			 * or a forged file, never a crash. */
			char name[WAL__NAME_LEN + 8];
			wal__log(
			    x->w, STORE_WAL_LOG_ERROR,
			    "%s/%s offset %llu: malformed record in batch %llu; last good "
			    "entry %llu",
			    x->w->dir, seg_name(name, s->seq), (unsigned long long)(p - s->base),
			    (unsigned long long)h->batch_seq, (unsigned long long)s->last_index);
			return STORE_WAL_ECORRUPT;
		}
		if (wal__grow((void **)&x->recs, &x->recs_cap, x->nrecs + 1, sizeof *x->recs))
			return -ENOMEM;
		x->recs[x->nrecs++] =
		    (struct rrec){.r = r, .seg = k, .off = (uint64_t)(p - s->base) + WAL__REC_HDR};
		if (r.kind == WAL__REC_ENTRY) {
			s->last_index = r.index;
			if (r.index > s->hi)
				s->hi = r.index;
		}
		p += n;
		avail -= n;
	}
	return 0;
}

static int rec__scan(struct rctx *x, size_t k)
{
	struct rseg *s = &x->segs[k];
	if (k)
		s->last_index = x->segs[k - 1].last_index;
	uint64_t pos = WAL__SEG_HDR;
	while (pos + WAL__BATCH_HDR <= s->size) {
		if (rec__zero(s->base + pos, WAL__BATCH_HDR))
			break;
		struct wal__batch_hdr h;
		uint64_t len = rec__batch(s, pos, &h);
		if (!len) {
			s->bad = true;
			break;
		}
		int rc = rec__records(x, k, pos, &h);
		if (rc)
			return rc;
		if (!s->nbatches++)
			s->first_bseq = h.batch_seq;
		s->last_bseq = h.batch_seq;
		pos += len;
	}
	s->end = pos;
	return 0;
}

/* ---- phase 2: judge the ends ----------------------------------------- */

static int rec__corrupt(struct rctx *x, const struct rseg *s, const char *detail)
{
	char name[WAL__NAME_LEN + 8];
	wal__log(x->w, STORE_WAL_LOG_ERROR,
	         "%s/%s offset %llu: corrupt batch in the middle of the log (%s); last good "
	         "entry %llu; %s. Refusing to open: restore this member from a snapshot or "
	         "remove it from the cluster",
	         x->w->dir, seg_name(name, s->seq), (unsigned long long)s->end,
	         s->why ? s->why : "unexpected data", (unsigned long long)s->last_index, detail);
	return STORE_WAL_ECORRUPT;
}

/* Looks for a complete, valid batch anywhere in s after its end: proof that
 * the damage at the end is not the last write. */
static bool rec__valid_after(const struct rseg *s, uint64_t after_bseq, uint64_t *at)
{
	uint64_t from = s->end + (s->bad_len ? s->bad_len : WAL__ALIGN);
	for (uint64_t pos = from; pos + WAL__BATCH_HDR <= s->size; pos += WAL__ALIGN) {
		struct wal__batch_hdr h;
		const uint8_t *p = s->base + pos;
		if (p[0] != 0x43 || !wal__batch_hdr_decode(p, &h))
			continue;
		if (h.segment_seq != s->seq || h.offset != pos || h.batch_seq <= after_bseq ||
		    h.data_len > s->size - pos - WAL__BATCH_HDR)
			continue;
		if (wal__crc32c(0, p + WAL__BATCH_HDR, h.data_len) == h.data_crc) {
			*at = pos;
			return true;
		}
	}
	return false;
}

static uint64_t rec__last_nonzero_end(const struct rseg *s, uint64_t from)
{
	uint64_t end = s->size;
	while (end > from && s->base[end - 1] == 0)
		end--;
	return end;
}

static int rec__judge(struct rctx *x)
{
	char buf[160], name[WAL__NAME_LEN + 8];
	size_t n = x->nsegs;
	size_t L = n; /* last segment with a valid batch, n if none */
	for (size_t k = 0; k < n; k++)
		if (x->segs[k].nbatches)
			L = k;
	size_t tail = L == n ? 0 : L;
	x->tail = tail;

	for (size_t k = 0; k < tail; k++) {
		struct rseg *s = &x->segs[k];
		if (s->bad || !s->nbatches) {
			snprintf(buf, sizeof buf, "valid batches follow in %s",
			         seg_name(name, x->segs[L].seq));
			if (!s->bad)
				s->why = "a segment without batches between segments with batches";
			return rec__corrupt(x, s, buf);
		}
		if (x->segs[k + 1].first_bseq != s->last_bseq + 1) {
			s->why = "the next segment's batch sequence does not follow on";
			snprintf(buf, sizeof buf, "a batch is missing before %s",
			         seg_name(name, x->segs[k + 1].seq));
			return rec__corrupt(x, s, buf);
		}
	}
	if (L != n)
		x->last_bseq = x->segs[L].last_bseq;

	/* Where the last write can have landed: after the tail's last batch,
	 * or anywhere in the segment after it (the first write into a fresh
	 * segment, whose header sector may be the one that never landed). */
	size_t last = L != n && tail + 1 < n ? tail + 1 : tail;
	for (size_t k = tail; k <= last; k++) {
		struct rseg *s = &x->segs[k];
		uint64_t at;
		if (rec__valid_after(s, x->last_bseq, &at)) {
			snprintf(buf, sizeof buf, "a valid batch follows at offset %llu",
			         (unsigned long long)at);
			return rec__corrupt(x, s, buf);
		}
		uint64_t to = rec__last_nonzero_end(s, s->end);
		if (to <= s->end)
			continue;
		if (!s->why)
			s->why = k == tail ? "stray bytes after the last batch"
			                   : "stray bytes in the next, unused segment";
		x->zero[x->nzero].seg = k;
		x->zero[x->nzero].from = s->end;
		x->zero[x->nzero++].to = to;
	}
	/* Segments further on were never written: prepared, zero-filled. */
	for (size_t k = last + 1; k < n; k++) {
		if (x->segs[k].bad) {
			snprintf(buf, sizeof buf, "the log ends in %s",
			         seg_name(name, x->segs[tail].seq));
			return rec__corrupt(x, &x->segs[k], buf);
		}
	}
	return 0;
}

/* ---- phase 3: replay ------------------------------------------------- */

static int rec__replay_error(struct rctx *x, const struct rrec *rr, const char *why, uint64_t last)
{
	char name[WAL__NAME_LEN + 8];
	wal__log(x->w, STORE_WAL_LOG_ERROR,
	         "%s/%s offset %llu: %s (record index %llu, log ends at %llu). Refusing to open",
	         x->w->dir, seg_name(name, x->segs[rr->seg].seq),
	         (unsigned long long)(rr->off - WAL__REC_HDR), why, (unsigned long long)rr->r.index,
	         (unsigned long long)last);
	return STORE_WAL_ECORRUPT;
}

static int rec__replay(struct rctx *x)
{
	struct store_wal *w = x->w;
	const struct rrec *snap = NULL;
	for (size_t i = 0; i < x->nrecs; i++) {
		const struct rrec *rr = &x->recs[i];
		if (rr->r.kind == WAL__REC_SNAPSHOT)
			snap = rr;
		else if (rr->r.kind == WAL__REC_HARD_STATE)
			wal__hs_decode(x->segs[rr->seg].base + rr->off, &w->hs);
	}
	if (!snap) {
		/* Without a snapshot record nothing was ever compacted, so the
		 * log must start at segment 1 with batch 1. */
		const struct rseg *s0 = &x->segs[0];
		if (s0->seq != 1 || (s0->nbatches && s0->first_bseq != 1)) {
			char name[WAL__NAME_LEN + 8];
			wal__log(w, STORE_WAL_LOG_ERROR,
			         "%s: the log starts at %s (batch %llu) but no snapshot covers "
			         "what came before: segments are missing. Refusing to open",
			         w->dir, seg_name(name, s0->seq),
			         (unsigned long long)s0->first_bseq);
			return STORE_WAL_ECORRUPT;
		}
	} else {
		w->snap_index = snap->r.index;
		w->snap_term = snap->r.term;
		w->snap_conf_len = snap->r.len;
		if (snap->r.len) {
			w->snap_conf = malloc(snap->r.len);
			if (!w->snap_conf)
				return -ENOMEM;
			memcpy(w->snap_conf, x->segs[snap->seg].base + snap->off, snap->r.len);
		}
		w->snap_seg = x->segs[snap->seg].seq;
	}

	uint64_t base = w->snap_index;
	for (size_t i = 0; i < x->nrecs; i++) {
		const struct rrec *rr = &x->recs[i];
		uint64_t last = base + w->ents_len;
		if (rr->r.kind == WAL__REC_TRUNCATE) {
			if (rr->r.index > last + 1)
				return rec__replay_error(x, rr, "truncate past the end of the log",
				                         last);
			w->ents_len = rr->r.index <= base ? 0 : (size_t)(rr->r.index - base - 1);
			continue;
		}
		if (rr->r.kind != WAL__REC_ENTRY || rr->r.index <= base)
			continue;
		if (rr->r.index <= last)
			return rec__replay_error(x, rr, "entry rewritten without a truncate record",
			                         last);
		if (rr->r.index > last + 1)
			return rec__replay_error(x, rr, "gap in the entries", last);
		if (w->ents_len && rr->r.term < wal__ent_at(w, last)->term)
			return rec__replay_error(x, rr, "entry term goes down", last);
		if (wal__ents_reserve(w, w->ents_len + 1))
			return -ENOMEM;
		w->ents[w->ents_start + w->ents_len++] = (struct wal__ent){
		    .term = rr->r.term,
		    .seg = (uint32_t)x->segs[rr->seg].seq,
		    .off = (uint32_t)rr->off,
		    .len = rr->r.len,
		    .type = rr->r.type,
		};
	}
	if (w->ents_len && w->ents[w->ents_start].term < w->snap_term) {
		wal__log(w, STORE_WAL_LOG_ERROR,
		         "%s: entry %llu has term %llu, below the snapshot's term %llu. Refusing "
		         "to open",
		         w->dir, (unsigned long long)(base + 1),
		         (unsigned long long)w->ents[w->ents_start].term,
		         (unsigned long long)w->snap_term);
		return STORE_WAL_ECORRUPT;
	}
	return 0;
}

/* ---- applying the verdict -------------------------------------------- */

static int rec__zero_range(struct rctx *x, size_t seg, uint64_t from, uint64_t to)
{
	struct store_wal *w = x->w;
	struct rseg *s = &x->segs[seg];
	char name[WAL__NAME_LEN + 8];
	seg_name(name, s->seq);
	uint64_t last = wal__last_index(w);
	uint64_t last_term = last == w->snap_index ? w->snap_term : wal__ent_at(w, last)->term;
	wal__log(w, STORE_WAL_LOG_WARN,
	         "%s/%s: torn write at the tail, offset %llu (%s): %llu bytes dropped; the log "
	         "ends at entry %llu term %llu",
	         w->dir, name, (unsigned long long)from, s->why, (unsigned long long)(to - from),
	         (unsigned long long)last, (unsigned long long)last_term);
	int fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	static const uint8_t zeros[4096];
	int rc = 0;
	for (uint64_t off = from; !rc && off < to;) {
		size_t len = to - off < sizeof zeros ? (size_t)(to - off) : sizeof zeros;
		ssize_t k = pwrite(fd, zeros, len, (off_t)off);
		if (k < 0 && errno != EINTR)
			rc = -errno;
		else if (k > 0)
			off += (uint64_t)k;
	}
	if (!rc && fdatasync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int rec__zero_tail(struct rctx *x)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < x->nzero; i++)
		rc = rec__zero_range(x, x->zero[i].seg, x->zero[i].from, x->zero[i].to);
	return rc;
}

static int rec__delete_tmps(struct rctx *x)
{
	for (size_t i = 0; i < x->ntmps; i++) {
		char name[WAL__NAME_LEN + 8];
		wal__seg_name(name, x->tmps[i], true);
		if (unlinkat(x->w->dirfd, name, 0) != 0 && errno != ENOENT)
			return -errno;
	}
	return x->ntmps ? wal__fsync_dir(x->w) : 0;
}

static uint64_t rec__random_id(void)
{
	uint64_t id = 0;
	if (getrandom(&id, sizeof id, 0) != sizeof id) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	}
	return id ? id : 1;
}

static int rec__fresh(struct rctx *x)
{
	struct store_wal *w = x->w;
	int rc = rec__delete_tmps(x);
	if (rc)
		return rc;
	w->wal_id = rec__random_id();
	rc = wal__segment_create(w, 1, w->opt.segment_size, &w->seg_fd);
	if (rc)
		return rc;
	w->seg_seq = 1;
	w->seg_size = w->opt.segment_size;
	w->seg_used = WAL__SEG_HDR;
	w->next_seq = 2;
	w->metrics.segments_created = 1;
	wal__log(w, STORE_WAL_LOG_INFO, "%s: new WAL %016llx", w->dir,
	         (unsigned long long)w->wal_id);
	return 0;
}

static int rec__install(struct rctx *x)
{
	struct store_wal *w = x->w;
	size_t n = x->nsegs, t = x->tail;
	char name[WAL__NAME_LEN + 8];
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		struct rseg *s = &x->segs[k];
		if (k < t) {
			rc = wal__grow((void **)&w->closed, &w->closed_cap, w->n_closed + 1,
			               sizeof *w->closed);
			if (rc)
				return rc;
			w->closed[w->n_closed++] = (struct wal__closed){.seq = s->seq, .hi = s->hi};
		}
		if (k > t) {
			rc = wal__grow((void **)&w->spares, &w->spares_cap, w->n_spares + 1,
			               sizeof *w->spares);
			int fd =
			    rc ? -1 : openat(w->dirfd, seg_name(name, s->seq), O_RDWR | O_CLOEXEC);
			if (fd < 0)
				return rc ? rc : -errno;
			w->spares[w->n_spares++] =
			    (struct wal__spare){.seq = s->seq, .fd = fd, .size = s->size};
		}
		if (k <= t) {
			/* The scan's mappings become the loop's read mappings. */
			if ((rc = wal__map_add(w, s->seq, s->base, s->size)) != 0)
				return rc;
			s->base = NULL;
		}
	}
	struct rseg *s = &x->segs[t];
	w->seg_fd = openat(w->dirfd, seg_name(name, s->seq), O_RDWR | O_CLOEXEC);
	if (w->seg_fd < 0)
		return -errno;
	w->seg_seq = s->seq;
	w->seg_size = s->size;
	w->seg_used = s->end;
	w->seg_hi = s->hi;
	w->batch_seq = x->last_bseq;
	w->next_seq = x->segs[n - 1].seq + 1;
	return 0;
}

int wal__recover(struct store_wal *w)
{
	struct rctx x = {.w = w};
	int rc = rec__list(&x);
	if (rc)
		goto out;
	if (!x.nsegs) {
		rc = rec__fresh(&x);
		goto done;
	}
	for (size_t k = 0; !rc && k < x.nsegs; k++) {
		if (x.segs[k].seq != x.segs[0].seq + k) {
			char name[WAL__NAME_LEN + 8];
			wal__log(w, STORE_WAL_LOG_ERROR,
			         "%s: segment %s is missing. Refusing to open", w->dir,
			         seg_name(name, x.segs[0].seq + k));
			rc = STORE_WAL_ECORRUPT;
			break;
		}
		if (!(rc = rec__map(&x, &x.segs[k])))
			rc = rec__header(&x, &x.segs[k], k == 0);
	}
	for (size_t k = 0; !rc && k < x.nsegs; k++)
		rc = rec__scan(&x, k);
	if (!rc)
		rc = rec__judge(&x);
	if (!rc)
		rc = rec__replay(&x);
	/* Everything checked: now, and only now, change the directory. */
	if (!rc)
		rc = rec__zero_tail(&x);
	if (!rc)
		rc = rec__delete_tmps(&x);
	if (!rc)
		rc = rec__install(&x);
done:
	if (!rc) {
		uint64_t last = wal__last_index(w);
		w->durable = (struct store_wal_durable){
		    .index = last,
		    .term = last == w->snap_index ? w->snap_term : wal__ent_at(w, last)->term,
		    .hard_state = w->hs,
		    .snapshot_index = w->snap_index,
		};
		w->durable_snap = w->snap_index;
		wal__doom_prefix(w, w->snap_index);
		if (x.nsegs)
			wal__log(w, STORE_WAL_LOG_INFO,
			         "%s: recovered %zu segments: entries %llu..%llu, snapshot %llu "
			         "term %llu, hard state term %llu vote %llu commit %llu",
			         w->dir, x.nsegs, (unsigned long long)(w->snap_index + 1),
			         (unsigned long long)last, (unsigned long long)w->snap_index,
			         (unsigned long long)w->snap_term, (unsigned long long)w->hs.term,
			         (unsigned long long)w->hs.vote, (unsigned long long)w->hs.commit);
	}
out:
	for (size_t k = 0; k < x.nsegs; k++)
		if (x.segs[k].base)
			munmap(x.segs[k].base, x.segs[k].size);
	free(x.segs);
	free(x.recs);
	free(x.tmps);
	return rc;
}
