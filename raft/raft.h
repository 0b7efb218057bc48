/*
 * raft/raft.h - cairn's Raft consensus core: the whole contract.
 *
 * The core is a pure, deterministic state machine. It performs no I/O, reads
 * no clock, starts no thread and owns no source of randomness (the host gives
 * it a seed). It depends on libc only. The host (cairnd's node loop, or the
 * simulator in tests/sim/) feeds it events and drains the work it produces:
 *
 *   events in                               updates out (struct raft_ready)
 *   ---------                               -------------------------------
 *   raft_tick()            time passed      soft state (role, leader, term)
 *   raft_step()            message received hard state to persist (term, vote, commit)
 *   raft_propose()         client write     snapshot to install
 *   raft_propose_conf_change()              log entries to persist
 *   raft_conf_change_apply() conf applied   messages to send now
 *   raft_read_index()      linearizable read messages to send once persisted
 *   raft_transfer_leadership()              committed entries to apply (index range)
 *   raft_persisted()       write is durable read states (context -> read index)
 *   raft_applied()         entries applied
 *   raft_snapshot_available(), raft_compact(), raft_snapshot_sent(),
 *   raft_report_unreachable(), raft_campaign()
 *
 * Payloads. Entry payloads are opaque bytes owned by the host. The core keeps
 * only a descriptor per entry (term, type, size: 16 bytes), bounded by
 * compaction. Outgoing appends name an index range and carry descriptors; the
 * host fills in the payloads from its own log (the WAL keeps recent entries,
 * including entries still being written, in memory). The host stores payloads
 * in its log at three moments only:
 *   - raft_propose*() returned (index, term): store the payload at index;
 *   - raft_step() of a RAFT_MSG_APPEND filled a struct raft_accept: copy the
 *     named entries of that message (whose buffers the core borrowed for the
 *     duration of the call) into the log at the named index, discarding any
 *     entries the host holds at that index and above;
 *   - a Ready lists an entry beyond the end of the host's log: it is a new
 *     leader's no-op, created by the core (size 0): store it empty.
 * Committed entries are announced as an index range; the host reads them from
 * its log.
 *
 * Configuration changes take effect when applied (etcd's semantics): the core
 * validates and appends a conf-change entry, and the host calls
 * raft_conf_change_apply() when it applies that entry. One voter changes at a
 * time. A leader appends a new conf-change entry only when an entry of its
 * current term is committed (the 2015 fix, checked literally as
 * term(commit) == current term) and the previous change is applied.
 *
 * Threads: a struct raft is not thread-safe; call it from one thread.
 *
 * ---------------------------------------------------------------------------
 * Driving the core: what the host does with each Ready, in this order
 * ---------------------------------------------------------------------------
 *
 *   while (raft_has_ready(r)) {
 *       struct raft_ready rd;
 *       raft_ready(r, &rd);
 *    1. if rd.soft_state_changed: note role / leader / term.
 *       Then bring the host's log cache in line with rd.entries[]: the core
 *       creates one kind of entry itself, a new leader's no-op (type
 *       RAFT_ENTRY_NORMAL, size 0). Any entry of rd.entries[] beyond the end
 *       of the host's log is such a no-op: store an empty payload for it
 *       before sending this Ready's messages, which may carry it.
 *    2. send rd.messages[] now. They do not depend on anything in this Ready
 *       being durable (appends and heartbeats of a leader whose term is
 *       already durable, vote and pre-vote requests: the candidate counts its
 *       own vote only once it is durable). For a RAFT_MSG_SNAPSHOT, stream the
 *       snapshot named by m->snapshot and report raft_snapshot_sent().
 *    3. persist, in this order or atomically:
 *         a. rd.snapshot (if not NULL): install the snapshot data received with
 *            the RAFT_MSG_SNAPSHOT of that index/term (the host keeps the data
 *            of the last snapshot message it stepped until the next Ready):
 *            record the snapshot and its metadata, configuration included;
 *            stored entries at or below its index are superseded. If the log
 *            did not hold the snapshot's last entry, rd.entries_first is
 *            snapshot index + 1 and the rest of the log goes too (b);
 *         b. rd.entries[]: discard stored entries with index >= rd.entries_first,
 *            then write entries rd.entries_first .. + rd.n_entries - 1 from the
 *            host's log cache;
 *         c. rd.hard_state if rd.hard_state_changed.
 *       When all of it, and everything of earlier Readies, is durable, call
 *       raft_persisted(r, &rd.persist). Completions must be reported in the
 *       order the Readies were produced; one call may cover several Readies
 *       (name the newest). This may happen asynchronously, while later Readies
 *       are drained (pipelined writes, group commit).
 *    4. send rd.after_persist[] only when step 3 (and the persistence of every
 *       earlier Ready) is durable: append responses (acknowledgements and
 *       rejections) and vote and pre-vote responses (C1: persist before
 *       responding; etcd's msgsAfterAppend). Everything else is in
 *       rd.messages: a leader's traffic (its term is durable before it
 *       leads), vote requests, heartbeat responses and forwarded reads, which
 *       are safe to send before this Ready's writes.
 *    5. apply the committed entries rd.apply_first .. rd.apply_last (empty when
 *       apply_first > apply_last) in order, reading them from the host's log.
 *       Only locally durable entries are ever in the range. For a conf-change
 *       entry call raft_conf_change_apply(). Then call raft_applied(r, last).
 *       Applying may run asynchronously (an apply thread) and overlap later
 *       Readies; ranges never overlap and come in order. If a Ready carries a
 *       snapshot, finish (or drop) the earlier ranges before installing it:
 *       entries at or below the snapshot index are replaced by it, and the core
 *       hands out no range at or below it afterwards.
 *    6. rd.reads[]: for each, once the local applied index >= read.index, serve
 *       the read tagged read.context. A read with index 0 failed (leadership
 *       lost, no leader known): retry it.
 *   }
 *
 * Ownership. Everything a Ready points to (messages, entry descriptors,
 * configurations, read states, the snapshot metadata) is owned by the core
 * and stays valid until the next call to raft_ready() or raft_destroy(); other
 * calls do not touch it. Pointers the host passes in (messages, entries,
 * configurations, snapshot metadata) are borrowed for the duration of the
 * call only: the core copies what it keeps.
 *
 * Errors: functions return 0 or a negative RAFT_E* code; raft_strerror()
 * names it. assert() guards the core's own invariants only; input from the
 * network or the disk is validated and refused with RAFT_EINVAL. Memory:
 * raft_create() and raft_snapshot_available() return RAFT_ENOMEM; when an
 * internal buffer cannot grow in the middle of an event the core calls
 * abort() (as etcd panics), since a half-applied event could break safety.
 * In steady state the core allocates nothing per entry or per message: its
 * buffers are reused.
 */
