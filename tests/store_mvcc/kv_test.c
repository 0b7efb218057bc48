/*
 * tests/store_mvcc/kv_test.c - revisions, Put, DeleteRange and Range with
 * every option, as etcd answers them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static char *dir;
static struct store_mvcc *s;

static void setup(void)
{
	s = th_fixture_open("kv", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(kv, .init = setup, .fini = teardown);

static Etcdserverpb__RangeResponse *range(Etcdserverpb__RangeRequest *r)
{
	Etcdserverpb__RangeResponse *resp = NULL;
	int rc = th_range(s, r, &resp);
	cr_assert_eq(rc, 0, "range: %s", store_mvcc_strerror(rc));
	return resp;
}

/* "a,b,c" from a response's keys. */
static const char *keys_of(Etcdserverpb__RangeResponse *r)
{
	static char buf[4096];
	buf[0] = 0;
	for (size_t i = 0; i < r->n_kvs; i++) {
		if (i)
			strcat(buf, ",");
		strncat(buf, (const char *)r->kvs[i]->key.data, r->kvs[i]->key.len);
	}
	return buf;
}

Test(kv, empty_store_is_at_revision_1_and_first_write_gets_2)
{
	cr_assert_eq(th_rev(s), 1);
	cr_assert_eq(th_put(s, "a", "1"), 0);
	cr_assert_eq(th_rev(s), 2);
	Etcdserverpb__RangeResponse *r = range(th_range_req("a", NULL));
	cr_assert_eq(r->header->revision, 2);
	cr_assert_eq(r->kvs[0]->create_revision, 2);
	cr_assert_eq(r->kvs[0]->mod_revision, 2);
	cr_assert_eq(r->kvs[0]->version, 1);
}

Test(kv, every_put_adds_a_revision_even_with_the_same_value)
{
	Etcdserverpb__PutResponse *resp;
	cr_assert_eq(th_put_req_do(s, th_put_req("a", "x"), &resp), 0);
	cr_assert_eq(resp->header->revision, 2);
	cr_assert_eq(th_put_req_do(s, th_put_req("a", "x"), &resp), 0);
	cr_assert_eq(resp->header->revision, 3);
	Mvccpb__KeyValue kv;
	cr_assert_eq(th_get(s, "a", NULL, 0, &kv), 0);
	cr_assert_eq(kv.create_revision, 2);
	cr_assert_eq(kv.mod_revision, 3);
	cr_assert_eq(kv.version, 2);
}

