/*
 * rpc/framing.c - gRPC's length-prefixed messages (wire §1.2).
 *
 * Each message is a flag byte (1 = compressed), a 4-byte big-endian length
 * and the payload. DATA frames and messages do not line up, so the deframer
 * is a small state machine fed whatever arrives. When a whole message lies
 * inside one chunk (the usual case for small requests) it is handed over in
 * place; only messages that straddle chunks are copied, into a buffer reused
 * for the life of the stream. The length is checked against the limit as soon
 * as the prefix is complete, so an oversized message costs no memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint8_t flags, uint32_t len)
{
	out[0] = flags;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

void rpc_deframer_init(struct rpc_deframer *d, size_t max)
{
	uint8_t *buf = d->buf;
	size_t cap = d->cap;
	*d = (struct rpc_deframer){0};
	/* Keep the storage of a reused deframer. */
	d->buf = buf;
	d->cap = cap;
	d->max = max;
}

void rpc_deframer_free(struct rpc_deframer *d)
{
	free(d->buf);
	d->buf = NULL;
	d->cap = 0;
	d->len = 0;
	d->hdr_len = 0;
}

int rpc_deframer_partial(const struct rpc_deframer *d)
{
	return d->hdr_len > 0;
}

static int grow(struct rpc_deframer *d, size_t need)
{
	if (d->cap >= need)
		return 0;
	size_t cap = d->cap ? d->cap : 256;
	while (cap < need)
		cap *= 2;
	/* The old contents matter (a partial message); realloc keeps them. */
	uint8_t *b = realloc(d->buf, cap);
	if (!b)
		return -ENOMEM;
	d->buf = b;
	d->cap = cap;
	return 0;
}

int rpc_deframer_feed(struct rpc_deframer *d, const uint8_t *data, size_t len, rpc_deframer_fn fn,
                      void *arg)
{
	while (len > 0) {
		if (d->hdr_len < RPC_FRAME_HEADER) {
			size_t n = RPC_MIN(len, (size_t)(RPC_FRAME_HEADER - d->hdr_len));
			memcpy(d->hdr + d->hdr_len, data, n);
			d->hdr_len += (uint8_t)n;
			data += n;
			len -= n;
			if (d->hdr_len < RPC_FRAME_HEADER)
				return 0;
			d->flags = d->hdr[0];
			d->want = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
			          (uint32_t)d->hdr[3] << 8 | d->hdr[4];
			d->len = 0;
			if (d->want > d->max) {
				d->too_large = d->want;
				return RPC_DEFRAME_TOO_LARGE;
			}
			if (d->want == 0) {
				d->hdr_len = 0;
				int rv = fn(arg, d->flags, d->buf ? d->buf : d->hdr, 0);
				if (rv)
					return rv;
				continue;
			}
		}
		size_t missing = d->want - d->len;
		if (d->len == 0 && len >= missing) {
			/* Whole message in this chunk: no copy. */
			d->hdr_len = 0;
			int rv = fn(arg, d->flags, data, missing);
			if (rv)
				return rv;
			data += missing;
			len -= missing;
			continue;
		}
		if (grow(d, d->want))
			return -ENOMEM;
		size_t n = RPC_MIN(len, missing);
		memcpy(d->buf + d->len, data, n);
		d->len += n;
		data += n;
		len -= n;
		if (d->len == d->want) {
			d->hdr_len = 0;
			d->len = 0;
			int rv = fn(arg, d->flags, d->buf, d->want);
			if (rv)
				return rv;
		}
	}
	return 0;
}

int rpc__frame_msg(struct rpc__buf *b, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	int rv = rpc__buf_reserve(b, RPC_FRAME_HEADER + n);
	if (rv)
		return rv;
	uint8_t *p = b->data + b->len;
	rpc_frame_header(p, 0, (uint32_t)n);
	size_t packed = protobuf_c_message_pack(msg, p + RPC_FRAME_HEADER);
	if (packed != n)
		return -EINVAL;
	b->len += RPC_FRAME_HEADER + n;
	return 0;
}

int rpc__frame_bytes(struct rpc__buf *b, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	int rv = rpc__buf_reserve(b, RPC_FRAME_HEADER + len);
	if (rv)
		return rv;
	rpc_frame_header(b->data + b->len, 0, (uint32_t)len);
	if (len)
		memcpy(b->data + b->len + RPC_FRAME_HEADER, p, len);
	b->len += RPC_FRAME_HEADER + len;
	return 0;
}