#ifndef CAIRN_RAFT_RAFT_H
#define CAIRN_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Node IDs are etcd member IDs. 0 means "none". */
#define RAFT_NONE 0

/* Error codes (negative, errno-style). */
enum raft_error {
	RAFT_ENOMEM = -1,       /* allocation failed; the core is unchanged */
	RAFT_EINVAL = -2,       /* invalid argument or malformed message */
	RAFT_ENOTLEADER = -3,   /* this node is not the leader */
	RAFT_ENOLEADER = -4,    /* no leader known (a read cannot be forwarded) */
	RAFT_ETRANSFER = -5,    /* leadership transfer in progress: proposals refused */
	RAFT_EOVERLOAD = -6,    /* uncommitted log over max_uncommitted_bytes */
	RAFT_ECONFPENDING = -7, /* previous configuration change not yet applied */
	RAFT_ENOTREADY = -8,    /* leader has not yet committed an entry of its term */
	RAFT_ENOTVOTER = -9,    /* this node (or the target) is not a voter */
	RAFT_ESTALE = -10,      /* report no longer matches the log: ignored */
};

/* Returns a static, human-readable description of a RAFT_E* code. */
const char *raft_strerror(int err);

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRE_CANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

const char *raft_role_name(enum raft_role role);

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 0,      /* opaque payload (an empty one is a no-op) */
	RAFT_ENTRY_CONF_CHANGE = 1, /* payload encodes a struct raft_conf_change */
};

/*
 * A log entry as it crosses the API. Its index is implied by its position:
 * in a message, entries[i] has index m->index + 1 + i; in a Ready,
 * rd.entries[i] has index rd.entries_first + i. data is set by the host in
 * messages it steps (borrowed for the call) and is always NULL in what the
 * core hands out: the host fills payloads from its own log.
 */
struct raft_entry {
	uint64_t term;
	uint32_t size; /* payload bytes (counts toward the flow-control limits) */
	uint8_t type;  /* enum raft_entry_type */
	const void *data;
};

