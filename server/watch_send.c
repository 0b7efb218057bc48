/*
 * server/watch_send.c - matching events to watchers and writing their
 * WatchResponses, shared by the live feed (watch_hub.c) and the catch-up
 * from history (watch_sync.c).
 *
 * A dispatch takes a set of events (one revision of the feed, or one chunk
 * of history): watch_dispatch_collect() walks the key index once per event
 * and threads each matching watcher's events into a list (watcher->mhead,
 * hub->matches), stamping the watcher with the dispatch's sequence number
 * so that it is listed once in hub->touched. Then each touched watcher gets
 * one response with its events in order, assembled from kv bytes packed
 * once per event (watch_encode.h). Everything is scratch kept by the hub:
 * no allocation per event or per watcher once the buffers have grown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/watch_internal.h"

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int watch_dispatch_begin(struct watch_hub *h, size_t n)
{
	if (grow((void **)&h->evs, &h->evs_cap, n, sizeof *h->evs))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		h->evs[i].packed = false;
	h->n_matches = 0;
	h->n_touched = 0;
	h->pack_len = 0;
	h->oom = false;
	if (++h->seq == 0)
		h->seq = 1; /* 0 is a fresh watcher's stamp */
	return 0;
}

void watch_dispatch_header(struct watch_hub *h, int64_t rev)
{
	Etcdserverpb__ResponseHeader hh = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	node_fill_header(h->n, &hh, rev);
	h->hdr_len = etcdserverpb__response_header__pack(&hh, h->hdr);
}

struct collect_ctx {
	struct watch_hub *h;
	uint32_t ev;
	int64_t rev;
	bool is_put, catching_up;
};

static void collect_one(void *arg, struct watch_key *k)
{
	struct collect_ctx *cx = arg;
	struct watch_hub *h = cx->h;
	struct watcher *w = (struct watcher *)k;
	if (w->next_rev > cx->rev)
		return; /* future start, or already sent */
	if (cx->catching_up && w->sync_stamp != h->sync_seq)
		return; /* not taking part in this step (its stream is full) */
	if (cx->is_put ? w->no_put : w->no_delete)
		return;
	if (grow((void **)&h->matches, &h->matches_cap, h->n_matches + 1, sizeof *h->matches)) {
		h->oom = true;
		return;
	}
	uint32_t mi = (uint32_t)h->n_matches;
	if (w->stamp != h->seq) {
		if (grow((void **)&h->touched, &h->touched_cap, h->n_touched + 1,
		         sizeof *h->touched)) {
			h->oom = true;
			return;
		}
		h->touched[h->n_touched++] = w;
		w->stamp = h->seq;
		w->mhead = mi;
		w->mcount = 0;
	} else {
		h->matches[w->mtail].next = mi;
	}
	h->matches[mi].ev = cx->ev;
	h->matches[mi].next = WATCH_NO_MATCH;
	h->n_matches++;
	w->mtail = mi;
	w->mcount++;
}

void watch_dispatch_collect(struct watch_hub *h, struct watch_index *index, size_t n,
                            bool catching_up)
{
	struct collect_ctx cx = {.h = h, .catching_up = catching_up};
	for (size_t i = 0; i < n; i++) {
		const Mvccpb__Event *ev = h->evs[i].ev;
		cx.ev = (uint32_t)i;
		cx.rev = h->evs[i].rev;
		cx.is_put = ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT;
		watch_index_visit(index, ev->kv->key.data, ev->kv->key.len, collect_one, &cx);
	}
}

/* Packs an event's kv and prev_kv into h->pack (once per dispatch). */
static int pack_event(struct watch_hub *h, struct watch_ev *e)
{
	if (e->packed)
		return 0;
	const Mvccpb__Event *ev = e->ev;
	size_t kv_len = mvccpb__key_value__get_packed_size(ev->kv);
	size_t prev_len = ev->prev_kv ? mvccpb__key_value__get_packed_size(ev->prev_kv) : 0;
	if (grow((void **)&h->pack, &h->pack_cap, h->pack_len + kv_len + prev_len, 1))
		return -ENOMEM;
	e->kv_off = h->pack_len;
	e->kv_len = mvccpb__key_value__pack(ev->kv, h->pack + h->pack_len);
	h->pack_len += e->kv_len;
	e->has_prev = ev->prev_kv != NULL;
	if (e->has_prev) {
		e->prev_off = h->pack_len;
		e->prev_len = mvccpb__key_value__pack(ev->prev_kv, h->pack + h->pack_len);
		h->pack_len += e->prev_len;
	}
	e->is_delete = ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
	e->packed = true;
	return 0;
}

