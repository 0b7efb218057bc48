/*
 * store/wal_internal.h - what the WAL's files share; not part of the
 * contract (that is store/wal.h).
 *
 * The WAL is split by concern:
 *   wal.c          open/close, options, logging, errors, durable state, metrics
 *   wal_crc32c.c   CRC-32C (SSE4.2 when the CPU has it, slicing-by-8 otherwise)
 *   wal_format.c   the on-disk format: segment header, batch header, records
 *   wal_recover.c  reading a directory back: checks, torn tails, replay
 *   wal_log.c      the loop side: in-memory index, chunks, cache, reads
 *   wal_writer.c   the writer thread: group commit, segment roll, faults
 *   wal_segment.c  segment files and the housekeeper thread
 *
 * Memory shared between the loop and the writer is a queue of chunks. A
 * chunk is a buffer of encoded records. The loop encodes every mutating call
 * into the newest chunk that the writer has not taken yet (under w->mu);
 * the writer takes the queued chunks, frames them as one batch, writes and
 * syncs, then marks them done. Taken chunks are immutable, so the loop reads
 * entries from them without locks. Only the loop frees chunks: once done, a
 * chunk stays as the cache of recent entries until evicted.
 */
#ifndef CAIRN_STORE_WAL_INTERNAL_H
#define CAIRN_STORE_WAL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "store/wal.h"

/* ---- on-disk format (wal_format.c) ---------------------------------- */

#define WAL__VERSION     1u
#define WAL__SEG_HDR     64u /* segment header bytes; the first batch follows */
#define WAL__BATCH_HDR   40u /* batch header bytes */
#define WAL__REC_HDR     24u /* record header bytes */
#define WAL__ALIGN       8u  /* records and batches are 8-byte aligned */
#define WAL__HS_LEN      24u /* hard state record payload */
#define WAL__NAME_LEN    20u /* "%016x.wal" */
#define WAL__MIN_SEGMENT (64u * 1024u)
#define WAL__MAX_SEGMENT (1ull << 31) /* batch offsets are 32-bit */
#define WAL__MAX_BATCH   (1ull << 30)
/* Encoded bytes of one mutating call (one entry of the maximum size fits). */
#define WAL__MAX_CALL    (WAL__MAX_BATCH + (1u << 20))
#define WAL__SECTOR      512u

enum wal__rec_kind {
	WAL__REC_ENTRY = 1,
	WAL__REC_HARD_STATE = 2,
	WAL__REC_TRUNCATE = 3,
	WAL__REC_SNAPSHOT = 4,
};

struct wal__seg_hdr {
	uint32_t version;
	uint64_t wal_id;
	uint64_t seq;
};

struct wal__batch_hdr {
	uint64_t batch_seq;
	uint64_t segment_seq;
	uint32_t offset;
	uint32_t data_len;
	uint32_t data_crc;
};

struct wal__rec {
	uint8_t kind;
	uint8_t type; /* entry type */
	uint32_t len; /* payload bytes */
	uint64_t index;
	uint64_t term;
};

static inline size_t wal__pad(size_t n)
{
	return (n + (WAL__ALIGN - 1)) & ~(size_t)(WAL__ALIGN - 1);
}

static inline size_t wal__rec_size(size_t payload)
{
	return WAL__REC_HDR + wal__pad(payload);
}

uint32_t wal__crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven path alone, for tests on machines with SSE4.2. */
uint32_t wal__crc32c_portable(uint32_t crc, const void *buf, size_t len);

void wal__put32(uint8_t *p, uint32_t v);
void wal__put64(uint8_t *p, uint64_t v);
uint32_t wal__get32(const uint8_t *p);
uint64_t wal__get64(const uint8_t *p);

void wal__seg_hdr_encode(uint8_t out[WAL__SEG_HDR], const struct wal__seg_hdr *h);
/* 0, STORE_WAL_EFOREIGN (no magic), STORE_WAL_EVERSION, STORE_WAL_ECORRUPT. */
int wal__seg_hdr_decode(const uint8_t in[WAL__SEG_HDR], struct wal__seg_hdr *h);

void wal__batch_hdr_encode(uint8_t out[WAL__BATCH_HDR], const struct wal__batch_hdr *h);
/* true if the magic and the header checksum are right. */
bool wal__batch_hdr_decode(const uint8_t in[WAL__BATCH_HDR], struct wal__batch_hdr *h);

/* Writes a record header plus payload plus zero padding at out; returns the
 * bytes written (wal__rec_size(len)). */
size_t wal__rec_encode(uint8_t *out, const struct wal__rec *r, const void *payload);
/* Decodes the record at in[0..avail); returns its size, or 0 if malformed. */
size_t wal__rec_decode(const uint8_t *in, size_t avail, struct wal__rec *r);

void wal__hs_encode(uint8_t out[WAL__HS_LEN], const struct store_wal_hard_state *hs);
void wal__hs_decode(const uint8_t in[WAL__HS_LEN], struct store_wal_hard_state *hs);

void wal__seg_name(char out[WAL__NAME_LEN + 8], uint64_t seq, bool tmp);
/* 1: a segment name, 2: a temporary segment name, 0: not ours. */
int wal__seg_name_parse(const char *name, uint64_t *seq);

/* ---- in-memory structures ------------------------------------------- */

