/*
 * store/mvcc.h - the MVCC key-value state machine of a cairn node, in LMDB:
 * etcd's revision model, ranges, txns, compaction, leases, members, meta
 * (the applied index), watch history and change feed, quota and alarms,
 * hashes, snapshots and defragmentation.
 *
 * This header is the whole contract of the MVCC half of store/. Read it top
 * to bottom once. Semantics are etcd v3.4.23's, byte for byte where a client
 * can observe them (reference: ../shared/reference/etcd-api.md §3, §4).
 *
 * THE MODEL
 *
 *   One global revision (int64), 1 in an empty store; every request that
 *   changes keys (Put, DeleteRange or Txn with an effect, LeaseRevoke that
 *   deletes keys) adds exactly 1, shared by all its changes in op order
 *   (each change has a sub-revision 0, 1, ...). Every key carries
 *   create_revision, mod_revision, version and lease; a delete leaves a
 *   tombstone. History is kept until a Compact drops what is older than
 *   its revision (each key keeps its newest revision at or below it, unless
 *   that is a tombstone).
 *
 *   Requests and responses are etcd's own protobuf-c types (rpc.pb-c.h,
 *   kv.pb-c.h), as decided in docs/ARCHITECTURE.md. Response headers carry
 *   only `revision`; the server fills cluster_id, member_id and raft_term.
 *
 * THREADS
 *
 *   - Writes: one batch at a time (store_mvcc_batch_begin ... commit). In
 *     cairnd, the apply thread. A second batch_begin waits until the open
 *     batch is committed or aborted. A batch is used by one thread at a time.
 *   - Reads: a read context (store_mvcc_read_begin) from any thread, any
 *     number at once, concurrently with the writer. A read context is an
 *     LMDB read transaction: a consistent snapshot of the last commit that
 *     preceded it. It may be used by one thread at a time, and may move
 *     between threads (LMDB MDB_NOTLS).
 *   - Lessor calls (store_mvcc_lease_promote, _expired, _renew, ...),
 *     store_mvcc_sync, store_mvcc_state, the quota and check helpers,
 *     snapshots: any thread, internally synchronised.
 *   - store_mvcc_defrag and store_mvcc_install: any thread (but not one
 *     holding an open batch: they would wait for it forever); they wait for
 *     the open batch to finish and keep new batches out while they run.
 *     Readers are never blocked: read contexts begun before the swap keep
 *     reading the old file until they end (see ON DISK).
 *   - store_mvcc_open and store_mvcc_close: not concurrently with anything.
 *
 * BATCH LIFECYCLE (the apply loop)
 *
 *     store_mvcc_batch_begin(s, flags, feed_arena, &b);
 *     for each committed Raft entry:
 *         if (store_mvcc_batch_entry(b, index, term) == 1)
 *             continue;                 // already applied before a restart
 *         store_mvcc_put(b, req, arena, &resp);  // or _txn, _lease_grant ...
 *     store_mvcc_batch_commit(b, &feed);   // one LMDB commit for them all
 *     // answer the waiting clients from the responses; feed -> watchers
 *
 *   Each request is applied at its own revision and is atomic: one that
 *   fails with an etcd error (STORE_MVCC_E... below -4200) has no effect and
 *   the batch goes on. The applied index and term set by
 *   store_mvcc_batch_entry() are committed in the same LMDB transaction as
 *   the state they cover (raft.md C1), so after a crash the server replays
 *   its WAL from store_mvcc_state().applied_index + 1, and replaying an
 *   index at or below it is a no-op (batch_entry returns 1 and the request
 *   calls after it return STORE_MVCC_EAPPLIED without effect).
 *
 *   A storage failure (LMDB error, ENOMEM, map full) fails the batch: every
 *   later call on it returns STORE_MVCC_EFAILED and commit fails; the
 *   caller must store_mvcc_batch_abort() it. Nothing of the batch is
 *   visible. The store stays open and consistent at the last commit; the
 *   server should stop applying (the Raft log still has the entries).
 *
 * CHANGE FEED (live watchers)
 *
 *   With STORE_MVCC_FEED, a batch records every event it produces (kv, and
 *   with STORE_MVCC_FEED_PREV_KV the prev_kv of non-create events, as
 *   etcd's watch sends them), in revision order, all events of a revision
 *   together. store_mvcc_batch_commit() hands them over only if the commit
 *   succeeded. They are copies in the caller's feed arena, valid until the
 *   caller resets that arena, independent of LMDB. Events are recorded
 *   during apply, so a Compact later in the same batch does not hide them.
 *
 * WATCH HISTORY (catching up watchers)
 *
 *   store_mvcc_events() reads events from any start revision at or above
 *   the compact revision, up to a bound, never splitting a revision, from a
 *   read context (zero-copy). Feed and history produce identical events.
 *
 * OWNERSHIP
 *
 *   - Requests are read, never kept: the caller's buffers are free once the
 *     call returns.
 *   - Responses, events and every struct they point to are allocated from a
 *     store_mvcc_arena the caller passes and resets when it is done with
 *     them (no malloc per request in steady state: the arena keeps its
 *     memory across resets).
 *   - Write path (batch): every byte in a response is copied into the
 *     arena; responses outlive the commit.
 *   - Read path (read context): keys and values point straight into LMDB's
 *     memory map (zero-copy), valid until store_mvcc_read_end(). Only the
 *     small structs and pointer arrays come from the arena.
 *
 * ERRORS
 *
 *   Functions return 0 (or a documented positive value) on success, or a
 *   negative code: a negated errno value (-EINVAL, -ENOMEM, -EIO, ...) or
 *   one of the STORE_MVCC_E* codes (all below -4200, clear of errno and of
 *   the WAL's -41xx codes). store_mvcc_strerror() gives the text: for etcd
 *   errors, etcd's exact message ("etcdserver: key is not provided"), which
 *   clients match byte for byte; store_mvcc_grpc_code() gives the gRPC
 *   status code etcd uses for it. Details (which file, which key) go to the
 *   log callback.
 *
 * DURABILITY
 *
 *   LMDB commits sync data pages but not the meta page (MDB_NOMETASYNC,
 *   docs/ARCHITECTURE.md): a power loss may undo the last batches, never
 *   corrupt the file; a killed process loses nothing committed. Before
 *   compacting its WAL up to index i, the server calls store_mvcc_sync(),
 *   which makes every commit so far durable and reports the applied index
 *   it covers.
 *
 * ON DISK
 *
 *   The directory (e.g. <data-dir>/member/mvcc) belongs to the store alone:
 *     LOCK             flock()ed while open: one process at a time
 *     CURRENT          names the live generation of the data file
 *     data-<g>.mdb     the LMDB environment (MDB_NOSUBDIR), with
 *     data-<g>.mdb-lock  its LMDB lock file
 *   Defragmentation and snapshot installation write generation g+1, switch
 *   CURRENT atomically (rename + fsync) and retire generation g when its
 *   last reader ends. The LMDB layout (named databases meta, index,
 *   history, lease, lease_keys, member, member_removed, alarm, umeta) is
 *   described in store/mvcc_internal.h. Keys longer than LMDB's 511-byte
 *   key limit are stored under a 479-byte prefix plus their SHA-256, and
 *   iterated in true byte order: any key length works.
 *
 *   A directory that is not a cairn MVCC store, or whose files are damaged
 *   or of an unknown format version, is refused with a precise error and
 *   never modified.
 *
 * MEMORY
 *
 *   The key index and the whole history live in LMDB (the memory map), not
 *   on the heap: resident memory does not grow per key. The heap holds one
 *   small record per lease (the leader's expiry queue), the arenas, and
 *   transient sort/collect buffers of the request being served.
 */
