/*
 * server/watch_sync.c - catching unsynced watchers up from history (etcd's
 * watchableStore.syncWatchers), one bounded chunk per step.
 *
 * A step: pick up to SYNC_MAX_WATCHERS unsynced watchers whose stream can
 * take data, from the front of the list (those left behind go to its back);
 * drop
 * those below the compact revision with etcd's {compact_revision,
 * canceled} answer; read history from the smallest next_rev up to the
 * hub's revision, at most SYNC_MAX_EVENTS events or SYNC_MAX_BYTES (a
 * revision is never split); give each watcher its events in one response
 * (etcd sends a watcher up to 1000 revisions per catch-up response; cairn
 * cuts at 1000 events, the same for single-event revisions);
 * advance every watcher that had nothing in the chunk; promote to synced
 * those that reached the hub's revision. The hub's revision only moves in
 * the feed callback, never during a step, so the handover is exact.
 */
#include <stdint.h>

#include "server/watch_internal.h"

#define SYNC_MAX_EVENTS   1000
#define SYNC_MAX_BYTES    (8u << 20)
/* Watchers served per step, as etcd's maxWatchersPerSync: a step's work is
 * bounded by this times the chunk, whatever the number of slow watchers. */
#define SYNC_MAX_WATCHERS 512

/* Answers w's stream that w's history is gone, and drops w. */
static void compacted(struct watch_hub *h, struct watcher *w, int64_t compact_rev)
{
	struct watch_stream *ws = w->ws;
	/* etcd's compacted response carries no header revision
	 * (watcher_group.go chooseAll: WatchResponse{WatchID, CompactRevision}). */
	int rc = watch_send_control(h, ws, w->ide.id, -1, false, true, compact_rev, NULL);
	h->compacted++;
	watch_stream_drop(ws, w);
	if (rc == RPC_SEND_FULL)
		watch_hub_block(h, ws, h->rev);
	else if (rc < 0)
		watch_hub_mark_broken(h, ws, h->rev);
}

/*
 * The events of the revisions from *next on that the feed delivered before
 * their commit (node_feed_pending), whole revisions, in order, stopping at
 * the first revision that would begin past `room` events, at the hub's
 * revision, or at a revision the pending feeds do not hold (revisions are
 * consecutive: a watcher is never moved past one it was not given). Fills
 * dst if not NULL; returns the count and sets *next to the first revision
 * not taken.
 */
static size_t pending_events(struct watch_hub *h, size_t room, struct watch_ev *dst, int64_t *next)
{
	size_t taken = 0;
	int64_t want = *next, cur = 0;
	const struct store_mvcc_feed *f;
	for (size_t k = 0; (f = node_feed_pending(h->n, k)); k++) {
		for (size_t i = 0; i < f->n_events; i++) {
			const Mvccpb__Event *ev = f->events[i];
			int64_t rev = ev->kv->mod_revision;
			if (rev < want && rev != cur)
				continue; /* shown by the store already */
			if (rev != cur) {
				if (rev != want || rev > h->rev || taken >= room)
					goto out;
				cur = rev;
				want = rev + 1;
			}
			if (dst) {
				dst[taken].ev = ev;
				dst[taken].rev = rev;
			}
			taken++;
		}
	}
out:
	*next = want;
	return taken;
}

