/*
 * server/api.c - etcd's v3 services on the client port: registration, the
 * checks etcd's interceptors make before every handler, and the one place
 * every answer goes through (so it is counted by method and code).
 *
 * The handlers live in one file per service: api_kv.c, watch_*.c,
 * lease_api*.c, api_cluster.c, api_maintenance.c, api_snapshot.c,
 * api_auth.c. They validate, call the node (server/node.h) or read the
 * store, and answer with etcd's exact messages, codes and header fields
 * (shared/reference/etcd-api.md).
 */
#include "server/api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_internal.h"
#include "server/watch.h"

/* ---- the method table ---------------------------------------------------- */

typedef void (*msg_fn)(struct rpc_stream *, const ProtobufCMessage *, const uint8_t *, size_t);

struct method_def {
	int method;
	const char *service;
	const char *name;
	enum rpc_kind kind;
	const ProtobufCMessageDescriptor *request;
	uint32_t flags;
	msg_fn on_message;
	void (*on_half_close)(struct rpc_stream *);
	void (*on_cancel)(struct rpc_stream *, int);
	void (*on_writable)(struct rpc_stream *);
};

#define KV   "etcdserverpb.KV"
#define WT   "etcdserverpb.Watch"
#define LS   "etcdserverpb.Lease"
#define CL   "etcdserverpb.Cluster"
#define MT   "etcdserverpb.Maintenance"
#define AU   "etcdserverpb.Auth"
#define D(x) &etcdserverpb__##x##__descriptor
#define UNARY(m, svc, name, desc, fn)                                                \
	{                                                                            \
		m, svc, name, RPC_UNARY, desc, 0, fn, NULL, api_call_on_cancel, NULL \
	}
/* Rare calls whose request the node may read after the handler returns. */
#define UNARY_KEEP(m, svc, name, desc, fn)                                                      \
	{                                                                                       \
		m, svc, name, RPC_UNARY, desc, RPC_KEEP_MESSAGES, fn, NULL, api_call_on_cancel, \
		    NULL                                                                        \
	}

