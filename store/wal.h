/*
 * store/wal.h - the Raft log of a cairn node: entries, hard state and
 * snapshot metadata in checksummed, preallocated segment files, written by a
 * dedicated thread with group commit.
 *
 * This header is the whole contract of the WAL. Read it top to bottom once.
 *
 * WHAT IT STORES
 *
 *   - Entries: (index, term, type, payload). The type byte and the payload
 *     are opaque to the WAL. Indexes are contiguous; terms never decrease
 *     along the log.
 *   - Hard state: (term, vote, commit), the last one saved wins.
 *   - Snapshot metadata: (index, term, configuration blob) of the last
 *     snapshot the host recorded with store_wal_compact(). The configuration
 *     is an opaque blob supplied by the host (the membership as of that
 *     index, reference raft.md C6).
 *
 *   The log holds the entries [first, last] with first = snapshot index + 1;
 *   it is empty when last == snapshot index.
 *
 * THREADS
 *
 *   A WAL has one owner thread, the "loop" (in cairnd, the libuv loop that
 *   runs the Raft core). Every function below is called from the owner
 *   thread only, one call at a time, unless it says "any thread".
 *
 *   store_wal_open() starts two internal threads:
 *   - the writer, which writes everything queued as one batch with one
 *     write and one fdatasync(). While a write is in flight, later calls
 *     queue and go out together in the next write: batch size follows the
 *     load, there are no timers (group commit by structure, raft.md 3.7).
 *   - a housekeeper, which prepares (zero-fills) the next segment ahead of
 *     need and deletes compacted segments, off the writer's critical path.
 *
 *   The mutating calls (store_wal_append, store_wal_truncate,
 *   store_wal_save_hard_state, store_wal_compact) validate, apply the change
 *   to the in-memory log at once, queue the record for the writer, and
 *   return without waiting for the disk. Records reach the disk in exactly
 *   the order they were queued. After each durable batch the writer
 *   publishes the durable position (store_wal_durable()) and calls the
 *   host's notify callback, on the writer thread; cairnd makes it
 *   uv_async_send() and reads the position back on the loop.
 *
 *   Reads (store_wal_entries, store_wal_term, store_wal_state, ...) see the
 *   in-memory log, which includes entries queued but not yet durable: a
 *   leader sends entries to its followers while it writes them (raft.md
 *   3.1, §10.2.1). Whether an entry is durable is a separate question,
 *   answered by store_wal_durable().
 *
 * DURABILITY AND THE ABA RACE (raft.md T9)
 *
 *   store_wal_durable() names the last durable entry by (index, term). After
 *   store_wal_truncate(i) and new appends, an older completion can still
 *   name an index whose entry has since been replaced: the host marks
 *   entries stable only if its log still holds that (index, term). When
 *   the truncation itself is durable, the durable index drops with it.
 *
 * ERRORS
 *
 *   Functions return 0 or a negative code: a negated errno value (-EINVAL,
 *   -ENOMEM, -EIO, ...) or one of the STORE_WAL_E* codes below (all below
 *   -4095, so they never collide with errno). store_wal_strerror() names
 *   them. Details (which file, which offset, which index) go to the log
 *   callback. A failed write or fdatasync() is fatal: the page cache can no
 *   longer be trusted (the 2018 "fsyncgate"), every queued operation fails,
 *   the error is published in store_wal_durable().error, and every later
 *   mutating call returns STORE_WAL_EFAILED. The host should stop the node.
 *
 * OWNERSHIP
 *
 *   The WAL copies every payload and blob it is given: the caller's buffers
 *   are free once the call returns. Pointers the WAL returns (entry
 *   payloads, the snapshot configuration) point into WAL-owned memory: the
 *   in-memory cache or a read-only mapping of a segment file. They stay
 *   valid until the next mutating call (append, truncate, save_hard_state,
 *   compact) or store_wal_close() on this WAL, whichever comes first. Copy
 *   what you need longer. The writer thread never invalidates them.
 *
 * ON DISK
 *
 *   The directory belongs to the WAL alone. It holds segment files named
 *   <16 hex digits of the segment sequence number>.wal, each with a header
 *   carrying a magic, the format version, the sequence number and the WAL's
 *   random identity; records are grouped in batches (one per write), each
 *   with a CRC-32C over its header and one over its records. Anything else
 *   in the directory makes store_wal_open() refuse it. The format is
 *   described in store/wal_format.c.
 */
