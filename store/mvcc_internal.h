/*
 * store/mvcc_internal.h - what the files of the MVCC store share. Not part of
 * the contract (store/mvcc.h is).
 *
 * THE LMDB LAYOUT (format version 1)
 *
 *   One environment, named databases:
 *
 *   meta        "format" -> 16-byte magic + u32 version (LE)
 *               "state"  -> struct mvcc_meta_state (fixed LE encoding):
 *                           revision, compact revision, physical compaction
 *                           progress, applied index and term
 *   index       DUPSORT | DUPFIXED. skey -> 40-byte revision records, one
 *               per change of the key still in history, newest first:
 *                 [0..8)   ~main   (big-endian: newest sorts first)
 *                 [8..14)  ~sub    (48 bits, big-endian)
 *                 [14..16) flags   (MVCC_IREC_TOMB)
 *                 [16..40) create, version, lease (LE int64)
 *               The current state of a key is its first record; the state
 *               at revision R is the first record with main <= R (one
 *               MDB_GET_BOTH_RANGE). Ranges walk this database only; values
 *               come from history.
 *   history     (main, sub) big-endian 16 bytes -> one record per change:
 *                 u8 flags, 3 pad, u32 key length, create, version, lease,
 *                 prev main, prev sub (LE int64), key bytes, value bytes.
 *               Appended in revision order (MDB_APPEND). `prev` names the
 *               live put this change superseded (0 if the key did not
 *               exist): it tells compaction what to delete without
 *               rescanning.
 *   lease       lease ID (sign-flipped big-endian) -> TTL, remaining TTL
 *   lease_keys  DUPSORT. lease ID -> skeys of the keys attached to it
 *   member      member ID (big-endian) -> packed etcdserverpb.Member
 *   member_removed  member ID -> empty
 *   alarm       member ID (BE) + alarm type (BE u32) -> empty
 *   umeta       the server's own metadata (store_mvcc_meta_put)
 *
 * SKEYS: LMDB keys are at most 511 bytes; etcd keys are up to ~1.5 MiB.
 *   A key of at most 479 bytes is its own skey. A longer key's skey is its
 *   first 479 bytes followed by its SHA-256 (511 bytes). Short skeys (<= 479
 *   bytes) and long ones (511) never collide, and byte order between skeys
 *   equals byte order between keys except among long keys sharing their
 *   479-byte prefix: the key iterator (struct mvcc_kiter) sorts such runs by
 *   full key (read from history) before yielding them.
 *
 * COMPACTION: Compact(C) records C; compaction steps walk history from the
 *   last position up to C: a record's `prev` is deleted (superseded at or
 *   below C), and a tombstone is deleted with it. Each record is visited
 *   once over the store's life. Until a step has passed a record, reads
 *   at or above C cannot tell (they look for the newest record <= their
 *   revision, which is never one of those to delete), and events and
 *   HashKV apply the same rule logically.
 */
#ifndef CAIRN_STORE_MVCC_INTERNAL_H
#define CAIRN_STORE_MVCC_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "store/mvcc.h"

#define MVCC_FORMAT_VERSION 1u
#define MVCC_MAGIC          "cairn-mvcc-store" /* 16 bytes, no NUL stored */
#define MVCC_MAGIC_LEN      16

#define MVCC_SKEY_PREFIX 479u /* longest key stored as itself */
#define MVCC_SKEY_LONG   511u /* skey length of longer keys: prefix + 32 */
#define MVCC_IREC_SIZE   40u
#define MVCC_IREC_TOMB   0x1u
#define MVCC_HREC_TOMB   0x1u
#define MVCC_HREC_HDR    48u
#define MVCC_HKEY_SIZE   16u

#define MVCC_MAX_LEASE_TTL 9000000000LL /* etcd's MaxLeaseTTL, seconds */
#define MVCC_SUB_MAX       ((int64_t)0xffffffffffffLL)

enum mvcc_db {
	MVCC_DB_META,
	MVCC_DB_INDEX,
	MVCC_DB_HISTORY,
	MVCC_DB_LEASE,
	MVCC_DB_LEASE_KEYS,
	MVCC_DB_MEMBER,
	MVCC_DB_MEMBER_REMOVED,
	MVCC_DB_ALARM,
	MVCC_DB_UMETA,
	MVCC_DB_COUNT,
};

extern const char *const mvcc__db_names[MVCC_DB_COUNT];

/* The "state" record of the meta database. */
struct mvcc_meta_state {
	int64_t rev;
	int64_t compact_rev;   /* -1 if none */
	int64_t scan_main;     /* physical compaction: last history record */
	int64_t scan_sub;      /* processed (0,0: none yet) */
	int64_t compacted_rev; /* physical removal finished up to */
	uint64_t applied_index;
	uint64_t applied_term;
};
#define MVCC_META_STATE_SIZE 56u

