/*
 * client/lease.c - lease keep-alives: one LeaseKeepAlive stream per client
 * shared by every keep-alive, and the one-shot keep-alive.
 *
 * The schedule is clientv3's (etcd v3.4.23 clientv3/lease.go): a request
 * at once, then every TTL/3 after each reply; every 500 ms a sweep resends
 * what is due (so a lost request is repeated) and ends keep-alives whose
 * deadline (last reply + TTL) has passed. A reply with TTL <= 0 means the
 * lease is gone. The stream is reopened after any error but the halting
 * ones (neither Unavailable nor Internal), on the next endpoint when the
 * connection failed; it is closed when no keep-alive is left, so idle
 * clients send no HTTP/2 pings (grpc-wire.md §2 item 10).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define SWEEP_MS       500
#define RETRY_CONN_MS  500
#define FIRST_DEADLINE 5000 /* before the first reply tells us the TTL */

struct cairn_keepalive {
	struct cairn_keepalive *prev, *next;
	struct cairn_client *c;
	int64_t id;
	uint64_t next_at;  /* next request due */
	uint64_t deadline; /* the lease may be gone after this */
	cairn_keepalive_fn fn;
	void *arg;
	bool dead;
};

struct cairn__ka_hub {
	struct cairn_client *c;
	struct rpc_call *call;
	struct cairn__conn *conn;
	struct cairn_keepalive *head;
	uv_timer_t timer;
	bool timer_on;
	uint64_t reopen_at;
	unsigned dispatching;
	bool closing;
};

static void ka_kick(struct cairn_client *c);

static struct cairn__ka_hub *hub_get(struct cairn_client *c)
{
	if (c->kh)
		return c->kh;
	struct cairn__ka_hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->c = c;
	uv_timer_init(c->loop, &h->timer);
	h->timer.data = h;
	c->kh = h;
	return h;
}

static void unlink_ka(struct cairn__ka_hub *h, struct cairn_keepalive *ka)
{
	if (ka->prev)
		ka->prev->next = ka->next;
	else if (h->head == ka)
		h->head = ka->next;
	if (ka->next)
		ka->next->prev = ka->prev;
	ka->prev = ka->next = NULL;
}

static void sweep_dead(struct cairn__ka_hub *h)
{
	if (h->dispatching)
		return;
	struct cairn_keepalive *next;
	for (struct cairn_keepalive *ka = h->head; ka; ka = next) {
		next = ka->next;
		if (ka->dead) {
			unlink_ka(h, ka);
			free(ka);
		}
	}
}

static void ka_end(struct cairn__ka_hub *h, struct cairn_keepalive *ka, int code,
                   const char *message)
{
	if (ka->dead)
		return;
	ka->dead = true;
	struct cairn_status st = {0};
	const char *ep = h->conn ? cairn__ep_name(h->c, h->conn->ep) : "";
	cairn__status_set(&st, code, CAIRN_REASON_SERVER, ep, "%s", message);
	h->dispatching++;
	h->c->depth++;
	ka->fn(ka, ka->arg, &st, 0);
	h->c->depth--;
	h->dispatching--;
}

static void send_due(struct cairn__ka_hub *h, uint64_t now)
{
	if (!h->call)
		return;
	for (struct cairn_keepalive *ka = h->head; ka; ka = ka->next) {
		if (ka->dead || ka->next_at > now)
			continue;
		Etcdserverpb__LeaseKeepAliveRequest req =
		    ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
		req.id = ka->id;
		if (rpc_call_send(h->call, &req.base) < 0)
			return;
		ka->next_at = now + SWEEP_MS; /* again unless a reply comes */
	}
}

static void sweep_cb(uv_timer_t *t)
{
	struct cairn__ka_hub *h = t->data;
	struct cairn_client *c = h->c;
	uint64_t now = cairn__now(c);
	h->dispatching++;
	for (struct cairn_keepalive *ka = h->head; ka && !h->closing; ka = ka->next)
		if (!ka->dead && now >= ka->deadline)
			ka_end(h, ka, CAIRN_DEADLINE_EXCEEDED, "lease keepalive deadline exceeded");
	h->dispatching--;
	if (h->closing)
		return;
	sweep_dead(h);
	send_due(h, now);
	ka_kick(c);
}

