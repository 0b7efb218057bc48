/*
 * bench/cairn-bench/tmpl.h - requests packed once, patched in place.
 *
 * A template is a request packed by protobuf-c whose key bytes sit at known
 * offsets. Keys are fixed-size, so writing a new key never moves a byte
 * around it: the hot loop patches the key and hands the same buffer to
 * rpc_call_unary_bytes(), which copies it into the call's out-buffer.
 *
 * Keys are etcd benchmark's: key-size bytes, zero-filled, starting with the
 * zig-zag varint of the key number (Go's binary.PutVarint).
 */
#ifndef CAIRN_BENCH_TMPL_H
#define CAIRN_BENCH_TMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TMPL_MAX_KEYS 128 /* etcd's limit of operations per txn */

struct tmpl {
	uint8_t *buf;
	size_t len;
	size_t key_size;
	size_t n_keys;
	size_t key_off[TMPL_MAX_KEYS];
};

/* Bytes the varint of key number n takes (what --key-size must hold). */
size_t tmpl_key_bytes(uint64_t n);
/* Writes key number n into dst[0..size): varint then zeros. Returns -1 if
 * it does not fit. */
int tmpl_key_encode(uint8_t *dst, size_t size, uint64_t n);

/* PutRequest{key: key_size zero bytes, value}. */
int tmpl_put(struct tmpl *t, size_t key_size, const uint8_t *val, size_t val_len, int64_t lease);
/* TxnRequest{success: ops x RequestOp{request_put: PutRequest{...}}}. */
int tmpl_txn_put(struct tmpl *t, size_t ops, size_t key_size, const uint8_t *val, size_t val_len);
/* RangeRequest{key, range_end, limit, serializable}; key_off[0] is the key
 * (patchable when key_len == key_size, i.e. a generated key). */
int tmpl_range(struct tmpl *t, const uint8_t *key, size_t key_len, const uint8_t *end,
               size_t end_len, int64_t limit, bool serializable);
/* Writes key number n at key i. */
void tmpl_set_key(struct tmpl *t, size_t i, uint64_t n);
void tmpl_free(struct tmpl *t);

#endif
