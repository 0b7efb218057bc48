/*
 * client/watch.c - watchers multiplexed on one Watch stream per client, with
 * resumption after failures.
 *
 * Creation: etcd pairs "created" replies with create requests by order
 * (etcd-api.md §3.4), so one create is outstanding at a time (hub->creating)
 * and the next goes out when its reply arrives, as clientv3 does.
 *
 * Resumption: each watcher remembers the next revision it expects
 * (next_rev): its start revision, then the revision after the "created"
 * header for a watch from "now", then the revision after its last delivered
 * event. When the stream ends Unavailable or Internal (connection lost,
 * "etcdserver: no leader" with hasleader, server stopped: clientv3's
 * non-halting errors), every watcher is queued again and re-created from
 * next_rev on a new stream, on the next endpoint if this one failed. So the
 * user sees each event exactly once (the store keeps history until
 * compaction; a compacted resume point ends the watcher with the compacted
 * error, as etcd would). Progress responses never move next_rev: in 3.4 a
 * progress_request reply may overtake pending events (etcd-io/etcd#15220).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

enum w_state {
	W_QUEUED,
	W_CREATING,
	W_ACTIVE
};

struct cairn_watcher {
	struct cairn_watcher *prev, *next;
	struct cairn_client *c;
	uint8_t *key, *end;
	size_t key_len, end_len;
	int64_t next_rev;
	bool prev_kv, progress_notify, no_put, no_delete, fragment, created_notify;
	int64_t id;
	enum w_state state;
	bool created_seen;
	bool cancelled; /* by the user: no more callbacks, freed when safe */
	cairn_watch_fn on_resp;
	cairn_watch_end_fn on_end;
	void *arg;
	Mvccpb__Event **frag; /* events of fragments awaiting the last one */
	size_t n_frag, cap_frag;
};

struct cairn__watch_hub {
	struct cairn_client *c;
	struct rpc_call *call;
	struct cairn__conn *conn;
	struct cairn_watcher *head;
	struct cairn_watcher *creating;
	uv_timer_t timer;
	uint64_t reopen_at;
	unsigned failures;
	unsigned dispatching;
	bool closing;
	bool progress_wanted; /* asked for before the stream was open */
};

static void hub_kick(struct cairn_client *c);

static void frag_clear(struct cairn_watcher *w)
{
	for (size_t i = 0; i < w->n_frag; i++)
		protobuf_c_message_free_unpacked(&w->frag[i]->base, NULL);
	w->n_frag = 0;
}

static void watcher_free(struct cairn_watcher *w)
{
	frag_clear(w);
	free(w->frag);
	free(w->key);
	free(w->end);
	free(w);
}

static void unlink_watcher(struct cairn__watch_hub *h, struct cairn_watcher *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else if (h->head == w)
		h->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	if (h->creating == w)
		h->creating = NULL;
}

static struct cairn__watch_hub *hub_get(struct cairn_client *c)
{
	if (c->wh)
		return c->wh;
	struct cairn__watch_hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->c = c;
	uv_timer_init(c->loop, &h->timer);
	h->timer.data = h;
	c->wh = h;
	return h;
}

static int send_req(struct cairn__watch_hub *h, Etcdserverpb__WatchRequest *req)
{
	if (!h->call)
		return -ENOTCONN;
	int rv = rpc_call_send(h->call, &req->base);
	return rv < 0 ? rv : 0;
}

static void send_cancel(struct cairn__watch_hub *h, int64_t id)
{
	Etcdserverpb__WatchCancelRequest cr = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
	cr.watch_id = id;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
	req.cancel_request = &cr;
	send_req(h, &req);
}

static int send_create(struct cairn__watch_hub *h, struct cairn_watcher *w)
{
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest__FilterType filters[2];
	cr.key.data = w->key;
	cr.key.len = w->key_len;
	cr.range_end.data = w->end;
	cr.range_end.len = w->end_len;
	cr.start_revision = w->next_rev;
	cr.progress_notify = w->progress_notify;
	cr.prev_kv = w->prev_kv;
	cr.fragment = w->fragment;
	if (w->no_put)
		filters[cr.n_filters++] = ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT;
	if (w->no_delete)
		filters[cr.n_filters++] = ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE;
	cr.filters = filters;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	return send_req(h, &req);
}