#ifndef CAIRN_STORE_MVCC_H
#define CAIRN_STORE_MVCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/*
 * etcd errors: a request that fails with one of these had no effect (except
 * STORE_MVCC_ENOSPACE from the write path, see below). The comment gives
 * etcd's exact message (store_mvcc_strerror) and gRPC code
 * (store_mvcc_grpc_code).
 */
enum {
	/* "etcdserver: key is not provided" - InvalidArgument (3) */
	STORE_MVCC_EEMPTY_KEY = -4201,
	/* "etcdserver: key not found" - InvalidArgument (3). ignore_value or
	 * ignore_lease on a missing key; an empty RequestOp in a txn. */
	STORE_MVCC_EKEY_NOT_FOUND = -4202,
	/* "etcdserver: value is provided" - InvalidArgument (3) */
	STORE_MVCC_EVALUE_PROVIDED = -4203,
	/* "etcdserver: lease is provided" - InvalidArgument (3) */
	STORE_MVCC_ELEASE_PROVIDED = -4204,
	/* "etcdserver: too many operations in txn request" - InvalidArgument */
	STORE_MVCC_ETOO_MANY_OPS = -4205,
	/* "etcdserver: duplicate key given in txn request" - InvalidArgument */
	STORE_MVCC_EDUPLICATE_KEY = -4206,
	/* "etcdserver: request is too large" - InvalidArgument (3). A key plus
	 * value beyond store_mvcc_options.max_request_bytes. */
	STORE_MVCC_EREQUEST_TOO_LARGE = -4207,
	/* "etcdserver: mvcc: required revision has been compacted" -
	 * OutOfRange (11) */
	STORE_MVCC_ECOMPACTED = -4208,
	/* "etcdserver: mvcc: required revision is a future revision" -
	 * OutOfRange (11) */
	STORE_MVCC_EFUTURE_REV = -4209,
	/* "etcdserver: too large lease TTL" - OutOfRange (11) */
	STORE_MVCC_ELEASE_TTL_TOO_LARGE = -4210,
	/* "etcdserver: mvcc: database space exceeded" - ResourceExhausted (8) */
	STORE_MVCC_ENOSPACE = -4211,
	/* "etcdserver: requested lease not found" - NotFound (5) */
	STORE_MVCC_ELEASE_NOT_FOUND = -4212,
	/* "etcdserver: lease already exists" - FailedPrecondition (9) */
	STORE_MVCC_ELEASE_EXISTS = -4213,
	/* "etcdserver: member not found" - NotFound (5). Also a removed ID. */
	STORE_MVCC_EMEMBER_NOT_FOUND = -4214,
	/* "etcdserver: member ID already exist" - FailedPrecondition (9) */
	STORE_MVCC_EMEMBER_EXISTS = -4215,
	/* "etcdserver: Peer URLs already exists" - FailedPrecondition (9) */
	STORE_MVCC_EPEER_URL_EXISTS = -4216,
	/* "etcdserver: can only promote a learner member" - FailedPrecondition */
	STORE_MVCC_EMEMBER_NOT_LEARNER = -4217,
	/* "etcdserver: too many learner members in cluster" - FailedPrecondition */
	STORE_MVCC_ETOO_MANY_LEARNERS = -4218,
	/* "etcdserver: corrupt cluster" - DataLoss (15). A CORRUPT alarm is
	 * active: writes, compaction and lease grant/revoke are refused. */
	STORE_MVCC_ECORRUPT = -4219,
};

/* cairn errors (not etcd's): gRPC code Internal (13) unless stated. */
enum {
	/* The Raft entry of this request is already applied (at or below the
	 * stored applied index): nothing was done. Not an error to report to
	 * a client; the server skips the entry. */
	STORE_MVCC_EAPPLIED = -4250,
	/* An earlier storage failure failed this batch: abort it. */
	STORE_MVCC_EFAILED = -4251,
	/* The directory is not a cairn MVCC store (unknown files, no CURRENT,
	 * an LMDB file of another application). Nothing was modified. */
	STORE_MVCC_EFOREIGN = -4252,
	/* The store's files are damaged (CURRENT names a missing or invalid
	 * data file, LMDB reports an invalid or corrupt page, a record fails
	 * to decode). Nothing was modified. */
	STORE_MVCC_EDAMAGED = -4253,
	/* A cairn MVCC store in a format version this build cannot read. */
	STORE_MVCC_EVERSION = -4254,
	/* Another process (or another store_mvcc_open in this process) has the
	 * directory open. */
	STORE_MVCC_ELOCKED = -4255,
	/* The LMDB map is full (store_mvcc_options.map_size): the batch
	 * failed. Reopen with a larger map. */
	STORE_MVCC_EMAP_FULL = -4256,
	/* Lessor: this member is not the lease primary (leader); forward the
	 * request to the leader. */
	STORE_MVCC_ENOT_PRIMARY = -4257,
	/* Lessor: the lease has expired and its revoke is pending; etcd makes
	 * a keep-alive wait until the revoke is applied (then answers TTL 0). */
	STORE_MVCC_ELEASE_EXPIRED = -4258,
};

