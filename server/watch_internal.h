/*
 * server/watch_internal.h - the watch hub's objects, shared by
 * watch_hub.c (feed, progress, life cycle), watch_sync.c (catch-up from
 * history), watch_send.c (responses) and watch_stream.c (the gRPC
 * stream). Design: server/watch.h.
 */
#ifndef CAIRN_SERVER_WATCH_INTERNAL_H
#define CAIRN_SERVER_WATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"
#include "server/api_internal.h"
#include "server/watch.h"
#include "server/watch_encode.h"
#include "server/watch_ids.h"
#include "server/watch_index.h"

struct watch_stream;

enum watcher_state {
	WATCHER_SYNCED,
	WATCHER_UNSYNCED
};

struct watcher {
	struct watch_key wk;       /* in hub->synced or hub->unsynced */
	struct watch_id_entry ide; /* in ws->ids; ide.id is the watch ID */
	struct watch_stream *ws;
	/* Unsynced: the first revision not yet sent. Synced: the first
	 * revision it may receive (above the hub's revision only for a
	 * start_revision in the future). */
	int64_t next_rev;
	uint8_t state;
	bool prev_kv, no_put, no_delete, progress_notify, fragment;
	bool progress_due; /* etcd's progress[id]: nothing sent since the last tick */
	/* dispatch bookkeeping (hub->seq stamps) */
	uint32_t stamp, sent;
	uint32_t sync_stamp; /* = hub->sync_seq: taking part in this catch-up step */
	uint32_t mhead, mtail, mcount;
	struct watcher *snext, *sprev; /* ws->watchers */
	struct watcher *unext, *uprev; /* hub->unsynced_list */
	                               /* key and range end bytes follow */
};

struct watch_stream {
	struct watch_hub *hub;
	struct rpc_stream *s;
	struct watch_ids ids;
	struct watcher *watchers;
	size_t n_watchers;
	bool blocked; /* a send reported RPC_SEND_FULL; waiting for on_writable */
	bool broken;  /* a send was refused: ended at the next safe point */
	bool hasleader;
	struct watch_stream *next, *prev;
};

/* An event of the revision (live) or chunk (catch-up) being dispatched,
 * packed on first use. */
struct watch_ev {
	const Mvccpb__Event *ev;
	int64_t rev;
	bool packed, has_prev, is_delete;
	size_t kv_off, kv_len, prev_off, prev_len; /* in hub->pack */
};

struct watch_match {
	uint32_t ev;
	uint32_t next;
};

#define WATCH_NO_MATCH UINT32_MAX

struct watch_hub {
	struct api *a;
	struct node *n;
	struct watch_index synced, unsynced;
	struct watcher *unsynced_list, *unsynced_tail;
	int64_t rev; /* the last revision the feed delivered */
	struct watch_stream *streams;
	uint64_t n_streams, n_watchers, n_unsynced, n_progress;
	uint64_t events_sent, responses_sent, compacted;
	size_t frag_limit; /* etcd: max-request-bytes + 512 KiB gRPC overhead */

	/* dispatch scratch, reused */
	uint32_t seq;
	uint32_t sync_seq;
	struct watch_ev *evs;
	size_t evs_cap;
	struct watch_match *matches;
	size_t n_matches, matches_cap;
	struct watcher **touched;
	size_t n_touched, touched_cap;
	uint8_t *pack;
	size_t pack_len, pack_cap;
	uint8_t *out;
	size_t out_cap;
	size_t *sizes;
	size_t sizes_cap;
	uint8_t hdr[64];
	size_t hdr_len;
	bool oom; /* a scratch allocation failed during this dispatch */
	bool any_broken;
	struct store_mvcc_arena arena;

	uv_timer_t sync_timer;
	struct node_wait *barrier; /* the next sync step waits for it */
	uv_timer_t progress_timer;
	int open_timers;
	bool closing;
};

/* watch_hub.c */
void watch_hub_to_unsynced(struct watch_hub *h, struct watcher *w, int64_t next_rev);
void watch_hub_to_synced(struct watch_hub *h, struct watcher *w);
void watch_hub_remove(struct watch_hub *h, struct watcher *w);
/* Moves every synced watcher of ws to unsynced: at revision `rev` for a
 * watcher holding matches of the current dispatch (stamp == seq) that
 * were not sent, else at rev + 1. Marks ws blocked. */
void watch_hub_block(struct watch_hub *h, struct watch_stream *ws, int64_t rev);
/* A send on ws was refused: block it now, end it at the next safe point
 * (watch_hub_end_broken), never in the middle of a dispatch. */
void watch_hub_mark_broken(struct watch_hub *h, struct watch_stream *ws, int64_t rev);
void watch_hub_end_broken(struct watch_hub *h);
/* Schedules a catch-up step (watch_sync.c) soon. */
void watch_hub_schedule_sync(struct watch_hub *h);

/* Moves w (unsynced) to the end of the unsynced list: catch-up steps take
 * watchers from the front, so a long catch-up does not starve the rest. */
void watch_hub_unsynced_to_back(struct watch_hub *h, struct watcher *w);

/* watch_sync.c: one bounded catch-up step; true if more work is ready. */
bool watch_sync_step(struct watch_hub *h);

/* watch_send.c */
/* Prepares dispatch of n events: scratch sized, matches cleared, a new
 * seq. Returns 0 or -ENOMEM. */
int watch_dispatch_begin(struct watch_hub *h, size_t n);
/* Adds the matching watchers of every event in h->evs[0..n) found in
 * index, for which eligible(w, rev) holds. */
void watch_dispatch_collect(struct watch_hub *h, struct watch_index *index, size_t n,
                            bool catching_up);
/* Packs the ResponseHeader for revision rev into h->hdr. */
void watch_dispatch_header(struct watch_hub *h, int64_t rev);
/* Sends w its matched events (fragmented if it asked and they are large).
 * Returns 0, RPC_SEND_FULL, or a negative error (nothing queued). */
int watch_send_matches(struct watch_hub *h, struct watcher *w);
/* Control responses (created, canceled, compacted, progress), packed by
 * protobuf-c. header_rev 0 with zero_rev false: the current revision. */
int watch_send_control(struct watch_hub *h, struct watch_stream *ws, int64_t watch_id,
                       int64_t header_rev, bool created, bool canceled, int64_t compact_rev,
                       const char *reason);

/* watch_stream.c */
/* Ends the stream with code/msg and frees it with its watchers. */
void watch_stream_end(struct watch_stream *ws, int code, const char *msg);
/* Frees one watcher of ws (no answer sent). */
void watch_stream_drop(struct watch_stream *ws, struct watcher *w);

#endif