/* A decoded index record. */
struct mvcc_irec {
	int64_t main, sub;
	unsigned flags;
	int64_t create, version, lease;
};

/* A decoded history record; key and value point into LMDB memory. */
struct mvcc_hrec {
	unsigned flags;
	int64_t create, version, lease;
	int64_t prev_main, prev_sub;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
};

/* One generation of the data file: an LMDB environment. */
struct mvcc_env {
	MDB_env *env;
	MDB_dbi dbi[MVCC_DB_COUNT];
	uint64_t gen;
	unsigned refs; /* read contexts + batch + 1 while current (gen_mu) */
	bool retired;  /* no longer current: close and unlink at refs 0 */
	char *path;
	struct store_mvcc_read *pool; /* idle read contexts (gen_mu) */
};

/* A lease in the lessor's memory. */
struct mvcc_lease_item {
	int64_t id;
	int64_t ttl;        /* granted, seconds */
	int64_t remaining;  /* checkpointed remaining TTL, seconds; 0: none */
	int64_t expiry;     /* ns; INT64_MAX: forever */
	int64_t queue_time; /* heap key: expiry, or the retry time */
	int64_t next_cp;    /* next checkpoint due, ns; 0: not scheduled */
	size_t heap_idx;
};

struct mvcc_lessor {
	pthread_mutex_t mu;
	bool primary;
	struct mvcc_lease_item **slots; /* open addressing by id */
	size_t n_slots, n_items;
	struct mvcc_lease_item **heap; /* min-heap on queue_time */
	size_t heap_n, heap_cap;
};

/* Lessor changes a batch makes, applied at commit. */
enum mvcc_lease_op_kind {
	MVCC_LEASE_OP_GRANT,
	MVCC_LEASE_OP_REVOKE,
	MVCC_LEASE_OP_CHECKPOINT,
};
struct mvcc_lease_op {
	int kind;
	int64_t id, ttl, remaining, now;
};

/* What the txn code needs from the place it runs: a write batch or a read
 * context. */
struct mvcc_view {
	struct store_mvcc *s;
	struct mvcc_env *e;
	MDB_txn *txn;
	MDB_cursor *idx;  /* walks the index */
	MDB_cursor *idx2; /* point lookups in the index */
	MDB_cursor *hist;
	int64_t compact_rev;
	bool copy; /* copy bytes into the arena (write path) */
};

struct store_mvcc_read {
	struct store_mvcc_read *next; /* in the env's idle pool */
	struct mvcc_view v;
	struct mvcc_meta_state st;
};

struct store_mvcc_batch {
	struct store_mvcc *s;
	struct mvcc_view v;
	struct mvcc_meta_state st; /* working state */
	unsigned flags;
	bool open, skip, failed, any_entry;
	int fail_err;
	int64_t begin_rev;    /* etcd's beginRev of the request being applied */
	int64_t changes;      /* changes so far in it (the next sub-revision) */
	int nospace, corrupt; /* active alarms of each kind */
	struct store_mvcc_arena *feed_arena;
	Mvccpb__Event **feed;
	size_t feed_n, feed_cap;
	struct mvcc_lease_op *ops;
	size_t ops_n, ops_cap;
	struct store_mvcc_arena scratch; /* per request, reset by each */
};

struct store_mvcc {
	char *dir;
	int dir_fd, lock_fd;
	struct store_mvcc_options o; /* resolved */
	uint64_t map_size;
	pthread_mutex_t gen_mu;
	struct mvcc_env *cur;
	pthread_mutex_t write_mu; /* a batch, a defrag or an install */
	struct store_mvcc_batch batch;
	pthread_mutex_t state_mu;
	struct mvcc_meta_state st; /* as of the last commit */
	int nospace, corrupt;
	struct mvcc_lessor lessor;
	pthread_mutex_t log_mu;
};

