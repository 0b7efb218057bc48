/*
 * node_lease.c - leases live on the leader (etcd's lessor): promotion on
 * winning an election (every lease extended by the election timeout),
 * demotion on losing it, expiry every 500 ms proposed as LeaseRevoke (at
 * most 500 per round: etcd's 1000/s), checkpoints when enabled, and
 * followers forwarding keep-alives and time-to-live queries to the leader
 * (Peer/LeaseKeepAlive, Peer/LeaseTimeToLive). The auto-compactor, also a
 * leader-only periodic task, shares the timer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/node_internal.h"

#define LEASE_TICK_MS       500
#define CHECKPOINT_INTERVAL (5ll * 60 * 1000000000) /* etcd's 5 min */
#define REVISION_COMPACT_MS (5 * 60 * 1000)

void node__leadership_changed(struct node *n, bool was_leader, bool is_leader)
{
	(void)was_leader;
	if (is_leader) {
		store_mvcc_lease_promote(n->mvcc, node_mono_ns(),
		                         (int64_t)n->cfg->election_ms * 1000000);
		n->compactor_n = 0;
		n->compactor_last_ms = uv_now(n->loop);
		LOGI("became leader: leases promoted",
		     LF_HEX("local-member-id", n->id) LF_U64("term", n->term));
	} else {
		store_mvcc_lease_demote(n->mvcc);
	}
}

static void revoke_expired(struct node *n)
{
	int64_t ids[500];
	size_t cnt = store_mvcc_lease_expired(n->mvcc, node_mono_ns(), ids, 500);
	for (size_t i = 0; i < cnt; i++) {
		Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
		rv.id = ids[i];
		Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
		r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_REVOKE;
		r.lease_revoke = &rv;
		node__propose_internal(n, &r);
	}
}

static void checkpoint(struct node *n)
{
	Etcdserverpb__LeaseCheckpoint cps[100];
	size_t cnt =
	    store_mvcc_lease_checkpoints(n->mvcc, node_mono_ns(), CHECKPOINT_INTERVAL, cps, 100);
	if (!cnt)
		return;
	Etcdserverpb__LeaseCheckpoint *ptrs[100];
	for (size_t i = 0; i < cnt; i++)
		ptrs[i] = &cps[i];
	Etcdserverpb__LeaseCheckpointRequest req = ETCDSERVERPB__LEASE_CHECKPOINT_REQUEST__INIT;
	req.checkpoints = ptrs;
	req.n_checkpoints = cnt;
	Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
	r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_CHECKPOINT;
	r.lease_checkpoint = &req;
	node__propose_internal(n, &r);
}

static void propose_compaction(struct node *n, int64_t rev)
{
	Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	c.revision = rev;
	Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
	r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION;
	r.compaction = &c;
	LOGI("auto compaction", LF_I64("revision", rev));
	node__propose_internal(n, &r);
	n->compactor_last_rev = rev;
}

/* etcd's compactors: revision mode keeps the last N revisions (checked
 * every 5 min); periodic mode samples the revision every retention/10 (at
 * most 1 h) and compacts to the sample one retention old. */
static void auto_compact(struct node *n)
{
	const struct cairn_config *cfg = n->cfg;
	uint64_t now = uv_now(n->loop);
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	if (cfg->auto_compaction_mode == AUTO_COMPACTION_REVISION) {
		if (cfg->auto_compaction_retention_revs <= 0 ||
		    now - n->compactor_last_ms < REVISION_COMPACT_MS)
			return;
		n->compactor_last_ms = now;
		int64_t rev = st.revision - cfg->auto_compaction_retention_revs;
		if (rev > 0 && rev > st.compact_revision && rev != n->compactor_last_rev)
			propose_compaction(n, rev);
		return;
	}
	uint64_t ret = cfg->auto_compaction_retention_ms;
	if (!ret)
		return;
	uint64_t interval = ret / 10;
	if (interval > 3600000)
		interval = 3600000;
	if (interval < LEASE_TICK_MS)
		interval = LEASE_TICK_MS;
	size_t cap = sizeof n->compactor_samples / sizeof n->compactor_samples[0];
	if (!n->compactor_n || now - n->compactor_samples[n->compactor_n - 1].at_ms >= interval) {
		if (n->compactor_n == cap) {
			memmove(n->compactor_samples, n->compactor_samples + 1,
			        (cap - 1) * sizeof n->compactor_samples[0]);
			n->compactor_n--;
		}
		n->compactor_samples[n->compactor_n].at_ms = now;
		n->compactor_samples[n->compactor_n].rev = st.revision;
		n->compactor_n++;
	}
	/* The newest sample at least one retention old. */
	int64_t rev = 0;
	size_t drop = 0;
	for (size_t i = 0; i < n->compactor_n; i++)
		if (now - n->compactor_samples[i].at_ms >= ret) {
			rev = n->compactor_samples[i].rev;
			drop = i + 1;
		}
	if (rev > 0 && rev > st.compact_revision && rev != n->compactor_last_rev) {
		propose_compaction(n, rev);
		memmove(n->compactor_samples, n->compactor_samples + drop,
		        (n->compactor_n - drop) * sizeof n->compactor_samples[0]);
		n->compactor_n -= drop;
	}
}