Test(kv, delete_leaves_a_tombstone_and_recreation_restarts_the_version)
{
	th_put(s, "k", "1");
	th_put(s, "k", "2");
	int64_t n = 0;
	cr_assert_eq(th_del(s, "k", NULL, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(th_rev(s), 4);
	cr_assert_eq(th_get(s, "k", NULL, 0, NULL), -1);
	th_put(s, "k", "3");
	Mvccpb__KeyValue kv;
	cr_assert_eq(th_get(s, "k", NULL, 0, &kv), 0);
	cr_assert_eq(kv.create_revision, 5);
	cr_assert_eq(kv.version, 1);
	/* The old incarnation is still readable at its revisions. */
	Etcdserverpb__RangeRequest *rq = th_range_req("k", NULL);
	rq->revision = 3;
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_eq(r->n_kvs, 1);
	cr_assert(th_eq(r->kvs[0]->value, "2"));
	cr_assert_eq(r->kvs[0]->version, 2);
	cr_assert_eq(r->header->revision, 5, "header is the current revision");
	rq->revision = 4;
	cr_assert_eq(range(rq)->n_kvs, 0);
}

Test(kv, deleting_nothing_does_not_add_a_revision)
{
	th_put(s, "a", "1");
	Etcdserverpb__DeleteRangeResponse *resp;
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_delete_range(b, th_del_req("zz", NULL), &th_arena, &resp), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	cr_assert_eq(resp->deleted, 0);
	cr_assert_eq(resp->header->revision, 2);
	cr_assert_eq(th_rev(s), 2);
}

Test(kv, keys_and_values_are_arbitrary_bytes)
{
	static const char key[] = {'a', 0, 'b', 0};
	static const char val[] = {0, 1, 0, (char)0xff};
	Etcdserverpb__PutRequest *p = th_put_req(NULL, NULL);
	p->key = th_binn(key, sizeof(key));
	p->value = th_binn(val, sizeof(val));
	cr_assert_eq(th_put_req_do(s, p, NULL), 0);
	th_put(s, "a", "short");
	Etcdserverpb__RangeRequest *rq = th_range_req(NULL, NULL);
	rq->key = th_binn(key, sizeof(key));
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_eq(r->n_kvs, 1);
	cr_assert_eq(r->kvs[0]->value.len, sizeof(val));
	cr_assert_eq(memcmp(r->kvs[0]->value.data, val, sizeof(val)), 0);
	/* "a" < "a\0b\0" in byte order. */
	r = range(th_range_req("a", "b"));
	cr_assert_eq(r->n_kvs, 2);
	cr_assert_eq(r->kvs[0]->key.len, 1);
	cr_assert_eq(r->kvs[1]->key.len, 4);
}

Test(kv, empty_keys_are_rejected_everywhere)
{
	cr_assert_eq(th_put(s, "", "v"), STORE_MVCC_EEMPTY_KEY);
	cr_assert_eq(th_del(s, "", NULL, NULL), STORE_MVCC_EEMPTY_KEY);
	Etcdserverpb__RangeResponse *r;
	cr_assert_eq(th_range(s, th_range_req("", NULL), &r), STORE_MVCC_EEMPTY_KEY);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EEMPTY_KEY),
	                 "etcdserver: key is not provided");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_EEMPTY_KEY), 3);
	cr_assert_eq(th_rev(s), 1);
}

Test(kv, put_returns_the_previous_key_value_when_asked)
{
	th_put(s, "a", "old");
	Etcdserverpb__PutRequest *p = th_put_req("a", "new");
	p->prev_kv = true;
	Etcdserverpb__PutResponse *resp;
	cr_assert_eq(th_put_req_do(s, p, &resp), 0);
	cr_assert(resp->prev_kv);
	cr_assert(th_eq(resp->prev_kv->value, "old"));
	cr_assert_eq(resp->prev_kv->mod_revision, 2);
	p = th_put_req("fresh", "v");
	p->prev_kv = true;
	cr_assert_eq(th_put_req_do(s, p, &resp), 0);
	cr_assert_null(resp->prev_kv);
}

Test(kv, ignore_value_and_ignore_lease_keep_what_the_key_has)
{
	int64_t ttl;
	cr_assert_eq(th_lease_grant(s, 7, 100, &ttl), 0);
	cr_assert_eq(th_put_lease(s, "a", "keep", 7), 0);
	Etcdserverpb__PutRequest *p = th_put_req("a", NULL);
	p->ignore_value = true;
	cr_assert_eq(th_put_req_do(s, p, NULL), 0);
	Mvccpb__KeyValue kv;
	char v[16];
	cr_assert_eq(th_get(s, "a", v, sizeof(v), &kv), 0);
	cr_assert_str_eq(v, "keep");
	cr_assert_eq(kv.lease, 0, "ignore_value alone detaches the lease");
	cr_assert_eq(th_put_lease(s, "a", "x", 7), 0);
	p = th_put_req("a", "y");
	p->ignore_lease = true;
	cr_assert_eq(th_put_req_do(s, p, NULL), 0);
	cr_assert_eq(th_get(s, "a", v, sizeof(v), &kv), 0);
	cr_assert_str_eq(v, "y");
	cr_assert_eq(kv.lease, 7);
}