/* Frees user-cancelled watchers once nothing refers to them. */
static void sweep(struct cairn__watch_hub *h)
{
	if (h->dispatching)
		return;
	struct cairn_watcher *next;
	for (struct cairn_watcher *w = h->head; w; w = next) {
		next = w->next;
		if (w->cancelled && w->state != W_CREATING) {
			unlink_watcher(h, w);
			watcher_free(w);
		}
	}
}

/* Ends a watcher on its own (server cancel, halting error). */
static void watcher_end(struct cairn__watch_hub *h, struct cairn_watcher *w,
                        const struct cairn_status *st)
{
	if (w->cancelled)
		return;
	w->cancelled = true; /* no more callbacks; swept later */
	if (w->state == W_CREATING)
		w->state = W_QUEUED;
	struct cairn_client *c = h->c;
	if (w->on_end) {
		c->depth++;
		h->dispatching++;
		w->on_end(w, w->arg, st);
		h->dispatching--;
		c->depth--;
	}
}

static void deliver(struct cairn__watch_hub *h, struct cairn_watcher *w,
                    const Etcdserverpb__WatchResponse *r)
{
	if (w->cancelled || !w->on_resp)
		return;
	h->c->depth++;
	h->dispatching++;
	w->on_resp(w, w->arg, r);
	h->dispatching--;
	h->c->depth--;
}

/* The status a canceled response stands for (clientv3 WatchResponse.Err). */
static void cancel_status(const Etcdserverpb__WatchResponse *r, struct cairn_status *st,
                          const char *ep)
{
	memset(st, 0, sizeof *st);
	if (r->compact_revision)
		cairn__status_set(st, CAIRN_OUT_OF_RANGE, CAIRN_REASON_SERVER, ep,
		                  "etcdserver: mvcc: required revision has been compacted");
	else if (r->cancel_reason && r->cancel_reason[0])
		cairn__status_set(st, CAIRN_FAILED_PRECONDITION, CAIRN_REASON_SERVER, ep, "%s",
		                  r->cancel_reason);
	else
		cairn__status_set(st, CAIRN_OUT_OF_RANGE, CAIRN_REASON_SERVER, ep,
		                  "etcdserver: mvcc: required revision is a future revision");
}

static void on_created(struct cairn__watch_hub *h, const Etcdserverpb__WatchResponse *r)
{
	struct cairn_watcher *w = h->creating;
	h->creating = NULL;
	if (!w)
		return;
	h->failures = 0;
	if (w->cancelled) {
		/* Cancelled while its create was out: cancel it now. */
		w->state = W_QUEUED;
		if (!r->canceled)
			send_cancel(h, r->watch_id);
		return;
	}
	w->state = W_ACTIVE;
	w->id = r->watch_id;
	if (w->next_rev == 0 && r->header)
		w->next_rev = r->header->revision + 1;
	bool first = !w->created_seen;
	w->created_seen = true;
	if (r->canceled) {
		struct cairn_status st;
		cancel_status(r, &st, cairn__ep_name(h->c, h->conn ? h->conn->ep : 0));
		deliver(h, w, r);
		watcher_end(h, w, &st);
		return;
	}
	if (first && w->created_notify)
		deliver(h, w, r);
}

static void on_events(struct cairn__watch_hub *h, struct cairn_watcher *w,
                      const Etcdserverpb__WatchResponse *r)
{
	if (r->fragment) {
		for (size_t i = 0; i < r->n_events; i++) {
			if (w->n_frag == w->cap_frag) {
				size_t nc = w->cap_frag ? 2 * w->cap_frag : 16;
				Mvccpb__Event **na = realloc(w->frag, nc * sizeof *na);
				if (!na)
					return;
				w->frag = na;
				w->cap_frag = nc;
			}
			Mvccpb__Event *e = (Mvccpb__Event *)cairn__msg_copy(&r->events[i]->base);
			if (e)
				w->frag[w->n_frag++] = e;
		}
		return;
	}
	const Etcdserverpb__WatchResponse *out = r;
	Etcdserverpb__WatchResponse merged;
	Mvccpb__Event **all = NULL;
	if (w->n_frag) {
		all = malloc((w->n_frag + r->n_events) * sizeof *all);
		if (all) {
			memcpy(all, w->frag, w->n_frag * sizeof *all);
			memcpy(all + w->n_frag, r->events, r->n_events * sizeof *all);
			merged = *r;
			merged.events = all;
			merged.n_events = w->n_frag + r->n_events;
			out = &merged;
		}
	}
	if (out->n_events)
		w->next_rev = out->events[out->n_events - 1]->kv->mod_revision + 1;
	deliver(h, w, out);
	free(all);
	frag_clear(w);
}

