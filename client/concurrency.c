/*
 * client/concurrency.c - sessions, mutexes and elections with etcd's key
 * layout (etcd v3.4.23 clientv3/concurrency: session.go, mutex.go,
 * election.go, key.go), so they interoperate with `etcdctl lock` and
 * `etcdctl elect` (etcd-api.md §5):
 *
 *   my key    "<prefix>/<lease ID, lowercase hex>", put with the session's
 *             lease in one Txn: if create_revision(my key) = 0 then
 *             [Put(my key), Range(prefix, oldest first, limit 1)] else
 *             [Range(my key), Range(prefix, oldest first, limit 1)]
 *   my rev    the Txn's header revision, or my key's create_revision
 *   owner     the oldest key of the prefix; if it is mine, done; else
 *   wait      Range(prefix, newest first, limit 1, max_create_revision =
 *             my rev - 1) and watch that key from the Range's revision
 *             until it is deleted; repeat until nothing older is left.
 *
 * Everything runs as a chain of asynchronous calls on the client's loop;
 * the *_sync forms run the chain on the private loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

/* ---- sessions ------------------------------------------------------------- */

struct cairn_session {
	struct cairn_client *c;
	int64_t ttl;
	int64_t lease;
	struct cairn_keepalive *ka;
	cairn_done_fn done;
	void *arg;
	cairn_session_lost_fn lost;
	void *lost_arg;
	bool closed; /* closed by the user before the grant came back */
};

static void ignore_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)arg;
	(void)st;
	(void)resp;
}

static void session_ka(struct cairn_keepalive *ka, void *arg, const struct cairn_status *st,
                       int64_t ttl)
{
	(void)ttl;
	struct cairn_session *s = arg;
	(void)ka;
	if (st->code == CAIRN_OK)
		return;
	s->ka = NULL; /* freed by the library after this call */
	if (s->lost)
		s->lost(s, s->lost_arg, st);
}

static void session_granted(void *arg, const struct cairn_status *st, const void *resp)
{
	struct cairn_session *s = arg;
	const Etcdserverpb__LeaseGrantResponse *r = resp;
	if (s->closed) {
		if (st->code == CAIRN_OK) {
			/* Nobody wants it any more: give it back. */
			Etcdserverpb__LeaseRevokeRequest rq =
			    ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
			rq.id = r->id;
			cairn_lease_revoke(s->c, &rq, NULL, ignore_done, NULL);
		}
		free(s);
		return;
	}
	if (st->code != CAIRN_OK) {
		s->done(s->arg, st, NULL);
		return;
	}
	s->lease = r->id;
	int rv = cairn_lease_keepalive(s->c, s->lease, session_ka, s, &s->ka);
	if (rv) {
		struct cairn_status e = *st;
		cairn__status_set(&e, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(rv));
		s->done(s->arg, &e, NULL);
		return;
	}
	s->done(s->arg, st, NULL);
}

int cairn_session_new(struct cairn_client *c, int64_t ttl, cairn_done_fn done, void *arg,
                      cairn_session_lost_fn lost, void *lost_arg, struct cairn_session **out)
{
	if (!done || !out)
		return -EINVAL;
	struct cairn_session *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->c = c;
	s->ttl = ttl > 0 ? ttl : 60;
	s->done = done;
	s->arg = arg;
	s->lost = lost;
	s->lost_arg = lost_arg;
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	req.ttl = s->ttl;
	int rv = cairn_lease_grant(c, &req, NULL, session_granted, s);
	if (rv) {
		free(s);
		return rv;
	}
	*out = s;
	return 0;
}

int cairn_session_new_sync(struct cairn_client *c, int64_t ttl, struct cairn_session **out,
                           struct cairn_status *st)
{
	if (st)
		memset(st, 0, sizeof *st);
	struct cairn__sync w = {0};
	int rv = cairn_session_new(c, ttl, cairn__sync_status, &w, NULL, NULL, out);
	if (rv)
		return rv;
	rv = cairn__sync_wait(c, &w, NULL, st);
	if (rv) {
		cairn_session_close(*out, false);
		*out = NULL;
	}
	return rv;
}

int64_t cairn_session_lease(const struct cairn_session *s)
{
	return s->lease;
}

struct cairn_client *cairn_session_client(const struct cairn_session *s)
{
	return s->c;
}

