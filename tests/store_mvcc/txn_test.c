/*
 * tests/store_mvcc/txn_test.c - Txn: compares, nested txns, the duplicate
 * key rules with etcd's quirks, apply-time checks, revisions and headers.
 * The quirks asserted here were observed on a real etcd 3.4.23.
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
	s = th_fixture_open("txn", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(txn, .init = setup, .fini = teardown);

#define CMPS(...) ((Etcdserverpb__Compare *[]){__VA_ARGS__, NULL})
#define OPS(...)  ((Etcdserverpb__RequestOp *[]){__VA_ARGS__, NULL})
#define EQ        ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
#define NE        ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL
#define GT        ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER
#define LT        ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS
#define T_VERSION ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION
#define T_CREATE  ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE
#define T_MOD     ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD
#define T_LEASE   ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE

static bool succeeded(Etcdserverpb__TxnRequest *t)
{
	Etcdserverpb__TxnResponse *r;
	int rc = th_txn_do(s, t, &r);
	cr_assert_eq(rc, 0, "txn: %s", store_mvcc_strerror(rc));
	return r->succeeded;
}

Test(txn, value_compare_on_a_missing_key_is_always_false)
{
	cr_assert_not(succeeded(th_txn(CMPS(th_cmp_value("nokey", EQ, "")), NULL, NULL)));
	cr_assert_not(succeeded(th_txn(CMPS(th_cmp_value("nokey", NE, "x")), NULL, NULL)));
	th_put(s, "k", "");
	cr_assert(succeeded(th_txn(CMPS(th_cmp_value("k", EQ, "")), NULL, NULL)));
}

Test(txn, other_compares_on_a_missing_key_see_zeros)
{
	cr_assert(succeeded(th_txn(CMPS(th_cmp_int("nokey", T_VERSION, EQ, 0)), NULL, NULL)));
	cr_assert(succeeded(th_txn(CMPS(th_cmp_int("nokey", T_CREATE, EQ, 0)), NULL, NULL)));
	cr_assert(succeeded(th_txn(CMPS(th_cmp_int("nokey", T_MOD, LT, 1)), NULL, NULL)));
	cr_assert(succeeded(th_txn(CMPS(th_cmp_int("nokey", T_LEASE, EQ, 0)), NULL, NULL)));
}

Test(txn, compares_on_a_range_need_every_key)
{
	th_put(s, "a1", "x");
	th_put(s, "a2", "x");
	th_put(s, "a3", "y");
	Etcdserverpb__Compare *c = th_cmp_value("a", EQ, "x");
	c->range_end = th_bin("b");
	cr_assert_not(succeeded(th_txn(CMPS(c), NULL, NULL)));
	c->range_end = th_bin("a3");
	cr_assert(succeeded(th_txn(CMPS(c), NULL, NULL)));
	c = th_cmp_int("a", T_VERSION, GT, 0);
	c->range_end = th_binn("", 1);
	cr_assert(succeeded(th_txn(CMPS(c), NULL, NULL)));
}

Test(txn, a_mismatched_target_union_compares_with_zero)
{
	th_put(s, "k", "v");
	Etcdserverpb__Compare *c = th_cmp_int("k", T_VERSION, EQ, 1);
	c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD; /* union still says version */
	cr_assert_not(succeeded(th_txn(CMPS(c), NULL, NULL)));
	c->result = GT;
	cr_assert(succeeded(th_txn(CMPS(c), NULL, NULL)));
}

Test(txn, ops_see_earlier_writes_and_share_one_revision)
{
	th_put(s, "w", "old"); /* rev 2 */
	th_put(s, "x", "0");   /* rev 3 */
	Etcdserverpb__TxnResponse *r;
	Etcdserverpb__TxnRequest *t =
	    th_txn(NULL,
	           OPS(th_op_range("x", NULL), th_op_put("x", "1"), th_op_range("x", NULL),
	               th_op_put("y", "2"), th_op_del("w", NULL), th_op_range("w", "z")),
	           NULL);
	int rc = th_txn_do(s, t, &r);
	cr_assert_eq(rc, 0, "%s", store_mvcc_strerror(rc));
	cr_assert(r->succeeded);
	cr_assert_eq(r->header->revision, 4);
	cr_assert_eq(th_rev(s), 4);
	cr_assert_eq(r->n_responses, 6);
	Etcdserverpb__RangeResponse *r0 = r->responses[0]->response_range;
	cr_assert(th_eq(r0->kvs[0]->value, "0"));
	cr_assert_eq(r0->header->revision, 3, "before any write: the old revision");
	Etcdserverpb__RangeResponse *r2 = r->responses[2]->response_range;
	cr_assert(th_eq(r2->kvs[0]->value, "1"));
	cr_assert_eq(r2->header->revision, 4);
	cr_assert_eq(r->responses[1]->response_put->header->revision, 4);
	cr_assert_eq(r->responses[4]->response_delete_range->deleted, 1);
	Etcdserverpb__RangeResponse *r5 = r->responses[5]->response_range;
	cr_assert_eq(r5->n_kvs, 2);
	cr_assert(th_eq(r5->kvs[0]->key, "x"));
	cr_assert(th_eq(r5->kvs[1]->key, "y"));
	Mvccpb__KeyValue kv;
	cr_assert_eq(th_get(s, "y", NULL, 0, &kv), 0);
	cr_assert_eq(kv.mod_revision, 4);
}