static void lease_timer_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	if (n->stopping || n->role != RAFT_LEADER)
		return;
	revoke_expired(n);
	if (n->cfg->lease_checkpoint)
		checkpoint(n);
	auto_compact(n);
}

void node__lease_start(struct node *n)
{
	uv_timer_init(n->loop, &n->lease_timer);
	n->lease_timer.data = n;
	uv_timer_start(&n->lease_timer, lease_timer_cb, LEASE_TICK_MS, LEASE_TICK_MS);
}

static void noop_close(uv_handle_t *h)
{
	(void)h;
}

void node__lease_stop(struct node *n)
{
	if (!n->lease_timer.loop)
		return;
	uv_timer_stop(&n->lease_timer);
	uv_close((uv_handle_t *)&n->lease_timer, noop_close);
}

/* ---- KeepAlive and TimeToLive ------------------------------------------------ */

/*
 * Both read the lessor, which learns a grant or a revoke only when its
 * batch commits, while the grant was answered before (early reply,
 * node_apply.c). The leader therefore serves them once its applied index
 * reaches the commit index the request found on arrival
 * (NODE_BARRIER_COMMITTED): a lease whose grant any member answered
 * is committed below that index, since a member answers only what it knows
 * committed and learned so from this leader or one before it. A follower's
 * own applied state never matters: it forwards both calls.
 */

/* Renews on this member (the leader). Returns 0 with *ttl (0: unknown or
 * expired lease), or NODE_ENOTLEADER. */
static int renew_local(struct node *n, int64_t id, int64_t *ttl)
{
	int rc = store_mvcc_lease_renew(n->mvcc, id, node_mono_ns(), ttl);
	if (rc == 1) {
		/* Clear the checkpointed TTL, as etcd's Renew does. */
		Etcdserverpb__LeaseCheckpoint cp = ETCDSERVERPB__LEASE_CHECKPOINT__INIT;
		cp.id = id;
		cp.remaining_ttl = 0;
		Etcdserverpb__LeaseCheckpoint *ptr = &cp;
		Etcdserverpb__LeaseCheckpointRequest req =
		    ETCDSERVERPB__LEASE_CHECKPOINT_REQUEST__INIT;
		req.checkpoints = &ptr;
		req.n_checkpoints = 1;
		Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
		r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_CHECKPOINT;
		r.lease_checkpoint = &req;
		node__propose_internal(n, &r);
		return 0;
	}
	if (rc == STORE_MVCC_ENOT_PRIMARY)
		return NODE_ENOTLEADER;
	if (rc == STORE_MVCC_ELEASE_NOT_FOUND || rc == STORE_MVCC_ELEASE_EXPIRED) {
		*ttl = 0;
		return 0;
	}
	return rc;
}

struct lease_fwd {
	struct node *n;
	uint64_t wid;
};

/* The wait a forwarded lease call answers, or NULL if it is gone or the
 * call failed (the wait is then failed with the leader's error). */
static struct node_wait *fwd_take(struct lease_fwd *f, int code, const char *message)
{
	struct node_wait *w = u64map_get(&f->n->waits, f->wid);
	free(f);
	if (!w || w->queued_done)
		return NULL;
	if (code != RPC_OK) {
		extern int node__error_from_message(const char *msg);
		int err = node__error_from_message(message);
		wait_fail_later(w, err ? err : NODE_ETIMEOUT);
		return NULL;
	}
	return w;
}

/* The leader's answer to a forwarded KeepAlive (WAIT_RENEW) or
 * TimeToLive (WAIT_TTL), handed to the wait's callback. */
static void fwd_reply(struct rpc_call *call, void *arg, int code, const char *message,
                      const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct node_wait *w = fwd_take(arg, code, message);
	if (!w)
		return;
	if (w->kind == WAIT_RENEW) {
		const Etcdserverpb__LeaseKeepAliveResponse *r =
		    (const Etcdserverpb__LeaseKeepAliveResponse *)resp;
		if (w->cb.ttl)
			w->cb.ttl(w->arg, 0, r->ttl);
	} else if (w->cb.ttl_resp) {
		w->cb.ttl_resp(w->arg, 0, (const Etcdserverpb__LeaseTimeToLiveResponse *)resp);
	}
	wait_finish(w);
}

