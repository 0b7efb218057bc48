/*
 * server/api_internal.h - what the etcd service files (server/api*.c,
 * server/lease_api*.c, server/watch*.c) share: the api object, the method
 * table, pending calls, and the helpers every handler answers through (so
 * that every answer is counted by method and code for api_metrics()).
 *
 * Threads: everything here runs on the node's loop thread, except the
 * bodies of uv_queue_work jobs (hashes), which touch only a read context.
 */
#ifndef CAIRN_SERVER_API_INTERNAL_H
#define CAIRN_SERVER_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc/rpc.h"
#include "server/api.h"
#include "server/node.h"
#include "store/mvcc.h"

/* Every method cairnd serves on the client port. */
enum api_method {
	API_RANGE,
	API_PUT,
	API_DELETE_RANGE,
	API_TXN,
	API_COMPACT,
	API_WATCH,
	API_LEASE_GRANT,
	API_LEASE_REVOKE,
	API_LEASE_KEEPALIVE,
	API_LEASE_TTL,
	API_LEASE_LEASES,
	API_MEMBER_ADD,
	API_MEMBER_REMOVE,
	API_MEMBER_UPDATE,
	API_MEMBER_LIST,
	API_MEMBER_PROMOTE,
	API_ALARM,
	API_STATUS,
	API_DEFRAGMENT,
	API_HASH,
	API_HASH_KV,
	API_SNAPSHOT,
	API_MOVE_LEADER,
	API_AUTH_ENABLE,
	API_AUTH_DISABLE,
	API_AUTHENTICATE,
	API_USER_ADD,
	API_USER_GET,
	API_USER_LIST,
	API_USER_DELETE,
	API_USER_CHANGE_PASSWORD,
	API_USER_GRANT_ROLE,
	API_USER_REVOKE_ROLE,
	API_ROLE_ADD,
	API_ROLE_GET,
	API_ROLE_LIST,
	API_ROLE_DELETE,
	API_ROLE_GRANT_PERMISSION,
	API_ROLE_REVOKE_PERMISSION,
	API_HEALTH_CHECK,
	API_N_METHODS
};

#define API_N_CODES 17

struct api;
struct watch_hub;
struct api_keepalive;
struct api_snapshot;

/* rpc_method.data of every registered method. */
struct api_method_ref {
	struct api *a;
	int method;
};

/*
 * A unary call answered later (after Raft, a ReadIndex, a worker thread).
 * Lives from the handler to its answer or its cancellation; pooled.
 */
struct api_call {
	struct api *a;
	struct rpc_stream *s; /* NULL once the client went away */
	struct node_wait *w;
	int method;
	bool in_work;           /* a uv_queue_work job holds the call */
	ProtobufCMessage *kept; /* RPC_KEEP_MESSAGES request, freed with the call */
	uint8_t *buf;           /* a copy of the request bytes (reads after ReadIndex) */
	size_t len, cap;
	int64_t rev;        /* physical Compact: the revision; HashKV: the asked one */
	bool physical_wait; /* physical Compact applied, removal pending */
	uint64_t deadline;  /* physical Compact: give up waiting at (uv_now) */
	/* a read waiting for a node barrier or a ReadIndex round (api.c) */
	int (*read_fn)(struct api *a, struct store_mvcc_read *rd, const void *req,
	               ProtobufCMessage **resp);
	const ProtobufCMessageDescriptor *read_desc;
	bool read_fill_header;
	/* results of a worker job */
	int work_err;
	uint32_t hash;
	int64_t hash_rev, compact_rev;
	uv_work_t work;
	struct api_call *next, *prev; /* live list, or the pool */
};

struct api {
	struct node *n;
	struct rpc_server *srv;
	struct api_options opt;
	struct api_method_ref refs[API_N_METHODS];

	/* Scratch for synchronous replies; reset after each (no allocation
	 * per request once grown). */
	struct store_mvcc_arena arena;
	Etcdserverpb__ResponseHeader hdr;

	struct api_call *calls; /* pending */
	struct api_call *pool;
	size_t pool_n;

	struct watch_hub *hub;
	struct api_keepalive *keepalives;
	size_t n_keepalives;
	struct api_snapshot *snapshots;

	uv_timer_t leader_timer;  /* hasleader streams die 3 election timeouts after a loss */
	uv_timer_t compact_timer; /* polls physical compaction progress */
	int open_handles;
	bool stopped, destroy_pending;

	uint64_t handled[API_N_METHODS][API_N_CODES];
};

/* One of the api's uv handles (or the hub) finished closing. */
void api_handle_closed(struct api *a);

/* The method name ("Range") and its service ("etcdserverpb.KV"). */
const char *api_method_name(int method);
const char *api_method_service(int method);

/* ---- answering -------------------------------------------------------- */

/* The gRPC code and message etcd answers err with. */
void api_status_of(int err, int *code, const char **msg);

/* Counts and finishes s; s is invalid afterwards. */
void api_finish(struct api *a, struct rpc_stream *s, int method, int code, const char *msg);
void api_fail(struct api *a, struct rpc_stream *s, int method, int err);
/* Sends msg (its header completed with api_fill_header) and finishes OK. */
void api_reply(struct api *a, struct rpc_stream *s, int method, ProtobufCMessage *msg);
/* Counts a stream that ended by on_cancel. */
void api_count_cancel(struct api *a, int method, int code);

