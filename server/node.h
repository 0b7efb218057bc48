/*
 * server/node.h - the node: what cairnd's etcd services (server/api_*.c) may
 * ask of the replicated state machine under them.
 *
 * A node is one cairn member: the Raft core (raft/) driven on a libuv loop,
 * its WAL (store/wal.h) written by the WAL thread, committed entries applied
 * to the MVCC store (store/mvcc.h) by the apply thread, and the peer
 * transport to the other members (rpc/ on the peer port). The services above
 * it never touch Raft, the WAL or the peers: they call this header.
 *
 *   client --rpc/--> api_kv.c ... --node.h--> node (raft, WAL, apply, peers)
 *                        |                         |
 *                        +------ store/mvcc.h <----+  (read contexts: reads)
 *
 * THREADS
 *
 *   Every function here is called on the node's loop thread, and every
 *   callback is made on it. Callbacks are never made from inside the call
 *   that registered them (so a handler may finish its rpc stream in them).
 *
 * WAITS
 *
 *   node_propose(), node_read_index() and the other asynchronous calls return
 *   a struct node_wait* the caller may cancel (e.g. its client went away):
 *   after node_wait_cancel() no callback is made. Otherwise the callback is
 *   made exactly once, and the wait is freed when it returns. Each wait has a
 *   deadline (etcd's request timeout: 5 s + 2 x election timeout, or the
 *   client's grpc-timeout if sooner); when it passes, the callback gets
 *   NODE_ETIMEOUT.
 *
 * ERRORS
 *
 *   Callbacks and functions report 0, a STORE_MVCC_E* code (etcd errors from
 *   the state machine, with their messages and gRPC codes in store/mvcc.h),
 *   or a NODE_E* code below; node_strerror() and node_grpc_code() map every
 *   one of them to etcd's exact message and gRPC code.
 */
#ifndef CAIRN_SERVER_NODE_H
#define CAIRN_SERVER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal.pb-c.h"
#include "rpc.pb-c.h"
#include "store/mvcc.h"

struct node;
struct node_wait;

/* Node errors: etcd's messages (etcdserver/api/v3rpc/rpctypes/error.go). */
enum {
	NODE_ENOLEADER = -4301,          /* Unavailable "etcdserver: no leader" */
	NODE_ENOTLEADER = -4302,         /* FailedPrecondition "etcdserver: not leader" */
	NODE_ELEADER_CHANGED = -4303,    /* Unavailable "etcdserver: leader changed" */
	NODE_ETIMEOUT = -4304,           /* Unavailable "etcdserver: request timed out" */
	NODE_ETIMEOUT_LEADER = -4305,    /* Unavailable "etcdserver: request timed out,
	                                    possibly due to previous leader failure" */
	NODE_ETOO_MANY_REQUESTS = -4306, /* Unknown "etcdserver: too many requests" */
	NODE_ESTOPPED = -4307,           /* Unavailable "etcdserver: server stopped" */
	NODE_EREQUEST_TOO_LARGE = -4308, /* InvalidArgument "etcdserver: request is too large" */
	NODE_ELEARNER_NOT_READY = -4309, /* FailedPrecondition "etcdserver: can only promote a
	                                    learner member which is in sync with leader" */
	NODE_EUNHEALTHY = -4310,         /* Unavailable "etcdserver: unhealthy cluster" */
	NODE_EBAD_TRANSFEREE = -4311, /* FailedPrecondition "etcdserver: bad leader transferee" */
	NODE_ELEARNER_RPC = -4312,    /* Unavailable "etcdserver: rpc not supported for learner" */
	NODE_EINVALID_URLS = -4313,   /* InvalidArgument "etcdserver: given member URLs are
	                                 invalid" */
	NODE_ECANCELED = -4314,       /* Canceled "etcdserver: request cancelled" */
	NODE_ENOT_ENOUGH_STARTED = -4315, /* Unknown "etcdserver: re-configuration failed due
	                                     to not enough started members" (strict reconfig) */
	NODE_EDEADLINE = -4316,           /* Unknown "context deadline exceeded": a write that never
	                                     reached a leader before its deadline (etcd 3.4 returns
	                                     the raw context error from raft's Propose) */
};