#ifndef CAIRN_STORE_WAL_H
#define CAIRN_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes besides negated errno values. */
enum {
	/* A record in the middle of the log fails its checksum, or the files
	 * contradict each other (a missing segment, a gap in the indexes).
	 * The log line names the file, the offset and the last good index.
	 * The WAL refuses to open; nothing was modified. */
	STORE_WAL_ECORRUPT = -4101,
	/* The directory holds something that is not a cairn WAL (an unknown
	 * file name, a file without the magic, segments of another WAL).
	 * Nothing was modified. */
	STORE_WAL_EFOREIGN = -4102,
	/* A cairn WAL written in a format version this build cannot read. */
	STORE_WAL_EVERSION = -4103,
	/* The index lies at or below the snapshot index: compacted away. */
	STORE_WAL_ECOMPACTED = -4104,
	/* The index lies beyond the last entry of the log. */
	STORE_WAL_EUNAVAIL = -4105,
	/* An earlier write or sync failed; the WAL accepts no more writes.
	 * store_wal_durable().error holds the original error. */
	STORE_WAL_EFAILED = -4106,
	/* Another process (or another store_wal_open() in this process) has
	 * the directory open. */
	STORE_WAL_ELOCKED = -4107,
};

/* One log entry. As an argument, data/len are copied by the WAL. As a
 * result, data points into WAL-owned memory (see OWNERSHIP). */
struct store_wal_entry {
	uint64_t index;
	uint64_t term;
	uint8_t type; /* opaque to the WAL, kept as given */
	const void *data;
	size_t len; /* at most STORE_WAL_MAX_ENTRY_BYTES; one call at most ~1 GiB */
};

/* Largest payload of a single entry (the batch length field is 32 bits). */
#define STORE_WAL_MAX_ENTRY_BYTES (1u << 30)

/* Raft's persistent state besides the log (Figure 3.1, plus commit as etcd
 * keeps it). vote == 0 means "voted for nobody in this term". */
struct store_wal_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

/* Metadata of the last snapshot: the entry it ends at, and the host's
 * configuration blob as of that entry. As an argument, conf is copied. As a
 * result, conf points into WAL-owned memory (see OWNERSHIP). */
struct store_wal_snapshot {
	uint64_t index;
	uint64_t term;
	const void *conf;
	size_t conf_len;
};

/* A view of the in-memory log (durable or not), from store_wal_open() and
 * store_wal_state(). */
struct store_wal_state {
	struct store_wal_hard_state hard_state; /* last saved (queued) */
	struct store_wal_snapshot snapshot;     /* last recorded; zero if none */
	uint64_t first_index;                   /* snapshot.index + 1 */
	uint64_t last_index;                    /* == snapshot.index if empty */
	uint64_t last_term;                     /* term of last_index */
};

/* What is on disk, published by the writer after each durable batch. */
struct store_wal_durable {
	uint64_t index; /* last durable entry (or the durable snapshot index) */
	uint64_t term;  /* its term */
	struct store_wal_hard_state hard_state; /* last durable hard state */
	uint64_t snapshot_index;                /* last durable snapshot index */
	uint64_t seq; /* durable operations: grows by one per mutating call */
	int error;    /* 0, or the write error that stopped the writer */
};

/* WAL sync latency histogram: the bucket upper bounds are etcd's
 * etcd_disk_wal_fsync_duration_seconds, 1 ms * 2^k for k = 0..13; the last
 * bucket counts syncs slower than 8.192 s. Counts are per bucket (not
 * cumulative). */
#define STORE_WAL_SYNC_BUCKETS 15

struct store_wal_metrics {
	uint64_t syncs;         /* fdatasync() calls on segments */
	uint64_t batches;       /* batches written (== syncs today) */
	uint64_t bytes_written; /* segment bytes written, headers included */
	uint64_t entries_written;
	uint64_t last_sync_ns; /* duration of the last fdatasync() */
	uint64_t sync_ns_sum;  /* total time in fdatasync() */
	uint64_t sync_buckets[STORE_WAL_SYNC_BUCKETS];
	uint64_t segments_created; /* prepared by the housekeeper */
	uint64_t segments_deleted; /* removed after compaction */
};

struct store_wal;

/* Called on the writer thread after each durable batch and once after a
 * write error. Must be quick and must not call back into the WAL except
 * store_wal_durable() and store_wal_metrics(). */
typedef void (*store_wal_notify_cb)(struct store_wal *w, void *data);

enum store_wal_log_level {
	STORE_WAL_LOG_ERROR,
	STORE_WAL_LOG_WARN,
	STORE_WAL_LOG_INFO,
};

/* Receives one line (no trailing newline) per notable event: recovery
 * results, truncated tails, refusals, write errors. May be called on any
 * of the WAL's threads and from store_wal_open(); calls are serialized. */
typedef void (*store_wal_log_cb)(void *data, enum store_wal_log_level level, const char *msg);

/* Options for store_wal_open(). Zero-initialise, then set what you need:
 * every zero field takes its default. */