Test(txn, a_read_only_txn_does_not_add_a_revision)
{
	th_put(s, "x", "0");
	Etcdserverpb__TxnResponse *r;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_range("x", NULL)), NULL), &r), 0);
	cr_assert_eq(r->header->revision, 2);
	/* A delete of nothing neither. */
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_del("nothing", NULL)), NULL), &r), 0);
	cr_assert_eq(r->header->revision, 2);
	cr_assert_eq(th_rev(s), 2);
	/* And read-only txns can be served from a read context. */
	Etcdserverpb__TxnRequest *t =
	    th_txn(CMPS(th_cmp_value("x", EQ, "0")), OPS(th_op_range("x", NULL)), NULL);
	cr_assert(store_mvcc_txn_is_readonly(t));
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_txn_read(rd, t, &th_arena, &r), 0);
	cr_assert(r->succeeded);
	cr_assert(th_eq(r->responses[0]->response_range->kvs[0]->value, "0"));
	store_mvcc_read_end(rd);
}

Test(txn, nested_txns_use_compares_on_the_state_before_the_txn)
{
	th_put(s, "flag", "off");
	Etcdserverpb__TxnRequest *inner =
	    th_txn(CMPS(th_cmp_value("flag", EQ, "off")), OPS(th_op_put("seen", "off")),
	           OPS(th_op_put("seen", "on")));
	Etcdserverpb__TxnResponse *r;
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_put("flag", "on"), th_op_txn(inner)), NULL), &r),
	    0);
	char v[8];
	th_get(s, "seen", v, sizeof(v), NULL);
	cr_assert_str_eq(v, "off", "the nested compare saw the pre-txn value");
	Etcdserverpb__TxnResponse *sub = r->responses[1]->response_txn;
	cr_assert(sub->succeeded);
	cr_assert_eq(sub->header->revision, 0, "nested txn responses have an empty header");
	cr_assert_eq(sub->responses[0]->response_put->header->revision, 3);
}

Test(txn, duplicate_keys_are_rejected_as_etcd_does)
{
	Etcdserverpb__TxnResponse *r;
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_put("k", "1"), th_op_put("k", "2")), NULL), &r),
	    STORE_MVCC_EDUPLICATE_KEY);
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_del("a", "c"), th_op_put("b", "1")), NULL), &r),
	    STORE_MVCC_EDUPLICATE_KEY);
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_put("b", "1"), th_op_del("a", "c")), NULL), &r),
	    STORE_MVCC_EDUPLICATE_KEY);
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_del("b", NULL), th_op_put("b", "1")), NULL), &r),
	    STORE_MVCC_EDUPLICATE_KEY);
	/* A from-key delete ("\0" end) is the empty interval [key, "\0"). */
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_del("a", ""), th_op_put("b", "1")), NULL), &r), 0);
	/* A nested txn's put against a later sibling's delete passes... */
	Etcdserverpb__TxnRequest *tput = th_txn(NULL, OPS(th_op_put("k", "1")), NULL);
	Etcdserverpb__TxnRequest *tdel = th_txn(NULL, OPS(th_op_del("k", NULL)), NULL);
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_txn(tput), th_op_txn(tdel)), NULL), &r),
	             0);
	/* ... but not against an earlier one. */
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_txn(tdel), th_op_txn(tput)), NULL), &r),
	             STORE_MVCC_EDUPLICATE_KEY);
	/* Then and else of one nested txn may put the same key. */
	Etcdserverpb__TxnRequest *both =
	    th_txn(NULL, OPS(th_op_put("k", "then")), OPS(th_op_put("k", "else")));
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_txn(both)), NULL), &r), 0);
	/* A put in a nested txn and one at the top level may not. */
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_txn(both), th_op_put("k", "top")), NULL), &r),
	    STORE_MVCC_EDUPLICATE_KEY);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EDUPLICATE_KEY),
	                 "etcdserver: duplicate key given in txn request");
}