/* etcd's message for err (NODE_E*, STORE_MVCC_E*, negated errno). */
const char *node_strerror(int err);
/* The gRPC code etcd answers err with. */
int node_grpc_code(int err);

/* ---- Identity and state ---------------------------------------------- */

struct node_info {
	uint64_t cluster_id;
	uint64_t member_id;
	const char *name;
	uint64_t term;   /* current Raft term */
	uint64_t leader; /* 0 if none known */
	bool is_leader;
	bool is_learner;
	uint64_t commit_index;  /* Raft commit index (Status.raftIndex) */
	uint64_t applied_index; /* applied to the store (Status.raftAppliedIndex) */
};
void node_info(struct node *n, struct node_info *out);

/* True if a leader is known (the "hasleader" metadata check). */
bool node_has_leader(struct node *n);

/* The state machine, for reads (store_mvcc_read_begin on the loop thread),
 * the lessor's queries and maintenance. Never NULL while the node runs. */
struct store_mvcc *node_store(struct node *n);

/* The loop the node runs on (the services' timers share it). */
uv_loop_t *node_loop(struct node *n);

/* Fills an etcd response header: cluster_id, member_id, raft_term, and
 * revision (the caller's, or the store's current if revision <= 0). */
void node_fill_header(struct node *n, Etcdserverpb__ResponseHeader *h, int64_t revision);

/* ---- Writes: replicated requests -------------------------------------- */

/*
 * The outcome of a replicated request, valid during the callback only:
 * err is 0 or the etcd error the apply produced (the request had no effect,
 * except STORE_MVCC_ENOSPACE, see store/mvcc.h); resp is the response message
 * of the request's type (Etcdserverpb__PutResponse for a put, ...) with
 * header.revision set, or NULL on error. The caller fills the rest of the
 * header (node_fill_header) and sends it.
 */
struct node_result {
	int err;
	const ProtobufCMessage *resp;
};
typedef void (*node_result_fn)(void *arg, int err, const struct node_result *res);

/*
 * Replicates req (its request oneof set; the node assigns req->id) and calls
 * done once it has been applied on this member, with the result (before the
 * apply is visible to reads: see the barriers below). On a
 * follower the request is forwarded to the leader. Checks done before
 * proposing, answered at once (through done, never synchronously): the
 * request size against --max-request-bytes (NODE_EREQUEST_TOO_LARGE), too
 * many requests (committed - applied > 5000: NODE_ETOO_MANY_REQUESTS). With
 * no leader the request waits for one, as etcd 3.4's does, until the
 * deadline (NODE_ETIMEOUT). timeout_ms 0: the request timeout. Once
 * proposed, a failure to learn the outcome is reported as NODE_ETIMEOUT (the
 * entry may still commit: outcome unknown, reference T5).
 * req is read, never kept. Returns the wait, or NULL if out of memory (done
 * is then never called).
 */
struct node_wait *node_propose(struct node *n, const Cairnpb__InternalRequest *req,
                               uint64_t timeout_ms, node_result_fn done, void *arg);

/* Stops waiting: no callback will be made. The request, if proposed, goes
 * on. wait may be NULL. */
void node_wait_cancel(struct node_wait *w);

/* ---- Linearizable reads ------------------------------------------------ */

typedef void (*node_done_fn)(void *arg, int err);

/*
 * ReadIndex (reference raft.md C12): calls done(arg, 0) once this member has
 * applied everything committed before the call, so a read context begun in
 * the callback sees every write acknowledged before node_read_index() was
 * called. Concurrent calls share one heartbeat round. Errors: NODE_ENOLEADER,
 * NODE_ETIMEOUT, NODE_ESTOPPED.
 */
struct node_wait *node_read_index(struct node *n, uint64_t timeout_ms, node_done_fn done,
                                  void *arg);

