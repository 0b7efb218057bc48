/*
 * tests/store_mvcc/model.h - a deliberately naive in-memory model of etcd's
 * MVCC semantics, written from etcd 3.4's code paths (apply.go, key.go,
 * kvstore_txn.go, kvstore.go, lessor.go) and not from the store's: a flat
 * history list, per-key lists of positions in it, linear scans. The
 * differential test applies the same requests to both and compares the
 * packed responses byte for byte.
 *
 * Range sorting reuses the store's port of Go's sort (mvcc__sort_kvs):
 * tie order is checked against a real etcd by the golden test instead.
 * Compaction is physical at once (etcd's state after its background
 * compaction has finished).
 */
#ifndef CAIRN_TESTS_STORE_MVCC_MODEL_H
#define CAIRN_TESTS_STORE_MVCC_MODEL_H

#include "store/mvcc.h"

struct model;

struct model *model_new(void);
void model_free(struct model *m);

int64_t model_rev(const struct model *m);
int64_t model_compact_rev(const struct model *m);

/* Requests: the store's error codes, responses in the arena. */
int model_put(struct model *m, const Etcdserverpb__PutRequest *r, struct store_mvcc_arena *a,
              Etcdserverpb__PutResponse **out);
int model_delete_range(struct model *m, const Etcdserverpb__DeleteRangeRequest *r,
                       struct store_mvcc_arena *a, Etcdserverpb__DeleteRangeResponse **out);
int model_txn(struct model *m, const Etcdserverpb__TxnRequest *r, struct store_mvcc_arena *a,
              Etcdserverpb__TxnResponse **out);
int model_compact(struct model *m, int64_t rev);
int model_range(struct model *m, const Etcdserverpb__RangeRequest *r, struct store_mvcc_arena *a,
                Etcdserverpb__RangeResponse **out);
int model_lease_grant(struct model *m, int64_t id);
int model_lease_revoke(struct model *m, int64_t id);
bool model_lease_exists(const struct model *m, int64_t id);

/* Events with revision >= start (prev_kv as etcd's watch reads it). */
int model_events(struct model *m, int64_t start, struct store_mvcc_arena *a,
                 Mvccpb__Event ***events, size_t *n);
/* etcd's HashKV(rev). */
int model_hash_kv(struct model *m, int64_t rev, uint32_t *hash);

#endif