void cairn_session_close(struct cairn_session *s, bool revoke)
{
	if (!s)
		return;
	if (!s->lease) {
		s->closed = true; /* the grant is still out; freed when it returns */
		return;
	}
	if (s->ka)
		cairn_lease_keepalive_stop(s->ka);
	if (revoke && !s->c->closing) {
		Etcdserverpb__LeaseRevokeRequest rq = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
		rq.id = s->lease;
		cairn_lease_revoke(s->c, &rq, NULL, ignore_done, NULL);
	}
	free(s);
}

/* ---- shared steps ------------------------------------------------------------ */

/* A recipe in progress: one chain of calls at a time per mutex/election. */
struct chain {
	struct cairn_client *c;
	char *pfx;   /* "<prefix>/" */
	char *key;   /* "<prefix>/<lease hex>" */
	int64_t rev; /* my create revision */
	int64_t hdr_rev;
	cairn_done_fn done;
	void *arg;
	uint64_t deadline; /* 0: none */
	struct cairn_watcher *w;
	bool busy;
	void (*acquired)(struct chain *ch);
	void (*failed)(struct chain *ch, const struct cairn_status *st);
};

static char *make_key(const char *pfx, int64_t lease)
{
	char *k = malloc(strlen(pfx) + 17);
	if (k)
		sprintf(k, "%s%" PRIx64, pfx, (uint64_t)lease);
	return k;
}

static int chain_init(struct chain *ch, struct cairn_session *s, const char *prefix)
{
	ch->c = s->c;
	ch->pfx = malloc(strlen(prefix) + 2);
	if (!ch->pfx)
		return -ENOMEM;
	sprintf(ch->pfx, "%s/", prefix);
	ch->key = make_key(ch->pfx, s->lease);
	if (!ch->key) {
		free(ch->pfx);
		return -ENOMEM;
	}
	return 0;
}

static void chain_free(struct chain *ch)
{
	if (ch->w)
		cairn_watch_cancel(ch->w);
	free(ch->pfx);
	free(ch->key);
}

static struct cairn_call_opts chain_opts(struct chain *ch)
{
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	if (ch->deadline) {
		uint64_t now = cairn__now(ch->c);
		o.timeout_ms = ch->deadline > now ? ch->deadline - now : 1;
	}
	return o;
}

/* The prefix range, oldest (or newest) creation first, limit 1. */
static void prefix_range(Etcdserverpb__RangeRequest *r, const char *pfx, uint8_t *end, bool newest)
{
	size_t n = strlen(pfx);
	r->key.data = (uint8_t *)pfx;
	r->key.len = n;
	r->range_end.data = end;
	r->range_end.len = cairn_prefix_end(pfx, n, end);
	r->sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
	r->sort_order = newest ? ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND
	                       : ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	r->limit = 1;
}

static void wait_deletes(struct chain *ch);

static void wd_watch_resp(struct cairn_watcher *w, void *arg, const Etcdserverpb__WatchResponse *r)
{
	struct chain *ch = arg;
	(void)w;
	for (size_t i = 0; i < r->n_events; i++) {
		if (r->events[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
			cairn_watch_cancel(ch->w);
			ch->w = NULL;
			wait_deletes(ch);
			return;
		}
	}
}

static void wd_watch_end(struct cairn_watcher *w, void *arg, const struct cairn_status *st)
{
	struct chain *ch = arg;
	(void)w;
	ch->w = NULL;
	ch->failed(ch, st);
}

static void wd_ranged(void *arg, const struct cairn_status *st, const void *resp)
{
	struct chain *ch = arg;
	const Etcdserverpb__RangeResponse *r = resp;
	if (st->code != CAIRN_OK) {
		ch->failed(ch, st);
		return;
	}
	if (r->n_kvs == 0) {
		ch->hdr_rev = r->header ? r->header->revision : 0;
		ch->acquired(ch);
		return;
	}
	/* Wait for the deletion of the newest older key. */
	struct cairn_watch_options o = {
	    .key = r->kvs[0]->key.data,
	    .key_len = r->kvs[0]->key.len,
	    .start_revision = r->header ? r->header->revision : 0,
	};
	int rv = cairn_watch(ch->c, &o, wd_watch_resp, wd_watch_end, ch, &ch->w);
	if (rv) {
		struct cairn_status e = *st;
		cairn__status_set(&e, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(rv));
		ch->failed(ch, &e);
	}
}

/* clientv3 waitDeletes(pfx, myRev - 1). */
static void wait_deletes(struct chain *ch)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t end[512];
	if (strlen(ch->pfx) >= sizeof end)
		return;
	prefix_range(&r, ch->pfx, end, true);
	r.max_create_revision = ch->rev - 1;
	struct cairn_call_opts o = chain_opts(ch);
	int rv = cairn_kv_range(ch->c, &r, &o, wd_ranged, ch);
	if (rv) {
		struct cairn_status e = {0};
		cairn__status_set(&e, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(rv));
		ch->failed(ch, &e);
	}
}