static void msg_cb(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                   const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct cairn__ka_hub *h = arg;
	const Etcdserverpb__LeaseKeepAliveResponse *r = (const void *)msg;
	if (!r || h->closing)
		return;
	uint64_t now = cairn__now(h->c);
	h->dispatching++;
	for (struct cairn_keepalive *ka = h->head; ka && !h->closing; ka = ka->next) {
		if (ka->dead || ka->id != r->id)
			continue;
		if (r->ttl <= 0) {
			ka_end(h, ka, CAIRN_NOT_FOUND, "etcdserver: requested lease not found");
			continue;
		}
		ka->deadline = now + (uint64_t)r->ttl * 1000;
		ka->next_at = now + (uint64_t)r->ttl * 1000 / 3;
		struct cairn_status st = {0};
		snprintf(st.endpoint, sizeof st.endpoint, "%s",
		         h->conn ? cairn__ep_name(h->c, h->conn->ep) : "");
		h->c->depth++;
		ka->fn(ka, ka->arg, &st, r->ttl);
		h->c->depth--;
	}
	h->dispatching--;
	if (!h->closing) {
		sweep_dead(h);
		ka_kick(h->c);
	}
}

static void end_cb(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct cairn__ka_hub *h = arg;
	struct cairn_client *c = h->c;
	struct cairn__conn *conn = h->conn;
	h->call = NULL;
	if (h->closing || c->closing)
		return;
	bool resume = code == CAIRN_UNAVAILABLE || code == CAIRN_INTERNAL || code == CAIRN_OK;
	if (code == CAIRN_UNAVAILABLE && conn)
		cairn__conn_abandon(c, conn);
	if (!resume) {
		h->dispatching++;
		for (struct cairn_keepalive *ka = h->head; ka && !h->closing; ka = ka->next)
			ka_end(h, ka, code, message ? message : "");
		h->dispatching--;
	}
	h->conn = NULL;
	cairn__conn_release(conn);
	if (h->closing)
		return;
	sweep_dead(h);
	/* Everything is resent on the new stream. */
	for (struct cairn_keepalive *ka = h->head; ka; ka = ka->next)
		ka->next_at = 0;
	h->reopen_at = cairn__now(c) + RETRY_CONN_MS;
	ka_kick(c);
}

static void ka_kick(struct cairn_client *c)
{
	struct cairn__ka_hub *h = c->kh;
	if (!h || h->closing || c->closing || h->dispatching)
		return;
	bool live = false;
	for (struct cairn_keepalive *ka = h->head; ka; ka = ka->next)
		live |= !ka->dead;
	if (!live) {
		cairn__stream_drop(&h->call, &h->conn);
		uv_timer_stop(&h->timer);
		h->timer_on = false;
		return;
	}
	if (!h->timer_on) {
		uv_timer_start(&h->timer, sweep_cb, SWEEP_MS, SWEEP_MS);
		h->timer_on = true;
	}
	uint64_t now = cairn__now(c);
	if (!h->call && now >= h->reopen_at) {
		struct cairn__conn *conn = cairn__conn_get(c);
		if (!conn)
			return;
		struct rpc_metadata md[4];
		struct rpc_call_options o = {
		    .response = &etcdserverpb__lease_keep_alive_response__descriptor,
		    .metadata = md,
		    .n_metadata = cairn__metadata(c, c->cfg.require_leader, md),
		    .arg = h,
		    .on_message = msg_cb,
		    .on_end = end_cb,
		};
		if (rpc_call_start(conn->rc, cairn__m_lease_keepalive.path, &o, &h->call)) {
			h->call = NULL;
			cairn__conn_abandon(c, conn);
			cairn__conn_release(conn);
			return;
		}
		h->conn = conn;
	}
	send_due(h, now);
}

void cairn__ka_conn_ready(struct cairn_client *c)
{
	ka_kick(c);
}

