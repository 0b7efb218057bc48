/*
 * server/node_internal.h - the node's private structures, shared by the
 * node_*.c files (one concern each). Not for the services: they use node.h.
 *
 * Threads (docs/ARCHITECTURE.md, "Threads in cairnd"):
 *   loop   - struct node, the Raft core, waits, peers, rpc servers, the WAL
 *            (owner), read contexts for the services;
 *   WAL    - store/wal's writer and housekeeper; wakes the loop (wal_async);
 *   apply  - struct applier: committed entries -> MVCC batches; hands each
 *            committed batch back (apply_async);
 *   libuv's pool - snapshot files, LMDB syncs for log compaction, defrag.
 */
#ifndef CAIRN_SERVER_NODE_INTERNAL_H
#define CAIRN_SERVER_NODE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "internal.pb-c.h"
#include "peer.pb-c.h"
#include "raft/raft.h"
#include "rpc/rpc.h"
#include "server/config.h"
#include "server/node.h"
#include "store/mvcc.h"
#include "store/wal.h"

/* ---- Small containers (node_util.c) -------------------------------------- */

/* u64 -> pointer, open addressing; key 0 is not allowed. */
struct u64map {
	uint64_t *keys;
	void **vals;
	size_t cap, n;
};
int u64map_put(struct u64map *m, uint64_t key, void *val);
void *u64map_get(const struct u64map *m, uint64_t key);
void *u64map_del(struct u64map *m, uint64_t key);
void u64map_free(struct u64map *m);

/* A growable byte buffer. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};
int bytes_reserve(struct bytes *b, size_t extra);
void bytes_free(struct bytes *b);

int64_t node_mono_ns(void);
/* CAIRN_TRACE_RAFT set: debug-log every Raft message (read once). */
bool node__trace_raft(void);

/* ---- Waits ----------------------------------------------------------------- */

enum wait_kind {
	WAIT_PROPOSE = 1,
	WAIT_READ,
	WAIT_RENEW,
	WAIT_TTL,
	WAIT_MEMBER,
	WAIT_MOVE_LEADER,
	WAIT_DEFRAG,
	WAIT_SNAPSHOT,
};

struct node_wait {
	struct node *n;
	uint8_t kind;
	bool queued_done; /* on the done queue (error decided) */
	bool internal;    /* proposed by the node itself (no caller) */
	bool in_read_list;
	bool forwarded;    /* proposal handed to the leader */
	bool physical;     /* compaction with physical = true */
	uint64_t wid;      /* key in n->waits */
	uint64_t req_id;   /* proposals: key in n->proposals */
	uint64_t deadline; /* uv_now() ms */
	size_t heap_idx;   /* position in n->heap, SIZE_MAX if none */
	uint64_t index;    /* proposal placement, 0 if unknown */
	uint64_t term;     /* its term */
	uint64_t read_ctx; /* read round this read belongs to */
	uint64_t read_index;
	uint64_t leader_changes; /* n->leader_changes when proposed */
	int err;
	/* Barrier waits (node__wait_applied): what to do once the applied
	 * index reaches read_index, instead of the callback; it answers and
	 * finishes the wait itself. */
	void (*then)(struct node_wait *w);
	bool from_peer; /* a lease call a follower forwarded: never forward it again */
	struct node_wait *next, *prev;   /* read lists, done queue, retry list */
	struct node_wait *pnext, *pprev; /* proposals with a known index, by index */
	bool in_plist;
	bool in_list;            /* on one of the next/prev lists */
	struct node_wait **list; /* which one */
	union {
		node_result_fn result;
		node_done_fn done;
		node_ttl_fn ttl;
		node_ttl_resp_fn ttl_resp;
		node_members_fn members;
		node_snapshot_fn snap;
	} cb;
	void *arg;
	/* Follower forwarding: the packed entry, kept for retries. */
	struct bytes fwd;
	bool conf;
	/* Per kind. */
	int64_t lease_id;
	bool ttl_keys;
	uint64_t target;
	int64_t compact_rev;
	uint64_t member_id;
	char *snap_path;
	uint64_t snap_size;
};