/* ---- mutex ---------------------------------------------------------------------- */

struct cairn_mutex {
	struct chain ch;
	struct cairn_session *s;
};

int cairn_mutex_new(struct cairn_session *s, const char *prefix, struct cairn_mutex **out)
{
	if (!s || !prefix || !out || !s->lease)
		return -EINVAL;
	struct cairn_mutex *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->s = s;
	if (chain_init(&m->ch, s, prefix)) {
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void cairn_mutex_free(struct cairn_mutex *m)
{
	if (!m)
		return;
	chain_free(&m->ch);
	free(m);
}

const char *cairn_mutex_key(const struct cairn_mutex *m)
{
	return m->ch.key;
}

int64_t cairn_mutex_revision(const struct cairn_mutex *m)
{
	return m->ch.hdr_rev;
}

static void chain_finish(struct chain *ch, const struct cairn_status *st)
{
	ch->busy = false;
	ch->done(ch->arg, st, NULL);
}

static void mutex_acquired(struct chain *ch)
{
	struct cairn_status ok = {0};
	chain_finish(ch, &ok);
}

struct unlock_then {
	struct chain *ch;
	struct cairn_status st;
};

static void unlock_then_fail(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)st;
	(void)resp;
	struct unlock_then *u = arg;
	chain_finish(u->ch, &u->st);
	free(u);
}

static int delete_key(struct chain *ch, cairn_done_fn done, void *arg)
{
	Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	d.key.data = (uint8_t *)ch->key;
	d.key.len = strlen(ch->key);
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	return cairn_kv_delete(ch->c, &d, &o, done, arg);
}

/* Lock failed after the key went in: take it out again (clientv3 does
 * m.Unlock on a failed wait), then report. */
static void mutex_failed(struct chain *ch, const struct cairn_status *st)
{
	struct unlock_then *u = malloc(sizeof *u);
	if (u && !ch->c->closing) {
		u->ch = ch;
		u->st = *st;
		if (delete_key(ch, unlock_then_fail, u) == 0)
			return;
	}
	free(u);
	chain_finish(ch, st);
}

static void lock_txn_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct chain *ch = arg;
	const Etcdserverpb__TxnResponse *r = resp;
	if (st->code != CAIRN_OK) {
		chain_finish(ch, st);
		return;
	}
	ch->rev = r->header ? r->header->revision : 0;
	if (!r->succeeded && r->n_responses > 0 && r->responses[0]->response_range &&
	    r->responses[0]->response_range->n_kvs > 0)
		ch->rev = r->responses[0]->response_range->kvs[0]->create_revision;
	const Etcdserverpb__RangeResponse *owner =
	    r->n_responses > 1 ? r->responses[1]->response_range : NULL;
	if (!owner || owner->n_kvs == 0 || owner->kvs[0]->create_revision == ch->rev) {
		ch->hdr_rev = r->header ? r->header->revision : 0;
		ch->acquired(ch);
		return;
	}
	wait_deletes(ch);
}

/* The acquiring Txn shared by Lock and Campaign: value, lease; with
 * owner_range the oldest key of the prefix is read in both branches. */
