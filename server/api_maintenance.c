/*
 * server/api_maintenance.c - etcdserverpb.Maintenance unary calls: Status,
 * Alarm, Defragment, Hash, HashKV, MoveLeader (Snapshot is in
 * api_snapshot.c).
 *
 * Header fields follow etcd 3.4's maintenanceServer exactly: Status, Hash
 * and HashKV are filled (revision = current); Alarm, Defragment and
 * MoveLeader answer without a header. Hash and HashKV scan the whole
 * store, so they run on libuv's worker pool, never on the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/api_internal.h"

#define CAIRN_ETCD_VERSION "3.4.23"

static const char *alarm_name(Etcdserverpb__AlarmType t)
{
	switch (t) {
	case ETCDSERVERPB__ALARM_TYPE__NOSPACE:
		return "NOSPACE";
	case ETCDSERVERPB__ALARM_TYPE__CORRUPT:
		return "CORRUPT";
	default:
		return "NONE";
	}
}

/* ---- Status ---------------------------------------------------------------- */

#define STATUS_MAX_ERRORS 16

static int status_read(struct api *a, struct store_mvcc_read *rd, const void *req,
                       ProtobufCMessage **resp)
{
	Etcdserverpb__StatusResponse *r = store_mvcc_arena_alloc(&a->arena, sizeof *r);
	char **errors = store_mvcc_arena_alloc(&a->arena, STATUS_MAX_ERRORS * sizeof *errors);
	if (!r || !errors)
		return -ENOMEM;
	etcdserverpb__status_response__init(r);
	struct node_info info;
	node_info(a->n, &info);
	r->version = (char *)CAIRN_ETCD_VERSION;
	r->leader = info.leader;
	r->raftindex = info.commit_index;
	r->raftterm = info.term;
	r->raftappliedindex = info.applied_index;
	r->islearner = info.is_learner;
	int rc = store_mvcc_db_size(rd, &r->dbsize, &r->dbsizeinuse);
	if (rc)
		return rc;

	/* errors: "etcdserver: no leader" first, then each alarm as gogo's
	 * compact text of AlarmMember, trailing space included
	 * (v3rpc/maintenance.go Status). */
	const char *node_errs[STATUS_MAX_ERRORS];
	size_t ne = node_status_errors(a->n, node_errs, STATUS_MAX_ERRORS);
	for (size_t i = 0; i < ne; i++)
		errors[i] = (char *)node_errs[i];
	Etcdserverpb__AlarmMember **alarms;
	size_t n_alarms;
	rc = store_mvcc_alarms(rd, ETCDSERVERPB__ALARM_TYPE__NONE, &a->arena, &alarms, &n_alarms);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_alarms && ne < STATUS_MAX_ERRORS; i++) {
		char *t = store_mvcc_arena_alloc(&a->arena, 64);
		if (!t)
			return -ENOMEM;
		snprintf(t, 64, "memberID:%" PRIu64 " alarm:%s ", alarms[i]->memberid,
		         alarm_name(alarms[i]->alarm));
		errors[ne++] = t;
	}
	r->n_errors = ne;
	r->errors = errors;
	*resp = &r->base;
	return 0;
}

void api_maint_status(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (api_precheck(a, s, API_STATUS, true))
		api_serve_read_after(a, s, API_STATUS, NODE_BARRIER_ANSWERED, status_read, NULL,
		                     NULL, NULL, 0, true);
}

/* ---- Alarm ----------------------------------------------------------------- */

void api_maint_alarm(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_ALARM, false))
		return;
	/* Every action goes through Raft in etcd, GET included. */
	Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
	ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM;
	ir.alarm = (Etcdserverpb__AlarmRequest *)m;
	api_propose(a, s, API_ALARM, &ir);
}

/* ---- Defragment, MoveLeader --------------------------------------------------- */

static void empty_done(void *arg, int err)
{
	struct api_call *c = arg;
	c->w = NULL;
	if (err) {
		api_call_fail(c, err);
		return;
	}
	if (c->method == API_DEFRAGMENT) {
		Etcdserverpb__DefragmentResponse r = ETCDSERVERPB__DEFRAGMENT_RESPONSE__INIT;
		api_call_reply(c, &r.base);
	} else {
		Etcdserverpb__MoveLeaderResponse r = ETCDSERVERPB__MOVE_LEADER_RESPONSE__INIT;
		api_call_reply(c, &r.base);
	}
}

