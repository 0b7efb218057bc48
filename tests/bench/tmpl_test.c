/*
 * tests/bench/tmpl_test.c - requests packed once and patched in place
 * decode to exactly the request a fresh pack would give, with etcd
 * benchmark's keys.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "rpc.pb-c.h"
#include "tmpl.h"

Test(tmpl, keys_are_gos_putvarint_zero_padded)
{
	uint8_t k[8];
	cr_assert_eq(tmpl_key_encode(k, 8, 0), 0);
	cr_expect(memcmp(k, "\0\0\0\0\0\0\0\0", 8) == 0);
	cr_assert_eq(tmpl_key_encode(k, 8, 1), 0);
	cr_expect_eq(k[0], 2, "zig-zag: 1 -> 2");
	cr_assert_eq(tmpl_key_encode(k, 8, 300), 0);
	cr_expect(k[0] == 0xd8 && k[1] == 0x04 && k[2] == 0, "600 as varint: d8 04");
	cr_expect_eq(tmpl_key_encode(k, 2, 1000000), -1, "does not fit");
	cr_expect_eq(tmpl_key_bytes(999999), 3);
}

Test(tmpl, put_key_patch_decodes)
{
	struct tmpl t;
	uint8_t val[256];
	memset(val, 'v', sizeof val);
	cr_assert_eq(tmpl_put(&t, 8, val, sizeof val, 0), 0);
	for (uint64_t n = 0; n < 100000; n += 777) {
		tmpl_set_key(&t, 0, n);
		Etcdserverpb__PutRequest *p = etcdserverpb__put_request__unpack(NULL, t.len, t.buf);
		cr_assert(p);
		uint8_t want[8];
		tmpl_key_encode(want, 8, n);
		cr_expect_eq(p->key.len, 8);
		cr_expect(memcmp(p->key.data, want, 8) == 0);
		cr_expect_eq(p->value.len, 256);
		cr_expect_eq(p->value.data[255], 'v');
		etcdserverpb__put_request__free_unpacked(p, NULL);
	}
	tmpl_free(&t);
}

Test(tmpl, txn_put_patches_every_op)
{
	struct tmpl t;
	uint8_t val[300]; /* lengths over 127 take two varint bytes */
	memset(val, 'x', sizeof val);
	cr_assert_eq(tmpl_txn_put(&t, 5, 16, val, sizeof val), 0);
	for (size_t j = 0; j < 5; j++)
		tmpl_set_key(&t, j, 1000 + j);
	Etcdserverpb__TxnRequest *txn = etcdserverpb__txn_request__unpack(NULL, t.len, t.buf);
	cr_assert(txn);
	cr_assert_eq(txn->n_success, 5);
	cr_expect_eq(txn->n_compare, 0);
	for (size_t j = 0; j < 5; j++) {
		Etcdserverpb__PutRequest *p = txn->success[j]->request_put;
		cr_assert(p);
		uint8_t want[16];
		tmpl_key_encode(want, 16, 1000 + j);
		cr_expect(p->key.len == 16 && memcmp(p->key.data, want, 16) == 0, "op %zu", j);
		cr_expect_eq(p->value.len, 300);
	}
	etcdserverpb__txn_request__free_unpacked(txn, NULL);
	tmpl_free(&t);
	cr_expect_eq(tmpl_txn_put(&t, 129, 8, val, 8), -1, "etcd's 128-op limit");
}

Test(tmpl, range_carries_its_options)
{
	struct tmpl t;
	cr_assert_eq(tmpl_range(&t, (const uint8_t *)"foo", 3, (const uint8_t *)"fop", 3, 10, true),
	             0);
	Etcdserverpb__RangeRequest *r = etcdserverpb__range_request__unpack(NULL, t.len, t.buf);
	cr_assert(r);
	cr_expect(r->key.len == 3 && !memcmp(r->key.data, "foo", 3));
	cr_expect(r->range_end.len == 3 && !memcmp(r->range_end.data, "fop", 3));
	cr_expect_eq(r->limit, 10);
	cr_expect(r->serializable);
	etcdserverpb__range_request__free_unpacked(r, NULL);
	tmpl_free(&t);
}