/* The text of an error: etcd's exact message for etcd errors, a
 * description for cairn errors, strerror() for negated errno values.
 * Never NULL; static storage. */
const char *store_mvcc_strerror(int err);

/* The gRPC status code etcd answers with for err (3 InvalidArgument, 5
 * NotFound, 8 ResourceExhausted, 9 FailedPrecondition, 11 OutOfRange, 15
 * DataLoss, ...); 13 (Internal) for cairn and errno errors, 0 for 0. */
int store_mvcc_grpc_code(int err);

/* ------------------------------------------------------------------------
 * Arena: the allocator of responses and events
 * ------------------------------------------------------------------------ */

/*
 * A bump allocator the caller owns. Allocation is a pointer increment in
 * the current chunk; a new chunk (malloc) is taken when it is full.
 * store_mvcc_arena_reset() frees everything allocated at once and keeps
 * the largest chunk for reuse, so a reset-per-batch arena stops calling
 * malloc once it has grown to the batch's working size. Not thread-safe:
 * one arena per thread (or per batch). Fields are private.
 */
struct store_mvcc_arena {
	struct store_mvcc_arena_chunk *chunk; /* current chunk (private) */
	size_t used;                          /* bytes used in it (private) */
	size_t chunk_size;                    /* default chunk size */
	size_t total;                         /* bytes held by all chunks */
};

/* Initialises an empty arena. chunk_size 0 means 64 KiB. Never fails (no
 * memory is taken until the first allocation). */
void store_mvcc_arena_init(struct store_mvcc_arena *a, size_t chunk_size);

/* Returns size bytes aligned to 16, or NULL if malloc fails. size 0
 * returns a valid unique pointer. */
void *store_mvcc_arena_alloc(struct store_mvcc_arena *a, size_t size);

/* Frees every allocation at once; keeps the largest chunk. */
void store_mvcc_arena_reset(struct store_mvcc_arena *a);

/* Frees all memory. The arena may be initialised again. */
void store_mvcc_arena_destroy(struct store_mvcc_arena *a);

/* A ProtobufCAllocator backed by the arena (free is a no-op), e.g. for
 * protobuf_c_message_unpack() of requests into the same arena. */
ProtobufCAllocator store_mvcc_arena_allocator(struct store_mvcc_arena *a);

/* ------------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------------ */

struct store_mvcc;

enum store_mvcc_log_level {
	STORE_MVCC_LOG_ERROR,
	STORE_MVCC_LOG_WARN,
	STORE_MVCC_LOG_INFO,
};

/* Receives one line (no trailing newline) per notable event: refusals with
 * their reason, storage errors, defragmentation and snapshot installs.
 * May be called on any thread; calls are serialised. */
typedef void (*store_mvcc_log_cb)(void *data, enum store_mvcc_log_level level, const char *msg);

/* How LMDB commits reach the disk. */
enum store_mvcc_sync_mode {
	/* Default: data pages synced, meta page not (MDB_NOMETASYNC): a power
	 * loss may undo the last commits, never corrupt. */
	STORE_MVCC_SYNC_DATA = 0,
	/* Every commit fully durable (LMDB's default, two syncs per commit). */
	STORE_MVCC_SYNC_FULL = 1,
	/* No sync at commit (MDB_NOSYNC): only store_mvcc_sync() syncs. A
	 * power loss may corrupt the file. For tests and benchmarks. */
	STORE_MVCC_SYNC_NONE = 2,
};

/* Options for store_mvcc_open(). Zero-initialise, then set what you need:
 * every zero field takes its default. */
struct store_mvcc_options {
	/* etcd's --quota-backend-bytes. 0: 2 GiB. Negative: no quota (etcd
	 * warns and disables it). The quota applies to store_mvcc_state()'s
	 * db_size, as etcd's applies to the bbolt file size. */
	int64_t quota_bytes;
	/* LMDB map size: the largest the data file may grow. 0: twice the
	 * quota plus 1 GiB (32 GiB without quota). Rounded up to the page
	 * size. Must exceed the quota: over-quota writes are still applied
	 * (etcd's rules), the alarm stops them. */
	uint64_t map_size;
	/* Concurrent read contexts (LMDB reader slots). 0: 1024. */
	unsigned max_readers;
	/* Leases granted with a smaller TTL (seconds) get this one, as etcd's
	 * minimum ceil(1.5 * election timeout). 0: 2 (etcd's default with a
	 * 1 s election timeout). Must be equal on every member. */
	int64_t min_lease_ttl;
	/* etcd's --max-txn-ops. 0: 128. Must be equal on every member. */
	uint32_t max_txn_ops;
	/* Largest key + value of a Put: beyond it STORE_MVCC_EREQUEST_TOO_LARGE
	 * (the server normally rejects such requests first, with etcd's
	 * --max-request-bytes). 0: 1.5 MiB. Must be equal on every member. */
	uint64_t max_request_bytes;
	/* enum store_mvcc_sync_mode. */
	int sync_mode;
	/* Log lines. Default: stderr, prefixed with "cairn mvcc: ". */
	store_mvcc_log_cb log_cb;
	void *log_data;
};