struct store_wal_options {
	/* Size of a segment file. Default 64 MiB; minimum 64 KiB. A batch
	 * larger than a segment gets a segment of its own, grown to fit. */
	uint64_t segment_size;
	/* Segments kept prepared (created and zero-filled) ahead of need.
	 * Default 1. */
	unsigned prealloc_segments;
	/* Bytes of recent entries kept in memory, so that reading them is a
	 * pointer and not a page fault. Entries not yet written are always in
	 * memory and are not counted. Default 8 MiB: enough for followers
	 * that keep up; older entries are read through a mapping of their
	 * segment, still without a copy. */
	uint64_t cache_bytes;
	/* Bytes at which the writer stops adding queued records to a batch.
	 * Default 4 MiB (never more than a segment). */
	uint64_t max_batch_bytes;
	/* Writer notification, see store_wal_notify_cb. Optional. */
	store_wal_notify_cb notify_cb;
	void *notify_data;
	/* Log lines. Default: written to stderr prefixed with "cairn wal: ". */
	store_wal_log_cb log_cb;
	void *log_data;
};

/*
 * Opens the WAL in `dir`, creating the directory (mode 0700) if it does not
 * exist, and initialising it if it is empty. The parent must exist.
 *
 * Recovery reads every segment and checks every checksum:
 *   - a torn or corrupt tail (the last batch written, incomplete after a
 *     crash) is cut off and zeroed, with a WARN log line naming the file,
 *     the offset and the bytes dropped; the entries before it are kept;
 *   - a corrupt batch followed by valid ones is not a torn write: open fails
 *     with STORE_WAL_ECORRUPT and an ERROR line naming the file, the offset
 *     and the last good index; nothing is modified;
 *   - an unknown file, a file without the WAL magic, or segments of another
 *     WAL make open fail with STORE_WAL_EFOREIGN; a newer format version with
 *     STORE_WAL_EVERSION; nothing is modified.
 * Entries at or below the recorded snapshot index are dropped from the log.
 *
 * On success *out is the WAL and, if state is not NULL, *state describes the
 * recovered log (durable by construction; state->snapshot.conf is valid
 * until the next mutating call). The directory is locked (flock) until
 * store_wal_close(). opts may be NULL for all defaults.
 *
 * Errors: STORE_WAL_ECORRUPT, STORE_WAL_EFOREIGN, STORE_WAL_EVERSION,
 * STORE_WAL_ELOCKED, -EINVAL (bad options), -ENOMEM, and negated errno
 * values of failed system calls (-ENOENT if the parent is missing,
 * -EACCES, -EIO, -ENOSPC, ...).
 */
int store_wal_open(const char *dir, const struct store_wal_options *opts, struct store_wal **out,
                   struct store_wal_state *state);

/*
 * Waits until everything queued is durable, stops the threads, unmaps and
 * closes every file and frees the WAL. Returns 0, or the write error if the
 * WAL had failed (all resources are released either way). Pointers the WAL
 * returned become invalid. w may be NULL.
 */
int store_wal_close(struct store_wal *w);

/*
 * Queues a batch of n >= 1 entries for writing and adds them to the
 * in-memory log at once. Payloads are copied; the caller's buffers are free
 * on return.
 *
 * entries[k].index must be entries[0].index + k, and terms must not
 * decrease along the batch. entries[0].index must lie in [first, last + 1]:
 * if it is <= last, the suffix from entries[0].index is truncated first,
 * exactly as store_wal_truncate() (the etcd convention "writing index i
 * discards stored entries >= i"), including its checks. The first entry's
 * term must be at least the term of the entry before it (or of the
 * snapshot).
 *
 * Errors: -EINVAL (bad batch, n == 0, payload too large, term going down,
 * truncating at or below the saved commit index), STORE_WAL_ECOMPACTED
 * (entries[0].index <= snapshot index), STORE_WAL_EUNAVAIL
 * (entries[0].index > last + 1: a gap), STORE_WAL_EFAILED, -ENOMEM. On error
 * nothing was queued or changed.
 */
int store_wal_append(struct store_wal *w, const struct store_wal_entry *entries, size_t n);

/*
 * Removes the entries >= index (a conflicting suffix, raft.md C4): from the
 * in-memory log at once, and on disk in order with the other queued
 * operations. index == last + 1 is a no-op returning 0.
 *
 * Raft never truncates committed entries: index must be above the commit
 * index of the last saved hard state.
 *
 * Errors: STORE_WAL_ECOMPACTED (index <= snapshot index), STORE_WAL_EUNAVAIL
 * (index > last + 1), -EINVAL (index <= saved commit), STORE_WAL_EFAILED,
 * -ENOMEM.
 */
int store_wal_truncate(struct store_wal *w, uint64_t index);