/* ---- Peers (node_peer.c) --------------------------------------------------- */

struct snap_send; /* node_snap.c */

struct peer {
	struct node *n;
	uint64_t id;
	struct strlist urls;
	char addr[300];
	size_t url_idx;
	struct rpc_client *raft_c; /* the Raft stream's connection */
	struct rpc_call *raft_call;
	struct rpc_client *aux_c; /* Propose, leases, Hello */
	uv_timer_t retry_timer;
	bool timer_init;
	unsigned backoff_ms;
	uint64_t active_since; /* uv_now() when the stream came up; 0: down */
	struct snap_send *snap;
	bool closing;
};

/* ---- Apply thread (node_apply.c) ------------------------------------------- */

struct apply_entry {
	uint64_t index, term;
	uint8_t type;
	uint32_t len;
	size_t off; /* into the job's data */
};

enum apply_job_kind {
	JOB_APPLY = 1,
	JOB_INSTALL,
	JOB_STOP
};

struct apply_job {
	int kind;
	struct apply_job *next;
	struct apply_entry *ents;
	size_t n_ents, cap_ents;
	struct bytes data;
	char *path; /* install */
	uint64_t snap_index, snap_term;
};

enum apply_result_kind {
	RES_NOOP = 0,
	RES_REQUEST,
	RES_CONF
};

struct apply_result {
	uint64_t index, term;
	uint8_t kind;
	uint64_t req_id;
	int err;
	const ProtobufCMessage *resp;
	int req_case; /* Cairnpb__InternalRequest__RequestCase */
	bool physical;
	int64_t compact_rev;
	/* RES_CONF */
	struct raft_conf_change cc;
	Etcdserverpb__Member *member; /* in the out's arena */
	bool cc_apply;                /* pass to raft_conf_change_apply */
	bool answered;                /* handled by node__on_apply_early */
};

struct apply_out {
	struct apply_out *next;
	struct apply_out *early_next; /* the early queue */
	struct apply_result *res;
	size_t n_res, cap_res;
	/* Early reply: res[0, n_early) were handed to the loop before the
	 * LMDB commit (read-only from then on, for both threads); early_rev is
	 * the store's revision after them. */
	size_t n_early;
	int64_t early_rev;
	uint64_t first, last; /* indexes covered; 0 if none */
	struct store_mvcc_arena arena;
	struct store_mvcc_arena feed_arena;
	struct store_mvcc_feed feed;
	/* The feed went to the loop with the early results (the events of
	 * res[0, n_early)); the commit hands over no other. */
	bool feed_early;
	struct apply_out *feed_next; /* n->feed_pending */
	int fatal;                   /* storage failure: stop the node */
	bool installed;              /* an install job */
	uint64_t install_applied;
	uint64_t commit_ns;
};

struct applier {
	struct node *n;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct apply_job *head, *tail; /* queued jobs */
	struct apply_job *free_jobs;
	struct apply_out *done_head, *done_tail;   /* for the loop */
	struct apply_out *early_head, *early_tail; /* results before their commit */
	uint64_t commit_delay_ms;                  /* fault injection: sleep before commit */
	struct apply_out *free_outs;
	bool feed;
	bool compacting; /* physical compaction left to do */
	uv_async_t async;
	/* metrics (apply thread writes, loop reads under mu) */
	uint64_t commit_buckets[15];
	uint64_t commit_count;
	double commit_sum;
};

int applier_start(struct node *n);
void applier_stop(struct node *n);
/* Queues the committed range [first, last] (read from the WAL now). */
int applier_queue_range(struct node *n, uint64_t first, uint64_t last);
int applier_queue_install(struct node *n, const char *path, uint64_t index, uint64_t term);

/* ---- The node -------------------------------------------------------------- */

struct persist_rec {
	struct raft_persist_mark mark;
	uint64_t seq;
	struct bytes msgs; /* after-persist messages: [u64 to][u32 len][bytes]... */
};

struct read_round {
	uint64_t ctx;
	uint64_t started;
	struct node_wait *head; /* waits of this round */
};

struct fault_state {
	uint64_t *drop;
	size_t n_drop;
	uint64_t delay_ms;
	uint64_t commit_delay_ms; /* the apply thread sleeps between early replies and commit */
};