/* ---- store (mvcc_store.c) and generations (mvcc_env.c) ---- */
void mvcc__log(struct store_mvcc *s, enum store_mvcc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mvcc__lmdb_err(int rc);
void mvcc__state_encode(const struct mvcc_meta_state *st, uint8_t out[MVCC_META_STATE_SIZE]);
int mvcc__state_decode(const void *p, size_t len, struct mvcc_meta_state *st);
int mvcc__state_load(MDB_txn *txn, const struct mvcc_env *e, struct mvcc_meta_state *st);
int mvcc__env_open(struct store_mvcc *s, const char *path, unsigned extra_flags,
                   struct mvcc_env **out);
void mvcc__env_unref(struct store_mvcc *s, struct mvcc_env *e);
struct mvcc_env *mvcc__env_ref(struct store_mvcc *s);
int mvcc__switch_generation(struct store_mvcc *s, const char *new_file);
int mvcc__write_current(struct store_mvcc *s, uint64_t gen);
void mvcc__env_destroy(struct mvcc_env *e, bool unlink_files);
/* Opens a snapshot file read-only, without a lock file. */
int mvcc__snapshot_env_open(struct store_mvcc *s, const char *path, struct mvcc_env **out);
/* A store struct with resolved options and no directory (offline tools). */
int mvcc__store_alloc(const struct store_mvcc_options *opts, struct store_mvcc **out);
void mvcc__state_init(struct mvcc_meta_state *st);

/* ---- the directory (mvcc_env.c) ---- */
int mvcc__read_current(struct store_mvcc *s, uint64_t *gen);
int mvcc__scan_dir(struct store_mvcc *s, bool *has_current, int *n_data, bool *has_gen1);
void mvcc__remove_stale(struct store_mvcc *s, uint64_t gen);
int mvcc__create_fresh(struct store_mvcc *s);
int mvcc__adopt_fresh(struct store_mvcc *s);
int mvcc__count_alarms(MDB_txn *txn, const struct mvcc_env *e, int *nospace, int *corrupt);
int mvcc__fsync_dir(int dir_fd);
int mvcc__check_format(MDB_txn *txn, const struct mvcc_env *e, const char *what,
                       struct store_mvcc *s);

/* ---- keys and records (mvcc_keys.c) ---- */
static inline void mvcc__put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t mvcc__get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline void mvcc__put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t mvcc__get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The skey of a key into buf (MVCC_SKEY_LONG bytes). Returns its length. */
size_t mvcc__skey(const uint8_t *key, size_t len, uint8_t *buf);
static inline bool mvcc__skey_is_long(size_t skey_len)
{
	return skey_len == MVCC_SKEY_LONG;
}
void mvcc__irec_encode(const struct mvcc_irec *r, uint8_t out[MVCC_IREC_SIZE]);
void mvcc__irec_decode(const void *p, struct mvcc_irec *r);
/* The search bound for "newest record with main <= rev". */
void mvcc__irec_bound(int64_t rev, uint8_t out[MVCC_IREC_SIZE]);
void mvcc__hkey(int64_t main, int64_t sub, uint8_t out[MVCC_HKEY_SIZE]);
int mvcc__hrec_decode(const void *p, size_t len, struct mvcc_hrec *r);
/* Loads the history record (main, sub). -ENOENT if absent. */
int mvcc__hist_get(struct mvcc_view *v, int64_t main, int64_t sub, struct mvcc_hrec *r);
/* The newest index record of skey: 0, or -ENOENT if the key has none. */
int mvcc__idx_newest(struct mvcc_view *v, const MDB_val *skey, struct mvcc_irec *r);
/* The newest index record of skey with main <= rev: 0 or -ENOENT. */
int mvcc__idx_at(struct mvcc_view *v, const MDB_val *skey, int64_t rev, struct mvcc_irec *r);
/* Full key of an index entry: the skey itself, or read from history. */
int mvcc__full_key(struct mvcc_view *v, const MDB_val *skey, const struct mvcc_irec *newest,
                   const uint8_t **key, size_t *len);
int mvcc__bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Iterates the keys of [key, end) of the index in true byte order (end_len
 * 0: no upper bound). Yields each key's skey, full key and newest record.
 * Pointers are valid until the next call or any write to the index. */
struct mvcc_kent {
	MDB_val skey;
	const uint8_t *key;
	size_t key_len;
	struct mvcc_irec newest;
};
struct mvcc_kiter {
	struct mvcc_view *v;
	const uint8_t *start, *end;
	size_t start_len, end_len;
	bool started, done;
	struct mvcc_kent cur;
	struct mvcc_kent *run; /* a sorted run of long keys */
	size_t run_n, run_i, run_cap;
};
void mvcc__kiter_init(struct mvcc_kiter *it, struct mvcc_view *v, const uint8_t *start,
                      size_t start_len, const uint8_t *end, size_t end_len);
/* 1: it->cur holds the next key; 0: done; < 0: error. */
int mvcc__kiter_next(struct mvcc_kiter *it);
void mvcc__kiter_close(struct mvcc_kiter *it);

/* A key range in etcd's conventions (empty end: the key alone; "\0": no
 * upper bound) resolved for iteration. single: exactly one key. */
struct mvcc_krange {
	const uint8_t *key, *end;
	size_t key_len, end_len;
	bool single;
};
void mvcc__krange(struct mvcc_krange *kr, const uint8_t *key, size_t key_len,
                  const uint8_t *range_end, size_t range_end_len);

/* Calls fn for every key of the range visible at rev, in key order, with
 * its record as of rev. fn returns 0 to go on, 1 to stop, < 0 to fail. */
typedef int (*mvcc_visit_fn)(void *arg, const struct mvcc_kent *k, const struct mvcc_irec *at);
int mvcc__visit(struct mvcc_view *v, const struct mvcc_krange *kr, int64_t rev, mvcc_visit_fn fn,
                void *arg);

/* ---- responses (mvcc_range.c) ---- */
Etcdserverpb__ResponseHeader *mvcc__header(struct store_mvcc_arena *a, int64_t rev);
void *mvcc__dup(struct store_mvcc_arena *a, const void *p, size_t len);
/* A KeyValue for key at record r; value fetched unless keys_only. */
int mvcc__make_kv(struct mvcc_view *v, struct store_mvcc_arena *a, const uint8_t *key,
                  size_t key_len, const struct mvcc_irec *r, bool with_value,
                  Mvccpb__KeyValue **out);
/* Range as etcd's applierV3backend.Range at current revision cur_rev. */
int mvcc__range(struct mvcc_view *v, int64_t cur_rev, const Etcdserverpb__RangeRequest *req,
                struct store_mvcc_arena *a, Etcdserverpb__RangeResponse **resp);

/* ---- sort (mvcc_sort.c): Go's sort.Sort (pdqsort, Go 1.19) ---- */
void mvcc__sort_kvs(Mvccpb__KeyValue **kvs, size_t n, Etcdserverpb__RangeRequest__SortTarget target,
                    bool descending);

/* ---- writes (mvcc_write.c) ---- */
int mvcc__fail(struct store_mvcc_batch *b, int err);
int mvcc__req_begin(struct store_mvcc_batch *b);
void mvcc__req_end(struct store_mvcc_batch *b);
static inline int64_t mvcc__req_rev(const struct store_mvcc_batch *b)
{
	return b->begin_rev + (b->changes > 0 ? 1 : 0);
}
int mvcc__w_put(struct store_mvcc_batch *b, const uint8_t *key, size_t key_len,
                const uint8_t *value, size_t value_len, int64_t lease);
/* Deletes every key of kr live now; *deleted counts them. */
int mvcc__w_delete_range(struct store_mvcc_batch *b, const struct mvcc_krange *kr,
                         int64_t *deleted);
/* Deletes the keys attached to a lease, in key order (lease revoke). */
int mvcc__w_delete_lease_keys(struct store_mvcc_batch *b, int64_t lease);
int mvcc__lease_exists(struct mvcc_view *v, int64_t id);
int mvcc__lease_op(struct store_mvcc_batch *b, const struct mvcc_lease_op *op);

/* prev_kv as etcd's watch reads it: the key's state at main - 1 (NULL if
 * the key did not exist then, or main - 1 is below the compact revision). */
int mvcc__prev_kv(struct mvcc_view *v, const uint8_t *key, size_t key_len, int64_t main,
                  struct store_mvcc_arena *a, Mvccpb__KeyValue **out);

/* ---- checks (mvcc_check.c) ---- */
int mvcc__check_put(struct store_mvcc *s, const Etcdserverpb__PutRequest *r);
/* checkTxnRequest and checkIntervals; temporaries in a. */
int mvcc__check_txn_all(struct store_mvcc *s, const Etcdserverpb__TxnRequest *r,
                        struct store_mvcc_arena *a);

/* ---- lessor (mvcc_lease.c) ---- */
int mvcc__lessor_init(struct mvcc_lessor *l);
void mvcc__lessor_destroy(struct mvcc_lessor *l);
/* Replaces the lessor's leases with those of the env (not primary). */
int mvcc__lessor_load(struct store_mvcc *s, MDB_txn *txn, const struct mvcc_env *e);
void mvcc__lessor_apply(struct store_mvcc *s, const struct mvcc_lease_op *ops, size_t n);
int64_t mvcc__lease_key(int64_t id, uint8_t out[8]);
int64_t mvcc__lease_id(const uint8_t in[8]);

/* ---- hash (mvcc_hash.c) ---- */
uint32_t mvcc__crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- sha256 (mvcc_sha256.c) ---- */
void mvcc__sha256(const void *data, size_t len, uint8_t out[32]);

/* ---- quota (mvcc_quota.c) ---- */
int64_t mvcc__db_size(struct store_mvcc *s, MDB_env *env);
bool mvcc__available(struct store_mvcc *s, int64_t cost);

#endif
