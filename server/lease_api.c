/*
 * server/lease_api.c - etcdserverpb.Lease unary calls: LeaseGrant,
 * LeaseRevoke, LeaseTimeToLive, LeaseLeases (LeaseKeepAlive is in
 * lease_api_keepalive.c).
 *
 * Grant and Revoke are replicated; Grant picks the ID when the client
 * leaves it 0 (etcd's reqIDGen) and pays the quota cost of 64 bytes
 * (etcdserver/quota.go). TimeToLive is answered by the leader (the node
 * forwards it); an unknown lease is TTL -1, not an error (v3rpc/lease.go).
 * Leases lists this member's lessor, as etcd does without forwarding, once
 * it has applied what was committed when the call arrived
 * (NODE_BARRIER_COMMITTED: a grant answered before is listed).
 */
#include <errno.h>

#include "server/api_internal.h"

void api_lease_grant(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	const Etcdserverpb__LeaseGrantRequest *req = (const Etcdserverpb__LeaseGrantRequest *)m;
	if (!api_precheck(a, s, API_LEASE_GRANT, false))
		return;
	if (!store_mvcc_quota_available(node_store(a->n), STORE_MVCC_COST_LEASE_GRANT)) {
		api_nospace(a, s, API_LEASE_GRANT);
		return;
	}
	Etcdserverpb__LeaseGrantRequest g = *req;
	g.base.n_unknown_fields = 0;
	g.base.unknown_fields = NULL;
	if (g.id == 0)
		g.id = node_lease_id(a->n);
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_GRANT;
	ir.lease_grant = &g;
	api_propose(a, s, API_LEASE_GRANT, &ir);
}

void api_lease_revoke(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_LEASE_REVOKE, false))
		return;
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_REVOKE;
	ir.lease_revoke = (Etcdserverpb__LeaseRevokeRequest *)m;
	api_propose(a, s, API_LEASE_REVOKE, &ir);
}

static void ttl_done(void *arg, int err, const Etcdserverpb__LeaseTimeToLiveResponse *resp)
{
	struct api_call *c = arg;
	c->w = NULL;
	if (err == STORE_MVCC_ELEASE_NOT_FOUND || (!err && !resp)) {
		/* v3rpc/lease.go: an unknown lease is TTL -1, no error. */
		const Etcdserverpb__LeaseTimeToLiveRequest *req =
		    (const Etcdserverpb__LeaseTimeToLiveRequest *)c->kept;
		Etcdserverpb__LeaseTimeToLiveResponse r =
		    ETCDSERVERPB__LEASE_TIME_TO_LIVE_RESPONSE__INIT;
		r.id = req->id;
		r.ttl = -1;
		api_fill_header(c->a, &r.base);
		api_call_reply(c, &r.base);
		return;
	}
	if (err) {
		api_call_fail(c, err);
		return;
	}
	Etcdserverpb__LeaseTimeToLiveResponse *r = (Etcdserverpb__LeaseTimeToLiveResponse *)resp;
	api_fill_header(c->a, &r->base);
	api_call_reply(c, &r->base);
}

void api_lease_ttl(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api_call *c = api_call_kept(s, m, false);
	if (!c)
		return;
	c->w = node_lease_time_to_live(c->a->n, (const Etcdserverpb__LeaseTimeToLiveRequest *)m,
	                               ttl_done, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

static int leases_read(struct api *a, struct store_mvcc_read *rd, const void *req,
                       ProtobufCMessage **resp)
{
	return store_mvcc_lease_leases(rd, &a->arena, (Etcdserverpb__LeaseLeasesResponse **)resp);
}

void api_lease_leases(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (api_precheck(a, s, API_LEASE_LEASES, false))
		api_serve_read_after(a, s, API_LEASE_LEASES, NODE_BARRIER_COMMITTED, leases_read,
		                     NULL, NULL, NULL, 0, true);
}