/*
 * A cluster configuration: voters and learners, as of some log index.
 * Arrays the core hands out are sorted ascending; arrays passed in may be in
 * any order. Either way they hold no duplicates and are disjoint.
 */
struct raft_conf {
	const uint64_t *voters;
	size_t n_voters;
	const uint64_t *learners;
	size_t n_learners;
};

enum raft_conf_change_type {
	RAFT_CONF_ADD_VOTER = 0,       /* absent node becomes a voter */
	RAFT_CONF_ADD_LEARNER = 1,     /* absent node becomes a learner */
	RAFT_CONF_PROMOTE_LEARNER = 2, /* learner becomes a voter */
	RAFT_CONF_REMOVE_NODE = 3,     /* voter or learner leaves */
	RAFT_CONF_UPDATE_NODE = 4,     /* membership unchanged; context changes */
};

/*
 * One single-node configuration change. context is opaque member metadata
 * for the host (etcd's ConfChange.Context: peer URLs, name); the core never
 * reads it. The host encodes the change into the entry payload itself.
 */
struct raft_conf_change {
	uint8_t type; /* enum raft_conf_change_type */
	uint64_t node_id;
	const void *context;
	size_t context_len;
};

/* What must be durable: term, vote, commit index (C1). */
struct raft_hard_state {
	uint64_t term;
	uint64_t vote; /* RAFT_NONE if no vote in term */
	uint64_t commit;
};

/* Volatile state the host may show (role changes, leader hints for clients). */
struct raft_soft_state {
	uint8_t role;    /* enum raft_role */
	uint64_t leader; /* RAFT_NONE if unknown */
	uint64_t term;
};

/*
 * Snapshot metadata: the state machine as of log entry (index, term) and the
 * configuration as of that index (C6). The snapshot's term describes its last
 * entry; it is never copied into the node's current term (T2).
 */
struct raft_snapshot_meta {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
};

enum raft_message_type {
	RAFT_MSG_APPEND = 0,             /* leader -> follower: entries after (index, log_term) */
	RAFT_MSG_APPEND_RESPONSE = 1,    /* follower -> leader */
	RAFT_MSG_HEARTBEAT = 2,          /* leader -> all: commit, read-round context */
	RAFT_MSG_HEARTBEAT_RESPONSE = 3, /* echoes context */
	RAFT_MSG_VOTE = 4,               /* candidate -> voters */
	RAFT_MSG_VOTE_RESPONSE = 5,      /* reject = false grants the vote */
	RAFT_MSG_PRE_VOTE = 6,           /* would-be candidate -> voters, term + 1 */
	RAFT_MSG_PRE_VOTE_RESPONSE = 7,  /* reject = false would grant */
	RAFT_MSG_SNAPSHOT = 8,    /* leader -> follower: install snapshot (data out of band) */
	RAFT_MSG_TIMEOUT_NOW = 9, /* leader -> transfer target: campaign now */
	RAFT_MSG_READ_INDEX = 10, /* follower -> leader: read request (context) */
	RAFT_MSG_READ_INDEX_RESPONSE = 11, /* leader -> follower: read index, or reject */
};
#define RAFT_MSG_TYPE_COUNT 12

const char *raft_message_type_name(int type);

/*
 * A message between cores: a plain struct the host serializes field by
 * field. Fields a type does not use are zero.
 *
 *   type                  index              log_term           other fields
 *   APPEND                prev index         term at prev       entries, commit
 *   APPEND_RESPONSE       last index held    hint term          reject, reject_hint
 *                         (or rejected prev)  (on reject)
 *   HEARTBEAT             -                  -                  commit, context
 *   HEARTBEAT_RESPONSE    -                  -                  context
 *   VOTE, PRE_VOTE        last log index     last log term      transfer
 *   VOTE_RESPONSE,
 *   PRE_VOTE_RESPONSE     -                  -                  reject
 *   SNAPSHOT              -                  -                  snapshot
 *   TIMEOUT_NOW           -                  -                  -
 *   READ_INDEX            -                  -                  context
 *   READ_INDEX_RESPONSE   read index         -                  context, reject
 *
 * A rejected APPEND_RESPONSE carries the follower's fast catch-up hint: the
 * leader may resume from the largest index <= reject_hint whose term is <=
 * log_term, so a lagging follower costs one round trip per term, not per
 * entry.
 */