/* Hands w (WAIT_RENEW or WAIT_TTL) to the leader over Peer/LeaseKeepAlive
 * or Peer/LeaseTimeToLive. */
static void lease_forward(struct node_wait *w)
{
	struct node *n = w->n;
	struct rpc_client *c = n->leader ? node__peer_aux(n, n->leader) : NULL;
	struct lease_fwd *f = c ? malloc(sizeof *f) : NULL;
	if (!f) {
		wait_fail_later(w, n->leader ? NODE_ETIMEOUT : NODE_ENOLEADER);
		return;
	}
	f->n = n;
	f->wid = w->wid;
	struct rpc_call_options o;
	memset(&o, 0, sizeof o);
	uint64_t now = uv_now(n->loop);
	o.timeout_ms = w->deadline > now ? w->deadline - now : 1;
	o.arg = f;
	o.on_reply = fwd_reply;
	int rc;
	if (w->kind == WAIT_RENEW) {
		Etcdserverpb__LeaseKeepAliveRequest req =
		    ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
		req.id = w->lease_id;
		o.response = &etcdserverpb__lease_keep_alive_response__descriptor;
		rc = rpc_call_unary(c, "/cairnpeer.Peer/LeaseKeepAlive", &req.base, &o, NULL);
	} else {
		Etcdserverpb__LeaseTimeToLiveRequest req =
		    ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
		req.id = w->lease_id;
		req.keys = w->ttl_keys;
		o.response = &etcdserverpb__lease_time_to_live_response__descriptor;
		rc = rpc_call_unary(c, "/cairnpeer.Peer/LeaseTimeToLive", &req.base, &o, NULL);
	}
	if (rc) {
		free(f);
		wait_fail_later(w, NODE_ETIMEOUT);
	}
}

/* The barrier has passed (or the call came to a leader that had passed
 * it): answer from the lessor. Called from the loop, outside any service
 * call, so it may answer at once. */
static void lease_serve(struct node_wait *w)
{
	struct node *n = w->n;
	if (n->stopping) {
		wait_fail_later(w, NODE_ESTOPPED);
		return;
	}
	if (n->role != RAFT_LEADER) {
		/* Lost the leadership meanwhile: a forwarded call goes back to
		 * its follower as "not leader"; a local one goes to the leader. */
		if (w->from_peer || !n->leader)
			wait_fail_later(w, w->from_peer ? NODE_ENOTLEADER : NODE_ENOLEADER);
		else
			lease_forward(w);
		return;
	}
	if (w->kind == WAIT_RENEW) {
		int64_t ttl = 0;
		int rc = renew_local(n, w->lease_id, &ttl);
		if (rc) {
			wait_fail_later(w, rc);
			return;
		}
		if (w->cb.ttl)
			w->cb.ttl(w->arg, 0, ttl);
		wait_finish(w);
		return;
	}
	Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	req.id = w->lease_id;
	req.keys = w->ttl_keys;
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	struct store_mvcc_read *rd = NULL;
	Etcdserverpb__LeaseTimeToLiveResponse *resp = NULL;
	int rc = store_mvcc_read_begin(n->mvcc, &rd);
	if (!rc)
		rc = store_mvcc_lease_time_to_live(rd, &req, node_mono_ns(), &a, &resp);
	if (w->cb.ttl_resp)
		w->cb.ttl_resp(w->arg, rc, rc ? NULL : resp);
	if (rd)
		store_mvcc_read_end(rd);
	store_mvcc_arena_destroy(&a);
	wait_finish(w);
}

/* Serves w here if this member leads, after the barrier; otherwise
 * forwards it (a call from a peer is never forwarded again). */
static void lease_dispatch(struct node_wait *w)
{
	struct node *n = w->n;
	if (n->stopping) {
		wait_fail_later(w, NODE_ESTOPPED);
		return;
	}
	if (n->role == RAFT_LEADER) {
		node__wait_applied(w, node__barrier_index(n, NODE_BARRIER_COMMITTED), lease_serve);
		return;
	}
	if (w->from_peer || !n->leader) {
		wait_fail_later(w, w->from_peer ? NODE_ENOTLEADER : NODE_ENOLEADER);
		return;
	}
	lease_forward(w);
}