struct node_metrics {
	uint64_t leader_changes;
	uint64_t proposals_failed;
	uint64_t proposals_committed;
	uint64_t proposals_applied;
	uint64_t slow_applies;
	uint64_t snapshots_sent, snapshots_received, snapshots_taken;
};

struct node {
	uv_loop_t *loop;
	const struct cairn_config *cfg;
	uint64_t id;
	uint64_t cluster_id;
	char *name;
	char *member_dir, *wal_dir, *mvcc_dir, *snap_dir;

	struct raft *raft;
	struct store_wal *wal;
	struct store_mvcc *mvcc;
	struct applier ap;

	/* Raft soft state, as last seen. */
	uint8_t role;
	uint64_t leader;
	uint64_t term;
	uint64_t commit;
	uint64_t applied; /* raft_applied() so far: visible to read contexts */
	/* Early replies (node_apply.c): the highest index and the store
	 * revision of a write this member answered before its LMDB commit.
	 * The read barriers (node.h) wait for applied >= answered_index. */
	uint64_t answered_index;
	int64_t answered_rev;
	/* The highest compaction applied before its commit (it counts as
	 * answered too): node_compaction_pending(). */
	int64_t early_compact_rev;
	uint64_t queued_apply; /* last index handed to the apply thread */
	bool is_learner;

	/* Ready draining. */
	uv_idle_t ready_idle;
	bool ready_pending;
	uv_timer_t tick_timer;
	uv_async_t wal_async;
	struct persist_rec *persist;
	size_t persist_head, persist_n, persist_cap;
	uint64_t durable_seq;
	struct raft_hard_state saved_hs; /* last queued to the WAL */
	uint64_t last_snapshot_index;    /* raft_snapshot_available() so far */
	bool snapshotting;
	bool installing;

	/* Encoding scratch for outgoing Raft messages. */
	Cairnpeer__Entry *enc_ents;
	Cairnpeer__Entry **enc_ptrs;
	struct store_wal_entry *enc_wal;
	size_t enc_cap;
	uint64_t *enc_ids;
	size_t enc_ids_cap;
	struct bytes prop_buf; /* packed proposals */

	/* Waits. */
	struct u64map waits;     /* wid -> wait */
	struct u64map proposals; /* req_id -> wait */
	struct node_wait **heap;
	size_t heap_n, heap_cap;
	uv_timer_t deadline_timer;
	uint64_t next_wid;
	struct node_wait *free_waits;
	struct node_wait *done_head, *done_tail;
	struct node_wait *reads_pending; /* not yet in a round (list) */
	struct read_round round;         /* in flight, ctx 0 if none */
	struct node_wait *reads_waiting; /* have a read index, wait for apply */
	uint64_t next_read_ctx;
	uint64_t req_prefix, req_suffix;
	struct node_wait *physical_waits;
	struct node_wait *retry; /* proposals to submit again */
	bool retry_now;          /* a leader appeared: retry after the Ready */
	struct node_wait *plist_head, *plist_tail;

	/* Peers. */
	struct peer **peers;
	size_t n_peers;
	struct rpc_server *peer_srv;
	struct fault_state fault;

	/* Callbacks for the services. */
	node_feed_fn feed_fn;
	void *feed_arg;
	/* Outs whose feed went out early and that the loop has not taken back
	 * (node_feed_pending), oldest first. */
	struct apply_out *feed_pending, *feed_pending_tail;
	node_leader_fn leader_fn;
	void *leader_arg;

	/* Leases, compaction, publishing. */
	uv_timer_t lease_timer;
	uint64_t lease_tick;
	bool published;
	uint64_t publish_wid;
	uint64_t compactor_last_ms;
	int64_t compactor_last_rev;
	struct {
		uint64_t at_ms;
		int64_t rev;
	} compactor_samples[128];
	size_t compactor_n;

	/* Shutdown. */
	int stopping; /* 1: stopping (transfer), 2: closed */
	bool removed;
	void (*on_stop_request)(struct node *n, int code);

	struct node_metrics m;
	uint64_t started_ms;
};