/*
 * Opens the store in `dir`, creating the directory (mode 0700) if it does
 * not exist and initialising a fresh store if it is empty. The parent must
 * exist. A fresh store is created under a temporary name and renamed into
 * place, so a crash during creation leaves nothing half-made behind.
 *
 * A non-empty directory must be a cairn MVCC store: files other than those
 * listed under ON DISK (and leftovers of an interrupted defragmentation,
 * which are removed) make open fail with STORE_MVCC_EFOREIGN, a damaged
 * data file with STORE_MVCC_EDAMAGED, a newer format with
 * STORE_MVCC_EVERSION. Nothing is modified in these cases; the log line
 * says why. (One repair is made: a fresh, never-written data-1.mdb without
 * CURRENT is what a crash during creation leaves, and is completed.)
 *
 * The lessor starts as not primary (every lease's expiry is "forever", as
 * on an etcd follower); the leader calls store_mvcc_lease_promote().
 *
 * Errors: STORE_MVCC_EFOREIGN, STORE_MVCC_EDAMAGED, STORE_MVCC_EVERSION,
 * STORE_MVCC_ELOCKED, -EINVAL (bad options, LMDB built with a key limit
 * below 511), -ENOMEM, negated errno of failed system calls.
 */
int store_mvcc_open(const char *dir, const struct store_mvcc_options *opts,
                    struct store_mvcc **out);

/* Closes the store. No batch may be open and every read context must have
 * ended. Pending physical compaction resumes at the next open. s may be
 * NULL. */
void store_mvcc_close(struct store_mvcc *s);

/*
 * Makes every commit so far durable (fdatasync of the data file, meta page
 * included). On success *durable_index (may be NULL) is the applied index
 * of the last commit before the call: the server may compact its WAL up to
 * it. Any thread. Errors: negated errno.
 */
int store_mvcc_sync(struct store_mvcc *s, uint64_t *durable_index);

/* The state as of the last commit. Any thread; cheap (no LMDB access). */
struct store_mvcc_state {
	int64_t revision;         /* current revision (1 when empty) */
	int64_t compact_revision; /* last Compact's revision, -1 if none */
	/* Compact revision whose physical removal is finished; equals
	 * compact_revision when no removal is pending (see
	 * store_mvcc_compact_step). */
	int64_t compacted_revision;
	uint64_t applied_index; /* last store_mvcc_batch_entry() committed */
	uint64_t applied_term;
	int64_t db_size;     /* bytes of the data file in use by LMDB pages */
	int64_t quota;       /* effective quota in bytes; 0 if disabled */
	bool nospace;        /* a NOSPACE alarm is active */
	bool corrupt;        /* a CORRUPT alarm is active */
	uint64_t generation; /* data file generation (grows on defrag/install) */
};
void store_mvcc_state(struct store_mvcc *s, struct store_mvcc_state *st);

/* ------------------------------------------------------------------------
 * Request checks, quota (before proposing)
 * ------------------------------------------------------------------------ */

/*
 * etcd's gRPC-layer checks (etcdserver/api/v3rpc/key.go), for the server to
 * run before proposing, so invalid requests are refused without a Raft
 * round: empty keys, ignore_value with a value, ignore_lease with a lease,
 * the txn op limit (max_txn_ops, nested txns sharing the budget as etcd
 * does), empty RequestOps, and a key put twice or put inside a deleted
 * range in one txn. The batch functions run the same checks again (the
 * log may carry requests from a server that skipped them). Any thread.
 * Return 0 or the etcd error.
 */
int store_mvcc_check_range(struct store_mvcc *s, const Etcdserverpb__RangeRequest *req);
int store_mvcc_check_put(struct store_mvcc *s, const Etcdserverpb__PutRequest *req);
int store_mvcc_check_delete_range(struct store_mvcc *s,
                                  const Etcdserverpb__DeleteRangeRequest *req);
int store_mvcc_check_txn(struct store_mvcc *s, const Etcdserverpb__TxnRequest *req);

/* True if every op of both branches is a Range (etcd's isTxnReadonly):
 * such a txn is served from a read context, without Raft. */
bool store_mvcc_txn_is_readonly(const Etcdserverpb__TxnRequest *req);

/* etcd's quota costs (etcdserver/quota.go): 256 + key + value per Put; a
 * txn costs the larger of its two branches' top-level Puts (nested txns
 * cost nothing, as in etcd); a LeaseGrant 64. */
#define STORE_MVCC_COST_LEASE_GRANT 64
int64_t store_mvcc_cost_put(const Etcdserverpb__PutRequest *req);
int64_t store_mvcc_cost_txn(const Etcdserverpb__TxnRequest *req);

/*
 * etcd's Available(): db_size + cost < quota (true if the quota is
 * disabled). The server checks it before proposing a Put, Txn or
 * LeaseGrant; if false it proposes an ACTIVATE NOSPACE alarm and answers
 * STORE_MVCC_ENOSPACE. Any thread.
 */
bool store_mvcc_quota_available(struct store_mvcc *s, int64_t cost);

/* ------------------------------------------------------------------------
 * Batches: applying committed entries
 * ------------------------------------------------------------------------ */

struct store_mvcc_batch;

/* store_mvcc_batch_begin() flags. */
#define STORE_MVCC_FEED         0x1u /* record the change feed */
#define STORE_MVCC_FEED_PREV_KV 0x2u /* ... with prev_kv (implies FEED) */

/*
 * Begins a batch: one LMDB write transaction. Waits while another batch,
 * a defragmentation or an install is running. With STORE_MVCC_FEED,
 * feed_arena receives the events (it must outlive the commit; the batch
 * does not reset it); otherwise feed_arena may be NULL.
 * Errors: -ENOMEM, STORE_MVCC_EMAP_FULL, negated errno (LMDB failures).
 */
int store_mvcc_batch_begin(struct store_mvcc *s, unsigned flags,
                           struct store_mvcc_arena *feed_arena, struct store_mvcc_batch **out);

/*
 * Declares that the requests applied next belong to Raft entry (index,
 * term), and records it as the applied index (committed with the batch).
 * Call it for every entry, including entries with no store request
 * (configuration changes apply their member records after it; empty
 * entries just advance the index).
 *
 * Returns 0: apply the entry. Returns 1: index is at or below the applied
 * index (an entry replayed after a restart): skip it; the request
 * functions called after it return STORE_MVCC_EAPPLIED and do nothing
 * until the next store_mvcc_batch_entry(). Gaps are allowed (indexes need
 * only increase). Error: STORE_MVCC_EFAILED.
 */
int store_mvcc_batch_entry(struct store_mvcc_batch *b, uint64_t index, uint64_t term);

/* The revision as of the requests applied so far in the batch (what
 * store_mvcc_state().revision will be if it commits now). */