struct wal__chunk {
	struct wal__chunk *next; /* loop FIFO, oldest first */
	uint64_t id;             /* increasing; the writer's done frontier */
	uint8_t *buf;
	size_t len, cap;
	bool taken; /* by the writer; under mu. Immutable from then on */
	/* Logical state after the chunk's last record: what the writer
	 * publishes once the chunk is durable (T9). */
	uint64_t op_seq;
	uint64_t end_index, end_term, end_snap_index;
	struct store_wal_hard_state end_hs;
	uint64_t min_entry, max_entry; /* entry indexes inside, 0 if none */
	uint64_t snap_index;           /* a snapshot record inside, or 0 */
	uint32_t n_entries;
	/* Set by the writer before it publishes done_id. */
	uint64_t seg_seq;
	uint64_t file_off; /* of buf[0] in the segment */
};

/* Where an entry's payload lives: chunk memory, or a segment file. */
struct wal__ent {
	uint64_t term;
	struct wal__chunk *chunk; /* NULL: in segment seg at file offset off */
	uint32_t off;             /* in chunk->buf, or in the segment file */
	uint32_t len;
	uint32_t seg; /* segment sequence numbers stay far below 2^32 */
	uint8_t type;
}; /* 32 bytes: one per entry in memory, so kept small */

/* A read-only mapping of a segment, owned by the loop. */
struct wal__map {
	uint64_t seq;
	uint8_t *base;
	size_t len;
};

/* A prepared segment waiting to be written. */
struct wal__spare {
	uint64_t seq;
	int fd;
	uint64_t size;
};

/* A segment the writer has finished with, kept until compaction. */
struct wal__closed {
	uint64_t seq;
	uint64_t hi; /* highest entry index ever written in it */
};

struct wal__fault {
	bool armed;
	uint64_t batch; /* tear the n-th batch written (1-based) */
	uint64_t seed;
};

struct store_wal {
	char *dir;
	int dirfd; /* flock()ed for the WAL's lifetime */
	struct store_wal_options opt;
	uint64_t wal_id;
	pthread_mutex_t log_mu;

	/* ---- loop-owned --------------------------------------------- */
	struct wal__ent *ents; /* ents[start + (i - first)] for i in [first, last] */
	size_t ents_start, ents_len, ents_cap;
	uint64_t snap_index, snap_term;
	void *snap_conf;
	size_t snap_conf_len;
	struct store_wal_hard_state hs; /* last queued */
	uint64_t op_seq;                /* last queued operation */
	struct wal__chunk *fifo_head, *fifo_tail;
	struct wal__chunk *done_cursor; /* first chunk not yet counted as done */
	struct wal__chunk *recycled;    /* evicted chunks kept for reuse */
	size_t n_recycled;
	uint64_t next_chunk_id;
	size_t done_bytes; /* bytes of done chunks still cached */
	struct wal__map *maps;
	size_t n_maps, maps_cap;

	/* ---- shared, under mu --------------------------------------- */
	pthread_mutex_t mu;
	pthread_cond_t writer_cond;         /* work for the writer */
	pthread_cond_t durable_cond;        /* durable advanced or failed */
	pthread_cond_t hk_cond;             /* work for the housekeeper */
	pthread_cond_t spare_cond;          /* a spare segment is ready */
	struct wal__chunk *q_head, *q_tail; /* queued, not taken; q_tail is the open chunk */
	bool writer_idle;
	bool writer_done; /* the writer thread has exited */
	bool closing;
	uint64_t done_id; /* chunks with id <= done_id are durable */
	struct store_wal_durable durable;
	struct store_wal_metrics metrics;
	int hk_error;     /* the housekeeper's last failure to prepare a segment */
	bool hk_creating; /* the housekeeper is preparing segment next_seq - 1 */
	struct wal__spare *spares;
	size_t n_spares, spares_cap;
	uint64_t next_seq; /* next segment sequence number to create */
	uint64_t *doomed;  /* segments the housekeeper must delete */
	size_t n_doomed, doomed_cap;

	/* ---- writer-owned ------------------------------------------- */
	int seg_fd;
	uint64_t seg_seq, seg_size, seg_used;
	uint64_t seg_hi;
	uint64_t batch_seq; /* of the last batch written */
	uint64_t snap_seg;  /* segment holding the last durable snapshot record */
	uint64_t durable_snap;
	struct wal__closed *closed;
	size_t n_closed, closed_cap;
	uint64_t batches_since_open;
	struct wal__fault fault;
	struct iovec *iov;
	size_t iov_cap;
	struct wal__chunk **taken; /* the chunks of the batch in flight */
	size_t taken_cap;

	pthread_t writer, housekeeper;
	bool threads_started;
};

/* wal.c */
void wal__log(struct store_wal *w, enum store_wal_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int wal__grow(void **arr, size_t *cap, size_t need, size_t elem);

/* wal_segment.c */
int wal__fsync_dir(struct store_wal *w);
int wal__segment_create(struct store_wal *w, uint64_t seq, uint64_t size, int *fd_out);
void *wal__housekeeper_main(void *arg);
void wal__doom_prefix(struct store_wal *w, uint64_t snap_index);

/* wal_writer.c */
void *wal__writer_main(void *arg);
void wal__fault_parse(struct wal__fault *f, const char *spec);

/* wal_log.c */
int wal__ents_reserve(struct store_wal *w, size_t n);
struct wal__ent *wal__ent_at(struct store_wal *w, uint64_t index);
uint64_t wal__last_index(const struct store_wal *w);
void wal__chunks_free(struct store_wal *w);
void wal__maps_free(struct store_wal *w);
int wal__map_add(struct store_wal *w, uint64_t seq, uint8_t *base, size_t len);

/* wal_recover.c */
int wal__recover(struct store_wal *w);

#endif