Test(txn, a_from_key_delete_and_a_put_in_it_apply_in_order)
{
	th_put(s, "b", "old");
	th_put(s, "c", "old");
	Etcdserverpb__TxnResponse *r;
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, OPS(th_op_del("a", ""), th_op_put("b", "new")), NULL), &r),
	    0);
	Mvccpb__KeyValue kv;
	char v[8];
	cr_assert_eq(th_get(s, "b", v, sizeof(v), &kv), 0);
	cr_assert_str_eq(v, "new");
	cr_assert_eq(kv.create_revision, 4, "recreated in the txn");
	cr_assert_eq(kv.version, 1);
	cr_assert_eq(th_get(s, "c", NULL, 0, NULL), -1);
}

Test(txn, op_limits_and_empty_ops)
{
	Etcdserverpb__RequestOp *ops[130];
	char keys[130][8];
	for (int i = 0; i < 129; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ops[i] = th_op_put(keys[i], "v");
	}
	ops[129] = NULL;
	Etcdserverpb__TxnResponse *r;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, ops, NULL), &r), STORE_MVCC_ETOO_MANY_OPS);
	ops[128] = NULL;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, ops, NULL), &r), 0);
	/* A nested txn gets what is left of the budget: 128 - 100. */
	Etcdserverpb__RequestOp *outer[101], *inner[30];
	for (int i = 0; i < 100; i++)
		outer[i] = th_op_range("k1", NULL);
	for (int i = 0; i < 29; i++)
		inner[i] = th_op_range("k2", NULL);
	inner[29] = NULL;
	outer[99] = th_op_txn(th_txn(NULL, inner, NULL));
	outer[100] = NULL;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, outer, NULL), &r), STORE_MVCC_ETOO_MANY_OPS);
	inner[28] = NULL;
	outer[99] = th_op_txn(th_txn(NULL, inner, NULL));
	int rc = th_txn_do(s, th_txn(NULL, outer, NULL), &r);
	cr_assert_eq(rc, 0, "%s", store_mvcc_strerror(rc));
	Etcdserverpb__RequestOp *empty = th_op_put("x", "y");
	empty->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST__NOT_SET;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(empty), NULL), &r), STORE_MVCC_EKEY_NOT_FOUND);
	cr_assert_eq(th_txn_do(s, th_txn(CMPS(th_cmp_value("", EQ, "")), NULL, NULL), &r),
	             STORE_MVCC_EEMPTY_KEY);
}

Test(txn, apply_time_checks_fail_the_whole_txn)
{
	th_put(s, "a", "1");
	int64_t rev = th_rev(s);
	Etcdserverpb__TxnResponse *r;
	Etcdserverpb__RequestOp *ign = th_op_put("missing", NULL);
	ign->request_put->ignore_value = true;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_put("b", "1"), ign), NULL), &r),
	             STORE_MVCC_EKEY_NOT_FOUND);
	Etcdserverpb__RequestOp *lp = th_op_put("c", "1");
	lp->request_put->lease = 42;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_put("b", "1"), lp), NULL), &r),
	             STORE_MVCC_ELEASE_NOT_FOUND);
	Etcdserverpb__RequestOp *fut = th_op_range("a", NULL);
	fut->request_range->revision = rev + 1;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(th_op_put("b", "1"), fut), NULL), &r),
	             STORE_MVCC_EFUTURE_REV);
	/* A negative Range revision in a txn is below the compact revision
	 * (-1 before any compaction: -2 fails, -1 passes). */
	fut->request_range->revision = -2;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(fut), NULL), &r), STORE_MVCC_ECOMPACTED);
	fut->request_range->revision = -1;
	cr_assert_eq(th_txn_do(s, th_txn(NULL, OPS(fut), NULL), &r), 0);
	/* Checks only look at the taken path. */
	cr_assert_eq(
	    th_txn_do(s,
	              th_txn(CMPS(th_cmp_value("a", EQ, "1")), OPS(th_op_put("b", "1")), OPS(ign)),
	              &r),
	    0);
	cr_assert_eq(th_get(s, "b", NULL, 0, NULL), 0);
	cr_assert_eq(th_rev(s), rev + 1);
}
