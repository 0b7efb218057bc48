/*
 * server/watch_stream.c - etcdserverpb.Watch/Watch: one bidirectional
 * stream carrying many watchers (etcd's v3rpc/watch.go serverWatchStream).
 *
 * Requests are handled in arrival order on the loop thread:
 *   create   key "" means "\0"; range_end "\0" means "every key >= key";
 *            range_end <= key is refused (created+canceled, watch_id -1,
 *            "mvcc: watcher range is empty"); watch IDs as watch_ids.h;
 *            start_revision 0 means current + 1. The `created` response
 *            (header.revision = current) is queued before the watcher can
 *            receive anything: events only come from the feed or a
 *            catch-up step, both later loop callbacks.
 *   cancel   {watch_id, canceled}; an unknown ID gets no answer.
 *   progress one response, watch_id -1, no events, header.revision = the
 *            hub's revision (every event up to it has been handed over).
 * A client half-close does not end the stream (etcd 3.4); a cancel or
 * disconnect does, and so do a lost leader for "hasleader" streams and
 * server shutdown (api.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/watch_internal.h"

#define REASON_EMPTY_RANGE  "mvcc: watcher range is empty"
#define REASON_DUPLICATE_ID "mvcc: duplicate watch ID provided on the WatchStream"

static void free_watcher(struct watch_stream *ws, struct watcher *w)
{
	watch_hub_remove(ws->hub, w);
	watch_ids_remove(&ws->ids, &w->ide);
	if (w->sprev)
		w->sprev->snext = w->snext;
	else
		ws->watchers = w->snext;
	if (w->snext)
		w->snext->sprev = w->sprev;
	ws->n_watchers--;
	free(w);
}

void watch_stream_drop(struct watch_stream *ws, struct watcher *w)
{
	free_watcher(ws, w);
}

static void free_stream(struct watch_stream *ws)
{
	struct watch_hub *h = ws->hub;
	while (ws->watchers)
		free_watcher(ws, ws->watchers);
	watch_ids_free(&ws->ids);
	if (ws->prev)
		ws->prev->next = ws->next;
	else
		h->streams = ws->next;
	if (ws->next)
		ws->next->prev = ws->prev;
	h->n_streams--;
	free(ws);
}

void watch_stream_end(struct watch_stream *ws, int code, const char *msg)
{
	struct rpc_stream *s = ws->s;
	rpc_stream_set_data(s, NULL);
	api_finish(ws->hub->a, s, API_WATCH, code, msg);
	free_stream(ws);
}

/* Applies a control send's outcome to the stream. */
static void after_send(struct watch_stream *ws, int rc)
{
	if (rc == RPC_SEND_FULL && !ws->blocked)
		watch_hub_block(ws->hub, ws, ws->hub->rev);
	else if (rc < 0)
		watch_hub_mark_broken(ws->hub, ws, ws->hub->rev);
}

/* etcd's current revision counts every write this member answered, also
 * one whose commit is not visible yet (node.h, barriers): a watch from "now"
 * starts after it. */
static int64_t current_revision(struct watch_hub *h)
{
	return node_current_revision(h->n);
}

static void refuse(struct watch_stream *ws, int64_t cur, const char *reason)
{
	after_send(ws, watch_send_control(ws->hub, ws, -1, cur, true, true, 0, reason));
}