/*
 * Queues the hard state. It is written in the same batch as the operations
 * queued around it, in order, so entries then hard state (or the reverse)
 * become durable together or in that order (raft.md 3.1).
 *
 * The durable term never goes down and the vote never changes within a
 * term (traps T2 and T3): a hard state with a lower term, or with the same
 * term and a different vote than a non-zero saved vote, or with the same
 * term and vote 0 after a vote was saved, is refused with -EINVAL. The
 * commit index is kept as given.
 *
 * Errors: -EINVAL, STORE_WAL_EFAILED, -ENOMEM.
 */
int store_wal_save_hard_state(struct store_wal *w, const struct store_wal_hard_state *hs);

/*
 * Records snapshot metadata and discards the log up to snap->index
 * (raft.md C6). Call it after the state machine is durable up to
 * snap->index (for cairnd: after LMDB's sync), both when the node compacts
 * its own log and when it installs a snapshot received from the leader.
 *
 *   - If the log holds snap->index with term snap->term, the entries after
 *     it are kept: only the prefix goes.
 *   - Otherwise (the snapshot is past the end of the log, or the terms
 *     differ there) the whole log is discarded and restarts empty after
 *     snap->index.
 *
 * The metadata and the current hard state are queued as records; once they
 * are durable the housekeeper deletes the segments that hold only entries
 * <= snap->index, oldest first. The hard state is never derived from the
 * snapshot: term and vote survive (T2, T3, T6). The configuration blob is
 * copied.
 *
 * snap->index must not go below the current snapshot index; the same index
 * and term again is a no-op returning 0.
 *
 * Errors: -EINVAL (snapshot index going down, index 0, or same index with a
 * different term), STORE_WAL_EFAILED, -ENOMEM.
 */
int store_wal_compact(struct store_wal *w, const struct store_wal_snapshot *snap);

/*
 * Reads the entries with lo <= index < hi, stopping before the total payload
 * exceeds max_bytes, but always returning at least one entry if lo < hi
 * (etcd's limitSize), and at most cap entries. Stores them in out[0..*n)
 * with data pointing into WAL-owned memory (see OWNERSHIP). Includes
 * entries not yet durable. The common case (recent entries) is served from
 * memory; older ones point into a read-only mapping of their segment.
 * max_bytes == 0 means no byte limit.
 *
 * Errors: STORE_WAL_ECOMPACTED (lo <= snapshot index), STORE_WAL_EUNAVAIL
 * (hi > last + 1), -EINVAL (lo > hi, cap == 0 while lo < hi), -EIO or
 * other negated errno if a segment cannot be mapped.
 */
int store_wal_entries(struct store_wal *w, uint64_t lo, uint64_t hi, size_t max_bytes,
                      struct store_wal_entry *out, size_t cap, size_t *n);

/*
 * Stores the term of the entry at index in *term. index may be the snapshot
 * index (the snapshot's term; 0 for index 0 of a WAL without a snapshot) or
 * any index in [first, last].
 *
 * Errors: STORE_WAL_ECOMPACTED (index < snapshot index), STORE_WAL_EUNAVAIL
 * (index > last).
 */
int store_wal_term(struct store_wal *w, uint64_t index, uint64_t *term);

/* The first index of the log: snapshot index + 1. Never fails. */
uint64_t store_wal_first_index(struct store_wal *w);

/* The last index of the log, durable or not (== snapshot index if empty). */
uint64_t store_wal_last_index(struct store_wal *w);

/* Fills *state with the in-memory view (see struct store_wal_state). */
void store_wal_state(struct store_wal *w, struct store_wal_state *state);

/*
 * Any thread. Fills *d with what the writer last made durable. The loop
 * calls it after the notify callback fired. Every mutating call that
 * returned 0 is durable once d->seq reaches the value store_wal_queued()
 * returned after it.
 */
void store_wal_durable(struct store_wal *w, struct store_wal_durable *d);

/* The sequence number of the last queued mutating call (see
 * store_wal_durable().seq). 0 before the first. */
uint64_t store_wal_queued(struct store_wal *w);

/*
 * Blocks the calling (owner) thread until every operation queued before the
 * call is durable. For tests, tools and shutdown; the server's hot path
 * uses the notify callback instead. Returns 0, or the write error
 * (STORE_WAL_EFAILED once the writer has failed).
 */
int store_wal_wait(struct store_wal *w);

/* Any thread. Fills *m with the writer's counters. */
void store_wal_metrics(struct store_wal *w, struct store_wal_metrics *m);

/* Any thread. A static description of an error code (STORE_WAL_E* or a
 * negated errno). */
const char *store_wal_strerror(int err);

/*
 * Testing hook. If the environment variable CAIRN_WAL_FAULT is set when
 * store_wal_open() runs, to "torn:<n>:<seed>", the writer writes only a
 * seeded random part of its n-th batch (a prefix, or scattered 512-byte
 * sectors, as a power loss can leave) and then kills its own process with
 * SIGKILL. The crash tests use it; nothing else should.
 */

#ifdef __cplusplus
}
#endif

#endif