bool cairn__ka_want_conn(struct cairn_client *c)
{
	struct cairn__ka_hub *h = c->kh;
	if (!h || h->call || cairn__now(c) < h->reopen_at)
		return false;
	for (struct cairn_keepalive *ka = h->head; ka; ka = ka->next)
		if (!ka->dead)
			return true;
	return false;
}

static void hub_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void cairn__ka_close_all(struct cairn_client *c)
{
	struct cairn__ka_hub *h = c->kh;
	if (!h)
		return;
	h->closing = true;
	if (h->call) {
		rpc_call_cancel(h->call);
		h->call = NULL;
	}
	while (h->head) {
		struct cairn_keepalive *ka = h->head;
		unlink_ka(h, ka);
		free(ka);
	}
	c->kh = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, hub_closed);
}

int cairn_lease_keepalive(struct cairn_client *c, int64_t id, cairn_keepalive_fn fn, void *arg,
                          struct cairn_keepalive **out)
{
	if (!fn)
		return -EINVAL;
	if (c->closing)
		return -ESHUTDOWN;
	struct cairn__ka_hub *h = hub_get(c);
	struct cairn_keepalive *ka = calloc(1, sizeof *ka);
	if (!h || !ka) {
		free(ka);
		return -ENOMEM;
	}
	uint64_t now = cairn__now(c);
	ka->c = c;
	ka->id = id;
	ka->fn = fn;
	ka->arg = arg;
	ka->deadline = now + FIRST_DEADLINE;
	ka->next = h->head;
	if (h->head)
		h->head->prev = ka;
	h->head = ka;
	if (out)
		*out = ka;
	ka_kick(c);
	return 0;
}

void cairn_lease_keepalive_stop(struct cairn_keepalive *ka)
{
	if (!ka)
		return;
	struct cairn_client *c = ka->c;
	struct cairn__ka_hub *h = c->kh;
	if (!h)
		return;
	ka->dead = true;
	sweep_dead(h);
	ka_kick(c);
}

/* ---- one-shot keep-alive ------------------------------------------------------- */

struct once {
	cairn_done_fn done;
	void *arg;
	bool keep;
};

static void once_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct once *o = arg;
	const Etcdserverpb__LeaseKeepAliveResponse *r = resp;
	if (st->code == CAIRN_OK && r && r->ttl <= 0) {
		/* clientv3 KeepAliveOnce: TTL <= 0 is ErrLeaseNotFound. */
		struct cairn_status nf = *st;
		cairn__status_set(&nf, CAIRN_NOT_FOUND, CAIRN_REASON_SERVER, NULL,
		                  "etcdserver: requested lease not found");
		if (o->keep)
			cairn_response_free((void *)resp);
		o->done(o->arg, &nf, NULL);
	} else {
		o->done(o->arg, st, resp);
	}
	free(o);
}

static int once_start(struct cairn_client *c, int64_t id, const struct cairn_call_opts *opts,
                      cairn_done_fn done, void *arg, bool keep)
{
	if (!done)
		return -EINVAL;
	struct once *o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	o->done = done;
	o->arg = arg;
	o->keep = keep;
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	req.id = id;
	int err;
	struct cairn__op *op =
	    cairn__op_new(c, &cairn__m_lease_keepalive, &req.base, opts, once_done, o, &err);
	if (!op) {
		free(o);
		return err;
	}
	op->kind = CAIRN__OP_STREAM_ONCE;
	op->keep = keep;
	cairn__op_start(op);
	return 0;
}

int cairn_lease_keepalive_once(struct cairn_client *c, int64_t id, const struct cairn_call_opts *o,
                               cairn_done_fn done, void *arg)
{
	return once_start(c, id, o, done, arg, false);
}

int cairn_lease_keepalive_once_sync(struct cairn_client *c, int64_t id,
                                    const struct cairn_call_opts *o,
                                    Etcdserverpb__LeaseKeepAliveResponse **resp,
                                    struct cairn_status *st)
{
	if (st)
		memset(st, 0, sizeof *st);
	if (!c->own)
		return -EINVAL;
	struct cairn__sync w = {0};
	int rv = once_start(c, id, o, cairn__sync_done, &w, true);
	if (rv)
		return rv;
	return cairn__sync_wait(c, &w, (void **)resp, st);
}