struct raft_message {
	uint8_t type; /* enum raft_message_type */
	uint64_t from;
	uint64_t to;
	uint64_t term;
	uint64_t log_term;
	uint64_t index;
	uint64_t commit;
	bool reject;
	bool transfer; /* VOTE / PRE_VOTE from a leadership transfer: bypasses the
	                  "leader recently heard" denial (C9) */
	uint64_t reject_hint;
	uint64_t context; /* heartbeat round / read request context (opaque) */
	const struct raft_entry *entries;
	size_t n_entries;
	struct raft_snapshot_meta snapshot; /* SNAPSHOT only */
};

/* A ReadIndex answer: serve the read tagged context once applied >= index. */
struct raft_read_state {
	uint64_t context;
	uint64_t index; /* 0: the read failed; retry it */
};

/*
 * Names one Ready's persistence: seq orders Readies; (index, term) is the
 * last entry of the log once that Ready's writes are done. Copy it from
 * rd.persist into the completion; the core ignores a completion that no
 * longer matches its log, and counts nothing that a later overwrite still in
 * flight will replace (trap T9, including the ABA case where the same
 * (index, term) is written, overwritten and written again).
 */
struct raft_persist_mark {
	uint64_t seq; /* 0: this Ready has nothing to persist */
	uint64_t index;
	uint64_t term;
};

struct raft_ready {
	/* Role, leader or term changed since the last Ready. */
	bool soft_state_changed;
	struct raft_soft_state soft_state;

	/* To persist (step 3 above). persist.seq == 0: nothing to persist.
	 * entries_first == 0: no log change; else discard stored entries >=
	 * entries_first, then write entries[] (possibly none) from there. */
	bool hard_state_changed;
	struct raft_hard_state hard_state;
	const struct raft_snapshot_meta *snapshot; /* NULL: nothing to install */
	uint64_t entries_first;                    /* index of entries[0] */
	const struct raft_entry *entries;          /* descriptors; data is NULL */
	size_t n_entries;
	struct raft_persist_mark persist;

	/* To send (steps 2 and 4). */
	const struct raft_message *messages;
	size_t n_messages;
	const struct raft_message *after_persist;
	size_t n_after_persist;

	/* To apply (step 5): apply_first .. apply_last, empty if first > last. */
	uint64_t apply_first;
	uint64_t apply_last;

	/* Read states (step 6). */
	const struct raft_read_state *reads;
	size_t n_reads;
};

enum raft_read_mode {
	/* ReadIndex: a heartbeat round confirms leadership (§6.4). Default. */
	RAFT_READ_SAFE = 0,
	/* Lease: the leader answers from its commit index without a round,
	 * trusting CheckQuorum and bounded clock drift (§6.4.1, C13). Opt-in;
	 * requires check_quorum. */
	RAFT_READ_LEASE = 1,
};

struct raft_config {
	uint64_t id;                 /* this node; nonzero */
	unsigned election_ticks;     /* election timeout E in ticks (default 10) */
	unsigned heartbeat_ticks;    /* heartbeat interval in ticks (default 1), < E */
	uint64_t seed;               /* seeds the election-timeout randomization, drawn
	                                uniformly from [E, 2E) after every reset */
	bool pre_vote;               /* §9.6 PreVote */
	bool check_quorum;           /* §6.2 CheckQuorum; also enables vote denial
	                                while a leader is heard (C9). In lease
	                                mode a node also denies votes for its
	                                first election timeout after starting. */
	uint8_t read_mode;           /* enum raft_read_mode */
	uint64_t max_msg_bytes;      /* payload bytes per append (at least one entry is
	                                always sent); 0 = unlimited */
	unsigned max_inflight_msgs;  /* unacknowledged appends per follower (default 256) */
	uint64_t max_inflight_bytes; /* unacknowledged payload bytes per follower; 0 = unlimited */
	uint64_t max_uncommitted_bytes; /* leader's uncommitted payload; beyond it proposals
	                                   fail with RAFT_EOVERLOAD; 0 = unlimited */
	uint64_t max_apply_bytes;       /* payload bytes per apply range; 0 = unlimited */
};

/* Fills cfg with the defaults for id: E = 10, heartbeat 1, pre_vote and
 * check_quorum on, safe reads, 1 MiB per message, 256 inflight messages and
 * 32 MiB inflight bytes per follower, 1 GiB uncommitted, 64 MiB per apply. */
void raft_config_init(struct raft_config *cfg, uint64_t id);

