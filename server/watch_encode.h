/*
 * server/watch_encode.h - WatchResponse bytes built from parts packed once.
 *
 * One event often goes to many watchers, each in its own WatchResponse
 * (watch_id differs). Packing the message with protobuf-c per watcher would
 * pack the same KeyValue again and again; instead each event's kv (and
 * prev_kv) is packed once per dispatch and the responses are assembled from
 * those bytes with the few wire tags around them. The bytes are exactly
 * what protobuf-c would produce for the same message (fields in number
 * order, zero values omitted), which tests/api checks by unpacking.
 *
 * Also here: etcd's fragmenting of large responses (v3rpc/watch.go
 * sendFragments), as a pure function over event sizes.
 */
#ifndef CAIRN_SERVER_WATCH_ENCODE_H
#define CAIRN_SERVER_WATCH_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One event, packed: its KeyValue and, if any, its prev_kv. */
struct watch_enc_event {
	const uint8_t *kv;
	size_t kv_len;
	const uint8_t *prev; /* NULL: no prev_kv */
	size_t prev_len;
	bool is_delete;
};

/* Bytes of a varint. */
size_t watch_enc_varint_len(uint64_t v);

/* Bytes the event takes as one `events` field (tag, length, body). */
size_t watch_enc_event_size(const struct watch_enc_event *e, bool with_prev);
/* Writes it; returns the bytes written (= watch_enc_event_size). */
size_t watch_enc_event(uint8_t *out, const struct watch_enc_event *e, bool with_prev);

/* Bytes of the fields before the events: header (already packed
 * ResponseHeader bytes), watch_id, fragment. */
size_t watch_enc_head_size(size_t header_len, int64_t watch_id, bool fragment);
size_t watch_enc_head(uint8_t *out, const uint8_t *header, size_t header_len, int64_t watch_id,
                      bool fragment);

/*
 * Fragmenting, as etcd: a response of `total` bytes with n events is split
 * only if total >= limit and n >= 2. Each part but the last carries
 * fragment=true; events are added to a part while it stays below limit, and
 * a part always has at least one event. watch_frag_next() returns how many
 * events, from `start`, go into the next part; ev_size[] are the events'
 * field sizes and head_size the part's size without events (fragment
 * included).
 */
static inline bool watch_frag_needed(size_t total, size_t n, size_t limit)
{
	return total >= limit && n >= 2;
}
size_t watch_frag_next(const size_t *ev_size, size_t n, size_t start, size_t head_size,
                       size_t limit);

#endif
