/*
 * server/watch_hub.c - the hub's life cycle, the live feed, moving watchers
 * between the synced and unsynced groups, and progress notifications.
 * Design: server/watch.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/watch_internal.h"

/* etcd's grpcOverheadBytes (v3rpc/grpc.go): fragments are cut at
 * max-request-bytes plus this. */
#define GRPC_OVERHEAD_BYTES (512 * 1024)

static void sync_cb(uv_timer_t *t);
static void progress_cb(uv_timer_t *t);

int watch_hub_create(struct api *a, struct watch_hub **out)
{
	struct watch_hub *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->a = a;
	h->n = a->n;
	h->frag_limit = (size_t)a->opt.max_request_bytes + GRPC_OVERHEAD_BYTES;
	watch_index_init(&h->synced);
	watch_index_init(&h->unsynced);
	if (watch_index_reserve(&h->synced) || watch_index_reserve(&h->unsynced)) {
		watch_index_free(&h->synced);
		watch_index_free(&h->unsynced);
		free(h);
		return -ENOMEM;
	}
	store_mvcc_arena_init(&h->arena, 0);
	struct store_mvcc_state st;
	store_mvcc_state(node_store(a->n), &st);
	h->rev = st.revision;
	uv_loop_t *loop = node_loop(a->n);
	uv_timer_init(loop, &h->sync_timer);
	uv_timer_init(loop, &h->progress_timer);
	h->sync_timer.data = h;
	h->progress_timer.data = h;
	h->open_timers = 2;
	uv_timer_start(&h->progress_timer, progress_cb, a->opt.progress_notify_ms,
	               a->opt.progress_notify_ms);
	*out = h;
	return 0;
}

static void free_hub(struct watch_hub *h)
{
	struct api *a = h->a;
	watch_index_free(&h->synced);
	watch_index_free(&h->unsynced);
	store_mvcc_arena_destroy(&h->arena);
	free(h->evs);
	free(h->matches);
	free(h->touched);
	free(h->pack);
	free(h->out);
	free(h->sizes);
	free(h);
	api_handle_closed(a);
}

static void timer_closed(uv_handle_t *t)
{
	struct watch_hub *h = t->data;
	if (--h->open_timers == 0)
		free_hub(h);
}

void watch_hub_close(struct watch_hub *h)
{
	if (!h || h->closing)
		return;
	watch_hub_end_streams(h, false, node_grpc_code(NODE_ESTOPPED),
	                      node_strerror(NODE_ESTOPPED));
	h->closing = true;
	node_wait_cancel(h->barrier);
	h->barrier = NULL;
	uv_close((uv_handle_t *)&h->sync_timer, timer_closed);
	uv_close((uv_handle_t *)&h->progress_timer, timer_closed);
}

void watch_hub_end_streams(struct watch_hub *h, bool only_hasleader, int code, const char *msg)
{
	if (!h)
		return;
	struct watch_stream *ws = h->streams;
	while (ws) {
		struct watch_stream *next = ws->next;
		if (!only_hasleader || ws->hasleader)
			watch_stream_end(ws, code, msg);
		ws = next;
	}
}

void watch_hub_stats(const struct watch_hub *h, struct watch_hub_stats *out)
{
	out->streams = h->n_streams;
	out->watchers = h->n_watchers;
	out->unsynced = h->n_unsynced;
	out->events_sent = h->events_sent;
	out->responses_sent = h->responses_sent;
	out->compacted = h->compacted;
}

/* ---- synced / unsynced ------------------------------------------------------ */

void watch_hub_to_unsynced(struct watch_hub *h, struct watcher *w, int64_t next_rev)
{
	if (w->state == WATCHER_UNSYNCED) {
		if (next_rev < w->next_rev)
			w->next_rev = next_rev;
		return;
	}
	watch_index_remove(&h->synced, &w->wk);
	w->next_rev = next_rev > w->next_rev ? next_rev : w->next_rev;
	w->state = WATCHER_UNSYNCED;
	watch_index_add(&h->unsynced, &w->wk);
	w->uprev = NULL;
	w->unext = h->unsynced_list;
	if (w->unext)
		w->unext->uprev = w;
	else
		h->unsynced_tail = w;
	h->unsynced_list = w;
	h->n_unsynced++;
}

