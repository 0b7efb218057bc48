/*
 * tests/store_mvcc/helpers.h - building requests and reading results for
 * the MVCC store's tests, so that a test reads as the story it tells.
 *
 * Requests are built in a test arena (reset by th_reset); every helper that
 * applies a request runs it in its own batch and commits, unless a batch is
 * given explicitly.
 */
#ifndef CAIRN_TESTS_STORE_MVCC_HELPERS_H
#define CAIRN_TESTS_STORE_MVCC_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/mvcc.h"

/* A temporary directory under $TMPDIR (or /tmp), removed by th_rmrf. */
char *th_tmpdir(const char *tag);
void th_rmrf(const char *path);

/* Opens a store in dir with test-friendly options (no sync, small map). */
struct store_mvcc *th_open(const char *dir);
struct store_mvcc *th_open_opts(const char *dir, const struct store_mvcc_options *o);

/* A fresh store in a fresh temporary directory (aborts on failure), and
 * its removal: the fixture of every test suite. */
struct store_mvcc *th_fixture_open(const char *tag, char **dir);
void th_fixture_close(struct store_mvcc *s, char *dir);

/* The test arena: requests and responses. */
extern struct store_mvcc_arena th_arena;
void th_reset(void);

/* ProtobufCBinaryData of a C string (without its NUL). */
ProtobufCBinaryData th_bin(const char *s);
ProtobufCBinaryData th_binn(const void *p, size_t n);

/* Request builders (arena-allocated). */
Etcdserverpb__PutRequest *th_put_req(const char *key, const char *value);
Etcdserverpb__RangeRequest *th_range_req(const char *key, const char *end);
Etcdserverpb__DeleteRangeRequest *th_del_req(const char *key, const char *end);
Etcdserverpb__RequestOp *th_op_put(const char *key, const char *value);
Etcdserverpb__RequestOp *th_op_del(const char *key, const char *end);
Etcdserverpb__RequestOp *th_op_range(const char *key, const char *end);
Etcdserverpb__RequestOp *th_op_txn(Etcdserverpb__TxnRequest *t);
Etcdserverpb__Compare *th_cmp_int(const char *key, Etcdserverpb__Compare__CompareTarget target,
                                  Etcdserverpb__Compare__CompareResult result, int64_t v);
Etcdserverpb__Compare *th_cmp_value(const char *key, Etcdserverpb__Compare__CompareResult result,
                                    const char *v);
/* A txn from NULL-terminated lists. */
Etcdserverpb__TxnRequest *th_txn(Etcdserverpb__Compare **cmps, Etcdserverpb__RequestOp **succ,
                                 Etcdserverpb__RequestOp **fail);

/* One request in its own batch. Returns the store's error code; the
 * response (if any) is in the test arena. */
int th_put(struct store_mvcc *s, const char *key, const char *value);
int th_put_lease(struct store_mvcc *s, const char *key, const char *value, int64_t lease);
int th_put_req_do(struct store_mvcc *s, const Etcdserverpb__PutRequest *r,
                  Etcdserverpb__PutResponse **resp);
int th_del(struct store_mvcc *s, const char *key, const char *end, int64_t *deleted);
int th_txn_do(struct store_mvcc *s, const Etcdserverpb__TxnRequest *t,
              Etcdserverpb__TxnResponse **resp);
int th_compact(struct store_mvcc *s, int64_t rev);
/* Compacts and runs the physical compaction to the end. */
int th_compact_all(struct store_mvcc *s, int64_t rev);
int th_lease_grant(struct store_mvcc *s, int64_t id, int64_t ttl, int64_t *granted);
int th_lease_revoke(struct store_mvcc *s, int64_t id);

/* Range in a fresh read context; the response is copied into the arena so
 * it outlives the context. */
int th_range(struct store_mvcc *s, const Etcdserverpb__RangeRequest *r,
             Etcdserverpb__RangeResponse **resp);
/* Value of key at the current revision into buf (NUL-terminated); returns
 * the KeyValue's fields through kv (may be NULL). 0, or -1 if absent. */
int th_get(struct store_mvcc *s, const char *key, char *buf, size_t cap, Mvccpb__KeyValue *kv);
int64_t th_rev(struct store_mvcc *s);

/* Compares a binary field with a C string. */
bool th_eq(ProtobufCBinaryData b, const char *s);

#endif