Test(kv, put_flag_errors_are_etcds)
{
	Etcdserverpb__PutRequest *p = th_put_req("a", "v");
	p->ignore_value = true;
	cr_assert_eq(th_put_req_do(s, p, NULL), STORE_MVCC_EVALUE_PROVIDED);
	p = th_put_req("a", NULL);
	p->ignore_lease = true;
	p->lease = 5;
	cr_assert_eq(th_put_req_do(s, p, NULL), STORE_MVCC_ELEASE_PROVIDED);
	p = th_put_req("missing", NULL);
	p->ignore_value = true;
	cr_assert_eq(th_put_req_do(s, p, NULL), STORE_MVCC_EKEY_NOT_FOUND);
	/* The lease is checked before the key. */
	p = th_put_req("missing", NULL);
	p->ignore_value = true;
	p->lease = 99;
	cr_assert_eq(th_put_req_do(s, p, NULL), STORE_MVCC_ELEASE_NOT_FOUND);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EVALUE_PROVIDED),
	                 "etcdserver: value is provided");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ELEASE_PROVIDED),
	                 "etcdserver: lease is provided");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EKEY_NOT_FOUND),
	                 "etcdserver: key not found");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ELEASE_NOT_FOUND),
	                 "etcdserver: requested lease not found");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_ELEASE_NOT_FOUND), 5);
	cr_assert_eq(th_rev(s), 1);
}

Test(kv, oversized_values_are_rejected)
{
	size_t n = 1536 * 1024;
	char *big = malloc(n);
	memset(big, 'x', n);
	Etcdserverpb__PutRequest *p = th_put_req("k", NULL);
	p->value = th_binn(big, n);
	cr_assert_eq(th_put_req_do(s, p, NULL), STORE_MVCC_EREQUEST_TOO_LARGE);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EREQUEST_TOO_LARGE),
	                 "etcdserver: request is too large");
	p->value.len = n - 10;
	cr_assert_eq(th_put_req_do(s, p, NULL), 0);
	Mvccpb__KeyValue kv;
	cr_assert_eq(th_get(s, "k", NULL, 0, &kv), 0);
	cr_assert_eq(kv.value.len, n - 10);
	free(big);
}

static void fill_abc(void)
{
	th_put(s, "a", "1");
	th_put(s, "ab", "2");
	th_put(s, "abc", "3");
	th_put(s, "b", "4");
	th_put(s, "c", "5");
}

Test(kv, range_end_conventions)
{
	fill_abc();
	cr_assert_str_eq(keys_of(range(th_range_req("ab", NULL))), "ab");
	cr_assert_str_eq(keys_of(range(th_range_req("a", "b"))), "a,ab,abc");
	cr_assert_str_eq(keys_of(range(th_range_req("ab", ""))), "ab,abc,b,c", "\\0: from key");
	Etcdserverpb__RangeRequest *all = th_range_req(NULL, "");
	all->key = th_binn("", 1);
	cr_assert_str_eq(keys_of(range(all)), "a,ab,abc,b,c", "\\0 to \\0: all keys");
	cr_assert_str_eq(keys_of(range(th_range_req("b", "a"))), "", "end before key: nothing");
	cr_assert_str_eq(keys_of(range(th_range_req("b", "b"))), "");
	cr_assert_eq(range(th_range_req("zz", NULL))->count, 0);
}

Test(kv, limit_more_and_count_as_etcd)
{
	fill_abc();
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "");
	rq->limit = 2;
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_str_eq(keys_of(r), "a,ab");
	cr_assert(r->more);
	cr_assert_eq(r->count, 5, "count ignores the limit");
	rq->limit = 5;
	r = range(rq);
	cr_assert_not(r->more);
	cr_assert_eq(r->n_kvs, 5);
	rq->limit = -3;
	cr_assert_eq(range(rq)->n_kvs, 5, "a negative limit is no limit");
	rq->limit = 1;
	rq->count_only = true;
	r = range(rq);
	cr_assert_eq(r->n_kvs, 0);
	cr_assert_eq(r->count, 5);
	cr_assert_not(r->more, "count_only never sets more");
}