static void list_unlink(struct watch_hub *h, struct watcher *w)
{
	if (w->uprev)
		w->uprev->unext = w->unext;
	else
		h->unsynced_list = w->unext;
	if (w->unext)
		w->unext->uprev = w->uprev;
	else
		h->unsynced_tail = w->uprev;
	w->unext = w->uprev = NULL;
}

static void unlink_unsynced(struct watch_hub *h, struct watcher *w)
{
	watch_index_remove(&h->unsynced, &w->wk);
	list_unlink(h, w);
	h->n_unsynced--;
}

void watch_hub_unsynced_to_back(struct watch_hub *h, struct watcher *w)
{
	if (h->unsynced_tail == w)
		return;
	list_unlink(h, w);
	w->uprev = h->unsynced_tail;
	h->unsynced_tail->unext = w;
	h->unsynced_tail = w;
}

void watch_hub_to_synced(struct watch_hub *h, struct watcher *w)
{
	if (w->state == WATCHER_SYNCED)
		return;
	unlink_unsynced(h, w);
	w->state = WATCHER_SYNCED;
	watch_index_add(&h->synced, &w->wk);
}

void watch_hub_remove(struct watch_hub *h, struct watcher *w)
{
	if (w->state == WATCHER_UNSYNCED)
		unlink_unsynced(h, w);
	else
		watch_index_remove(&h->synced, &w->wk);
	if (w->progress_notify)
		h->n_progress--;
	h->n_watchers--;
}

void watch_hub_block(struct watch_hub *h, struct watch_stream *ws, int64_t rev)
{
	ws->blocked = true;
	for (struct watcher *w = ws->watchers; w; w = w->snext) {
		if (w->state != WATCHER_SYNCED)
			continue;
		/* A watcher listed in this dispatch but not yet sent still needs
		 * rev; every other synced watcher has everything up to rev. */
		bool pending = w->stamp == h->seq && w->sent != h->seq;
		watch_hub_to_unsynced(h, w, pending ? rev : rev + 1);
	}
}

void watch_hub_schedule_sync(struct watch_hub *h)
{
	if (!h->closing && !uv_is_active((uv_handle_t *)&h->sync_timer))
		uv_timer_start(&h->sync_timer, sync_cb, 0, 0);
}

static void sync_barrier_passed(void *arg, int err)
{
	struct watch_hub *h = arg;
	h->barrier = NULL;
	(void)err; /* on a timeout or a stop, serve what is visible */
	if (!h->closing && watch_sync_step(h))
		watch_hub_schedule_sync(h);
}

static void sync_cb(uv_timer_t *t)
{
	struct watch_hub *h = t->data;
	if (h->closing || h->barrier)
		return;
	/* History comes from a read context, and the revisions above what it
	 * shows from the feeds pending their commit (watch.h): only a Compact
	 * applied here but not shown yet, which etcd's watches below it see
	 * at once, needs the read barrier (node.h). One commit away at most. */
	if (node_compaction_pending(h->n) && !node_barrier_passed(h->n, NODE_BARRIER_ANSWERED)) {
		h->barrier =
		    node_barrier_wait(h->n, NODE_BARRIER_ANSWERED, 0, sync_barrier_passed, h);
		if (h->barrier)
			return;
	}
	if (watch_sync_step(h))
		watch_hub_schedule_sync(h);
}

/* ---- the live feed ---------------------------------------------------------- */

/* Every synced watcher needs history from rev on (a gap in the feed, or no
 * memory to dispatch). */
static void all_to_unsynced(struct watch_hub *h, int64_t rev)
{
	for (struct watch_stream *ws = h->streams; ws; ws = ws->next)
		for (struct watcher *w = ws->watchers; w; w = w->snext)
			if (w->state == WATCHER_SYNCED)
				watch_hub_to_unsynced(h, w, rev);
}