/*
 * Durable state recovered by the host at start. All zero (except conf) for a
 * fresh node. Rules (T6): entries[] are the stored log after compaction point
 * (log_index, log_term), so entries[0] has index log_index + 1;
 * log_index <= snapshot.index <= log_index + n_entries; applied >= snapshot.index.
 *
 * Bootstrapping a new cluster, as etcd does: every initial member's log
 * starts with one RAFT_CONF_ADD_VOTER entry per initial member (same order,
 * same payloads everywhere) at term 1, indexes 1..n; hard_state = {term 1,
 * commit n}; conf empty; applied 0. The core hands those entries out for
 * applying like any others. A node joining later starts with everything
 * empty and rebuilds the configuration from the log or from a snapshot.
 * (Passing the initial voters in conf instead, with an empty log, also
 * works, but then a joining node must be brought up by snapshot: replaying
 * the log from index 1 would start from an empty configuration.)
 */
struct raft_boot {
	struct raft_hard_state hard_state;
	struct raft_snapshot_meta snapshot; /* latest durable snapshot; index 0 if none */
	uint64_t log_index;                 /* index before entries[0] (compaction point) */
	uint64_t log_term;                  /* its term */
	const struct raft_entry *entries;   /* descriptors (data ignored) */
	size_t n_entries;
	uint64_t applied;      /* the state machine's applied index */
	struct raft_conf conf; /* configuration as of applied */
};

struct raft;

/*
 * Creates a core from cfg and the recovered state (copied; boot may be freed
 * afterwards). Returns 0 and sets *out, RAFT_EINVAL (bad config or boot
 * state, e.g. lease reads without check_quorum, a log that does not reach the
 * snapshot), or RAFT_ENOMEM.
 */
int raft_create(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot);

/* Frees the core and everything it owns, including the last Ready. */
void raft_destroy(struct raft *r);

/* ---- Events --------------------------------------------------------------- */

/* One unit of logical time passed (the host's heartbeat tick). */
void raft_tick(struct raft *r);

/*
 * Entries of an accepted append: store m->entries[first .. first + count - 1]
 * at log indexes index .. index + count - 1, discarding whatever the host
 * holds at index and above first. count == 0: nothing to store.
 */
struct raft_accept {
	size_t first;
	size_t count;
	uint64_t index;
};

/*
 * Steps a message received from a peer. accept may be NULL unless m is a
 * RAFT_MSG_APPEND; for an append it is always filled (count 0 if nothing is
 * to be stored). The message and its entries are borrowed for the call.
 * For a RAFT_MSG_SNAPSHOT, step it once the snapshot's data has arrived, and
 * keep that data until the next raft_ready() says whether to install it.
 * Returns 0, or RAFT_EINVAL for a malformed message (ignored), including an
 * append that would truncate committed entries (a broken leader).
 */
int raft_step(struct raft *r, const struct raft_message *m, struct raft_accept *accept);

/*
 * Appends a normal entry of size payload bytes on the leader. On success sets
 * *index and *term: the host stores the payload at that index. Errors:
 * RAFT_ENOTLEADER, RAFT_ETRANSFER, RAFT_EOVERLOAD, RAFT_EINVAL (size too big).
 * Before a leader's first entry of its term commits, a proposal is accepted
 * but the answer to the client must wait for its application as always; an
 * error after a successful propose means "outcome unknown" (T5).
 */
int raft_propose(struct raft *r, uint32_t size, uint64_t *index, uint64_t *term);

/*
 * Appends a configuration-change entry (payload of size bytes, encoded by the
 * host). Errors, besides raft_propose's: RAFT_ENOTREADY (no entry of the
 * current term committed yet: C8), RAFT_ECONFPENDING (previous change not yet
 * applied by this leader), RAFT_EINVAL (the change is invalid against the
 * current configuration: adding a member, promoting a non-learner, removing
 * an absent node or the last voter, demoting a voter).
 */
int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint32_t size,
                             uint64_t *index, uint64_t *term);

/*
 * The host applied the conf-change entry at index (decoded into cc): the
 * configuration changes now. Call it in log order, before raft_applied()
 * covering index. Re-applying an index already reflected in the
 * configuration (replay after restart) is a no-op. An invalid change leaves
 * the configuration unchanged and returns RAFT_EINVAL (every node reaches the
 * same verdict). A leader that removes itself steps down, first sending
 * TIMEOUT_NOW to an up-to-date voter if one exists.
 */
int raft_conf_change_apply(struct raft *r, uint64_t index, const struct raft_conf_change *cc);