int64_t store_mvcc_batch_revision(const struct store_mvcc_batch *b);

/*
 * The requests. Each runs etcd's checks (as store_mvcc_check_*) and its
 * apply-time rules (etcdserver/apply.go), and on success sets *resp to a
 * response allocated in `arena` (all bytes copied, see OWNERSHIP), with
 * header.revision as etcd sets it.
 *
 * NOSPACE, etcd's quota rules exactly:
 *   - while a NOSPACE alarm is active, store_mvcc_put, store_mvcc_txn with a
 *     positive cost and store_mvcc_lease_grant fail with
 *     STORE_MVCC_ENOSPACE and have no effect;
 *   - otherwise, if the store was already over quota for this request's
 *     cost, the request IS APPLIED, *resp is set, and the call returns
 *     STORE_MVCC_ENOSPACE: the server answers the client with that error
 *     and proposes an ACTIVATE NOSPACE alarm (etcd's applyEntryNormal).
 * CORRUPT: while a CORRUPT alarm is active, put, delete_range, txn,
 * compact, lease_grant and lease_revoke fail with STORE_MVCC_ECORRUPT.
 *
 * Common errors: the etcd errors listed per call, STORE_MVCC_EAPPLIED,
 * STORE_MVCC_EFAILED (and the storage errors that fail the batch:
 * -ENOMEM, STORE_MVCC_EMAP_FULL, -EIO ...).
 */

/* Put. Errors: EEMPTY_KEY, EVALUE_PROVIDED, ELEASE_PROVIDED,
 * EREQUEST_TOO_LARGE, ELEASE_NOT_FOUND (checked first), EKEY_NOT_FOUND
 * (ignore_value/ignore_lease on a missing key), ENOSPACE, ECORRUPT.
 * header.revision: the put's revision; prev_kv if asked and the key
 * existed. */
int store_mvcc_put(struct store_mvcc_batch *b, const Etcdserverpb__PutRequest *req,
                   struct store_mvcc_arena *arena, Etcdserverpb__PutResponse **resp);

/* DeleteRange, key/range_end as Range. Errors: EEMPTY_KEY, ECORRUPT.
 * header.revision: the new revision if something was deleted, else the
 * current one; deleted = number of keys; prev_kvs if asked. */
int store_mvcc_delete_range(struct store_mvcc_batch *b, const Etcdserverpb__DeleteRangeRequest *req,
                            struct store_mvcc_arena *arena,
                            Etcdserverpb__DeleteRangeResponse **resp);

/*
 * Txn, with nested txns. Compares (of every nested level on the taken
 * path) are evaluated on the state before the txn; ops run in order and
 * see earlier ops' writes; one revision for all changes. Errors:
 * ETOO_MANY_OPS, EEMPTY_KEY, EKEY_NOT_FOUND (empty RequestOp, or
 * ignore_* on a missing key on the taken path), EDUPLICATE_KEY,
 * EVALUE_PROVIDED, ELEASE_PROVIDED, EREQUEST_TOO_LARGE, ELEASE_NOT_FOUND,
 * ECOMPACTED / EFUTURE_REV (a Range revision on the taken path), ENOSPACE,
 * ECORRUPT: the whole txn has no effect. Inner responses have a header
 * with only revision, as etcd's.
 */
int store_mvcc_txn(struct store_mvcc_batch *b, const Etcdserverpb__TxnRequest *req,
                   struct store_mvcc_arena *arena, Etcdserverpb__TxnResponse **resp);

/*
 * Compact: records the compact revision (reads and watches below it fail
 * from now on); the physical removal is done in bounded steps by
 * store_mvcc_compact_step(). Errors: ECOMPACTED (revision at or below the
 * compact revision), EFUTURE_REV, ECORRUPT. header.revision: current.
 * With physical = true etcd answers after the removal: the server waits
 * until store_mvcc_state().compacted_revision reaches the revision.
 */
int store_mvcc_compact(struct store_mvcc_batch *b, const Etcdserverpb__CompactionRequest *req,
                       struct store_mvcc_arena *arena, Etcdserverpb__CompactionResponse **resp);

/*
 * Removes up to `budget` history records that the compact revision makes
 * unreachable (0: a default of 10000). Returns 0 when nothing is left to
 * remove, 1 if more remain, or an error (failing the batch). The server
 * calls it in its batches (e.g. once per batch after the entries) while
 * store_mvcc_state().compacted_revision < compact_revision, so a large
 * compaction never stalls the apply loop. Reads, watches and HashKV give
 * the same answers before, during and after the removal.
 */
int store_mvcc_compact_step(struct store_mvcc_batch *b, size_t budget);

/*
 * LeaseGrant. req->ID must be non-zero: the server picks a positive 63-bit
 * ID before proposing when the client sends 0 (etcd's reqIDGen); an ID of
 * 0 here fails with ELEASE_NOT_FOUND as in etcd. TTL below min_lease_ttl
 * is raised to it; the response carries the granted TTL. now_ns (a
 * monotonic clock, the server's) starts the expiry if this member is the
 * lease primary. Errors: ELEASE_NOT_FOUND, ELEASE_TTL_TOO_LARGE (TTL >
 * 9,000,000,000), ELEASE_EXISTS, ENOSPACE, ECORRUPT. header.revision:
 * current.
 */
int store_mvcc_lease_grant(struct store_mvcc_batch *b, const Etcdserverpb__LeaseGrantRequest *req,
                           int64_t now_ns, struct store_mvcc_arena *arena,
                           Etcdserverpb__LeaseGrantResponse **resp);

/* LeaseRevoke: deletes every key attached to the lease, in key order, at
 * one revision, then the lease. Errors: ELEASE_NOT_FOUND, ECORRUPT.
 * header.revision: the revision after the revoke. */
int store_mvcc_lease_revoke(struct store_mvcc_batch *b, const Etcdserverpb__LeaseRevokeRequest *req,
                            struct store_mvcc_arena *arena,
                            Etcdserverpb__LeaseRevokeResponse **resp);

/* LeaseCheckpoint: stores each lease's remaining TTL (unknown leases are
 * skipped, as in etcd). Never fails with an etcd error.
 * header.revision: current. */