Test(kv, keys_only_drops_values)
{
	fill_abc();
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "b");
	rq->keys_only = true;
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_eq(r->n_kvs, 3);
	for (size_t i = 0; i < r->n_kvs; i++) {
		cr_assert_eq(r->kvs[i]->value.len, 0);
		cr_assert_eq(r->kvs[i]->version, 1);
	}
}

Test(kv, revision_bounds_compacted_and_future)
{
	fill_abc(); /* revisions 2..6 */
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "");
	Etcdserverpb__RangeResponse *r;
	rq->revision = 7;
	cr_assert_eq(th_range(s, rq, &r), STORE_MVCC_EFUTURE_REV);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EFUTURE_REV),
	                 "etcdserver: mvcc: required revision is a future revision");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_EFUTURE_REV), 11);
	rq->revision = 3;
	cr_assert_str_eq(keys_of(range(rq)), "a,ab");
	cr_assert_eq(th_compact(s, 4), 0);
	cr_assert_eq(th_range(s, rq, &r), STORE_MVCC_ECOMPACTED);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ECOMPACTED),
	                 "etcdserver: mvcc: required revision has been compacted");
	rq->revision = 4;
	cr_assert_str_eq(keys_of(range(rq)), "a,ab,abc", "the compact revision itself is readable");
	rq->revision = -1;
	cr_assert_eq(range(rq)->n_kvs, 5, "a negative revision is the current one");
}

Test(kv, min_max_filters_apply_before_limit)
{
	fill_abc();              /* a@2 ab@3 abc@4 b@5 c@6 */
	th_put(s, "a", "again"); /* a mod 7, create 2 */
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "");
	rq->min_mod_revision = 4;
	cr_assert_str_eq(keys_of(range(rq)), "a,abc,b,c");
	rq->max_mod_revision = 5;
	cr_assert_str_eq(keys_of(range(rq)), "abc,b");
	rq->min_mod_revision = rq->max_mod_revision = 0;
	rq->min_create_revision = 3;
	rq->max_create_revision = 5;
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_str_eq(keys_of(r), "ab,abc,b");
	cr_assert_eq(r->count, 5, "count ignores the filters");
	rq->limit = 2;
	r = range(rq);
	cr_assert_str_eq(keys_of(r), "ab,abc");
	cr_assert(r->more, "three keys passed the filter");
	rq->limit = 3;
	cr_assert_not(range(rq)->more);
}

Test(kv, sort_by_each_target_and_order)
{
	th_put(s, "c", "z"); /* 2 */
	th_put(s, "a", "y"); /* 3 */
	th_put(s, "b", "x"); /* 4 */
	th_put(s, "a", "w"); /* 5: a version 2 */
	th_put(s, "d", "v"); /* 6 */
	th_put(s, "d", "u"); /* 7 */
	th_put(s, "d", "t"); /* 8: d version 3 */
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "");
	rq->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
	cr_assert_str_eq(keys_of(range(rq)), "d,c,b,a");
	rq->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
	cr_assert_str_eq(keys_of(range(rq)), "d,b,a,c");
	rq->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD;
	rq->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	cr_assert_str_eq(keys_of(range(rq)), "c,b,a,d");
	rq->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
	cr_assert_str_eq(keys_of(range(rq)), "d,a,b,c");
	rq->keys_only = true;
	cr_assert_str_eq(keys_of(range(rq)), "d,a,b,c", "sort by value works with keys_only");
	rq->keys_only = false;
	rq->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION;
	rq->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert(th_eq(r->kvs[0]->key, "d"));
	cr_assert(th_eq(r->kvs[1]->key, "a"));
	/* A target other than KEY with order NONE sorts ascending. */
	rq->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD;
	rq->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE;
	cr_assert_str_eq(keys_of(range(rq)), "c,b,a,d");
	/* ... but over the first limit + 1 keys only, as etcd does. */
	rq->limit = 1;
	r = range(rq);
	cr_assert_str_eq(keys_of(r), "b", "keys a,b fetched, sorted by mod, cut to 1");
	cr_assert(r->more);
	/* With an explicit order everything is fetched first. */
	rq->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	cr_assert_str_eq(keys_of(range(rq)), "c");
}