static int acquire_txn(struct chain *ch, int64_t lease, const void *value, size_t len,
                       bool owner_range, cairn_done_fn done)
{
	struct cairn_txn *t = cairn_txn_new();
	if (!t)
		return -ENOMEM;
	size_t klen = strlen(ch->key);
	Etcdserverpb__RangeRequest mine = ETCDSERVERPB__RANGE_REQUEST__INIT;
	mine.key.data = (uint8_t *)ch->key;
	mine.key.len = klen;
	Etcdserverpb__RangeRequest owner = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t end[512];
	int rv = strlen(ch->pfx) < sizeof end ? 0 : -EINVAL;
	if (!rv) {
		prefix_range(&owner, ch->pfx, end, false);
		rv = cairn_txn_compare_int(t, CAIRN_CMP_CREATE, CAIRN_CMP_EQUAL, ch->key, klen, 0);
	}
	if (!rv)
		rv = cairn_txn_put(t, CAIRN_TXN_THEN, ch->key, klen, value, len, lease);
	if (!rv && owner_range)
		rv = cairn_txn_range(t, CAIRN_TXN_THEN, &owner);
	if (!rv)
		rv = cairn_txn_range(t, CAIRN_TXN_ELSE, &mine);
	if (!rv && owner_range)
		rv = cairn_txn_range(t, CAIRN_TXN_ELSE, &owner);
	if (!rv) {
		struct cairn_call_opts o = chain_opts(ch);
		rv = cairn_kv_txn(ch->c, cairn_txn_request(t), &o, done, ch);
	}
	cairn_txn_free(t);
	return rv;
}

int cairn_mutex_lock(struct cairn_mutex *m, const struct cairn_call_opts *o, cairn_done_fn done,
                     void *arg)
{
	struct chain *ch = &m->ch;
	if (!done || ch->busy)
		return -EINVAL;
	ch->done = done;
	ch->arg = arg;
	ch->acquired = mutex_acquired;
	ch->failed = mutex_failed;
	ch->deadline = 0;
	if (o && o->timeout_ms && o->timeout_ms != CAIRN_TIMEOUT_NONE)
		ch->deadline = cairn__now(ch->c) + o->timeout_ms;
	int rv = acquire_txn(ch, m->s->lease, "", 0, true, lock_txn_done);
	if (rv == 0)
		ch->busy = true;
	return rv;
}

static int run_sync(struct cairn_client *c, struct cairn__sync *w, int rv, struct cairn_status *st)
{
	if (rv)
		return rv;
	return cairn__sync_wait(c, w, NULL, st);
}

int cairn_mutex_lock_sync(struct cairn_mutex *m, const struct cairn_call_opts *o,
                          struct cairn_status *st)
{
	struct cairn__sync w = {0};
	return run_sync(m->ch.c, &w, cairn_mutex_lock(m, o, cairn__sync_status, &w), st);
}

int cairn_mutex_unlock(struct cairn_mutex *m, cairn_done_fn done, void *arg)
{
	if (!done)
		return -EINVAL;
	return delete_key(&m->ch, done, arg);
}

int cairn_mutex_unlock_sync(struct cairn_mutex *m, struct cairn_status *st)
{
	struct cairn__sync w = {0};
	int rv = cairn_mutex_unlock(m, cairn__sync_status, &w);
	if (rv)
		return rv;
	return cairn__sync_wait(m->ch.c, &w, NULL, st);
}

/* ---- election ----------------------------------------------------------------- */

struct cairn_election {
	struct chain ch;
	struct cairn_session *s;
	bool leader; /* e.leaderSession != nil */
	uint8_t *value;
	size_t len;
};