int store_mvcc_lease_checkpoint(struct store_mvcc_batch *b,
                                const Etcdserverpb__LeaseCheckpointRequest *req, int64_t now_ns,
                                struct store_mvcc_arena *arena,
                                Etcdserverpb__LeaseCheckpointResponse **resp);

/*
 * Alarm (all actions are replicated in etcd, GET included). GET lists the
 * alarms of req->alarm (NONE: all); ACTIVATE adds (member, alarm) and
 * answers it (also when already active); DEACTIVATE removes it and answers
 * it, or answers no alarm if it was not active. Activating NOSPACE or
 * CORRUPT changes the rules of later requests at once (see NOSPACE above);
 * deactivating the last one restores them. An unknown action answers an
 * empty response. header.revision: current.
 */
int store_mvcc_alarm(struct store_mvcc_batch *b, const Etcdserverpb__AlarmRequest *req,
                     struct store_mvcc_arena *arena, Etcdserverpb__AlarmResponse **resp);

/*
 * Cluster members, as applied from configuration-change entries (etcd's
 * ValidateConfigurationChange rules, checked here at apply time). The
 * server builds the Member* responses from store_mvcc_members() after the
 * commit, and runs the checks that need Raft (a learner in sync before a
 * promote) itself.
 *
 * member_add: m->ID, peer_urls, is_learner (name and client URLs may be
 * empty until the member publishes them). Errors: EMEMBER_NOT_FOUND (ID
 * was removed), EMEMBER_EXISTS, EPEER_URL_EXISTS (a URL of another
 * member), ETOO_MANY_LEARNERS (more than one learner).
 * member_remove: EMEMBER_NOT_FOUND (unknown or removed ID); the ID is
 * remembered as removed forever.
 * member_update: new peer URLs. EMEMBER_NOT_FOUND, EPEER_URL_EXISTS.
 * member_promote: EMEMBER_NOT_FOUND, EMEMBER_NOT_LEARNER.
 * member_set_attributes: name and client URLs published by the member
 * itself; EMEMBER_NOT_FOUND.
 */
int store_mvcc_member_add(struct store_mvcc_batch *b, const Etcdserverpb__Member *m);
int store_mvcc_member_remove(struct store_mvcc_batch *b, uint64_t id);
int store_mvcc_member_update(struct store_mvcc_batch *b, uint64_t id, char *const *peer_urls,
                             size_t n_peer_urls);
int store_mvcc_member_promote(struct store_mvcc_batch *b, uint64_t id);
int store_mvcc_member_set_attributes(struct store_mvcc_batch *b, uint64_t id, const char *name,
                                     char *const *client_urls, size_t n_client_urls);

/* The server's own metadata (cluster ID, cluster version, anything it must
 * commit atomically with the applied index): arbitrary bytes, keys of 1 to
 * 511 bytes. Read back with store_mvcc_meta_get(). */
int store_mvcc_meta_put(struct store_mvcc_batch *b, const void *key, size_t key_len,
                        const void *value, size_t value_len);
int store_mvcc_meta_delete(struct store_mvcc_batch *b, const void *key, size_t key_len);

/* The change feed of a committed batch (see CHANGE FEED). */
struct store_mvcc_feed {
	int64_t first_revision; /* first revision written; 0 if none */
	int64_t last_revision;  /* last revision written; 0 if none */
	size_t n_events;
	/* Events in revision order; events of one revision are contiguous.
	 * The array and everything it points to live in the feed arena: they
	 * outlive later batches until the caller resets that arena.
	 * A DELETE's kv holds the key and mod_revision = the deletion's
	 * revision. prev_kv (with STORE_MVCC_FEED_PREV_KV) is set on
	 * non-create events whose key existed before the revision. */
	Mvccpb__Event **events;
};

/*
 * Commits the batch (one LMDB commit) and ends it. On success the new
 * state is visible to read contexts begun afterwards, the lessor learns the
 * granted, revoked and checkpointed leases, and *feed (may be NULL) holds
 * the change feed (empty without STORE_MVCC_FEED). On failure nothing of
 * the batch is visible and the batch is ended (no abort needed).
 * Errors: STORE_MVCC_EFAILED (the batch had failed), STORE_MVCC_EMAP_FULL,
 * -ENOMEM (the feed arena), negated errno.
 */
int store_mvcc_batch_commit(struct store_mvcc_batch *b, struct store_mvcc_feed *feed);

/*
 * The change feed the batch has recorded so far, before its commit (the
 * server's early watch feed): the same events, in the same form and arena,
 * that store_mvcc_batch_commit() would hand over if nothing more were
 * written. Nothing of it is visible to read contexts until the commit; a
 * caller that uses it passes feed = NULL to the commit. Errors:
 * STORE_MVCC_EFAILED (the batch had failed), -EINVAL (no batch open),
 * -ENOMEM (the feed arena); *feed is empty then.
 */
int store_mvcc_batch_feed(struct store_mvcc_batch *b, struct store_mvcc_feed *feed);

/* Discards the batch: nothing of it is visible; the lessor is unchanged. */
void store_mvcc_batch_abort(struct store_mvcc_batch *b);

/* ------------------------------------------------------------------------
 * Read contexts: ranges, watch history, leases, members, hashes
 * ------------------------------------------------------------------------ */

struct store_mvcc_read;

/* Begins a read context: a consistent snapshot of the last commit. Cheap
 * (read transactions are pooled and renewed). Errors: -ENOMEM, negated
 * errno (LMDB reader table full: -EAGAIN). */
int store_mvcc_read_begin(struct store_mvcc *s, struct store_mvcc_read **out);

/* Ends it: every pointer obtained through it becomes invalid. Keep read
 * contexts short: a long one pins old pages and grows the file. */
void store_mvcc_read_end(struct store_mvcc_read *rd);

/* The snapshot's current revision, compact revision (-1 if none), and
 * applied index and term. */
int64_t store_mvcc_read_revision(const struct store_mvcc_read *rd);
int64_t store_mvcc_read_compact_revision(const struct store_mvcc_read *rd);
void store_mvcc_read_applied(const struct store_mvcc_read *rd, uint64_t *index, uint64_t *term);