static void stream_msg_cb(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                          const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct cairn__watch_hub *h = arg;
	const Etcdserverpb__WatchResponse *r = (const void *)msg;
	if (!r || h->closing)
		return;
	h->dispatching++;
	if (r->created) {
		on_created(h, r);
	} else if (r->watch_id == -1 && !r->canceled) {
		/* A progress_request reply: for every watcher. */
		for (struct cairn_watcher *w = h->head; w && !h->closing; w = w->next)
			if (w->state == W_ACTIVE)
				deliver(h, w, r);
	} else {
		struct cairn_watcher *w = h->head;
		while (w && !(w->state == W_ACTIVE && w->id == r->watch_id))
			w = w->next;
		if (w && r->canceled) {
			struct cairn_status st;
			cancel_status(r, &st, cairn__ep_name(h->c, h->conn ? h->conn->ep : 0));
			deliver(h, w, r);
			w->state = W_QUEUED;
			watcher_end(h, w, &st);
		} else if (w) {
			on_events(h, w, r);
		}
	}
	h->dispatching--;
	if (h->closing)
		return;
	sweep(h);
	hub_kick(h->c);
}

static void stream_end_cb(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct cairn__watch_hub *h = arg;
	struct cairn_client *c = h->c;
	struct cairn__conn *conn = h->conn;
	h->call = NULL;
	h->conn = NULL;
	if (h->closing || c->closing)
		return;
	bool resume = code == CAIRN_UNAVAILABLE || code == CAIRN_INTERNAL || code == CAIRN_OK;
	if (code == CAIRN_UNAVAILABLE && conn)
		cairn__conn_abandon(c, conn);
	struct cairn_status st = {0};
	cairn__status_set(&st, code, CAIRN_REASON_SERVER, conn ? cairn__ep_name(c, conn->ep) : "",
	                  "%s", message ? message : "");
	h->dispatching++;
	for (struct cairn_watcher *w = h->head; w; w = w->next) {
		w->state = W_QUEUED; /* a cancelled one never created is dropped */
		w->id = -1;
		frag_clear(w);
		if (!resume)
			watcher_end(h, w, &st);
	}
	h->creating = NULL;
	h->dispatching--;
	cairn__conn_release(conn);
	if (h->closing)
		return;
	sweep(h);
	if (resume) {
		/* Reopen at once the first time, then back off up to 2 s. */
		uint64_t delay = h->failures ? 100u << (h->failures < 5 ? h->failures - 1 : 4) : 0;
		if (delay > 2000)
			delay = 2000;
		h->failures++;
		h->reopen_at = cairn__now(c) + delay;
	}
	hub_kick(c);
}

static void reopen_timer_cb(uv_timer_t *t)
{
	struct cairn__watch_hub *h = t->data;
	hub_kick(h->c);
}

static void open_stream(struct cairn__watch_hub *h, struct cairn__conn *conn)
{
	struct cairn_client *c = h->c;
	struct rpc_metadata md[4];
	struct rpc_call_options o = {
	    .response = &etcdserverpb__watch_response__descriptor,
	    .metadata = md,
	    .n_metadata = cairn__metadata(c, c->cfg.require_leader, md),
	    .arg = h,
	    .on_message = stream_msg_cb,
	    .on_end = stream_end_cb,
	};
	if (rpc_call_start(conn->rc, cairn__m_watch.path, &o, &h->call) == 0) {
		h->conn = conn;
	} else {
		cairn__conn_abandon(c, conn);
		cairn__conn_release(conn);
	}
}

/* Opens the stream if watchers need it, sends the next create, closes the
 * stream when no watcher is left. */
static void hub_kick(struct cairn_client *c)
{
	struct cairn__watch_hub *h = c->wh;
	if (!h || h->closing || c->closing || h->dispatching)
		return;
	bool live = false;
	for (struct cairn_watcher *w = h->head; w; w = w->next)
		live |= !w->cancelled || w->state == W_CREATING;
	if (!live) {
		cairn__stream_drop(&h->call, &h->conn);
		return;
	}
	if (!h->call) {
		uint64_t now = cairn__now(c);
		if (now < h->reopen_at) {
			uv_timer_start(&h->timer, reopen_timer_cb, h->reopen_at - now, 0);
			return;
		}
		struct cairn__conn *conn = cairn__conn_get(c);
		if (!conn)
			return; /* cairn__watch_conn_ready() comes back here */
		open_stream(h, conn);
		if (!h->call)
			return;
	}
	if (h->creating)
		return;
	for (struct cairn_watcher *w = h->head; w; w = w->next) {
		if (w->state == W_QUEUED && !w->cancelled) {
			if (send_create(h, w) == 0) {
				w->state = W_CREATING;
				h->creating = w;
			}
			break;
		}
	}
	if (h->progress_wanted) {
		/* after the create that was asked for before it, as clientv3
		 * orders them on its stream */
		h->progress_wanted = false;
		cairn_watch_progress(c);
	}
}