/* ---- Reading what this member has answered: barriers --------------------- */

/*
 * A write is answered as soon as the apply thread has computed its result
 * inside the LMDB write transaction ("early reply"), before that
 * transaction commits: its entry is already durable on a quorum of WALs and
 * its result is deterministic, so a crash before the commit replays it with
 * the same result. What the commit makes visible comes a little later
 * (normally one fdatasync): read contexts (store_mvcc_read_begin), the
 * lessor, store_mvcc_state(), the change feed, the applied index
 * (node_info, linearizable reads). etcd answers after applying to its
 * backend's in-memory buffer, which its reads see at once; these barriers
 * keep what a client can observe the same:
 *
 *   NODE_BARRIER_ANSWERED   every write this member has answered is visible
 *                           (etcd's serializable reads see what their member
 *                           applied): serializable Range and Txn, Status,
 *                           MemberList, Hash, HashKV, Snapshot.
 *   NODE_BARRIER_COMMITTED  everything committed, as this member knows it
 *                           now, is visible (the lessor: LeaseLeases, and on
 *                           the leader KeepAlive and TimeToLive, also when a
 *                           follower forwards them). A local barrier: no
 *                           Raft round.
 *
 * Linearizable reads need neither: node_read_index() waits for the visible
 * applied index, and its read index covers every write answered before it.
 */
enum node_barrier {
	NODE_BARRIER_ANSWERED = 1,
	NODE_BARRIER_COMMITTED,
};

/* True if a read context begun now satisfies b: the usual case, checked
 * before node_barrier_wait() so that a read costs no wait. */
bool node_barrier_passed(struct node *n, enum node_barrier b);

/* Calls done(arg, 0) once a read context begun in the callback satisfies b
 * as it stood at this call (one LMDB commit away while the apply thread
 * runs). Errors: NODE_ETIMEOUT, NODE_ESTOPPED. Never blocks the loop. */
struct node_wait *node_barrier_wait(struct node *n, enum node_barrier b, uint64_t timeout_ms,
                                    node_done_fn done, void *arg);

/* True while a compaction this member applied is not shown by read
 * contexts yet (its commit is on its way: NODE_BARRIER_ANSWERED covers it).
 * History readers that must refuse what it removed wait for the barrier. */
bool node_compaction_pending(struct node *n);

/* The revision every answer this member gave covers: the store's, or the
 * revision of an answered but not yet committed batch if that is higher
 * (etcd's current revision, which counts what it applied). Headers with
 * "the current revision" and watches starting now use it. */
int64_t node_current_revision(struct node *n);

/* ---- Change feed --------------------------------------------------------- */

/*
 * Called for every apply batch that wrote revisions, in order, with the
 * batch's events (store/mvcc.h struct store_mvcc_feed, prev_kv included):
 * as a rule together with the batch's early replies, before its LMDB commit
 * (node_apply.c), so watchers hear of a write no later than its writer;
 * after the commit when the early copy could not be made. A read context
 * may not show the events yet: those it cannot show are in the feeds
 * node_feed_pending() lists. The callback returns true if it may have sent
 * any event on (a watcher was listening): reads on this member then wait
 * for the commit too (NODE_BARRIER_ANSWERED), so nobody reads a state older
 * than an event they were sent. The watch hub registers it. One callback
 * per node.
 */
typedef bool (*node_feed_fn)(void *arg, const struct store_mvcc_feed *feed);
void node_set_feed(struct node *n, node_feed_fn fn, void *arg);

/* The i-th (0: oldest) of the feeds handed over before their commit whose
 * batch the loop has not taken back, or NULL past the last: every event
 * the feed delivered above the revision of a read context begun now is in
 * them (some of them may be visible already). Valid until the loop next
 * runs the apply callbacks; at most a few at a time. */
const struct store_mvcc_feed *node_feed_pending(struct node *n, size_t i);

/* Called when this member's view of the leader changes (leader 0: lost).
 * The services cancel "hasleader" streams after 3 leaderless election
 * timeouts, as etcd does. One callback per node. */