/*
 * Range, every option exactly as etcd (apply.go Range, mvcc rangeKeys):
 * range_end empty: the key alone; "\0": every key >= key; otherwise
 * [key, range_end). revision <= 0: current; above current: EFUTURE_REV;
 * below the compact revision: ECOMPACTED (equal is allowed). count = keys
 * in range at that revision, before limit and filters (count_only: count
 * and no kvs). The min/max create/mod filters apply before the sort and
 * the limit; sort by any target and order, ties ordered exactly as etcd's
 * Go sort.Sort orders them; sort_target != KEY with order NONE sorts
 * ascending; `more` when the (filtered, sorted) result was truncated by
 * limit. keys_only: no values. header.revision: current, even for an old
 * revision. Keys and values point into LMDB (valid until read_end).
 * Errors: EEMPTY_KEY, EFUTURE_REV, ECOMPACTED, -ENOMEM.
 */
int store_mvcc_range(struct store_mvcc_read *rd, const Etcdserverpb__RangeRequest *req,
                     struct store_mvcc_arena *arena, Etcdserverpb__RangeResponse **resp);

/* A read-only txn (store_mvcc_txn_is_readonly) evaluated on the read
 * context, as etcd serves them without Raft. Errors as store_mvcc_txn;
 * -EINVAL if the txn is not read-only. Zero-copy like store_mvcc_range. */
int store_mvcc_txn_read(struct store_mvcc_read *rd, const Etcdserverpb__TxnRequest *req,
                        struct store_mvcc_arena *arena, Etcdserverpb__TxnResponse **resp);

/* A query of watch history. */
struct store_mvcc_events_query {
	int64_t start_revision; /* first revision wanted; >= compact revision */
	int64_t end_revision;   /* last revision wanted; 0: the read's current */
	/* Key filter with Range's conventions; key_len == 0 (and range_end_len
	 * == 0): every key. (Watch's "empty key means \0" is the server's.) */
	const uint8_t *key;
	size_t key_len;
	const uint8_t *range_end;
	size_t range_end_len;
	bool prev_kv;      /* fill prev_kv of non-create events */
	size_t max_events; /* stop after the revision that reaches it; 0: none */
	size_t max_bytes;  /* same, in key + value bytes; 0: none */
};

struct store_mvcc_events {
	size_t n_events;
	Mvccpb__Event **events; /* revision order, revisions never split */
	/* The next revision to ask for: end_revision + 1 when done. */
	int64_t next_revision;
	bool more; /* stopped early by max_events / max_bytes */
};

/*
 * Reads events with start_revision <= revision <= end_revision that match
 * the key filter, in revision order (then change order within a revision),
 * stopping at a revision boundary once max_events or max_bytes is reached
 * (a single revision is never split, even if it alone exceeds them). Each
 * PUT event's kv is the key-value as written; a DELETE's kv has the key and
 * mod_revision; prev_kv (if asked) is the key's value at revision - 1, as
 * etcd's watch reads it. Zero-copy (valid until read_end).
 * Errors: ECOMPACTED (start_revision < compact revision), EFUTURE_REV
 * (end_revision > current), -EINVAL (start_revision < 1), -ENOMEM.
 */
int store_mvcc_events(struct store_mvcc_read *rd, const struct store_mvcc_events_query *q,
                      struct store_mvcc_arena *arena, struct store_mvcc_events *out);

/*
 * LeaseTimeToLive as etcd's leader answers it: ID, TTL = remaining seconds
 * (truncated; from the lessor's expiry at now_ns if this member is the
 * primary, else the "forever" value 9223372036 an etcd follower has),
 * grantedTTL, keys if asked (in key order). An unknown lease answers TTL
 * -1, grantedTTL 0, no error (etcd's v3rpc behaviour). header.revision:
 * current.
 */
int store_mvcc_lease_time_to_live(struct store_mvcc_read *rd,
                                  const Etcdserverpb__LeaseTimeToLiveRequest *req, int64_t now_ns,
                                  struct store_mvcc_arena *arena,
                                  Etcdserverpb__LeaseTimeToLiveResponse **resp);

/* LeaseLeases: every lease ID; ordered by expiry when primary (as etcd's
 * lessor.Leases), by ID otherwise. header.revision: current. */
int store_mvcc_lease_leases(struct store_mvcc_read *rd, struct store_mvcc_arena *arena,
                            Etcdserverpb__LeaseLeasesResponse **resp);

/* The members, ordered by ID (removed ones excluded). *members is an array
 * of n pointers in the arena; strings are copied into it. */
int store_mvcc_members(struct store_mvcc_read *rd, struct store_mvcc_arena *arena,
                       Etcdserverpb__Member ***members, size_t *n);

/* True if id was removed from the cluster (etcd's members_removed). */
bool store_mvcc_member_removed(struct store_mvcc_read *rd, uint64_t id);

/* The active alarms of a type (ETCDSERVERPB__ALARM_TYPE__NONE: all),
 * ordered by member then type. For Status.errors and Alarm GET served
 * locally. */
int store_mvcc_alarms(struct store_mvcc_read *rd, Etcdserverpb__AlarmType type,
                      struct store_mvcc_arena *arena, Etcdserverpb__AlarmMember ***alarms,
                      size_t *n);

/* Reads a value written by store_mvcc_meta_put(). Returns 0 with *value
 * pointing into LMDB (valid until read_end), or -ENOENT. */
int store_mvcc_meta_get(struct store_mvcc_read *rd, const void *key, size_t key_len,
                        const void **value, size_t *value_len);

/*
 * HashKV: CRC-32C of the key-value history up to `revision` (0: current),
 * computed exactly as etcd's HashByRev (mvcc/kvstore.go) over etcd's own
 * encoding of each revision, so it is equal on every member with the same
 * history - and equal to real etcd's for the same history. *compact_rev is
 * the compact revision (-1 if none); *hash_rev the revision hashed.
 * Errors: ECOMPACTED (0 < revision <= compact revision), EFUTURE_REV.
 */
int store_mvcc_hash_kv(struct store_mvcc_read *rd, int64_t revision, uint32_t *hash,
                       int64_t *compact_rev, int64_t *hash_rev);