/* node.c */
void node__schedule_ready(struct node *n);
void node__process_ready(struct node *n);
void node__request_stop(struct node *n, int code);
uint64_t node__next_req_id(struct node *n);
void node__members_changed(struct node *n);
uint64_t node__request_timeout_ms(struct node *n);

/* node_ready.c */
int node__ready_init(struct node *n);
void node__ready_close(struct node *n);
void node__on_apply_out(struct node *n, struct apply_out *out);
void node__on_apply_early(struct node *n, struct apply_out *out);
void node__wal_store(struct node *n, uint64_t index, uint64_t term, uint8_t type, const void *data,
                     size_t len);

/* node_wait.c */
struct node_wait *wait_new(struct node *n, int kind, uint64_t timeout_ms, void *arg);
void wait_fail_later(struct node_wait *w, int err);
void wait_finish(struct node_wait *w);
void wait_complete_proposal(struct node_wait *w, int err, const ProtobufCMessage *resp);
void node__waits_init(struct node *n);
void node__waits_close(struct node *n);
void node__run_done_queue(struct node *n);
void node__on_read_states(struct node *n, const struct raft_read_state *rs, size_t n_rs);
void node__reads_applied(struct node *n);
/* Runs w->then (or the WAIT_READ callback) once n->applied >= index: from
 * the done queue if it already is, never from inside this call. */
void node__wait_applied(struct node_wait *w, uint64_t index, void (*then)(struct node_wait *w));
uint64_t node__barrier_index(struct node *n, enum node_barrier b);
void node__reads_leader_changed(struct node *n);
void node__proposals_applied(struct node *n, uint64_t applied);
int node__propose_local(struct node *n, const uint8_t *data, size_t len, bool conf,
                        const struct raft_conf_change *cc, uint64_t *index, uint64_t *term);
int node__raft_err(int rc);
int node__conf_raft_err(int rc, const struct raft_conf_change *cc);
void node__propose_internal(struct node *n, const Cairnpb__InternalRequest *req);
void node__forward_proposal(struct node_wait *w);

/* node_peer.c */
int node__peer_server_start(struct node *n);
struct peer *node__peer_get(struct node *n, uint64_t id);
struct peer *node__peer_ensure(struct node *n, uint64_t id, char *const *urls, size_t n_urls);
void node__peer_remove(struct node *n, uint64_t id);
void node__peers_close(struct node *n);
void node__send(struct node *n, const struct raft_message *m);
void node__send_bytes(struct node *n, uint64_t to, const uint8_t *data, size_t len);
int node__encode_message(struct node *n, const struct raft_message *m, struct bytes *out);
bool node__fault_drops(struct node *n, uint64_t peer);
/* "http://host:port/" -> "host:port". */
void node__url_to_addr(const char *url, char *out, size_t outlen);
int node__fault_http(struct node *n, const char *query, char *out, size_t outlen);
bool node__peer_active_since(struct node *n, uint64_t id, uint64_t since);
struct rpc_client *node__peer_aux(struct node *n, uint64_t id);
int node__hello(const struct cairn_config *cfg, uv_loop_t *loop, Cairnpeer__HelloResponse **out);

/* node_snap.c */
void node__snap_send(struct node *n, const struct raft_message *m);
void node__snap_cancel(struct peer *p);
int node__snap_recv_register(struct node *n, struct rpc_server *srv);
void node__maybe_snapshot(struct node *n);
void node__install_ready(struct node *n, const struct raft_snapshot_meta *meta);
int node__conf_blob(const struct raft_snapshot_meta *meta, struct bytes *out);

/* node_lease.c */
void node__lease_start(struct node *n);
void node__lease_stop(struct node *n);
void node__leadership_changed(struct node *n, bool was_leader, bool is_leader);

/* node_member.c */
void node__apply_conf_result(struct node *n, const struct apply_result *r);
void node__publish(struct node *n);
int node__member_checks_leader(struct node *n, const struct raft_conf_change *cc);

/* node_http.c */
void node__http(void *arg, const struct rpc_http1_request *req, struct rpc_http1_reply *reply);

#endif
