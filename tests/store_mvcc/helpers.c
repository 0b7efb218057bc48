/*
 * tests/store_mvcc/helpers.c - see helpers.h.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_mvcc_arena th_arena;

char *th_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/cairn-mvcc-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		abort();
	}
	/* The store creates its own directory inside. */
	strcat(p, "/store");
	return p;
}

void th_rmrf(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			th_rmrf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void th_quiet_log(void *data, enum store_mvcc_log_level level, const char *msg)
{
	(void)data;
	if (level == STORE_MVCC_LOG_ERROR && getenv("TH_VERBOSE"))
		fprintf(stderr, "mvcc: %s\n", msg);
}

struct store_mvcc *th_open_opts(const char *dir, const struct store_mvcc_options *o)
{
	struct store_mvcc_options opts = {0};
	if (o)
		opts = *o;
	if (!opts.sync_mode)
		opts.sync_mode = STORE_MVCC_SYNC_NONE;
	if (!opts.map_size)
		opts.map_size = 1ull << 30;
	if (!opts.quota_bytes)
		opts.quota_bytes = 512ll << 20;
	if (!opts.log_cb)
		opts.log_cb = th_quiet_log;
	struct store_mvcc *s = NULL;
	int rc = store_mvcc_open(dir, &opts, &s);
	if (rc) {
		fprintf(stderr, "store_mvcc_open(%s): %s\n", dir, store_mvcc_strerror(rc));
		return NULL;
	}
	if (th_arena.chunk_size == 0)
		store_mvcc_arena_init(&th_arena, 0);
	return s;
}

struct store_mvcc *th_open(const char *dir)
{
	return th_open_opts(dir, NULL);
}

struct store_mvcc *th_fixture_open(const char *tag, char **dir)
{
	*dir = th_tmpdir(tag);
	struct store_mvcc *s = th_open(*dir);
	if (!s)
		abort();
	th_reset();
	return s;
}

void th_fixture_close(struct store_mvcc *s, char *dir)
{
	store_mvcc_close(s);
	*strrchr(dir, '/') = 0;
	th_rmrf(dir);
	free(dir);
}

void th_reset(void)
{
	store_mvcc_arena_reset(&th_arena);
}

static void *th_alloc(size_t n)
{
	if (th_arena.chunk_size == 0)
		store_mvcc_arena_init(&th_arena, 0);
	void *p = store_mvcc_arena_alloc(&th_arena, n);
	if (!p)
		abort();
	memset(p, 0, n);
	return p;
}

ProtobufCBinaryData th_binn(const void *p, size_t n)
{
	ProtobufCBinaryData b = {n, NULL};
	if (n) {
		b.data = th_alloc(n);
		memcpy(b.data, p, n);
	}
	return b;
}

ProtobufCBinaryData th_bin(const char *s)
{
	return s ? th_binn(s, strlen(s)) : (ProtobufCBinaryData){0, NULL};
}

Etcdserverpb__PutRequest *th_put_req(const char *key, const char *value)
{
	Etcdserverpb__PutRequest *r = th_alloc(sizeof(*r));
	etcdserverpb__put_request__init(r);
	r->key = th_bin(key);
	r->value = th_bin(value);
	return r;
}

Etcdserverpb__RangeRequest *th_range_req(const char *key, const char *end)
{
	Etcdserverpb__RangeRequest *r = th_alloc(sizeof(*r));
	etcdserverpb__range_request__init(r);
	r->key = th_bin(key);
	if (end && !*end)
		r->range_end = th_binn("", 1); /* "" stands for "\0" */
	else
		r->range_end = th_bin(end);
	return r;
}

Etcdserverpb__DeleteRangeRequest *th_del_req(const char *key, const char *end)
{
	Etcdserverpb__DeleteRangeRequest *r = th_alloc(sizeof(*r));
	etcdserverpb__delete_range_request__init(r);
	r->key = th_bin(key);
	if (end && !*end)
		r->range_end = th_binn("", 1);
	else
		r->range_end = th_bin(end);
	return r;
}

Etcdserverpb__RequestOp *th_op_put(const char *key, const char *value)
{
	Etcdserverpb__RequestOp *op = th_alloc(sizeof(*op));
	etcdserverpb__request_op__init(op);
	op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	op->request_put = th_put_req(key, value);
	return op;
}

Etcdserverpb__RequestOp *th_op_del(const char *key, const char *end)
{
	Etcdserverpb__RequestOp *op = th_alloc(sizeof(*op));
	etcdserverpb__request_op__init(op);
	op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	op->request_delete_range = th_del_req(key, end);
	return op;
}

Etcdserverpb__RequestOp *th_op_range(const char *key, const char *end)
{
	Etcdserverpb__RequestOp *op = th_alloc(sizeof(*op));
	etcdserverpb__request_op__init(op);
	op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	op->request_range = th_range_req(key, end);
	return op;
}

Etcdserverpb__RequestOp *th_op_txn(Etcdserverpb__TxnRequest *t)
{
	Etcdserverpb__RequestOp *op = th_alloc(sizeof(*op));
	etcdserverpb__request_op__init(op);
	op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
	op->request_txn = t;
	return op;
}

Etcdserverpb__Compare *th_cmp_int(const char *key, Etcdserverpb__Compare__CompareTarget target,
                                  Etcdserverpb__Compare__CompareResult result, int64_t v)
{
	Etcdserverpb__Compare *c = th_alloc(sizeof(*c));
	etcdserverpb__compare__init(c);
	c->key = th_bin(key);
	c->target = target;
	c->result = result;
	switch (target) {
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		c->version = v;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		c->create_revision = v;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		c->mod_revision = v;
		break;
	case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
		c->lease = v;
		break;
	default:
		break;
	}
	return c;
}

Etcdserverpb__Compare *th_cmp_value(const char *key, Etcdserverpb__Compare__CompareResult result,
                                    const char *v)
{
	Etcdserverpb__Compare *c = th_alloc(sizeof(*c));
	etcdserverpb__compare__init(c);
	c->key = th_bin(key);
	c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
	c->result = result;
	c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
	c->value = th_bin(v);
	return c;
}

static size_t th_count(void **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

Etcdserverpb__TxnRequest *th_txn(Etcdserverpb__Compare **cmps, Etcdserverpb__RequestOp **succ,
                                 Etcdserverpb__RequestOp **fail)
{
	Etcdserverpb__TxnRequest *t = th_alloc(sizeof(*t));
	etcdserverpb__txn_request__init(t);
	t->n_compare = th_count((void **)cmps);
	t->compare = cmps;
	t->n_success = th_count((void **)succ);
	t->success = succ;
	t->n_failure = th_count((void **)fail);
	t->failure = fail;
	return t;
}

#define TH_BATCH(s, call)                                             \
	do {                                                          \
		struct store_mvcc_batch *b_;                          \
		int brc_ = store_mvcc_batch_begin((s), 0, NULL, &b_); \
		if (brc_)                                             \
			return brc_;                                  \
		int rc_ = (call);                                     \
		if (rc_ == STORE_MVCC_EFAILED || rc_ == -ENOMEM) {    \
			store_mvcc_batch_abort(b_);                   \
			return rc_;                                   \
		}                                                     \
		brc_ = store_mvcc_batch_commit(b_, NULL);             \
		return brc_ ? brc_ : rc_;                             \
	} while (0)

int th_put_req_do(struct store_mvcc *s, const Etcdserverpb__PutRequest *r,
                  Etcdserverpb__PutResponse **resp)
{
	Etcdserverpb__PutResponse *tmp;
	TH_BATCH(s, store_mvcc_put(b_, r, &th_arena, resp ? resp : &tmp));
}

int th_put(struct store_mvcc *s, const char *key, const char *value)
{
	return th_put_req_do(s, th_put_req(key, value), NULL);
}

int th_put_lease(struct store_mvcc *s, const char *key, const char *value, int64_t lease)
{
	Etcdserverpb__PutRequest *r = th_put_req(key, value);
	r->lease = lease;
	return th_put_req_do(s, r, NULL);
}

int th_del(struct store_mvcc *s, const char *key, const char *end, int64_t *deleted)
{
	Etcdserverpb__DeleteRangeResponse *resp = NULL;
	struct store_mvcc_batch *b;
	int rc = store_mvcc_batch_begin(s, 0, NULL, &b);
	if (rc)
		return rc;
	rc = store_mvcc_delete_range(b, th_del_req(key, end), &th_arena, &resp);
	int crc = store_mvcc_batch_commit(b, NULL);
	if (!rc && deleted)
		*deleted = resp->deleted;
	return crc ? crc : rc;
}

int th_txn_do(struct store_mvcc *s, const Etcdserverpb__TxnRequest *t,
              Etcdserverpb__TxnResponse **resp)
{
	Etcdserverpb__TxnResponse *tmp;
	TH_BATCH(s, store_mvcc_txn(b_, t, &th_arena, resp ? resp : &tmp));
}

int th_compact(struct store_mvcc *s, int64_t rev)
{
	Etcdserverpb__CompactionRequest r = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	r.revision = rev;
	Etcdserverpb__CompactionResponse *resp;
	TH_BATCH(s, store_mvcc_compact(b_, &r, &th_arena, &resp));
}

int th_compact_all(struct store_mvcc *s, int64_t rev)
{
	int rc = th_compact(s, rev);
	if (rc)
		return rc;
	for (;;) {
		struct store_mvcc_batch *b;
		if ((rc = store_mvcc_batch_begin(s, 0, NULL, &b)))
			return rc;
		int more = store_mvcc_compact_step(b, 7);
		if (more < 0) {
			store_mvcc_batch_abort(b);
			return more;
		}
		if ((rc = store_mvcc_batch_commit(b, NULL)))
			return rc;
		if (!more)
			return 0;
	}
}

int th_lease_grant(struct store_mvcc *s, int64_t id, int64_t ttl, int64_t *granted)
{
	Etcdserverpb__LeaseGrantRequest r = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	r.id = id;
	r.ttl = ttl;
	Etcdserverpb__LeaseGrantResponse *resp = NULL;
	struct store_mvcc_batch *b;
	int rc = store_mvcc_batch_begin(s, 0, NULL, &b);
	if (rc)
		return rc;
	rc = store_mvcc_lease_grant(b, &r, 0, &th_arena, &resp);
	int crc = store_mvcc_batch_commit(b, NULL);
	if ((!rc || rc == STORE_MVCC_ENOSPACE) && granted)
		*granted = resp->ttl;
	return crc ? crc : rc;
}

int th_lease_revoke(struct store_mvcc *s, int64_t id)
{
	Etcdserverpb__LeaseRevokeRequest r = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	r.id = id;
	Etcdserverpb__LeaseRevokeResponse *resp;
	TH_BATCH(s, store_mvcc_lease_revoke(b_, &r, &th_arena, &resp));
}

static ProtobufCBinaryData th_copy_bin(ProtobufCBinaryData b)
{
	return th_binn(b.data, b.len);
}

int th_range(struct store_mvcc *s, const Etcdserverpb__RangeRequest *r,
             Etcdserverpb__RangeResponse **resp)
{
	struct store_mvcc_read *rd;
	int rc = store_mvcc_read_begin(s, &rd);
	if (rc)
		return rc;
	rc = store_mvcc_range(rd, r, &th_arena, resp);
	if (!rc)
		for (size_t i = 0; i < (*resp)->n_kvs; i++) {
			(*resp)->kvs[i]->key = th_copy_bin((*resp)->kvs[i]->key);
			(*resp)->kvs[i]->value = th_copy_bin((*resp)->kvs[i]->value);
		}
	store_mvcc_read_end(rd);
	return rc;
}

int th_get(struct store_mvcc *s, const char *key, char *buf, size_t cap, Mvccpb__KeyValue *kv)
{
	Etcdserverpb__RangeResponse *resp;
	if (th_range(s, th_range_req(key, NULL), &resp) || resp->n_kvs == 0)
		return -1;
	if (buf) {
		size_t n = resp->kvs[0]->value.len < cap - 1 ? resp->kvs[0]->value.len : cap - 1;
		memcpy(buf, resp->kvs[0]->value.data, n);
		buf[n] = 0;
	}
	if (kv)
		*kv = *resp->kvs[0];
	return 0;
}

int64_t th_rev(struct store_mvcc *s)
{
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	return st.revision;
}

bool th_eq(ProtobufCBinaryData b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || !memcmp(b.data, s, b.len));
}