struct node_wait *node_lease_renew(struct node *n, int64_t id, node_ttl_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_RENEW, 0, arg);
	if (!w)
		return NULL;
	w->cb.ttl = done;
	w->lease_id = id;
	if (n->role == RAFT_LEADER && !n->stopping &&
	    node_barrier_passed(n, NODE_BARRIER_COMMITTED)) {
		/* The usual case on the leader: renew now (the lease's expiry
		 * moves at arrival, as etcd's), answer from the loop. */
		int64_t ttl = 0;
		int rc = renew_local(n, id, &ttl);
		if (rc == 0) {
			extern void node__wait_ttl_later(struct node_wait * w, int64_t ttl);
			node__wait_ttl_later(w, ttl);
		} else {
			wait_fail_later(w, rc);
		}
		return w;
	}
	lease_dispatch(w);
	return w;
}

struct node_wait *node_lease_time_to_live(struct node *n,
                                          const Etcdserverpb__LeaseTimeToLiveRequest *req,
                                          node_ttl_resp_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_TTL, 0, arg);
	if (!w)
		return NULL;
	w->cb.ttl_resp = done;
	w->lease_id = req->id;
	w->ttl_keys = req->keys;
	lease_dispatch(w);
	return w;
}

/* ---- The peer side --------------------------------------------------------------- */

/* Forwarded calls wait for the same barrier as local ones: the stream's
 * data is the wait, canceled if the follower goes away first. */

static void peer_renewed(void *arg, int err, int64_t ttl)
{
	struct rpc_stream *s = arg;
	struct node_wait *w = rpc_stream_data(s); /* finished after this call */
	int64_t id = w ? w->lease_id : 0;
	rpc_stream_set_data(s, NULL);
	if (err) {
		rpc_stream_finish(s, node_grpc_code(err), node_strerror(err));
		return;
	}
	struct node *n = rpc_stream_method_data(s);
	Etcdserverpb__LeaseKeepAliveResponse r = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	node_fill_header(n, &h, 0);
	r.header = &h;
	r.id = id;
	r.ttl = ttl;
	rpc_stream_reply(s, &r.base);
}

static void peer_ttl_done(void *arg, int err, const Etcdserverpb__LeaseTimeToLiveResponse *resp)
{
	struct rpc_stream *s = arg;
	rpc_stream_set_data(s, NULL);
	if (err || !resp) {
		if (!err)
			err = NODE_ETIMEOUT;
		rpc_stream_finish(s, node_grpc_code(err), node_strerror(err));
		return;
	}
	rpc_stream_reply(s, &resp->base);
}

void node__lease_peer_cancel(struct rpc_stream *s, int code);
void node__lease_peer_cancel(struct rpc_stream *s, int code)
{
	(void)code;
	node_wait_cancel(rpc_stream_data(s));
}

/* The wait of a call a follower forwarded (kind WAIT_RENEW or WAIT_TTL),
 * kept as the stream's data; NULL if s has been answered with an error
 * (this member does not lead, or no memory). */
static struct node_wait *peer_wait_new(struct rpc_stream *s, int kind, int64_t lease_id)
{
	struct node *n = rpc_stream_method_data(s);
	struct node_wait *w = n->role == RAFT_LEADER ? wait_new(n, kind, 0, s) : NULL;
	if (!w) {
		int err = n->role == RAFT_LEADER ? -ENOMEM : NODE_ENOTLEADER;
		rpc_stream_finish(s, node_grpc_code(err), node_strerror(err));
		return NULL;
	}
	w->lease_id = lease_id;
	w->from_peer = true;
	rpc_stream_set_data(s, w);
	return w;
}

void node__lease_keepalive_rpc(struct rpc_stream *s, const ProtobufCMessage *msg,
                               const uint8_t *bytes, size_t len);
void node__lease_keepalive_rpc(struct rpc_stream *s, const ProtobufCMessage *msg,
                               const uint8_t *bytes, size_t len)
{
	(void)bytes;
	(void)len;
	const Etcdserverpb__LeaseKeepAliveRequest *req =
	    (const Etcdserverpb__LeaseKeepAliveRequest *)msg;
	struct node_wait *w = peer_wait_new(s, WAIT_RENEW, req->id);
	if (!w)
		return;
	w->cb.ttl = peer_renewed;
	lease_dispatch(w);
}

void node__lease_ttl_rpc(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                         size_t len);
void node__lease_ttl_rpc(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                         size_t len)
{
	(void)bytes;
	(void)len;
	const Etcdserverpb__LeaseTimeToLiveRequest *req =
	    (const Etcdserverpb__LeaseTimeToLiveRequest *)msg;
	struct node_wait *w = peer_wait_new(s, WAIT_TTL, req->id);
	if (!w)
		return;
	w->cb.ttl_resp = peer_ttl_done;
	w->ttl_keys = req->keys;
	lease_dispatch(w);
}
