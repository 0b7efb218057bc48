/*
 * The generated etcd messages must be byte-identical on the wire to what
 * etcd's own clients send and expect. These tests pin the encodings that
 * real peers produce (captured from etcdctl 3.4.23 and documented in
 * shared/reference/grpc-wire.md) so that a slip in the .proto files, such as a
 * wrong field number or an int64 written as uint64, fails here first.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"

Test(proto_wire, put_request_matches_etcdctl_bytes)
{
	/* `etcdctl put foo bar` sends exactly these protobuf bytes. */
	static const uint8_t want[] = {0x0a, 0x03, 'f', 'o', 'o', 0x12, 0x03, 'b', 'a', 'r'};
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	req.key.data = (uint8_t *)"foo";
	req.key.len = 3;
	req.value.data = (uint8_t *)"bar";
	req.value.len = 3;

	uint8_t buf[64];
	size_t n = etcdserverpb__put_request__pack(&req, buf);
	cr_assert_eq(n, sizeof want);
	cr_assert_arr_eq(buf, want, sizeof want);
}

Test(proto_wire, range_request_for_foo_decodes)
{
	/* The Range body used by the reference's nghttp/h2load example. */
	static const uint8_t body[] = {0x0a, 0x03, 'f', 'o', 'o'};
	Etcdserverpb__RangeRequest *req =
	    etcdserverpb__range_request__unpack(NULL, sizeof body, body);
	cr_assert_not_null(req);
	cr_assert_eq(req->key.len, 3);
	cr_assert_eq(memcmp(req->key.data, "foo", 3), 0);
	cr_assert_eq(req->range_end.len, 0);
	cr_assert_eq(req->limit, 0);
	etcdserverpb__range_request__free_unpacked(req, NULL);
}

Test(proto_wire, negative_watch_id_is_a_ten_byte_varint)
{
	/* watch_id is int64: -1 (a refused watch) encodes as ten bytes, not as
	 * a zig-zag sint64 and not truncated to 32 bits. */
	Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	resp.watch_id = -1;
	uint8_t buf[32];
	size_t n = etcdserverpb__watch_response__pack(&resp, buf);
	cr_assert_eq(n, 11);
	cr_assert_eq(buf[0], 0x10); /* field 2, varint */
	for (size_t i = 1; i < 10; i++)
		cr_assert_eq(buf[i], 0xff);
	cr_assert_eq(buf[10], 0x01);
}

Test(proto_wire, txn_oneof_and_nested_txn_round_trip)
{
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	put.key.data = (uint8_t *)"k";
	put.key.len = 1;
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	op.request_put = &put;
	Etcdserverpb__RequestOp *ops[] = {&op};

	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
	cmp.key.data = (uint8_t *)"k";
	cmp.key.len = 1;
	cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
	cmp.create_revision = 0;
	Etcdserverpb__Compare *cmps[] = {&cmp};

	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	txn.n_compare = 1;
	txn.compare = cmps;
	txn.n_success = 1;
	txn.success = ops;

	uint8_t buf[128];
	size_t n = etcdserverpb__txn_request__pack(&txn, buf);
	Etcdserverpb__TxnRequest *got = etcdserverpb__txn_request__unpack(NULL, n, buf);
	cr_assert_not_null(got);
	cr_assert_eq(got->n_compare, 1);
	/* A oneof member set to zero is still present on the wire: the compare
	 * "create_revision == 0" must survive, or lock recipes break. */
	cr_assert_eq(got->compare[0]->target_union_case,
	             ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION);
	cr_assert_eq(got->n_success, 1);
	cr_assert_eq(got->success[0]->request_case, ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
	etcdserverpb__txn_request__free_unpacked(got, NULL);
}

Test(proto_wire, unknown_fields_are_tolerated)
{
	/* Newer clients send fields we do not know; decoding must not fail.
	 * Field 99 (varint 7) followed by key "a". */
	static const uint8_t body[] = {0x98, 0x06, 0x07, 0x0a, 0x01, 'a'};
	Etcdserverpb__RangeRequest *req =
	    etcdserverpb__range_request__unpack(NULL, sizeof body, body);
	cr_assert_not_null(req);
	cr_assert_eq(req->key.len, 1);
	etcdserverpb__range_request__free_unpacked(req, NULL);
}

Test(proto_wire, truncated_message_is_rejected)
{
	/* A length prefix that runs past the end of the buffer. */
	static const uint8_t body[] = {0x0a, 0x05, 'a', 'b'};
	cr_assert_null(etcdserverpb__range_request__unpack(NULL, sizeof body, body));
}