/* Completes the `header` field of an etcd response (allocating one from
 * the api's scratch if it is missing): cluster_id, member_id, raft_term,
 * and revision if it is 0 (etcd's header.fill). */
void api_fill_header(struct api *a, ProtobufCMessage *resp);

/*
 * Serves a read from a fresh read context: fn builds the response in
 * a->arena (keys and values may point into LMDB), then its header is
 * completed (if fill_header) and it is sent before the context ends and the
 * arena is reset. fn returns 0 or the error to answer.
 */
typedef int (*api_read_fn)(struct api *a, struct store_mvcc_read *rd, const void *req,
                           ProtobufCMessage **resp);
void api_serve_read(struct api *a, struct rpc_stream *s, int method, api_read_fn fn,
                    const void *req, bool fill_header);

/*
 * api_serve_read behind a node barrier (node.h: NODE_BARRIER_ANSWERED for
 * reads of this member's state, NODE_BARRIER_COMMITTED for the lessor's):
 * at once when it has passed, the usual case; otherwise once it has, with
 * the request unpacked again from its bytes with desc (desc NULL: fn gets
 * req NULL, for requests without fields). Never blocks the loop.
 */
void api_serve_read_after(struct api *a, struct rpc_stream *s, int method, enum node_barrier b,
                          api_read_fn fn, const ProtobufCMessageDescriptor *desc, const void *req,
                          const uint8_t *bytes, size_t len, bool fill_header);

/*
 * api_serve_read after a ReadIndex round (node_read_index), with the
 * request unpacked from its bytes with desc: the read index covers every
 * write this member answered before the read arrived, so no barrier is
 * needed. Never blocks the loop.
 */
void api_serve_read_linearizable(struct api *a, struct rpc_stream *s, int method, api_read_fn fn,
                                 const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                                 size_t len);

/*
 * The checks etcd's interceptors make before any handler: a stopped
 * server, a learner (unless learner_ok), "hasleader" metadata without a
 * leader. Returns true to go on; otherwise s has been answered.
 */
bool api_precheck(struct api *a, struct rpc_stream *s, int method, bool learner_ok);

/* The api and method of a stream's registered method. */
static inline struct api_method_ref *api_ref(struct rpc_stream *s)
{
	return (struct api_method_ref *)rpc_stream_method_data(s);
}

/* ---- pending calls ----------------------------------------------------- */

struct api_call *api_call_new(struct api *a, struct rpc_stream *s, int method);
/* Answers and releases c (no-op answer if the client went away). */
void api_call_reply(struct api_call *c, ProtobufCMessage *msg);
void api_call_fail(struct api_call *c, int err);
void api_call_free(struct api_call *c);
/* Keeps a copy of the request bytes in c->buf. Returns 0 or -ENOMEM. */
int api_call_keep_bytes(struct api_call *c, const uint8_t *bytes, size_t len);
/* For RPC_KEEP_MESSAGES methods: api_precheck, then a call owning m (freed
 * with it). NULL if s has been answered (m freed). */
struct api_call *api_call_kept(struct rpc_stream *s, const ProtobufCMessage *m, bool learner_ok);
/* on_cancel for methods that answer through an api_call. */
void api_call_on_cancel(struct rpc_stream *s, int code);

/* Proposes ir and answers the call with the applied response. Returns the
 * pending call, or NULL if s has already been answered (out of memory). */
struct api_call *api_propose(struct api *a, struct rpc_stream *s, int method,
                             const Cairnpb__InternalRequest *ir);
/* Proposes an ACTIVATE NOSPACE alarm for this member, then answers
 * "mvcc: database space exceeded" (etcd's quota check waits for the alarm). */
void api_nospace(struct api *a, struct rpc_stream *s, int method);
/* Proposes an ACTIVATE NOSPACE alarm and forgets it. */
void api_raise_nospace(struct api *a);

/* ---- the services' handlers (registered by api.c) ----------------------- */

void api_kv_range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_kv_put(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_kv_delete_range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                         size_t n);
void api_kv_txn(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_kv_compact(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
/* A physical Compact was applied: answer once the store's removal has
 * reached c->rev (or the request timeout passed). */
void api_kv_compact_wait(struct api_call *c);

void api_lease_grant(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_lease_revoke(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_lease_ttl(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_lease_leases(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_keepalive_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                              size_t n);
void api_keepalive_on_half_close(struct rpc_stream *s);
void api_keepalive_on_cancel(struct rpc_stream *s, int code);
/* Ends keep-alive streams: all, or those that asked "hasleader". */
void api_keepalive_end_all(struct api *a, bool only_hasleader, int code, const char *msg);

void api_member_add(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_member_remove(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_member_update(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_member_list(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_member_promote(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                        size_t n);

void api_maint_alarm(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_maint_status(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_maint_defragment(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                          size_t n);
void api_maint_hash(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_maint_hash_kv(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);
void api_maint_move_leader(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                           size_t n);

void api_snapshot_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                             size_t n);
void api_snapshot_on_cancel(struct rpc_stream *s, int code);
void api_snapshot_on_writable(struct rpc_stream *s);
void api_snapshot_end_all(struct api *a, int code, const char *msg);

/* Auth without auth enabled (api_auth.c): method-dispatched. */
void api_auth_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                         size_t n);
void api_health_check(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n);

#endif
