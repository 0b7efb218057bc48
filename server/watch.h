/*
 * server/watch.h - the watch hub: every Watch stream and watcher of this
 * member, fed by the node's change feed.
 *
 * DESIGN (etcd's mvcc/watchable_store.go, in one loop thread)
 *
 *   A watcher is either synced or unsynced.
 *
 *   - Synced watchers have seen every revision up to the hub's revision
 *     (the last one the feed delivered). They sit in the synced key index
 *     (watch_index.h) and get each new revision straight from the feed: one
 *     WatchResponse per revision per watcher, header.revision = that
 *     revision, as etcd's notify().
 *
 *   - Unsynced watchers need history: a start_revision in the past, or they
 *     fell behind because their stream's send buffer filled (rpc/
 *     RPC_SEND_FULL). Each has next_rev, the first revision it has not
 *     received. A catch-up step (a zero-delay timer, so the loop serves other
 *     work between steps) reads one bounded chunk of history from the
 *     smallest next_rev up to the hub's revision (store_mvcc_events), hands
 *     every event to the unsynced watchers whose range it matches (the
 *     unsynced key index) and whose next_rev it reaches, one response per
 *     watcher per chunk, header.revision = the hub's revision, as etcd's
 *     syncWatchers(). A watcher that reaches the hub's revision becomes
 *     synced. A watcher whose next_rev fell below the compact revision is
 *     answered {compact_revision, canceled} and dropped.
 *
 *   No gap, no duplicate at the handover: history is read only up to the
 *   hub's revision, and the feed only delivers revisions above it; both
 *   happen on the loop thread, never interleaved within a step. The feed
 *   comes before the LMDB commit (node.h), so the hub's revision may be
 *   above what a read context shows: a step reads the store up to the lower
 *   of the two and takes the revisions above from the feeds still pending
 *   their commit (node_feed_pending), which hold every one of them.
 *
 *   Backpressure. A send that leaves a stream's buffer above its high-water
 *   mark (RPC_SEND_FULL) blocks the stream: all its synced watchers become
 *   unsynced at the first revision each has not been sent, and nothing more
 *   is sent on it until rpc/ reports it writable; then its watchers catch up
 *   from history. Memory per slow stream is bounded by the high-water mark
 *   plus one response, never by how far behind it is.
 *
 *   Cost per event: one hash lookup plus an interval-tree walk over the
 *   range watchers it may match, then work per matching watcher only. Each
 *   event's KeyValue is packed once and copied into every recipient's
 *   response (watch_encode.h).
 */
#ifndef CAIRN_SERVER_WATCH_H
#define CAIRN_SERVER_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"
#include "store/mvcc.h"

struct api;
struct watch_hub;

/* Creates the hub of api a (its node, options, counters). 0 or -ENOMEM. */
int watch_hub_create(struct api *a, struct watch_hub **out);

/* The node's change feed (node_feed_fn; arg is the hub): true if any
 * watcher was there to be told of the revisions (events, progress). */
bool watch_hub_feed(void *hub, const struct store_mvcc_feed *feed);

/* Ends Watch streams with code and message: all, or only those whose
 * client sent "hasleader". */
void watch_hub_end_streams(struct watch_hub *h, bool only_hasleader, int code, const char *msg);

/* Ends every stream, closes the timers and frees the hub once they are
 * closed (then calls api_handle_closed()). */
void watch_hub_close(struct watch_hub *h);

struct watch_hub_stats {
	uint64_t streams, watchers, unsynced, events_sent, responses_sent, compacted;
};
void watch_hub_stats(const struct watch_hub *h, struct watch_hub_stats *out);

/* Watch/Watch handlers. */
void watch_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                      size_t len);
void watch_on_cancel(struct rpc_stream *s, int code);
void watch_on_writable(struct rpc_stream *s);

#endif