void api_maint_defragment(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                          size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_DEFRAGMENT, false))
		return;
	struct api_call *c = api_call_new(a, s, API_DEFRAGMENT);
	if (!c) {
		api_fail(a, s, API_DEFRAGMENT, -ENOMEM);
		return;
	}
	c->w = node_defragment(a->n, empty_done, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

void api_maint_move_leader(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                           size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_MOVE_LEADER, false))
		return;
	const Etcdserverpb__MoveLeaderRequest *req = (const Etcdserverpb__MoveLeaderRequest *)m;
	struct api_call *c = api_call_new(a, s, API_MOVE_LEADER);
	if (!c) {
		api_fail(a, s, API_MOVE_LEADER, -ENOMEM);
		return;
	}
	c->w = node_move_leader(a->n, req->targetid, empty_done, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

/* ---- Hash, HashKV: on a worker thread ------------------------------------------- */

static void hash_work(uv_work_t *w)
{
	struct api_call *c = w->data;
	struct store_mvcc_read *rd;
	c->work_err = store_mvcc_read_begin(node_store(c->a->n), &rd);
	if (c->work_err)
		return;
	if (c->method == API_HASH)
		c->work_err = store_mvcc_hash(rd, &c->hash);
	else
		c->work_err =
		    store_mvcc_hash_kv(rd, c->rev, &c->hash, &c->compact_rev, &c->hash_rev);
	store_mvcc_read_end(rd);
}

static void hash_after(uv_work_t *w, int status)
{
	struct api_call *c = w->data;
	struct api *a = c->a;
	c->in_work = false;
	if (status == UV_ECANCELED && !c->work_err)
		c->work_err = NODE_ECANCELED;
	if (!c->s) {
		api_call_free(c);
	} else if (c->work_err) {
		api_call_fail(c, c->work_err);
	} else if (c->method == API_HASH) {
		Etcdserverpb__HashResponse r = ETCDSERVERPB__HASH_RESPONSE__INIT;
		r.hash = c->hash;
		api_fill_header(a, &r.base);
		api_call_reply(c, &r.base);
	} else {
		Etcdserverpb__HashKVResponse r = ETCDSERVERPB__HASH_KVRESPONSE__INIT;
		r.hash = c->hash;
		r.compact_revision = c->compact_rev;
		api_fill_header(a, &r.base);
		api_call_reply(c, &r.base);
	}
	api_handle_closed(a); /* the job counted as an open handle */
}

static void queue_hash(struct api_call *c)
{
	struct api *a = c->a;
	c->work.data = c;
	int rc = uv_queue_work(node_loop(a->n), &c->work, hash_work, hash_after);
	if (rc) {
		api_call_fail(c, rc);
		return;
	}
	c->in_work = true;
	a->open_handles++;
}

static void hash_barrier_passed(void *arg, int err)
{
	struct api_call *c = arg;
	c->w = NULL;
	if (err)
		api_call_fail(c, err);
	else if (!c->s)
		api_call_free(c);
	else
		queue_hash(c);
}

/* Hash and HashKV cover every write this member answered, as etcd's (its
 * Hash commits the backend first; HashKV reads through the write buffer). */
static void start_hash(struct rpc_stream *s, int method, int64_t rev)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, method, false))
		return;
	struct api_call *c = api_call_new(a, s, method);
	if (!c) {
		api_fail(a, s, method, -ENOMEM);
		return;
	}
	c->rev = rev;
	if (node_barrier_passed(a->n, NODE_BARRIER_ANSWERED)) {
		queue_hash(c);
		return;
	}
	c->w = node_barrier_wait(a->n, NODE_BARRIER_ANSWERED, 0, hash_barrier_passed, c);
	if (!c->w)
		api_call_fail(c, -ENOMEM);
}

void api_maint_hash(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	start_hash(s, API_HASH, 0);
}

void api_maint_hash_kv(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	start_hash(s, API_HASH_KV, ((const Etcdserverpb__HashKVRequest *)m)->revision);
}
