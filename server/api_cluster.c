/*
 * server/api_cluster.c - etcdserverpb.Cluster: MemberAdd, MemberRemove,
 * MemberUpdate, MemberPromote (Raft configuration changes, node_member_*)
 * and MemberList (this member's view, from the store: no read barrier, since
 * member changes are answered only once their commit is visible).
 *
 * etcd's ClusterServer answers with a header of cluster_id, member_id and
 * raft_term only: no revision (v3rpc/member.go header()). A member that has
 * not started yet has no name and no client URLs.
 */
#include <errno.h>

#include "server/api_internal.h"

/*
 * Every Cluster response is {header, [member], members}: one builder for
 * the five types, through their descriptors. The header is etcd's
 * ClusterServer header: no revision.
 */
union member_resp {
	ProtobufCMessage base;
	Etcdserverpb__MemberAddResponse add;
	Etcdserverpb__MemberRemoveResponse remove;
	Etcdserverpb__MemberUpdateResponse update;
	Etcdserverpb__MemberListResponse list;
	Etcdserverpb__MemberPromoteResponse promote;
};

static const ProtobufCMessageDescriptor *resp_descriptor(int method)
{
	switch (method) {
	case API_MEMBER_ADD:
		return &etcdserverpb__member_add_response__descriptor;
	case API_MEMBER_REMOVE:
		return &etcdserverpb__member_remove_response__descriptor;
	case API_MEMBER_UPDATE:
		return &etcdserverpb__member_update_response__descriptor;
	case API_MEMBER_PROMOTE:
		return &etcdserverpb__member_promote_response__descriptor;
	default:
		return &etcdserverpb__member_list_response__descriptor;
	}
}

static void build(union member_resp *r, Etcdserverpb__ResponseHeader *h, struct api *a, int method,
                  const Etcdserverpb__Member *added, Etcdserverpb__Member *const *members,
                  size_t n_members)
{
	const ProtobufCMessageDescriptor *d = resp_descriptor(method);
	protobuf_c_message_init(d, r);
	etcdserverpb__response_header__init(h);
	node_fill_header(a->n, h, 0);
	h->revision = 0;
	char *base = (char *)r;
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, "header");
	*(Etcdserverpb__ResponseHeader **)(base + f->offset) = h;
	f = protobuf_c_message_descriptor_get_field_by_name(d, "members");
	*(size_t *)(base + f->quantifier_offset) = n_members;
	*(Etcdserverpb__Member *const **)(base + f->offset) = members;
	f = protobuf_c_message_descriptor_get_field_by_name(d, "member");
	if (f)
		*(const Etcdserverpb__Member **)(base + f->offset) = added;
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
	union member_resp r;
	Etcdserverpb__ResponseHeader h;
	build(&r, &h, c->a, c->method, added, members, n_members);
	api_call_reply(c, &r.base);
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

static int member_list_read(struct api *a, struct store_mvcc_read *rd, const void *req,
                            ProtobufCMessage **resp)
{
	Etcdserverpb__Member **members;
	size_t n;
	int rc = store_mvcc_members(rd, &a->arena, &members, &n);
	if (rc)
		return rc;
	union member_resp *r = store_mvcc_arena_alloc(&a->arena, sizeof *r);
	Etcdserverpb__ResponseHeader *h = store_mvcc_arena_alloc(&a->arena, sizeof *h);
	if (!r || !h)
		return -ENOMEM;
	build(r, h, a, API_MEMBER_LIST, NULL, members, n);
	*resp = &r->base;
	return 0;
}

void api_member_list(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (api_precheck(a, s, API_MEMBER_LIST, false))
		api_serve_read(a, s, API_MEMBER_LIST, member_list_read, NULL, false);
}