void cairn__watch_conn_ready(struct cairn_client *c)
{
	hub_kick(c);
}

bool cairn__streams_want_conn(struct cairn_client *c)
{
	bool want = false;
	if (c->wh && !c->wh->call)
		for (struct cairn_watcher *w = c->wh->head; w && !want; w = w->next)
			want = !w->cancelled;
	return want || cairn__ka_want_conn(c);
}

static void hub_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void cairn__watch_close_all(struct cairn_client *c)
{
	struct cairn__watch_hub *h = c->wh;
	if (!h)
		return;
	h->closing = true;
	if (h->call) {
		rpc_call_cancel(h->call);
		h->call = NULL;
	}
	while (h->head) {
		struct cairn_watcher *w = h->head;
		unlink_watcher(h, w);
		watcher_free(w);
	}
	c->wh = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, hub_closed);
}

/* ---- public ------------------------------------------------------------- */

int cairn_watch(struct cairn_client *c, const struct cairn_watch_options *o, cairn_watch_fn on_resp,
                cairn_watch_end_fn on_end, void *arg, struct cairn_watcher **out)
{
	if (!o || (o->key_len && !o->key))
		return -EINVAL;
	if (c->closing)
		return -ESHUTDOWN;
	struct cairn__watch_hub *h = hub_get(c);
	struct cairn_watcher *w = calloc(1, sizeof *w);
	if (!h || !w) {
		free(w);
		return -ENOMEM;
	}
	w->c = c;
	w->key = cairn__memdup(o->key, o->key_len);
	w->key_len = o->key_len;
	if (o->prefix) {
		w->end = malloc(o->key_len + 1);
		if (w->end)
			w->end_len = cairn_prefix_end(o->key, o->key_len, w->end);
	} else if (o->range_end_len) {
		w->end = cairn__memdup(o->range_end, o->range_end_len);
		w->end_len = o->range_end_len;
	}
	if (!w->key || ((o->prefix || o->range_end_len) && !w->end)) {
		watcher_free(w);
		return -ENOMEM;
	}
	w->next_rev = o->start_revision > 0 ? o->start_revision : 0;
	w->prev_kv = o->prev_kv;
	w->progress_notify = o->progress_notify;
	w->no_put = o->no_put;
	w->no_delete = o->no_delete;
	w->fragment = o->fragment;
	w->created_notify = o->created_notify;
	w->id = -1;
	w->on_resp = on_resp;
	w->on_end = on_end;
	w->arg = arg;
	/* Append: creates go out in the order watchers were made. */
	struct cairn_watcher **pp = &h->head, *last = NULL;
	while (*pp) {
		last = *pp;
		pp = &(*pp)->next;
	}
	*pp = w;
	w->prev = last;
	if (out)
		*out = w;
	hub_kick(c);
	if (!h->call)
		cairn__conn_get(c); /* start connecting now */
	return 0;
}

void cairn_watch_cancel(struct cairn_watcher *w)
{
	if (!w)
		return;
	struct cairn_client *c = w->c;
	struct cairn__watch_hub *h = c->wh;
	if (!h)
		return;
	if (w->state == W_ACTIVE && !w->cancelled && h->call)
		send_cancel(h, w->id);
	w->cancelled = true;
	if (w->state == W_ACTIVE)
		w->state = W_QUEUED;
	sweep(h);
	hub_kick(c);
}

int64_t cairn_watch_next_revision(const struct cairn_watcher *w)
{
	return w->next_rev;
}

int64_t cairn_watch_id(const struct cairn_watcher *w)
{
	return w->state == W_ACTIVE ? w->id : -1;
}

int cairn_watch_progress(struct cairn_client *c)
{
	struct cairn__watch_hub *h = c->wh;
	if (!h)
		return -ENOTCONN;
	if (!h->call) {
		/* sent once the stream is open, after the creates already
		 * asked for */
		h->progress_wanted = true;
		return 0;
	}
	Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
	req.progress_request = &pr;
	return send_req(h, &req);
}