/* Long keys: beyond LMDB's 511-byte key limit, still in byte order. */
static char *long_key(char fill, size_t len, char last)
{
	char *k = malloc(len + 1);
	memset(k, fill, len);
	k[len - 1] = last;
	k[len] = 0;
	return k;
}

Test(kv, long_keys_work_and_keep_byte_order)
{
	const size_t lens[] = {478, 479, 480, 600, 5000, 100000};
	const char lasts[] = {'m', 'c', 'a', 'z', 'b', 'y'};
	char *keys[6];
	for (int i = 0; i < 6; i++) {
		keys[i] = long_key('k', lens[i], lasts[i]);
		cr_assert_eq(th_put(s, keys[i], keys[i] + lens[i] - 1), 0);
	}
	th_put(s, "k", "short");
	th_put(s, "l", "after");
	Etcdserverpb__RangeRequest *rq = th_range_req("k", "l");
	Etcdserverpb__RangeResponse *r = range(rq);
	cr_assert_eq(r->n_kvs, 7);
	for (size_t i = 1; i < r->n_kvs; i++) {
		ProtobufCBinaryData a = r->kvs[i - 1]->key, b = r->kvs[i]->key;
		size_t m = a.len < b.len ? a.len : b.len;
		int c = memcmp(a.data, b.data, m);
		cr_assert(c < 0 || (c == 0 && a.len < b.len), "keys %zu and %zu out of order",
		          i - 1, i);
	}
	for (int i = 0; i < 6; i++) {
		char v[8];
		cr_assert_eq(th_get(s, keys[i], v, sizeof(v), NULL), 0, "key of %zu bytes",
		             lens[i]);
		cr_assert_eq(v[0], lasts[i]);
	}
	/* A range starting inside a run of long keys with a shared prefix. */
	Etcdserverpb__RangeRequest *mid = th_range_req(keys[4], "");
	r = range(mid);
	cr_assert_eq(r->kvs[0]->key.len, lens[4]);
	int64_t n;
	cr_assert_eq(th_del(s, keys[3], NULL, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(range(rq)->n_kvs, 6);
	for (int i = 0; i < 6; i++)
		free(keys[i]);
}

Test(kv, delete_range_returns_prev_kvs_and_count)
{
	fill_abc();
	Etcdserverpb__DeleteRangeRequest *d = th_del_req("a", "b");
	d->prev_kv = true;
	Etcdserverpb__DeleteRangeResponse *resp;
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_delete_range(b, d, &th_arena, &resp), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	cr_assert_eq(resp->deleted, 3);
	cr_assert_eq(resp->n_prev_kvs, 3);
	cr_assert(th_eq(resp->prev_kvs[2]->key, "abc"));
	cr_assert(th_eq(resp->prev_kvs[2]->value, "3"));
	cr_assert_eq(resp->header->revision, 7);
	cr_assert_str_eq(keys_of(range(th_range_req("a", ""))), "b,c");
}

Test(kv, a_read_context_is_a_stable_snapshot)
{
	th_put(s, "a", "1");
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	th_put(s, "a", "2");
	th_put(s, "b", "3");
	Etcdserverpb__RangeResponse *r;
	cr_assert_eq(store_mvcc_range(rd, th_range_req("a", ""), &th_arena, &r), 0);
	cr_assert_eq(r->n_kvs, 1);
	cr_assert(th_eq(r->kvs[0]->value, "1"));
	cr_assert_eq(r->header->revision, 2);
	cr_assert_eq(store_mvcc_read_revision(rd), 2);
	store_mvcc_read_end(rd);
	cr_assert_eq(range(th_range_req("a", ""))->n_kvs, 2);
}