static void create(struct watch_stream *ws, const Etcdserverpb__WatchCreateRequest *cr)
{
	struct watch_hub *h = ws->hub;
	static const uint8_t zero = 0;
	const uint8_t *key = cr->key.len ? cr->key.data : &zero;
	size_t key_len = cr->key.len ? cr->key.len : 1;
	bool is_range = cr->range_end.len > 0;
	bool to_inf = cr->range_end.len == 1 && cr->range_end.data[0] == 0;
	size_t end_len = is_range && !to_inf ? cr->range_end.len : 0;
	int64_t cur = current_revision(h);

	if (end_len) {
		size_t m = key_len < end_len ? key_len : end_len;
		int c = memcmp(key, cr->range_end.data, m);
		if (c > 0 || (c == 0 && key_len >= end_len)) {
			refuse(ws, cur, REASON_EMPTY_RANGE);
			return;
		}
	}
	int64_t id;
	if (watch_ids_pick(&ws->ids, cr->watch_id, &id)) {
		refuse(ws, cur, REASON_DUPLICATE_ID);
		return;
	}
	struct watcher *w = calloc(1, sizeof *w + key_len + end_len);
	if (!w) {
		watch_hub_mark_broken(h, ws, h->rev);
		return;
	}
	uint8_t *p = (uint8_t *)(w + 1);
	memcpy(p, key, key_len);
	if (end_len)
		memcpy(p + key_len, cr->range_end.data, end_len);
	w->wk.key = p;
	w->wk.key_len = key_len;
	w->wk.end = end_len ? p + key_len : NULL;
	w->wk.end_len = end_len;
	w->wk.is_range = is_range;
	w->ide.id = id;
	w->ws = ws;
	w->prev_kv = cr->prev_kv;
	w->fragment = cr->fragment;
	w->progress_notify = cr->progress_notify;
	w->progress_due = true;
	for (size_t i = 0; i < cr->n_filters; i++) {
		if (cr->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT)
			w->no_put = true;
		else if (cr->filters[i] ==
		         ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE)
			w->no_delete = true;
	}
	w->next_rev = cr->start_revision ? cr->start_revision : cur + 1;
	watch_ids_insert(&ws->ids, &w->ide);
	w->snext = ws->watchers;
	if (w->snext)
		w->snext->sprev = w;
	ws->watchers = w;
	ws->n_watchers++;
	h->n_watchers++;
	if (w->progress_notify)
		h->n_progress++;

	/* A past start needs history; so does any watcher of a full stream
	 * (a full stream has no synced watchers). Past is up to the revision
	 * this member answered: the feed may not have delivered it yet, and a
	 * Compact answered meanwhile must refuse the watcher (the sync step
	 * waits for the read barrier, then checks). */
	w->state = WATCHER_SYNCED;
	watch_index_add(&h->synced, &w->wk);
	if (ws->blocked || w->next_rev <= cur) {
		watch_hub_to_unsynced(h, w, w->next_rev);
		watch_hub_schedule_sync(h);
	}
	after_send(ws, watch_send_control(h, ws, id, cur, true, false, 0, NULL));
}

static void cancel(struct watch_stream *ws, int64_t id)
{
	struct watch_id_entry *e = watch_ids_find(&ws->ids, id);
	if (!e)
		return; /* etcd answers nothing for an unknown ID */
	struct watcher *w = (struct watcher *)((char *)e - offsetof(struct watcher, ide));
	free_watcher(ws, w);
	after_send(ws, watch_send_control(ws->hub, ws, id, 0, false, true, 0, NULL));
}

void watch_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                      size_t len)
{
	struct api *a = api_ref(s)->a;
	struct watch_stream *ws = rpc_stream_data(s);
	if (!ws) {
		if (!api_precheck(a, s, API_WATCH, false))
			return;
		if (!a->hub) {
			api_fail(a, s, API_WATCH, NODE_ESTOPPED);
			return;
		}
		ws = calloc(1, sizeof *ws);
		if (!ws) {
			api_fail(a, s, API_WATCH, -ENOMEM);
			return;
		}
		ws->hub = a->hub;
		ws->s = s;
		watch_ids_init(&ws->ids);
		const char *hl = rpc_stream_metadata(s, "hasleader");
		ws->hasleader = hl && strcmp(hl, "true") == 0;
		ws->next = a->hub->streams;
		if (ws->next)
			ws->next->prev = ws;
		a->hub->streams = ws;
		a->hub->n_streams++;
		rpc_stream_set_data(s, ws);
	}
	struct watch_hub *h = ws->hub;
	const Etcdserverpb__WatchRequest *req = (const Etcdserverpb__WatchRequest *)msg;
	switch (req->request_union_case) {
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
		create(ws, req->create_request);
		break;
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST:
		cancel(ws, req->cancel_request->watch_id);
		break;
	case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
		after_send(ws, watch_send_control(h, ws, -1, h->rev, false, false, 0, NULL));
		break;
	default:
		break; /* etcd ignores what it does not know */
	}
	watch_hub_end_broken(h);
}

void watch_on_cancel(struct rpc_stream *s, int code)
{
	struct api *a = api_ref(s)->a;
	api_count_cancel(a, API_WATCH, code);
	struct watch_stream *ws = rpc_stream_data(s);
	if (ws)
		free_stream(ws);
}

void watch_on_writable(struct rpc_stream *s)
{
	struct watch_stream *ws = rpc_stream_data(s);
	if (!ws || ws->broken || !ws->blocked)
		return;
	ws->blocked = false;
	watch_hub_schedule_sync(ws->hub);
}