static const struct method_def methods[API_N_METHODS] = {
    UNARY(API_RANGE, KV, "Range", D(range_request), api_kv_range),
    UNARY(API_PUT, KV, "Put", D(put_request), api_kv_put),
    UNARY(API_DELETE_RANGE, KV, "DeleteRange", D(delete_range_request), api_kv_delete_range),
    UNARY(API_TXN, KV, "Txn", D(txn_request), api_kv_txn),
    UNARY(API_COMPACT, KV, "Compact", D(compaction_request), api_kv_compact),
    {API_WATCH, WT, "Watch", RPC_BIDI, D(watch_request), 0, watch_on_message, NULL, watch_on_cancel,
     watch_on_writable},
    UNARY(API_LEASE_GRANT, LS, "LeaseGrant", D(lease_grant_request), api_lease_grant),
    UNARY(API_LEASE_REVOKE, LS, "LeaseRevoke", D(lease_revoke_request), api_lease_revoke),
    {API_LEASE_KEEPALIVE, LS, "LeaseKeepAlive", RPC_BIDI, D(lease_keep_alive_request), 0,
     api_keepalive_on_message, api_keepalive_on_half_close, api_keepalive_on_cancel, NULL},
    UNARY_KEEP(API_LEASE_TTL, LS, "LeaseTimeToLive", D(lease_time_to_live_request), api_lease_ttl),
    UNARY(API_LEASE_LEASES, LS, "LeaseLeases", D(lease_leases_request), api_lease_leases),
    UNARY_KEEP(API_MEMBER_ADD, CL, "MemberAdd", D(member_add_request), api_member_add),
    UNARY_KEEP(API_MEMBER_REMOVE, CL, "MemberRemove", D(member_remove_request), api_member_remove),
    UNARY_KEEP(API_MEMBER_UPDATE, CL, "MemberUpdate", D(member_update_request), api_member_update),
    UNARY(API_MEMBER_LIST, CL, "MemberList", D(member_list_request), api_member_list),
    UNARY_KEEP(API_MEMBER_PROMOTE, CL, "MemberPromote", D(member_promote_request),
               api_member_promote),
    UNARY(API_ALARM, MT, "Alarm", D(alarm_request), api_maint_alarm),
    UNARY(API_STATUS, MT, "Status", D(status_request), api_maint_status),
    UNARY(API_DEFRAGMENT, MT, "Defragment", D(defragment_request), api_maint_defragment),
    UNARY(API_HASH, MT, "Hash", D(hash_request), api_maint_hash),
    UNARY(API_HASH_KV, MT, "HashKV", D(hash_kvrequest), api_maint_hash_kv),
    {API_SNAPSHOT, MT, "Snapshot", RPC_SERVER_STREAMING, D(snapshot_request), 0,
     api_snapshot_on_message, NULL, api_snapshot_on_cancel, api_snapshot_on_writable},
    UNARY(API_MOVE_LEADER, MT, "MoveLeader", D(move_leader_request), api_maint_move_leader),
    UNARY(API_AUTH_ENABLE, AU, "AuthEnable", D(auth_enable_request), api_auth_on_message),
    UNARY(API_AUTH_DISABLE, AU, "AuthDisable", D(auth_disable_request), api_auth_on_message),
    UNARY(API_AUTHENTICATE, AU, "Authenticate", D(authenticate_request), api_auth_on_message),
    UNARY(API_USER_ADD, AU, "UserAdd", D(auth_user_add_request), api_auth_on_message),
    UNARY(API_USER_GET, AU, "UserGet", D(auth_user_get_request), api_auth_on_message),
    UNARY(API_USER_LIST, AU, "UserList", D(auth_user_list_request), api_auth_on_message),
    UNARY(API_USER_DELETE, AU, "UserDelete", D(auth_user_delete_request), api_auth_on_message),
    UNARY(API_USER_CHANGE_PASSWORD, AU, "UserChangePassword", D(auth_user_change_password_request),
          api_auth_on_message),
    UNARY(API_USER_GRANT_ROLE, AU, "UserGrantRole", D(auth_user_grant_role_request),
          api_auth_on_message),
    UNARY(API_USER_REVOKE_ROLE, AU, "UserRevokeRole", D(auth_user_revoke_role_request),
          api_auth_on_message),
    UNARY(API_ROLE_ADD, AU, "RoleAdd", D(auth_role_add_request), api_auth_on_message),
    UNARY(API_ROLE_GET, AU, "RoleGet", D(auth_role_get_request), api_auth_on_message),
    UNARY(API_ROLE_LIST, AU, "RoleList", D(auth_role_list_request), api_auth_on_message),
    UNARY(API_ROLE_DELETE, AU, "RoleDelete", D(auth_role_delete_request), api_auth_on_message),
    UNARY(API_ROLE_GRANT_PERMISSION, AU, "RoleGrantPermission",
          D(auth_role_grant_permission_request), api_auth_on_message),
    UNARY(API_ROLE_REVOKE_PERMISSION, AU, "RoleRevokePermission",
          D(auth_role_revoke_permission_request), api_auth_on_message),
    /* grpc.health.v1: raw bytes, no generated code needed for one field. */
    UNARY(API_HEALTH_CHECK, "grpc.health.v1.Health", "Check", NULL, api_health_check),
};

const char *api_method_name(int method)
{
	return methods[method].name;
}

const char *api_method_service(int method)
{
	return methods[method].service;
}

/* ---- answering ----------------------------------------------------------- */

void api_status_of(int err, int *code, const char **msg)
{
	*code = node_grpc_code(err);
	*msg = node_strerror(err);
	if (*code == RPC_OK) /* never answer an error with OK */
		*code = RPC_UNKNOWN;
}

static void count(struct api *a, int method, int code)
{
	if (code < 0 || code >= API_N_CODES)
		code = RPC_UNKNOWN;
	a->handled[method][code]++;
}

void api_count_cancel(struct api *a, int method, int code)
{
	count(a, method, code);
}