/* Hash: CRC-32C of every record of every database of this member (etcd's
 * backend Hash). Includes per-member state (applied index, physical
 * compaction progress), so it may differ between members. */
int store_mvcc_hash(struct store_mvcc_read *rd, uint32_t *hash);

/* Sizes for Status: db_size (bytes of the file in use by LMDB pages, the
 * quota's measure) and db_size_in_use (minus free pages). */
int store_mvcc_db_size(struct store_mvcc_read *rd, int64_t *db_size, int64_t *db_size_in_use);

/* ------------------------------------------------------------------------
 * The lessor: lease expiry on the leader (any thread)
 * ------------------------------------------------------------------------ */

/*
 * Becomes the lease primary (on winning an election): every lease expires
 * at now + (checkpointed remaining TTL, else TTL) + extend_ns (etcd passes
 * the election timeout), with etcd's spreading of piled-up expiries (at
 * most 3/4 of 1000 per second) when there are 1000 leases or more.
 */
void store_mvcc_lease_promote(struct store_mvcc *s, int64_t now_ns, int64_t extend_ns);

/* Stops being primary: every lease's expiry becomes "forever". */
void store_mvcc_lease_demote(struct store_mvcc *s);

/* True if this member is the lease primary. */
bool store_mvcc_lease_is_primary(struct store_mvcc *s);

/*
 * Up to max IDs of leases expired at now_ns (primary only; 0 otherwise),
 * earliest first. A returned lease is not returned again for 3 s (etcd's
 * retry interval) while its revoke goes through Raft. The leader calls it
 * every 500 ms with max 500 (etcd's 1000/s) and proposes a LeaseRevoke
 * for each.
 */
size_t store_mvcc_lease_expired(struct store_mvcc *s, int64_t now_ns, int64_t *ids, size_t max);

/*
 * KeepAlive: renews lease id at now_ns; *ttl = its granted TTL.
 * Returns 0, or 1 if the lease had a checkpointed remaining TTL that etcd
 * clears by proposing LeaseCheckpoint{id, 0} (only with checkpointing on).
 * Errors: STORE_MVCC_ENOT_PRIMARY (forward to the leader),
 * STORE_MVCC_ELEASE_NOT_FOUND (answer TTL 0), STORE_MVCC_ELEASE_EXPIRED
 * (expired, revoke pending: etcd waits for the revoke, then answers TTL 0).
 */
int store_mvcc_lease_renew(struct store_mvcc *s, int64_t id, int64_t now_ns, int64_t *ttl);

/*
 * Checkpoints due (etcd's --experimental-enable-lease-checkpoint): up to
 * max {ID, remaining_TTL} for leases whose remaining TTL is longer than
 * interval_ns and whose last checkpoint is interval_ns old, to propose as
 * one LeaseCheckpointRequest. Primary only. out[i] is initialised here.
 */
size_t store_mvcc_lease_checkpoints(struct store_mvcc *s, int64_t now_ns, int64_t interval_ns,
                                    Etcdserverpb__LeaseCheckpoint *out, size_t max);

/* ------------------------------------------------------------------------
 * Snapshots, defragmentation, restore
 * ------------------------------------------------------------------------ */

/*
 * Writes a consistent, compacted copy of the whole store (as of the last
 * commit) to `path`: written to path + ".tmp", fsync'ed, renamed, parent
 * directory fsync'ed. *size (may be NULL) is the file's size. For Raft
 * snapshots and Maintenance/Snapshot (the server streams the file in 32 KiB
 * chunks and appends etcd's SHA-256 trailer, see store_mvcc_sha256).
 * Any thread; never blocks the writer. Errors: negated errno.
 */
int store_mvcc_snapshot_save(struct store_mvcc *s, const char *path, uint64_t *size);

/* The same copy written to an open file descriptor (a pipe works: stream it
 * from another thread). The fd is not closed. */
int store_mvcc_snapshot_write(struct store_mvcc *s, int fd);

/* What a snapshot file holds, checked by opening it read-only. Errors:
 * STORE_MVCC_EFOREIGN, STORE_MVCC_EDAMAGED, STORE_MVCC_EVERSION. */
struct store_mvcc_snapshot_info {
	int64_t revision;
	int64_t compact_revision;
	uint64_t applied_index;
	uint64_t applied_term;
	uint64_t size;
};
int store_mvcc_snapshot_info(const char *path, struct store_mvcc_snapshot_info *info);

/*
 * Defragments by compacting copy (LMDB's mdb_env_copy2 with MDB_CP_COMPACT)
 * into the next generation, switched in atomically. Waits for the open
 * batch and keeps batches out while it runs; read contexts continue on the
 * old file. Errors: negated errno (e.g. -ENOSPC); the store is unchanged
 * on failure.
 */
int store_mvcc_defrag(struct store_mvcc *s);

/*
 * Installs a snapshot file (from store_mvcc_snapshot_save on a peer):
 * validated (store_mvcc_snapshot_info), moved into the directory as the
 * next generation (renamed if on the same file system, else copied) and
 * switched in atomically, as defrag. The lessor reloads its leases and is
 * left not primary. The snapshot's applied index replaces the store's.
 * The file at path is consumed on success; on failure the store is
 * unchanged and the file is left at path.
 */
int store_mvcc_install(struct store_mvcc *s, const char *path);

/*
 * Restores a snapshot file into `dir`, which must not hold a store (it is
 * created if missing): the offline `snapshot restore`. Errors as
 * store_mvcc_snapshot_info, STORE_MVCC_EFOREIGN if dir is not empty,
 * negated errno. The file at path is copied, not consumed.
 */
int store_mvcc_restore(const char *dir, const char *path);

/* ------------------------------------------------------------------------
 * SHA-256 (FIPS 180-4), for etcd's snapshot stream trailer
 * ------------------------------------------------------------------------ */

struct store_mvcc_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
};
void store_mvcc_sha256_init(struct store_mvcc_sha256 *c);
void store_mvcc_sha256_update(struct store_mvcc_sha256 *c, const void *data, size_t len);
void store_mvcc_sha256_final(struct store_mvcc_sha256 *c, uint8_t out[32]);

#ifdef __cplusplus
}
#endif

#endif
