/*
 * server/watch_encode.c - WatchResponse assembly and fragmenting (see
 * watch_encode.h). Wire tags of etcdserverpb.WatchResponse and
 * mvccpb.Event, proto/rpc.proto and proto/kv.proto.
 */
#include "server/watch_encode.h"

#include <string.h>

enum {
	TAG_RESP_HEADER = (1 << 3) | 2,   /* header, bytes */
	TAG_RESP_WATCH_ID = (2 << 3) | 0, /* watch_id, varint */
	TAG_RESP_FRAGMENT = (7 << 3) | 0, /* fragment, varint */
	TAG_RESP_EVENTS = (11 << 3) | 2,  /* events, bytes */
	TAG_EV_TYPE = (1 << 3) | 0,       /* type, varint */
	TAG_EV_KV = (2 << 3) | 2,         /* kv, bytes */
	TAG_EV_PREV = (3 << 3) | 2,       /* prev_kv, bytes */
};

size_t watch_enc_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t field_len(size_t len)
{
	return 1 + watch_enc_varint_len(len) + len;
}

static size_t event_body(const struct watch_enc_event *e, bool with_prev)
{
	size_t n = field_len(e->kv_len);
	if (e->is_delete)
		n += 2;
	if (with_prev && e->prev)
		n += field_len(e->prev_len);
	return n;
}

size_t watch_enc_event_size(const struct watch_enc_event *e, bool with_prev)
{
	return field_len(event_body(e, with_prev));
}

static size_t put_bytes_field(uint8_t *out, uint8_t tag, const uint8_t *p, size_t len)
{
	size_t n = 0;
	out[n++] = tag;
	n += put_varint(out + n, len);
	if (len)
		memcpy(out + n, p, len);
	return n + len;
}

size_t watch_enc_event(uint8_t *out, const struct watch_enc_event *e, bool with_prev)
{
	size_t n = 0;
	out[n++] = TAG_RESP_EVENTS;
	n += put_varint(out + n, event_body(e, with_prev));
	if (e->is_delete) {
		out[n++] = TAG_EV_TYPE;
		out[n++] = 1; /* DELETE */
	}
	n += put_bytes_field(out + n, TAG_EV_KV, e->kv, e->kv_len);
	if (with_prev && e->prev)
		n += put_bytes_field(out + n, TAG_EV_PREV, e->prev, e->prev_len);
	return n;
}

size_t watch_enc_head_size(size_t header_len, int64_t watch_id, bool fragment)
{
	size_t n = field_len(header_len);
	if (watch_id)
		n += 1 + watch_enc_varint_len((uint64_t)watch_id);
	if (fragment)
		n += 2;
	return n;
}

size_t watch_enc_head(uint8_t *out, const uint8_t *header, size_t header_len, int64_t watch_id,
                      bool fragment)
{
	size_t n = put_bytes_field(out, TAG_RESP_HEADER, header, header_len);
	if (watch_id) {
		out[n++] = TAG_RESP_WATCH_ID;
		n += put_varint(out + n, (uint64_t)watch_id);
	}
	if (fragment) {
		out[n++] = TAG_RESP_FRAGMENT;
		out[n++] = 1;
	}
	return n;
}

size_t watch_frag_next(const size_t *ev_size, size_t n, size_t start, size_t head_size,
                       size_t limit)
{
	size_t size = head_size, k = 0;
	for (size_t i = start; i < n; i++) {
		size += ev_size[i];
		k++;
		if (k > 1 && size >= limit) {
			k--;
			break;
		}
	}
	return k;
}