void watch_hub_end_broken(struct watch_hub *h)
{
	if (!h->any_broken)
		return;
	h->any_broken = false;
	struct watch_stream *ws = h->streams;
	while (ws) {
		struct watch_stream *next = ws->next;
		if (ws->broken)
			watch_stream_end(ws, RPC_RESOURCE_EXHAUSTED,
			                 "cairn: watch responses not read");
		ws = next;
	}
}

void watch_hub_mark_broken(struct watch_hub *h, struct watch_stream *ws, int64_t rev)
{
	watch_hub_block(h, ws, rev);
	ws->broken = true;
	h->any_broken = true;
}

/* Sends one revision's events (h->evs[0..n)) to the synced watchers. */
static bool dispatch_revision(struct watch_hub *h, int64_t rev, size_t n)
{
	watch_dispatch_collect(h, &h->synced, n, false);
	if (h->oom)
		return false;
	watch_dispatch_header(h, rev);
	for (size_t t = 0; t < h->n_touched; t++) {
		struct watcher *w = h->touched[t];
		if (w->state != WATCHER_SYNCED)
			continue; /* its stream blocked earlier in this revision */
		int rc = watch_send_matches(h, w);
		if (rc >= 0)
			w->sent = h->seq;
		if (rc == RPC_SEND_FULL) {
			watch_hub_block(h, w->ws, rev);
		} else if (rc < 0) {
			/* Not queued: the stream is past its hard cap (or out of
			 * memory). Stop sending; it ends after the dispatch. */
			watch_hub_mark_broken(h, w->ws, rev);
		}
	}
	return true;
}

bool watch_hub_feed(void *arg, const struct store_mvcc_feed *feed)
{
	struct watch_hub *h = arg;
	if (!h || h->closing || !feed || feed->n_events == 0)
		return false;
	Mvccpb__Event **evs = feed->events;
	size_t n = feed->n_events, i = 0;
	while (i < n && evs[i]->kv->mod_revision <= h->rev)
		i++; /* delivered already (the feed began before the hub) */
	if (i == n)
		return false;
	/* Any watcher may be told of these revisions (an event, a progress
	 * header): the node then makes reads here wait for their commit. */
	bool listening = h->n_watchers > 0;
	int64_t last = evs[n - 1]->kv->mod_revision;
	if (evs[i]->kv->mod_revision > h->rev + 1) {
		/* Revisions committed without a feed (a snapshot installed):
		 * every synced watcher catches up from history. */
		all_to_unsynced(h, h->rev + 1);
	}
	while (i < n && watch_index_count(&h->synced)) {
		int64_t rev = evs[i]->kv->mod_revision;
		size_t j = i;
		while (j < n && evs[j]->kv->mod_revision == rev)
			j++;
		if (watch_dispatch_begin(h, j - i)) {
			all_to_unsynced(h, rev);
			break;
		}
		for (size_t k = i; k < j; k++) {
			h->evs[k - i].ev = evs[k];
			h->evs[k - i].rev = rev;
		}
		if (!dispatch_revision(h, rev, j - i)) {
			all_to_unsynced(h, rev);
			break;
		}
		i = j;
	}
	h->rev = last;
	watch_hub_end_broken(h);
	if (h->n_unsynced)
		watch_hub_schedule_sync(h);
	return listening;
}

/* ---- progress notifications ---------------------------------------------------- */

static void progress_cb(uv_timer_t *t)
{
	struct watch_hub *h = t->data;
	if (h->closing || h->n_progress == 0)
		return;
	/* etcd's sendLoop ticker: a synced watcher that asked for progress
	 * and got nothing since the last tick gets an empty response at the
	 * current revision; then every flag is set again. */
	for (struct watch_stream *ws = h->streams; ws; ws = ws->next) {
		for (struct watcher *w = ws->watchers; w; w = w->snext) {
			if (!w->progress_notify)
				continue;
			if (w->progress_due && w->state == WATCHER_SYNCED && !ws->blocked) {
				int rc = watch_send_control(h, ws, w->ide.id, h->rev, false, false,
				                            0, NULL);
				if (rc == RPC_SEND_FULL)
					watch_hub_block(h, ws, h->rev);
				else if (rc < 0)
					watch_hub_mark_broken(h, ws, h->rev);
			}
			w->progress_due = true;
		}
	}
	watch_hub_end_broken(h);
}