int cairn_election_new(struct cairn_session *s, const char *prefix, struct cairn_election **out)
{
	if (!s || !prefix || !out || !s->lease)
		return -EINVAL;
	struct cairn_election *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->s = s;
	if (chain_init(&e->ch, s, prefix)) {
		free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void cairn_election_free(struct cairn_election *e)
{
	if (!e)
		return;
	chain_free(&e->ch);
	free(e->value);
	free(e);
}

const char *cairn_election_key(const struct cairn_election *e)
{
	return e->ch.key;
}

int64_t cairn_election_revision(const struct cairn_election *e)
{
	return e->ch.rev;
}

static void campaign_failed(struct chain *ch, const struct cairn_status *st)
{
	struct cairn_election *e = (struct cairn_election *)ch;
	e->leader = false;
	chain_finish(ch, st);
}

static void campaign_wait(struct cairn_election *e)
{
	e->ch.acquired = mutex_acquired;
	e->ch.failed = campaign_failed;
	wait_deletes(&e->ch);
}

static void campaign_proclaimed(void *arg, const struct cairn_status *st, const void *resp)
{
	struct cairn_election *e = arg;
	(void)resp;
	if (st->code != CAIRN_OK) {
		chain_finish(&e->ch, st);
		return;
	}
	campaign_wait(e);
}

static int proclaim_txn(struct cairn_election *e, const void *value, size_t len, cairn_done_fn done,
                        void *arg);

static void campaign_txn_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct chain *ch = arg;
	struct cairn_election *e = (struct cairn_election *)ch;
	const Etcdserverpb__TxnResponse *r = resp;
	if (st->code != CAIRN_OK) {
		chain_finish(ch, st);
		return;
	}
	ch->rev = r->header ? r->header->revision : 0;
	e->leader = true;
	if (!r->succeeded && r->n_responses > 0 && r->responses[0]->response_range &&
	    r->responses[0]->response_range->n_kvs > 0) {
		const Mvccpb__KeyValue *kv = r->responses[0]->response_range->kvs[0];
		ch->rev = kv->create_revision;
		if (kv->value.len != e->len || memcmp(kv->value.data, e->value, e->len) != 0) {
			if (proclaim_txn(e, e->value, e->len, campaign_proclaimed, e) == 0)
				return;
		}
	}
	campaign_wait(e);
}

int cairn_election_campaign(struct cairn_election *e, const void *value, size_t len,
                            const struct cairn_call_opts *o, cairn_done_fn done, void *arg)
{
	struct chain *ch = &e->ch;
	if (!done || ch->busy)
		return -EINVAL;
	uint8_t *v = cairn__memdup(value, len);
	if (!v)
		return -ENOMEM;
	free(e->value);
	e->value = v;
	e->len = len;
	ch->done = done;
	ch->arg = arg;
	ch->deadline = 0;
	if (o && o->timeout_ms && o->timeout_ms != CAIRN_TIMEOUT_NONE)
		ch->deadline = cairn__now(ch->c) + o->timeout_ms;
	int rv = acquire_txn(ch, e->s->lease, value, len, false, campaign_txn_done);
	if (rv == 0)
		ch->busy = true;
	return rv;
}

int cairn_election_campaign_sync(struct cairn_election *e, const void *value, size_t len,
                                 const struct cairn_call_opts *o, struct cairn_status *st)
{
	struct cairn__sync w = {0};
	return run_sync(e->ch.c, &w,
	                cairn_election_campaign(e, value, len, o, cairn__sync_status, &w), st);
}

struct guarded {
	struct cairn_election *e;
	cairn_done_fn done;
	void *arg;
	bool resign;
};

static void guarded_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct guarded *g = arg;
	const Etcdserverpb__TxnResponse *r = resp;
	if (g->resign) {
		g->e->leader = false;
	} else if (st->code == CAIRN_OK && !r->succeeded) {
		g->e->leader = false;
		struct cairn_status nl = *st;
		cairn__status_set(&nl, CAIRN_FAILED_PRECONDITION, CAIRN_REASON_CLIENT, NULL,
		                  "election: not leader");
		g->done(g->arg, &nl, NULL);
		free(g);
		return;
	}
	g->done(g->arg, st, NULL);
	free(g);
}

/* Txn if create_revision(my key) = my rev then (Put value | Delete). */
static int guarded_txn(struct cairn_election *e, const void *value, size_t len, bool resign,
                       cairn_done_fn done, void *arg)
{
	struct guarded *g = calloc(1, sizeof *g);
	struct cairn_txn *t = cairn_txn_new();
	int rv = (!g || !t) ? -ENOMEM : 0;
	size_t klen = strlen(e->ch.key);
	if (!rv)
		rv = cairn_txn_compare_int(t, CAIRN_CMP_CREATE, CAIRN_CMP_EQUAL, e->ch.key, klen,
		                           e->ch.rev);
	if (!rv && resign) {
		Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
		d.key.data = (uint8_t *)e->ch.key;
		d.key.len = klen;
		rv = cairn_txn_delete(t, CAIRN_TXN_THEN, &d);
	} else if (!rv) {
		rv = cairn_txn_put(t, CAIRN_TXN_THEN, e->ch.key, klen, value, len, e->s->lease);
	}
	if (!rv) {
		g->e = e;
		g->done = done;
		g->arg = arg;
		g->resign = resign;
		struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
		rv = cairn_kv_txn(e->ch.c, cairn_txn_request(t), &o, guarded_done, g);
	}
	cairn_txn_free(t);
	if (rv)
		free(g);
	return rv;
}

static int proclaim_txn(struct cairn_election *e, const void *value, size_t len, cairn_done_fn done,
                        void *arg)
{
	return guarded_txn(e, value, len, false, done, arg);
}