bool watch_sync_step(struct watch_hub *h)
{
	if (!h->n_unsynced)
		return false;
	struct store_mvcc_read *rd;
	if (store_mvcc_read_begin(node_store(h->n), &rd))
		return true; /* reader slots exhausted: try again soon */
	int64_t compact_rev = store_mvcc_read_compact_revision(rd);
	int64_t min = INT64_MAX;
	bool need_prev = false;
	size_t taken = 0;
	if (++h->sync_seq == 0)
		h->sync_seq = 1;
	struct watcher *w = h->unsynced_list, *next;
	for (; w; w = next) {
		next = w->unext;
		if (w->ws->blocked)
			continue;
		if (compact_rev > 0 && w->next_rev < compact_rev) {
			compacted(h, w, compact_rev);
			continue;
		}
		if (w->next_rev > h->rev) {
			watch_hub_to_synced(h, w);
			continue;
		}
		if (taken == SYNC_MAX_WATCHERS)
			continue; /* next step */
		taken++;
		w->sync_stamp = h->sync_seq;
		need_prev |= w->prev_kv;
		if (w->next_rev < min)
			min = w->next_rev;
	}
	if (min == INT64_MAX) {
		store_mvcc_read_end(rd);
		watch_hub_end_broken(h);
		return false;
	}

	/* The store up to what the read context shows; above it (fed before
	 * its commit), the pending feeds. */
	int64_t start = min < 1 ? 1 : min;
	int64_t shown = store_mvcc_read_revision(rd);
	int64_t end = shown < h->rev ? shown : h->rev;
	struct store_mvcc_events out = {.next_revision = start};
	int rc = 0;
	if (start <= end) {
		struct store_mvcc_events_query q = {
		    .start_revision = start,
		    .end_revision = end,
		    .prev_kv = need_prev, /* reading prev_kv costs a lookup per event */
		    .max_events = SYNC_MAX_EVENTS,
		    .max_bytes = SYNC_MAX_BYTES,
		};
		rc = store_mvcc_events(rd, &q, &h->arena, &out);
	}
	int64_t chunk_next = out.next_revision;
	size_t n_pending = 0;
	if (!rc && !out.more && chunk_next <= h->rev) {
		size_t room = out.n_events < SYNC_MAX_EVENTS ? SYNC_MAX_EVENTS - out.n_events : 0;
		n_pending = pending_events(h, room, NULL, &chunk_next);
	}
	if (rc || watch_dispatch_begin(h, out.n_events + n_pending)) {
		/* Compacted between the check and the read cannot happen (one
		 * read context); anything else is a storage error: leave the
		 * watchers where they are and let the next trigger retry. */
		store_mvcc_read_end(rd);
		store_mvcc_arena_reset(&h->arena);
		return false;
	}
	for (size_t i = 0; i < out.n_events; i++) {
		h->evs[i].ev = out.events[i];
		h->evs[i].rev = out.events[i]->kv->mod_revision;
	}
	if (n_pending) {
		int64_t from = out.next_revision;
		pending_events(h, n_pending, h->evs + out.n_events, &from);
	}
	watch_dispatch_collect(h, &h->unsynced, out.n_events + n_pending, true);
	if (!h->oom) {
		watch_dispatch_header(h, h->rev);
		for (size_t t = 0; t < h->n_touched; t++) {
			w = h->touched[t];
			if (w->ws->blocked)
				continue; /* its stream filled earlier in this step */
			int src = watch_send_matches(h, w);
			if (src >= 0) {
				w->sent = h->seq;
				w->next_rev = chunk_next;
			}
			if (src == RPC_SEND_FULL)
				watch_hub_block(h, w->ws, h->rev);
			else if (src < 0)
				watch_hub_mark_broken(h, w->ws, h->rev);
		}
	}
	/* Watchers with nothing in the chunk move past it; those done join
	 * the synced group (unless their stream is full). */
	bool more = false;
	struct watcher *last = h->unsynced_tail;
	for (w = h->unsynced_list; w; w = next) {
		next = w == last ? NULL : w->unext;
		bool took_part = w->sync_stamp == h->sync_seq;
		if (!h->oom && took_part && w->stamp != h->seq && w->next_rev < chunk_next)
			w->next_rev = chunk_next;
		if (w->ws->blocked)
			continue;
		if (w->next_rev > h->rev) {
			watch_hub_to_synced(h, w);
			continue;
		}
		more = true;
		if (took_part)
			watch_hub_unsynced_to_back(h, w); /* let the others go first */
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_reset(&h->arena);
	watch_hub_end_broken(h);
	return more;
}