/*
 * Requests a linearizable read tagged context (the host's request id).
 * The answer comes back as a struct raft_read_state in a Ready. On the
 * leader it waits for an entry of the current term to commit (C5/T1), then a
 * heartbeat round confirms leadership; one round serves all queued reads; a
 * single-voter cluster skips the round. A follower forwards the request to
 * the leader. Errors: RAFT_ENOLEADER (no leader known).
 */
int raft_read_index(struct raft *r, uint64_t context);

/*
 * Starts a leadership transfer to target (a voter). Proposals are refused
 * while it runs; the leader brings target up to date, then sends TIMEOUT_NOW.
 * It aborts after an election timeout. Errors: RAFT_ENOTLEADER,
 * RAFT_ENOTVOTER (target not a voter), RAFT_EINVAL (target is this node).
 */
int raft_transfer_leadership(struct raft *r, uint64_t target);

/*
 * The persistence of the Ready marked mark (and of every earlier one) is
 * durable. Returns 0, or RAFT_ESTALE if the mark is unknown or no longer
 * matches (ignored: harmless).
 */
int raft_persisted(struct raft *r, const struct raft_persist_mark *mark);

/* The state machine applied every entry up to index (<= apply_last handed
 * out). Returns 0 or RAFT_EINVAL. */
int raft_applied(struct raft *r, uint64_t index);

/*
 * The host has a durable snapshot of the state machine at meta->index (<= the
 * applied index) with meta->conf as of that index: the core sends it to
 * followers that need entries it no longer has. Returns 0, RAFT_EINVAL or
 * RAFT_ENOMEM.
 */
int raft_snapshot_available(struct raft *r, const struct raft_snapshot_meta *meta);

/*
 * Drops the core's descriptors of entries up to index (<= applied, <= the
 * latest available snapshot's index). The host compacts its own log the same
 * way, typically keeping some entries behind the snapshot for slow followers.
 */
int raft_compact(struct raft *r, uint64_t index);

/* The snapshot stream to peer finished (ok) or failed: leaves snapshot state. */
void raft_snapshot_sent(struct raft *r, uint64_t peer, bool ok);

/* A message to peer could not be delivered: stop pipelining to it (probe). */
void raft_report_unreachable(struct raft *r, uint64_t peer);

/* Starts an election now (a voter only; RAFT_ENOTVOTER otherwise). In lease
 * mode it is refused with RAFT_ENOTREADY while this node still hears a
 * leader: its own vote would cut that leader's lease short. */
int raft_campaign(struct raft *r);

/* ---- Updates -------------------------------------------------------------- */

/* True if raft_ready() has work to hand out (occasionally the Ready turns
 * out empty, e.g. when every follower's window is full). */
bool raft_has_ready(const struct raft *r);

/* Collects the pending work into rd (see "Driving the core" above). The
 * previous Ready's buffers are recycled. */
void raft_ready(struct raft *r, struct raft_ready *rd);

/* ---- Queries -------------------------------------------------------------- */

enum raft_progress_state {
	RAFT_PROGRESS_PROBE = 0,
	RAFT_PROGRESS_REPLICATE = 1,
	RAFT_PROGRESS_SNAPSHOT = 2,
};

struct raft_status {
	uint64_t id;
	uint8_t role;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;
	uint64_t commit;
	uint64_t applied;
	uint64_t first_index; /* first entry the core still describes */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t stable_index; /* last locally durable entry */
	uint64_t transferee;   /* leadership transfer target, or RAFT_NONE */
	uint64_t uncommitted_bytes;
};

void raft_status_get(const struct raft *r, struct raft_status *st);

struct raft_progress {
	uint64_t id;
	bool learner;
	uint8_t state; /* enum raft_progress_state */
	uint64_t match;
	uint64_t next;
	bool recent_active;
	unsigned inflight_msgs;
	uint64_t inflight_bytes;
};

/* Leader only: the replication progress of peer. RAFT_ENOTLEADER, or
 * RAFT_EINVAL if peer is not a member. */
int raft_progress_get(const struct raft *r, uint64_t peer, struct raft_progress *out);

/* The configuration in force (as of the last applied conf change). The
 * arrays stay valid until the next event call. */
void raft_conf_get(const struct raft *r, struct raft_conf *out);

/* Term of the entry at index, if the core still describes it (or it is the
 * compaction point). Returns 0 and sets *term, or RAFT_EINVAL. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);

#endif
