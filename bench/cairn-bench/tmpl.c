/*
 * bench/cairn-bench/tmpl.c - request templates (tmpl.h).
 *
 * Offsets follow from the protobuf encoding: a length-delimited field is a
 * one-byte tag (field numbers here are all < 16), a varint length, then the
 * bytes; protobuf-c writes fields in field-number order. Every offset is
 * checked against the packed bytes (tag and length in front of it), so a
 * layout surprise fails the setup instead of corrupting requests.
 */
#include "tmpl.h"

#include <stdlib.h>
#include <string.h>

#include "rpc.pb-c.h"

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Go's binary.PutVarint of int64(n): zig-zag, then base-128. */
static uint64_t zigzag(uint64_t n)
{
	int64_t x = (int64_t)n;
	return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
}

size_t tmpl_key_bytes(uint64_t n)
{
	return varint_size(zigzag(n));
}

int tmpl_key_encode(uint8_t *dst, size_t size, uint64_t n)
{
	uint64_t v = zigzag(n);
	if (varint_size(v) > size)
		return -1;
	size_t i = 0;
	while (v >= 0x80) {
		dst[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	dst[i++] = (uint8_t)v;
	memset(dst + i, 0, size - i);
	return 0;
}

/* The key field (tag 0x0a, length key_size) must sit right before off. */
static int check_key(const struct tmpl *t, size_t off)
{
	size_t vs = varint_size(t->key_size);
	if (off < 1 + vs || off + t->key_size > t->len || t->buf[off - 1 - vs] != 0x0a)
		return -1;
	uint64_t len = 0;
	for (size_t i = 0; i < vs; i++)
		len |= (uint64_t)(t->buf[off - vs + i] & 0x7f) << (7 * i);
	return len == t->key_size ? 0 : -1;
}

static int pack(struct tmpl *t, const ProtobufCMessage *m)
{
	t->len = protobuf_c_message_get_packed_size(m);
	t->buf = malloc(t->len ? t->len : 1);
	if (!t->buf)
		return -1;
	protobuf_c_message_pack(m, t->buf);
	return 0;
}

static int verify(struct tmpl *t)
{
	for (size_t i = 0; i < t->n_keys; i++)
		if (check_key(t, t->key_off[i])) {
			tmpl_free(t);
			return -1;
		}
	return 0;
}

int tmpl_put(struct tmpl *t, size_t key_size, const uint8_t *val, size_t val_len, int64_t lease)
{
	memset(t, 0, sizeof *t);
	uint8_t *key = calloc(1, key_size ? key_size : 1);
	if (!key)
		return -1;
	Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
	put.key.data = key;
	put.key.len = key_size;
	put.value.data = (uint8_t *)val;
	put.value.len = val_len;
	put.lease = lease;
	int rv = pack(t, &put.base);
	free(key);
	if (rv)
		return -1;
	t->key_size = key_size;
	t->n_keys = 1;
	t->key_off[0] = 1 + varint_size(key_size);
	return verify(t);
}

int tmpl_txn_put(struct tmpl *t, size_t ops, size_t key_size, const uint8_t *val, size_t val_len)
{
	memset(t, 0, sizeof *t);
	if (ops == 0 || ops > TMPL_MAX_KEYS)
		return -1;
	uint8_t *key = calloc(1, key_size ? key_size : 1);
	Etcdserverpb__PutRequest *puts = calloc(ops, sizeof *puts);
	Etcdserverpb__RequestOp *rops = calloc(ops, sizeof *rops);
	Etcdserverpb__RequestOp **success = calloc(ops, sizeof *success);
	int rv = -1;
	if (!key || !puts || !rops || !success)
		goto out;
	for (size_t i = 0; i < ops; i++) {
		etcdserverpb__put_request__init(&puts[i]);
		puts[i].key.data = key;
		puts[i].key.len = key_size;
		puts[i].value.data = (uint8_t *)val;
		puts[i].value.len = val_len;
		etcdserverpb__request_op__init(&rops[i]);
		rops[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		rops[i].request_put = &puts[i];
		success[i] = &rops[i];
	}
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	txn.success = success;
	txn.n_success = ops;
	if (pack(t, &txn.base))
		goto out;
	t->key_size = key_size;
	t->n_keys = ops;
	/* success (2): 0x12 len RequestOp; request_put (2): 0x12 len PutRequest. */
	size_t put_len = etcdserverpb__put_request__get_packed_size(&puts[0]);
	size_t rop_len = 1 + varint_size(put_len) + put_len;
	size_t stride = 1 + varint_size(rop_len) + rop_len;
	for (size_t i = 0; i < ops; i++)
		t->key_off[i] = i * stride + 1 + varint_size(rop_len) + 1 + varint_size(put_len) +
		                1 + varint_size(key_size);
	rv = verify(t);
out:
	free(key);
	free(puts);
	free(rops);
	free(success);
	return rv;
}

int tmpl_range(struct tmpl *t, const uint8_t *key, size_t key_len, const uint8_t *end,
               size_t end_len, int64_t limit, bool serializable)
{
	memset(t, 0, sizeof *t);
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key.data = (uint8_t *)key;
	r.key.len = key_len;
	r.range_end.data = (uint8_t *)end;
	r.range_end.len = end_len;
	r.limit = limit;
	r.serializable = serializable;
	if (pack(t, &r.base))
		return -1;
	t->key_size = key_len;
	t->n_keys = 1;
	t->key_off[0] = 1 + varint_size(key_len);
	return verify(t);
}

void tmpl_set_key(struct tmpl *t, size_t i, uint64_t n)
{
	tmpl_key_encode(t->buf + t->key_off[i], t->key_size, n);
}

void tmpl_free(struct tmpl *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = 0;
}
