/*
 * client/txn.c - the TxnRequest builder.
 *
 * Every compare and op is built on the stack from the caller's bytes and
 * deep-copied with protobuf-c (pack + unpack), so each element is one
 * protobuf-c allocation tree freed with protobuf_c_message_free_unpacked;
 * only the three arrays are the builder's own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

struct cairn_txn {
	Etcdserverpb__TxnRequest req;
	size_t cap_cmp, cap_ok, cap_fail;
};

struct cairn_txn *cairn_txn_new(void)
{
	struct cairn_txn *t = calloc(1, sizeof *t);
	if (t)
		etcdserverpb__txn_request__init(&t->req);
	return t;
}

void cairn_txn_free(struct cairn_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->req.n_compare; i++)
		protobuf_c_message_free_unpacked(&t->req.compare[i]->base, NULL);
	for (size_t i = 0; i < t->req.n_success; i++)
		protobuf_c_message_free_unpacked(&t->req.success[i]->base, NULL);
	for (size_t i = 0; i < t->req.n_failure; i++)
		protobuf_c_message_free_unpacked(&t->req.failure[i]->base, NULL);
	free(t->req.compare);
	free(t->req.success);
	free(t->req.failure);
	free(t);
}

static int push(void ***arr, size_t *n, size_t *cap, void *item)
{
	if (!item)
		return -ENOMEM;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		void **na = realloc(*arr, nc * sizeof *na);
		if (!na) {
			protobuf_c_message_free_unpacked(item, NULL);
			return -ENOMEM;
		}
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = item;
	return 0;
}

static int add_compare(struct cairn_txn *t, Etcdserverpb__Compare *cmp)
{
	return push((void ***)&t->req.compare, &t->req.n_compare, &t->cap_cmp,
	            cairn__msg_copy(&cmp->base));
}

int cairn_txn_compare_int(struct cairn_txn *t, enum cairn_cmp_target target,
                          enum cairn_cmp_result result, const void *key, size_t key_len,
                          int64_t value)
{
	if ((unsigned)result > CAIRN_CMP_NOT_EQUAL)
		return -EINVAL;
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	cmp.result = (Etcdserverpb__Compare__CompareResult)result;
	cmp.target = (Etcdserverpb__Compare__CompareTarget)target;
	cmp.key.data = (uint8_t *)key;
	cmp.key.len = key_len;
	switch (target) {
	case CAIRN_CMP_VERSION:
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		cmp.version = value;
		break;
	case CAIRN_CMP_CREATE:
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		cmp.create_revision = value;
		break;
	case CAIRN_CMP_MOD:
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		cmp.mod_revision = value;
		break;
	case CAIRN_CMP_LEASE:
		cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
		cmp.lease = value;
		break;
	default:
		return -EINVAL;
	}
	return add_compare(t, &cmp);
}

int cairn_txn_compare_value(struct cairn_txn *t, enum cairn_cmp_result result, const void *key,
                            size_t key_len, const void *value, size_t value_len)
{
	if ((unsigned)result > CAIRN_CMP_NOT_EQUAL)
		return -EINVAL;
	Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
	cmp.result = (Etcdserverpb__Compare__CompareResult)result;
	cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
	cmp.key.data = (uint8_t *)key;
	cmp.key.len = key_len;
	cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
	cmp.value.data = (uint8_t *)value;
	cmp.value.len = value_len;
	return add_compare(t, &cmp);
}

int cairn_txn_compare_range_end(struct cairn_txn *t, const void *end, size_t end_len)
{
	if (!t->req.n_compare)
		return -EINVAL;
	Etcdserverpb__Compare *cmp = t->req.compare[t->req.n_compare - 1];
	uint8_t *copy = cairn__memdup(end, end_len);
	if (!copy)
		return -ENOMEM;
	free(cmp->range_end.data);
	cmp->range_end.data = copy;
	cmp->range_end.len = end_len;
	return 0;
}

static int add_op(struct cairn_txn *t, enum cairn_txn_branch b, Etcdserverpb__RequestOp *op)
{
	ProtobufCMessage *copy = cairn__msg_copy(&op->base);
	if (b == CAIRN_TXN_THEN)
		return push((void ***)&t->req.success, &t->req.n_success, &t->cap_ok, copy);
	if (b == CAIRN_TXN_ELSE)
		return push((void ***)&t->req.failure, &t->req.n_failure, &t->cap_fail, copy);
	if (copy)
		protobuf_c_message_free_unpacked(copy, NULL);
	return -EINVAL;
}

int cairn_txn_put(struct cairn_txn *t, enum cairn_txn_branch b, const void *key, size_t key_len,
                  const void *value, size_t value_len, int64_t lease)
{
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	put.key.data = (uint8_t *)key;
	put.key.len = key_len;
	put.value.data = (uint8_t *)value;
	put.value.len = value_len;
	put.lease = lease;
	return cairn_txn_put_req(t, b, &put);
}

int cairn_txn_put_req(struct cairn_txn *t, enum cairn_txn_branch b,
                      const Etcdserverpb__PutRequest *r)
{
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	op.request_put = (Etcdserverpb__PutRequest *)r;
	return add_op(t, b, &op);
}

int cairn_txn_range(struct cairn_txn *t, enum cairn_txn_branch b,
                    const Etcdserverpb__RangeRequest *r)
{
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	op.request_range = (Etcdserverpb__RangeRequest *)r;
	return add_op(t, b, &op);
}

int cairn_txn_delete(struct cairn_txn *t, enum cairn_txn_branch b,
                     const Etcdserverpb__DeleteRangeRequest *r)
{
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	op.request_delete_range = (Etcdserverpb__DeleteRangeRequest *)r;
	return add_op(t, b, &op);
}

int cairn_txn_txn(struct cairn_txn *t, enum cairn_txn_branch b, const struct cairn_txn *inner)
{
	Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
	op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
	op.request_txn = (Etcdserverpb__TxnRequest *)&inner->req;
	return add_op(t, b, &op);
}

const Etcdserverpb__TxnRequest *cairn_txn_request(const struct cairn_txn *t)
{
	return &t->req;
}

size_t cairn_prefix_end(const void *prefix, size_t len, uint8_t *out)
{
	const uint8_t *p = prefix;
	for (size_t i = len; i-- > 0;) {
		if (p[i] < 0xff) {
			memcpy(out, p, i);
			out[i] = (uint8_t)(p[i] + 1);
			return i + 1;
		}
	}
	/* Empty or all 0xff: every key from the start (clientv3's noPrefixEnd). */
	out[0] = 0;
	return 1;
}