int cairn_election_proclaim(struct cairn_election *e, const void *value, size_t len,
                            cairn_done_fn done, void *arg)
{
	if (!done)
		return -EINVAL;
	if (!e->leader)
		return -ENOTCONN;
	return proclaim_txn(e, value, len, done, arg);
}

int cairn_election_resign(struct cairn_election *e, cairn_done_fn done, void *arg)
{
	if (!done)
		return -EINVAL;
	/* Without leadership the guard (create_revision = my rev) fails and
	 * nothing changes, as clientv3's no-op; the result still comes from
	 * the loop, like every other. */
	return guarded_txn(e, NULL, 0, true, done, arg);
}

int cairn_election_resign_sync(struct cairn_election *e, struct cairn_status *st)
{
	if (!e->leader) {
		if (st)
			memset(st, 0, sizeof *st);
		return 0;
	}
	struct cairn__sync w = {0};
	return run_sync(e->ch.c, &w, cairn_election_resign(e, cairn__sync_status, &w), st);
}

/* ---- leader and observe ---------------------------------------------------------- */

struct leader_q {
	cairn_done_fn done;
	void *arg;
};

static void leader_done(void *arg, const struct cairn_status *st, const void *resp)
{
	struct leader_q *q = arg;
	const Etcdserverpb__RangeResponse *r = resp;
	if (st->code == CAIRN_OK && r->n_kvs == 0) {
		struct cairn_status nl = *st;
		cairn__status_set(&nl, CAIRN_NOT_FOUND, CAIRN_REASON_CLIENT, NULL,
		                  "election: no leader");
		q->done(q->arg, &nl, resp);
	} else {
		q->done(q->arg, st, resp);
	}
	free(q);
}

static int first_create_range(struct cairn_client *c, const char *pfx,
                              const struct cairn_call_opts *o, cairn_done_fn done, void *arg)
{
	uint8_t end[512];
	if (strlen(pfx) >= sizeof end)
		return -EINVAL;
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	prefix_range(&r, pfx, end, false);
	return cairn_kv_range(c, &r, o, done, arg);
}

int cairn_election_leader(struct cairn_client *c, const char *prefix,
                          const struct cairn_call_opts *o, cairn_done_fn done, void *arg)
{
	if (!done || !prefix)
		return -EINVAL;
	struct leader_q *q = malloc(sizeof *q);
	char *pfx = malloc(strlen(prefix) + 2);
	if (!q || !pfx) {
		free(q);
		free(pfx);
		return -ENOMEM;
	}
	sprintf(pfx, "%s/", prefix);
	q->done = done;
	q->arg = arg;
	int rv = first_create_range(c, pfx, o, leader_done, q);
	free(pfx);
	if (rv)
		free(q);
	return rv;
}

/*
 * Observe, as clientv3's Election.observe: read the oldest key; if none,
 * watch the prefix from the read's revision for the first PUT; report the
 * leader; watch its key from the reported revision + 1, reporting every
 * PUT (proclaim) until a DELETE; start over.
 *
 * The observer is freed by cairn_election_observe_stop() only (also after
 * end); a stop from inside a callback, or while a Range is out, defers the
 * free until that returns.
 */
struct cairn_observer {
	struct cairn_client *c;
	char *pfx;
	cairn_leader_fn fn;
	cairn_end_fn end;
	void *arg;
	struct cairn_watcher *w;
	bool waiting_first; /* watching the prefix for a first PUT */
	bool stopped;       /* by the user */
	bool over;          /* ended by an error */
	bool busy;          /* a Range is out */
	unsigned in_cb;
};

static bool ob_reap(struct cairn_observer *ob)
{
	if (!ob->stopped || ob->busy || ob->in_cb)
		return false;
	if (ob->w)
		cairn_watch_cancel(ob->w);
	free(ob->pfx);
	free(ob);
	return true;
}

static void observe_step(struct cairn_observer *ob);

static void observe_fail(struct cairn_observer *ob, const struct cairn_status *st)
{
	if (ob->w) {
		cairn_watch_cancel(ob->w);
		ob->w = NULL;
	}
	if (ob->over || ob->stopped)
		return;
	ob->over = true;
	if (ob->end) {
		ob->in_cb++;
		ob->end(ob->arg, st);
		ob->in_cb--;
	}
}