typedef void (*node_leader_fn)(void *arg, uint64_t leader);
void node_set_leader_watch(struct node *n, node_leader_fn fn, void *arg);

/* ---- Leases ---------------------------------------------------------------- */

/* A positive 63-bit lease ID unique in the cluster (for LeaseGrant ID 0). */
int64_t node_lease_id(struct node *n);

/*
 * LeaseKeepAlive for one request: on the leader renews locally, once the
 * lessor has applied everything committed when the request arrived
 * (NODE_BARRIER_COMMITTED: a lease whose grant was answered is never
 * unknown); on a follower forwards to the leader, which does the same.
 * done gets the granted TTL, or 0 if the
 * lease is unknown or expired (etcd answers TTL 0, no error); err is set
 * only for NODE_E* failures (no leader, timeout).
 */
typedef void (*node_ttl_fn)(void *arg, int err, int64_t ttl);
struct node_wait *node_lease_renew(struct node *n, int64_t id, node_ttl_fn done, void *arg);

/* LeaseTimeToLive as the leader answers it (forwarded from followers), after
 * the same barrier as node_lease_renew(). The response is valid during the
 * callback only. */
typedef void (*node_ttl_resp_fn)(void *arg, int err,
                                 const Etcdserverpb__LeaseTimeToLiveResponse *resp);
struct node_wait *node_lease_time_to_live(struct node *n,
                                          const Etcdserverpb__LeaseTimeToLiveRequest *req,
                                          node_ttl_resp_fn done, void *arg);

/* ---- Cluster membership -------------------------------------------------- */

/*
 * Member changes as Raft configuration changes, with etcd's checks
 * (ValidateConfigurationChange, isReadyToAddVotingMember,
 * isReadyToRemoveVotingMember with strict reconfiguration, one learner at a
 * most, a learner promoted only when in sync: NODE_ELEARNER_NOT_READY).
 * done gets the member list after the change (valid during the callback);
 * for add, added is the new member.
 */
typedef void (*node_members_fn)(void *arg, int err, const Etcdserverpb__Member *added,
                                Etcdserverpb__Member *const *members, size_t n_members);
struct node_wait *node_member_add(struct node *n, char *const *peer_urls, size_t n_urls,
                                  bool is_learner, node_members_fn done, void *arg);
struct node_wait *node_member_remove(struct node *n, uint64_t id, node_members_fn done, void *arg);
struct node_wait *node_member_update(struct node *n, uint64_t id, char *const *peer_urls,
                                     size_t n_urls, node_members_fn done, void *arg);
struct node_wait *node_member_promote(struct node *n, uint64_t id, node_members_fn done, void *arg);

/* ---- Maintenance ---------------------------------------------------------- */

/* MoveLeader: this member must be the leader (NODE_ENOTLEADER); target must
 * be a voter (NODE_EBAD_TRANSFEREE). done once target leads, or
 * NODE_ETIMEOUT. */
struct node_wait *node_move_leader(struct node *n, uint64_t target, node_done_fn done, void *arg);

/* Defragment this member's store on a worker thread (writes wait meanwhile,
 * as in etcd). */
struct node_wait *node_defragment(struct node *n, node_done_fn done, void *arg);

/*
 * Maintenance/Snapshot: writes a consistent copy of the store (every write
 * this member answered included: NODE_BARRIER_ANSWERED) to a temporary
 * file on a worker thread, then calls done with its path and size. The
 * caller streams it (in etcd's 32 KiB chunks, at the pace the client reads,
 * adding etcd's SHA-256 trailer) and unlinks it when finished or canceled.
 */
typedef void (*node_snapshot_fn)(void *arg, int err, const char *path, uint64_t size);
struct node_wait *node_snapshot(struct node *n, node_snapshot_fn done, void *arg);

/* Errors of this member to show in Status.errors ("etcdserver: no leader",
 * active alarms are read from the store by the caller). */
size_t node_status_errors(struct node *n, const char **out, size_t max);

#endif