void api_finish(struct api *a, struct rpc_stream *s, int method, int code, const char *msg)
{
	count(a, method, code);
	rpc_stream_finish(s, code, msg);
}

void api_fail(struct api *a, struct rpc_stream *s, int method, int err)
{
	int code;
	const char *msg;
	api_status_of(err, &code, &msg);
	api_finish(a, s, method, code, msg);
}

void api_fill_header(struct api *a, ProtobufCMessage *resp)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "header");
	if (!f)
		return;
	Etcdserverpb__ResponseHeader **hp =
	    (Etcdserverpb__ResponseHeader **)((char *)resp + f->offset);
	if (!*hp) {
		etcdserverpb__response_header__init(&a->hdr);
		*hp = &a->hdr;
	}
	node_fill_header(a->n, *hp, (*hp)->revision);
}

void api_reply(struct api *a, struct rpc_stream *s, int method, ProtobufCMessage *msg)
{
	int rc = rpc_stream_reply(s, msg);
	count(a, method, rc < 0 ? RPC_INTERNAL : RPC_OK);
	if (rc < 0)
		rpc_stream_finish(s, RPC_INTERNAL, "cairn: reply not queued");
}

void api_serve_read(struct api *a, struct rpc_stream *s, int method, api_read_fn fn,
                    const void *req, bool fill_header)
{
	struct store_mvcc_read *rd;
	int rc = store_mvcc_read_begin(node_store(a->n), &rd);
	if (rc) {
		api_fail(a, s, method, rc);
		return;
	}
	ProtobufCMessage *resp = NULL;
	rc = fn(a, rd, req, &resp);
	if (rc) {
		api_fail(a, s, method, rc);
	} else {
		if (fill_header)
			api_fill_header(a, resp);
		api_reply(a, s, method, resp);
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_reset(&a->arena);
}

/* A kept read's wait is over (a barrier, a ReadIndex round): unpack the
 * request again from its kept bytes and serve it. */
static void kept_read_ready(void *arg, int err)
{
	struct api_call *c = arg;
	struct api *a = c->a;
	c->w = NULL;
	if (err) {
		api_call_fail(c, err);
		return;
	}
	if (!c->s) {
		api_call_free(c);
		return;
	}
	void *req = NULL;
	if (c->read_desc) {
		/* rpc/ checked the bytes (size, nesting) when they arrived. */
		ProtobufCAllocator alloc = store_mvcc_arena_allocator(&a->arena);
		req = protobuf_c_message_unpack(c->read_desc, &alloc, c->len, c->buf);
		if (!req) {
			store_mvcc_arena_reset(&a->arena);
			api_call_fail(c, -ENOMEM);
			return;
		}
	}
	struct rpc_stream *s = c->s;
	rpc_stream_set_data(s, NULL);
	c->s = NULL;
	api_serve_read(a, s, c->method, c->read_fn, req, c->read_fill_header);
	api_call_free(c);
}

/* A call that keeps what it needs to serve its read later; NULL if s has
 * been answered with an error. */
static struct api_call *kept_read_new(struct api *a, struct rpc_stream *s, int method,
                                      api_read_fn fn, const ProtobufCMessageDescriptor *desc,
                                      const uint8_t *bytes, size_t len, bool fill_header)
{
	struct api_call *c = api_call_new(a, s, method);
	if (!c) {
		api_fail(a, s, method, -ENOMEM);
		return NULL;
	}
	c->read_fn = fn;
	c->read_desc = desc;
	c->read_fill_header = fill_header;
	if (desc && api_call_keep_bytes(c, bytes, len)) {
		api_call_fail(c, -ENOMEM);
		return NULL;
	}
	return c;
}

void api_serve_read_after(struct api *a, struct rpc_stream *s, int method, enum node_barrier b,
                          api_read_fn fn, const ProtobufCMessageDescriptor *desc, const void *req,
                          const uint8_t *bytes, size_t len, bool fill_header)
{
	if (node_barrier_passed(a->n, b)) {
		api_serve_read(a, s, method, fn, req, fill_header);
		return;
	}
	struct api_call *c = kept_read_new(a, s, method, fn, desc, bytes, len, fill_header);
	if (!c)
		return;
	c->w = node_barrier_wait(a->n, b, 0, kept_read_ready, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

void api_serve_read_linearizable(struct api *a, struct rpc_stream *s, int method, api_read_fn fn,
                                 const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                                 size_t len)
{
	struct api_call *c = kept_read_new(a, s, method, fn, desc, bytes, len, true);
	if (!c)
		return;
	c->w = node_read_index(a->n, 0, kept_read_ready, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

bool api_precheck(struct api *a, struct rpc_stream *s, int method, bool learner_ok)
{
	if (a->stopped) {
		api_fail(a, s, method, NODE_ESTOPPED);
		return false;
	}
	if (!learner_ok) {
		struct node_info info;
		node_info(a->n, &info);
		if (info.is_learner) {
			api_fail(a, s, method, NODE_ELEARNER_RPC);
			return false;
		}
	}
	const char *hl = rpc_stream_metadata(s, "hasleader");
	if (hl && strcmp(hl, "true") == 0 && !node_has_leader(a->n)) {
		api_fail(a, s, method, NODE_ENOLEADER);
		return false;
	}
	return true;
}

/* ---- pending calls --------------------------------------------------------- */

#define CALL_POOL_MAX 4096
#define CALL_KEEP_BUF 4096

struct api_call *api_call_new(struct api *a, struct rpc_stream *s, int method)
{
	struct api_call *c = a->pool;
	if (c) {
		a->pool = c->next;
		a->pool_n--;
	} else {
		c = calloc(1, sizeof *c);
		if (!c)
			return NULL;
	}
	c->a = a;
	c->s = s;
	c->method = method;
	c->next = a->calls;
	c->prev = NULL;
	if (c->next)
		c->next->prev = c;
	a->calls = c;
	rpc_stream_set_data(s, c);
	return c;
}

void api_call_free(struct api_call *c)
{
	struct api *a = c->a;
	if (c->s)
		rpc_stream_set_data(c->s, NULL);
	if (c->prev)
		c->prev->next = c->next;
	else if (a->calls == c)
		a->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->kept)
		protobuf_c_message_free_unpacked(c->kept, NULL);
	uint8_t *buf = c->buf;
	size_t cap = c->cap;
	if (a->pool_n >= CALL_POOL_MAX || cap > CALL_KEEP_BUF) {
		free(buf);
		buf = NULL;
		cap = 0;
	}
	if (a->pool_n >= CALL_POOL_MAX) {
		free(c);
		return;
	}
	memset(c, 0, sizeof *c);
	c->buf = buf;
	c->cap = cap;
	c->next = a->pool;
	a->pool = c;
	a->pool_n++;
}

int api_call_keep_bytes(struct api_call *c, const uint8_t *bytes, size_t len)
{
	if (len > c->cap) {
		uint8_t *p = realloc(c->buf, len);
		if (!p)
			return -ENOMEM;
		c->buf = p;
		c->cap = len;
	}
	if (len)
		memcpy(c->buf, bytes, len);
	c->len = len;
	return 0;
}

void api_call_reply(struct api_call *c, ProtobufCMessage *msg)
{
	if (c->s) {
		struct rpc_stream *s = c->s;
		rpc_stream_set_data(s, NULL);
		c->s = NULL;
		api_reply(c->a, s, c->method, msg);
	}
	api_call_free(c);
}

void api_call_fail(struct api_call *c, int err)
{
	if (c->s) {
		struct rpc_stream *s = c->s;
		rpc_stream_set_data(s, NULL);
		c->s = NULL;
		api_fail(c->a, s, c->method, err);
	}
	api_call_free(c);
}

void api_call_on_cancel(struct rpc_stream *s, int code)
{
	struct api_method_ref *ref = api_ref(s);
	count(ref->a, ref->method, code);
	struct api_call *c = rpc_stream_data(s);
	if (!c)
		return;
	c->s = NULL;
	node_wait_cancel(c->w);
	c->w = NULL;
	if (c->in_work)
		return; /* the worker's completion frees it */
	api_call_free(c);
}

struct api_call *api_call_kept(struct rpc_stream *s, const ProtobufCMessage *m, bool learner_ok)
{
	struct api_method_ref *ref = api_ref(s);
	ProtobufCMessage *msg = (ProtobufCMessage *)m; /* RPC_KEEP_MESSAGES: ours */
	if (!api_precheck(ref->a, s, ref->method, learner_ok)) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return NULL;
	}
	struct api_call *c = api_call_new(ref->a, s, ref->method);
	if (!c) {
		protobuf_c_message_free_unpacked(msg, NULL);
		api_fail(ref->a, s, ref->method, -ENOMEM);
		return NULL;
	}
	c->kept = msg;
	return c;
}

/* ---- proposals -------------------------------------------------------------- */

static void proposed(void *arg, int err, const struct node_result *res)
{
	struct api_call *c = arg;
	c->w = NULL;
	if (err == 0 && res)
		err = res->err;
	if (err == STORE_MVCC_ENOSPACE)
		api_raise_nospace(c->a); /* applied over quota: etcd raises the alarm */
	if (err || !res || !res->resp) {
		api_call_fail(c, err ? err : -EIO);
		return;
	}
	ProtobufCMessage *resp = (ProtobufCMessage *)res->resp;
	if (c->method == API_ALARM) {
		/* etcd's AlarmResponse carries no header (apply.go Alarm). */
		((Etcdserverpb__AlarmResponse *)resp)->header = NULL;
	} else {
		api_fill_header(c->a, resp);
	}
	if (c->method == API_COMPACT && c->rev) {
		/* physical: answer once the removal is done (api_kv.c) */
		api_kv_compact_wait(c);
		return;
	}
	api_call_reply(c, resp);
}

struct api_call *api_propose(struct api *a, struct rpc_stream *s, int method,
                             const Cairnpb__InternalRequest *ir)
{
	struct api_call *c = api_call_new(a, s, method);
	if (!c) {
		api_fail(a, s, method, -ENOMEM);
		return NULL;
	}
	c->w = node_propose(a->n, ir, 0, proposed, c);
	if (!c->w) {
		api_call_fail(c, -ENOMEM);
		return NULL;
	}
	return c;
}

static void nospace_done(void *arg, int err, const struct node_result *res)
{
	struct api_call *c = arg;
	c->w = NULL;
	api_call_fail(c, STORE_MVCC_ENOSPACE);
}

static void alarm_request(struct api *a, Etcdserverpb__AlarmRequest *ar,
                          Cairnpb__InternalRequest *ir)
{
	struct node_info info;
	node_info(a->n, &info);
	etcdserverpb__alarm_request__init(ar);
	ar->action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
	ar->memberid = info.member_id;
	ar->alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
	cairnpb__internal_request__init(ir);
	ir->request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM;
	ir->alarm = ar;
}

void api_nospace(struct api *a, struct rpc_stream *s, int method)
{
	Etcdserverpb__AlarmRequest ar;
	Cairnpb__InternalRequest ir;
	alarm_request(a, &ar, &ir);
	struct api_call *c = api_call_new(a, s, method);
	if (!c) {
		api_fail(a, s, method, STORE_MVCC_ENOSPACE);
		return;
	}
	c->w = node_propose(a->n, &ir, 0, nospace_done, c);
	if (!c->w)
		api_call_fail(c, STORE_MVCC_ENOSPACE);
}

static void ignore_result(void *arg, int err, const struct node_result *res)
{
}

void api_raise_nospace(struct api *a)
{
	Etcdserverpb__AlarmRequest ar;
	Cairnpb__InternalRequest ir;
	alarm_request(a, &ar, &ir);
	node_propose(a->n, &ir, 0, ignore_result, NULL);
}

/* ---- leader loss: "hasleader" streams ------------------------------------------ */

static void leader_timeout(uv_timer_t *t)
{
	struct api *a = t->data;
	if (node_has_leader(a->n))
		return;
	/* etcd's monitorLeader: streams that required a leader are canceled
	 * and end with "etcdserver: no leader". */
	const char *msg = node_strerror(NODE_ENOLEADER);
	int code = node_grpc_code(NODE_ENOLEADER);
	watch_hub_end_streams(a->hub, true, code, msg);
	api_keepalive_end_all(a, true, code, msg);
}

static void on_leader(void *arg, uint64_t leader)
{
	struct api *a = arg;
	if (a->stopped)
		return;
	if (leader)
		uv_timer_stop(&a->leader_timer);
	else if (!uv_is_active((uv_handle_t *)&a->leader_timer))
		uv_timer_start(&a->leader_timer, leader_timeout, 3 * a->opt.election_timeout_ms, 0);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void free_api(struct api *a)
{
	while (a->pool) {
		struct api_call *c = a->pool;
		a->pool = c->next;
		free(c->buf);
		free(c);
	}
	store_mvcc_arena_destroy(&a->arena);
	free(a);
}

void api_handle_closed(struct api *a)
{
	if (--a->open_handles == 0 && a->destroy_pending)
		free_api(a);
}

static void timer_closed(uv_handle_t *h)
{
	api_handle_closed(h->data);
}

int api_create(struct node *n, struct rpc_server *srv, const struct api_options *opts,
               struct api **out)
{
	struct api *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->n = n;
	a->srv = srv;
	if (opts)
		a->opt = *opts;
	if (!a->opt.max_request_bytes)
		a->opt.max_request_bytes = 1536 * 1024;
	if (!a->opt.election_timeout_ms)
		a->opt.election_timeout_ms = 1000;
	if (!a->opt.progress_notify_ms)
		a->opt.progress_notify_ms = 10 * 60 * 1000;
	store_mvcc_arena_init(&a->arena, 0);
	uv_loop_t *loop = node_loop(n);
	uv_timer_init(loop, &a->leader_timer);
	uv_timer_init(loop, &a->compact_timer);
	a->leader_timer.data = a;
	a->compact_timer.data = a;
	a->open_handles = 2;
	int rc = watch_hub_create(a, &a->hub);
	if (rc) {
		a->destroy_pending = true;
		uv_close((uv_handle_t *)&a->leader_timer, timer_closed);
		uv_close((uv_handle_t *)&a->compact_timer, timer_closed);
		return rc;
	}
	a->open_handles++; /* the hub's */
	for (int i = 0; i < API_N_METHODS; i++) {
		const struct method_def *d = &methods[i];
		char path[96];
		snprintf(path, sizeof path, "/%s/%s", d->service, d->name);
		a->refs[i].a = a;
		a->refs[i].method = d->method;
		struct rpc_method m = {
		    .path = path,
		    .kind = d->kind,
		    .request = d->request,
		    .flags = d->flags,
		    .on_message = d->on_message,
		    .on_half_close = d->on_half_close,
		    .on_cancel = d->on_cancel,
		    .on_writable = d->on_writable,
		    .data = &a->refs[i],
		};
		rc = rpc_server_register(srv, &m);
		if (rc && rc != -EEXIST) {
			api_stop(a);
			api_destroy(a);
			return rc;
		}
	}
	node_set_feed(n, watch_hub_feed, a->hub);
	node_set_leader_watch(n, on_leader, a);
	*out = a;
	return 0;
}

void api_stop(struct api *a)
{
	if (!a || a->stopped)
		return;
	a->stopped = true;
	const char *msg = node_strerror(NODE_ESTOPPED);
	int code = node_grpc_code(NODE_ESTOPPED);
	node_set_feed(a->n, NULL, NULL);
	node_set_leader_watch(a->n, NULL, NULL);
	watch_hub_end_streams(a->hub, false, code, msg);
	api_keepalive_end_all(a, false, code, msg);
	api_snapshot_end_all(a, code, msg);
	/* Pending calls: the node will not answer them any more. Calls held
	 * by a worker job are answered when the job returns. */
	struct api_call *c = a->calls;
	while (c) {
		struct api_call *next = c->next;
		if (!c->in_work) {
			node_wait_cancel(c->w);
			c->w = NULL;
			if (c->s) {
				struct rpc_stream *s = c->s;
				rpc_stream_set_data(s, NULL);
				c->s = NULL;
				api_finish(a, s, c->method, code, msg);
			}
			api_call_free(c);
		}
		c = next;
	}
	uv_close((uv_handle_t *)&a->leader_timer, timer_closed);
	uv_close((uv_handle_t *)&a->compact_timer, timer_closed);
	watch_hub_close(a->hub);
	a->hub = NULL;
}

void api_destroy(struct api *a)
{
	if (!a)
		return;
	api_stop(a);
	a->destroy_pending = true;
	if (a->open_handles == 0)
		free_api(a);
}

/* ---- metrics ------------------------------------------------------------------------ */

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = *cap - *len;
		int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if (*buf && (size_t)n < room) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = *cap ? *cap * 2 : 4096;
		while (ncap - *len <= (size_t)n)
			ncap *= 2;
		char *p = realloc(*buf, ncap);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
}

int api_metrics(struct api *a, char **buf, size_t *len, size_t *cap)
{
	static const char *const type_names[] = {"unary", "server_stream", "bidi_stream"};
	int rc = appendf(buf, len, cap,
	                 "# HELP grpc_server_handled_total Total number of RPCs completed on the "
	                 "server, regardless of success or failure.\n"
	                 "# TYPE grpc_server_handled_total counter\n");
	for (int m = 0; m < API_N_METHODS && !rc; m++)
		for (int code = 0; code < API_N_CODES && !rc; code++) {
			uint64_t v = a->handled[m][code];
			if (!v)
				continue;
			rc =
			    appendf(buf, len, cap,
			            "grpc_server_handled_total{grpc_code=\"%s\",grpc_method=\"%s\","
			            "grpc_service=\"%s\",grpc_type=\"%s\"} %" PRIu64 "\n",
			            rpc_code_name(code), methods[m].name, methods[m].service,
			            type_names[methods[m].kind], v);
		}
	if (rc)
		return rc;
	struct watch_hub_stats ws = {0};
	if (a->hub)
		watch_hub_stats(a->hub, &ws);
	return appendf(buf, len, cap,
	               "# HELP etcd_debugging_mvcc_watch_stream_total Total number of watch "
	               "streams.\n"
	               "# TYPE etcd_debugging_mvcc_watch_stream_total gauge\n"
	               "etcd_debugging_mvcc_watch_stream_total %" PRIu64 "\n"
	               "# HELP etcd_debugging_mvcc_watcher_total Total number of watchers.\n"
	               "# TYPE etcd_debugging_mvcc_watcher_total gauge\n"
	               "etcd_debugging_mvcc_watcher_total %" PRIu64 "\n"
	               "# HELP etcd_debugging_mvcc_slow_watcher_total Total number of unsynced "
	               "slow watchers.\n"
	               "# TYPE etcd_debugging_mvcc_slow_watcher_total gauge\n"
	               "etcd_debugging_mvcc_slow_watcher_total %" PRIu64 "\n"
	               "# HELP etcd_debugging_mvcc_events_total Total number of events sent by "
	               "this member.\n"
	               "# TYPE etcd_debugging_mvcc_events_total counter\n"
	               "etcd_debugging_mvcc_events_total %" PRIu64 "\n"
	               "# HELP cairn_watch_responses_total Watch responses sent.\n"
	               "# TYPE cairn_watch_responses_total counter\n"
	               "cairn_watch_responses_total %" PRIu64 "\n"
	               "# HELP cairn_lease_keepalive_streams Open LeaseKeepAlive streams.\n"
	               "# TYPE cairn_lease_keepalive_streams gauge\n"
	               "cairn_lease_keepalive_streams %zu\n",
	               ws.streams, ws.watchers, ws.unsynced, ws.events_sent, ws.responses_sent,
	               a->n_keepalives);
}