/* Reports kv; returns false if the observer is done (and maybe freed). */
static bool observe_report(struct cairn_observer *ob, const Mvccpb__KeyValue *kv)
{
	ob->in_cb++;
	ob->fn(ob, ob->arg, kv);
	ob->in_cb--;
	if (ob->stopped) {
		ob_reap(ob);
		return false;
	}
	return true;
}

static void ob_watch_resp(struct cairn_watcher *w, void *arg, const Etcdserverpb__WatchResponse *r);
static void ob_watch_end(struct cairn_watcher *w, void *arg, const struct cairn_status *st);

static void observe_watch(struct cairn_observer *ob, const void *key, size_t len, bool prefix,
                          int64_t rev)
{
	struct cairn_watch_options o = {
	    .key = key, .key_len = len, .prefix = prefix, .start_revision = rev};
	int rv = cairn_watch(ob->c, &o, ob_watch_resp, ob_watch_end, ob, &ob->w);
	if (rv) {
		struct cairn_status st = {0};
		cairn__status_set(&st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(rv));
		observe_fail(ob, &st);
	}
}

static void ob_watch_resp(struct cairn_watcher *w, void *arg, const Etcdserverpb__WatchResponse *r)
{
	struct cairn_observer *ob = arg;
	(void)w;
	for (size_t i = 0; i < r->n_events; i++) {
		const Mvccpb__Event *ev = r->events[i];
		if (ob->waiting_first) {
			if (ev->type != MVCCPB__EVENT__EVENT_TYPE__PUT)
				continue;
			cairn_watch_cancel(ob->w);
			ob->w = NULL;
			ob->waiting_first = false;
			if (observe_report(ob, ev->kv))
				observe_watch(ob, ev->kv->key.data, ev->kv->key.len, false,
				              ev->kv->mod_revision + 1);
			return;
		}
		if (ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
			cairn_watch_cancel(ob->w);
			ob->w = NULL;
			observe_step(ob);
			return;
		}
		if (!observe_report(ob, ev->kv))
			return;
	}
}

static void ob_watch_end(struct cairn_watcher *w, void *arg, const struct cairn_status *st)
{
	struct cairn_observer *ob = arg;
	(void)w;
	ob->w = NULL;
	observe_fail(ob, st);
}

static void ob_ranged(void *arg, const struct cairn_status *st, const void *resp)
{
	struct cairn_observer *ob = arg;
	const Etcdserverpb__RangeResponse *r = resp;
	ob->busy = false;
	if (ob_reap(ob))
		return;
	if (st->code != CAIRN_OK) {
		observe_fail(ob, st);
		return;
	}
	int64_t rev = r->header ? r->header->revision : 0;
	if (r->n_kvs == 0) {
		ob->waiting_first = true;
		observe_watch(ob, ob->pfx, strlen(ob->pfx), true, rev);
		return;
	}
	if (observe_report(ob, r->kvs[0]))
		observe_watch(ob, r->kvs[0]->key.data, r->kvs[0]->key.len, false, rev + 1);
}

static void observe_step(struct cairn_observer *ob)
{
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	int rv = first_create_range(ob->c, ob->pfx, &o, ob_ranged, ob);
	if (rv) {
		struct cairn_status st = {0};
		cairn__status_set(&st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  cairn_strerror(rv));
		observe_fail(ob, &st);
		return;
	}
	ob->busy = true;
}

int cairn_election_observe(struct cairn_client *c, const char *prefix, cairn_leader_fn fn,
                           cairn_end_fn end, void *arg, struct cairn_observer **out)
{
	if (!prefix || !fn || !out)
		return -EINVAL;
	struct cairn_observer *ob = calloc(1, sizeof *ob);
	if (!ob || !(ob->pfx = malloc(strlen(prefix) + 2))) {
		free(ob);
		return -ENOMEM;
	}
	sprintf(ob->pfx, "%s/", prefix);
	ob->c = c;
	ob->fn = fn;
	ob->end = end;
	ob->arg = arg;
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	int rv = first_create_range(c, ob->pfx, &o, ob_ranged, ob);
	if (rv) {
		free(ob->pfx);
		free(ob);
		return rv;
	}
	ob->busy = true;
	*out = ob;
	return 0;
}

void cairn_election_observe_stop(struct cairn_observer *ob)
{
	if (!ob)
		return;
	ob->stopped = true;
	if (ob->w) {
		cairn_watch_cancel(ob->w);
		ob->w = NULL;
	}
	ob_reap(ob);
}