static struct watch_enc_event enc_of(const struct watch_hub *h, const struct watch_ev *e)
{
	struct watch_enc_event x = {
	    .kv = h->pack + e->kv_off,
	    .kv_len = e->kv_len,
	    .prev = e->has_prev ? h->pack + e->prev_off : NULL,
	    .prev_len = e->prev_len,
	    .is_delete = e->is_delete,
	};
	return x;
}

/* Writes one response of events order[from, from+k) into h->out. */
static int send_part(struct watch_hub *h, struct watcher *w, const uint32_t *order, size_t from,
                     size_t k, bool fragment, size_t size)
{
	if (grow((void **)&h->out, &h->out_cap, size, 1))
		return -ENOMEM;
	size_t off = watch_enc_head(h->out, h->hdr, h->hdr_len, w->ide.id, fragment);
	for (size_t i = from; i < from + k; i++) {
		struct watch_enc_event x = enc_of(h, &h->evs[order[i]]);
		off += watch_enc_event(h->out + off, &x, w->prev_kv);
	}
	int rc = rpc_stream_send_bytes(w->ws->s, h->out, off);
	if (rc >= 0) {
		h->responses_sent++;
		h->events_sent += k;
	}
	return rc;
}

int watch_send_matches(struct watch_hub *h, struct watcher *w)
{
	size_t n = w->mcount;
	/* order[] and sizes[] share one allocation of n (uint32_t, size_t). */
	if (grow((void **)&h->sizes, &h->sizes_cap, 2 * n, sizeof *h->sizes))
		return -ENOMEM;
	size_t *sizes = h->sizes;
	uint32_t *order = (uint32_t *)(h->sizes + n);
	size_t total = watch_enc_head_size(h->hdr_len, w->ide.id, false);
	size_t k = 0;
	for (uint32_t mi = w->mhead; mi != WATCH_NO_MATCH; mi = h->matches[mi].next) {
		struct watch_ev *e = &h->evs[h->matches[mi].ev];
		if (pack_event(h, e))
			return -ENOMEM;
		struct watch_enc_event x = enc_of(h, e);
		order[k] = h->matches[mi].ev;
		sizes[k] = watch_enc_event_size(&x, w->prev_kv);
		total += sizes[k];
		k++;
	}
	w->progress_due = false;
	if (!w->fragment || !watch_frag_needed(total, n, h->frag_limit))
		return send_part(h, w, order, 0, n, false, total);
	/* etcd's sendFragments: every part but the last says fragment. Once
	 * started, all parts are queued even past the high-water mark: a
	 * revision is never left half sent. */
	size_t head_f = watch_enc_head_size(h->hdr_len, w->ide.id, true);
	size_t head = watch_enc_head_size(h->hdr_len, w->ide.id, false);
	int result = 0;
	for (size_t start = 0; start < n;) {
		size_t cnt = watch_frag_next(sizes, n, start, head_f, h->frag_limit);
		bool last = start + cnt == n;
		size_t size = last ? head : head_f;
		for (size_t i = start; i < start + cnt; i++)
			size += sizes[i];
		int rc = send_part(h, w, order, start, cnt, !last, size);
		if (rc < 0)
			return rc;
		if (rc == RPC_SEND_FULL)
			result = RPC_SEND_FULL;
		start += cnt;
	}
	return result;
}

int watch_send_control(struct watch_hub *h, struct watch_stream *ws, int64_t watch_id,
                       int64_t header_rev, bool created, bool canceled, int64_t compact_rev,
                       const char *reason)
{
	Etcdserverpb__ResponseHeader hh = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	node_fill_header(h->n, &hh, header_rev > 0 ? header_rev : 0);
	if (header_rev < 0)
		hh.revision = 0; /* etcd's compacted response has no revision */
	Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
	r.header = &hh;
	r.watch_id = watch_id;
	r.created = created;
	r.canceled = canceled;
	r.compact_revision = compact_rev;
	if (reason)
		r.cancel_reason = (char *)reason;
	int rc = rpc_stream_send(ws->s, &r.base);
	if (rc >= 0)
		h->responses_sent++;
	return rc;
}
