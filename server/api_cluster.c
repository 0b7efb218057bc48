/*
 * server/api_cluster.c - etcdserverpb.Cluster: MemberAdd, MemberRemove,
 * MemberUpdate, MemberPromote (Raft configuration changes, node_member_*)
 * and MemberList (this member's view, from the store).
 *
 * etcd's ClusterServer answers with a header of cluster_id, member_id and
 * raft_term only: no revision (v3rpc/member.go header()). A member that has
 * not started yet has no name and no client URLs.
 */
#include <errno.h>

#include "server/api_internal.h"

/* The member header as etcd's ClusterServer fills it. */
static void member_header(struct api *a, Etcdserverpb__ResponseHeader *h)
{
	etcdserverpb__response_header__init(h);
	node_fill_header(a->n, h, 0);
	h->revision = 0;
}

static void members_done(void *arg, int err, const Etcdserverpb__Member *added,
                         Etcdserverpb__Member *const *members, size_t n_members)
{
	struct api_call *c = arg;
	c->w = NULL;
	if (err) {
		api_call_fail(c, err);
		return;
	}
	Etcdserverpb__ResponseHeader h;
	member_header(c->a, &h);
	switch (c->method) {
	case API_MEMBER_ADD: {
		Etcdserverpb__MemberAddResponse r = ETCDSERVERPB__MEMBER_ADD_RESPONSE__INIT;
		r.header = &h;
		r.member = (Etcdserverpb__Member *)added;
		r.n_members = n_members;
		r.members = (Etcdserverpb__Member **)members;
		api_call_reply(c, &r.base);
		break;
	}
	case API_MEMBER_REMOVE: {
		Etcdserverpb__MemberRemoveResponse r = ETCDSERVERPB__MEMBER_REMOVE_RESPONSE__INIT;
		r.header = &h;
		r.n_members = n_members;
		r.members = (Etcdserverpb__Member **)members;
		api_call_reply(c, &r.base);
		break;
	}
	case API_MEMBER_UPDATE: {
		Etcdserverpb__MemberUpdateResponse r = ETCDSERVERPB__MEMBER_UPDATE_RESPONSE__INIT;
		r.header = &h;
		r.n_members = n_members;
		r.members = (Etcdserverpb__Member **)members;
		api_call_reply(c, &r.base);
		break;
	}
	default: {
		Etcdserverpb__MemberPromoteResponse r = ETCDSERVERPB__MEMBER_PROMOTE_RESPONSE__INIT;
		r.header = &h;
		r.n_members = n_members;
		r.members = (Etcdserverpb__Member **)members;
		api_call_reply(c, &r.base);
		break;
	}
	}
}

static void started(struct api_call *c)
{
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

void api_member_add(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api_call *c = api_call_kept(s, m, false);
	if (!c)
		return;
	const Etcdserverpb__MemberAddRequest *req = (const Etcdserverpb__MemberAddRequest *)m;
	c->w = node_member_add(c->a->n, req->peerurls, req->n_peerurls, req->islearner,
	                       members_done, c);
	started(c);
}

void api_member_remove(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api_call *c = api_call_kept(s, m, false);
	if (!c)
		return;
	const Etcdserverpb__MemberRemoveRequest *req = (const Etcdserverpb__MemberRemoveRequest *)m;
	c->w = node_member_remove(c->a->n, req->id, members_done, c);
	started(c);
}

void api_member_update(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api_call *c = api_call_kept(s, m, false);
	if (!c)
		return;
	const Etcdserverpb__MemberUpdateRequest *req = (const Etcdserverpb__MemberUpdateRequest *)m;
	c->w =
	    node_member_update(c->a->n, req->id, req->peerurls, req->n_peerurls, members_done, c);
	started(c);
}

void api_member_promote(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api_call *c = api_call_kept(s, m, false);
	if (!c)
		return;
	const Etcdserverpb__MemberPromoteRequest *req =
	    (const Etcdserverpb__MemberPromoteRequest *)m;
	c->w = node_member_promote(c->a->n, req->id, members_done, c);
	started(c);
}

void api_member_list(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_MEMBER_LIST, false))
		return;
	struct store_mvcc_read *rd;
	int rc = store_mvcc_read_begin(node_store(a->n), &rd);
	if (rc) {
		api_fail(a, s, API_MEMBER_LIST, rc);
		return;
	}
	Etcdserverpb__Member **members;
	size_t n_members;
	rc = store_mvcc_members(rd, &a->arena, &members, &n_members);
	if (rc) {
		api_fail(a, s, API_MEMBER_LIST, rc);
	} else {
		Etcdserverpb__ResponseHeader h;
		member_header(a, &h);
		Etcdserverpb__MemberListResponse r = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
		r.header = &h;
		r.n_members = n_members;
		r.members = members;
		api_reply(a, s, API_MEMBER_LIST, &r.base);
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_reset(&a->arena);
}
