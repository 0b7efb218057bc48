/*
 * raft/internal.h - the core's private state, shared by its files.
 *
 * One file per concern:
 *   log.c          the core's view of the log: (term, size, type) per entry
 *   progress.c     per-peer replication progress and in-flight windows
 *   election.c     ticks, PreVote, votes, role transitions, CheckQuorum
 *   replication.c  appends, heartbeats, commit counting, proposals
 *   membership.c   configurations and single-server changes
 *   snapshot.c     snapshots available, compaction, install on followers
 *   read_index.c   ReadIndex (and opt-in lease reads)
 *   transfer.c     leadership transfer
 *   ready.c        the Ready: message arenas, persistence records, apply
 *   raft.c         create/destroy, message dispatch, queries
 */
#ifndef CAIRN_RAFT_INTERNAL_H
#define CAIRN_RAFT_INTERNAL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* ---- log.c ---------------------------------------------------------------- */

/* What the core keeps of an entry: two words. */
struct rlog_entry {
	uint64_t term;
	uint32_t size;
	uint8_t type;
};

/*
 * Entries snap_index + 1 .. snap_index + len live at ents[head ..]. The
 * compaction point (snap_index, snap_term) is the entry just before the
 * first one described: a snapshot boundary or the log's start.
 */
struct rlog {
	uint64_t snap_index;
	uint64_t snap_term;
	struct rlog_entry *ents;
	size_t head;
	size_t len;
	size_t cap;
};

void rlog_init(struct rlog *l, uint64_t snap_index, uint64_t snap_term);
void rlog_free(struct rlog *l);
uint64_t rlog_last_index(const struct rlog *l);
uint64_t rlog_last_term(const struct rlog *l);
/* Term at index, if known (index == snap_index included). */
bool rlog_term(const struct rlog *l, uint64_t index, uint64_t *term);
/* Term at index, or 0 when not known. */
uint64_t rlog_term_or0(const struct rlog *l, uint64_t index);
const struct rlog_entry *rlog_at(const struct rlog *l, uint64_t index);
void rlog_append(struct rlog *l, uint64_t term, uint32_t size, uint8_t type);
/* Removes entries >= index (index > snap_index). */
void rlog_truncate(struct rlog *l, uint64_t index);
/* Forgets entries <= index (snap_index <= index <= last). */
void rlog_compact(struct rlog *l, uint64_t index);
/* Replaces everything by an empty log after (index, term). */
void rlog_reset(struct rlog *l, uint64_t index, uint64_t term);
/* Largest j <= index whose term is <= term (the fast catch-up probe). */
uint64_t rlog_find_conflict_by_term(const struct rlog *l, uint64_t index, uint64_t term);
/* §3.6.1: (term, index) at least as up to date as our last entry. */
bool rlog_up_to_date(const struct rlog *l, uint64_t last_term, uint64_t last_index);

/* ---- progress.c ----------------------------------------------------------- */

struct inflight {
	uint64_t index; /* last index of the append */
	uint64_t bytes;
};

struct progress {
	uint64_t id;
	bool learner;
	uint8_t state; /* enum raft_progress_state */
	uint64_t match;
	uint64_t next;
	bool probe_sent;           /* probe: one append outstanding, wait */
	bool recent_active;        /* heard from since the last quorum check */
	uint64_t pending_snapshot; /* snapshot state: index being sent */
	uint64_t read_acked;       /* highest read round acknowledged */
	uint64_t sent_commit;      /* highest commit index sent */
	int8_t vote;               /* 0 none, 1 granted, -1 rejected */
	/* In-flight appends (replicate state): ring of cap entries. */
	struct inflight *infl;
	unsigned infl_start;
	unsigned infl_count;
	unsigned infl_cap;
	uint64_t infl_bytes;
};

void progress_init(struct progress *p, uint64_t id, bool learner, uint64_t next, unsigned cap);
void progress_free(struct progress *p);
void progress_become_probe(struct progress *p);
void progress_become_replicate(struct progress *p);
void progress_become_snapshot(struct progress *p, uint64_t index);
bool progress_is_paused(const struct progress *p, uint64_t max_bytes);
bool progress_inflights_full(const struct progress *p, uint64_t max_bytes);
void progress_inflights_add(struct progress *p, uint64_t index, uint64_t bytes);
void progress_inflights_free_to(struct progress *p, uint64_t index);
/* An acknowledgement of index: true if match advanced. */
bool progress_maybe_update(struct progress *p, uint64_t index);
/* A rejection of the append after `rejected`: true if next moved back. */
bool progress_maybe_decr_to(struct progress *p, uint64_t rejected, uint64_t hint);

/* ---- ready.c -------------------------------------------------------------- */

/* Fix-ups resolved when a Ready is handed out (buffers may move before). */
struct msg_fix {
	size_t ents; /* offset in arena ents, or SIZE_MAX */
	size_t ids;  /* offset in arena ids (snapshot conf), or SIZE_MAX */
};

struct msg_list {
	struct raft_message *v;
	struct msg_fix *fix;
	size_t n;
	size_t cap;
};

/* Everything one Ready points to; two of them alternate. */
struct arena {
	struct msg_list now;
	struct msg_list after;
	struct raft_entry *ents;
	size_t n_ents;
	size_t cap_ents;
	uint64_t *ids;
	size_t n_ids;
	size_t cap_ids;
	struct raft_read_state *reads;
	size_t n_reads;
	size_t cap_reads;
	struct raft_snapshot_meta install;
	size_t install_ids; /* offset of install's conf in ids */
};

/* One Ready's persistence, until the host reports it durable. */
struct persist_record {
	uint64_t seq;
	uint64_t last; /* last entry written (or snapshot index) */
	uint64_t last_term;
	uint64_t cap;     /* earlier writes stay valid only up to here */
	uint64_t hs_term; /* hard state as of this Ready */
	uint64_t hs_vote;
};

/* ---- the core ------------------------------------------------------------- */

struct read_req {
	uint64_t from; /* RAFT_NONE: local */
	uint64_t context;
	uint64_t index;
	uint64_t round; /* 0: waits for the next round */
};

struct forwarded_read {
	uint64_t context;
	uint64_t tick; /* when forwarded, to expire lost ones */
};

struct conf_store {
	uint64_t *voters;
	size_t n_voters;
	uint64_t *learners;
	size_t n_learners;
};

struct raft {
	struct raft_config cfg;
	uint64_t id;
	uint64_t rng;
	uint64_t ticks; /* ticks since creation */

	/* Persistent state (as the core sees it; durable_* is what the host
	 * confirmed). */
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
	uint64_t durable_term;
	uint64_t durable_vote;

	/* Volatile state. */
	uint8_t role;
	uint64_t leader;
	unsigned election_elapsed;
	unsigned heartbeat_elapsed;
	unsigned randomized_timeout;

	struct rlog log;
	uint64_t stable;   /* entries <= stable are durable locally */
	uint64_t applied;  /* reported applied by the host */
	uint64_t applying; /* handed out for applying */

	/* Configuration in force (as of conf_index) and per-member progress. */
	struct conf_store conf;
	uint64_t conf_index;
	struct progress *prs;
	size_t n_prs;
	uint64_t *scratch; /* n_prs words for quorum computations */

	/* Leader state. */
	uint64_t pending_conf_index;
	uint64_t uncommitted_bytes;
	uint64_t uncommitted_from; /* first index counted in uncommitted_bytes */
	uint64_t transferee;
	unsigned transfer_elapsed;
	bool bcast_pending;

	/* Candidate state. */
	bool self_vote_counted;

	/* Snapshots: the latest the host made available (to send), and the one
	 * being installed (to hand out in the next Ready). */
	struct raft_snapshot_meta snap;
	struct conf_store snap_conf;
	bool install_pending;
	struct raft_snapshot_meta install;
	struct conf_store install_conf;

	/* Reads. */
	struct read_req *reads; /* confirmed in order; round assigned or 0 */
	size_t n_reads;
	size_t cap_reads;
	struct read_req *gated; /* waiting for an entry of the term to commit */
	size_t n_gated;
	size_t cap_gated;
	uint64_t read_round; /* every heartbeat broadcast starts a round */
	bool read_round_needed;
	uint64_t round_tick[64]; /* tick at which round k was sent, k % 64 */
	uint64_t lease_until;    /* lease reads: valid while ticks < lease_until */
	uint64_t lease_floor;    /* rounds up to here prove no lease */
	bool lease_off;          /* a transfer began this term: no more leases */
	struct forwarded_read *fwd;
	size_t n_fwd;
	size_t cap_fwd;

	/* Persistence handed out to the host. */
	uint64_t persist_next; /* first entry not yet handed out */
	bool persist_trunc;    /* stored entries >= persist_next must go */
	uint64_t unsent_cap;   /* truncation not yet handed out caps stable */
	uint64_t seq;
	struct persist_record *recs;
	size_t rec_head;
	size_t n_recs;
	size_t cap_recs;

	/* What the previous Ready said. */
	struct raft_hard_state prev_hs;
	struct raft_soft_state prev_ss;

	struct arena arenas[2];
	int building;
};

/* Allocation helpers: the core treats failure mid-event as fatal (like
 * etcd's panics): a half-applied event could break safety. */
void *raft__xrealloc(void *p, size_t n, size_t size);
#define RAFT_GROW(ptr, n, cap)                                                 \
	do {                                                                   \
		if ((n) >= (cap)) {                                            \
			size_t raft__c = (cap) ? (cap)*2 : 8;                  \
			while (raft__c <= (n))                                 \
				raft__c *= 2;                                  \
			(ptr) = raft__xrealloc((ptr), raft__c, sizeof *(ptr)); \
			(cap) = raft__c;                                       \
		}                                                              \
	} while (0)

uint64_t raft__rand(struct raft *r);
unsigned raft__quorum(const struct raft *r);
bool raft__is_voter(const struct raft *r, uint64_t id);
bool raft__is_learner(const struct raft *r, uint64_t id);
bool raft__promotable(const struct raft *r);
struct progress *raft__progress(struct raft *r, uint64_t id);
bool raft__committed_in_term(const struct raft *r);

/* Messages (ready.c). */
struct raft_message *raft__msg(struct raft *r, uint8_t type, uint64_t to);
void raft__msg_entries(struct raft *r, struct raft_message *m, uint64_t lo, uint64_t hi);
void raft__msg_snapshot(struct raft *r, struct raft_message *m, const struct raft_snapshot_meta *s);
void raft__read_state(struct raft *r, uint64_t context, uint64_t index);

/* Persistence bookkeeping (ready.c). */
void raft__truncated(struct raft *r, uint64_t index);
void raft__arena_free(struct arena *a);

/* election.c */
void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft__become_leader(struct raft *r);
void raft__hup(struct raft *r, bool transfer);
void raft__tick_election(struct raft *r);
void raft__tick_heartbeat(struct raft *r);
void raft__reset_timeout(struct raft *r);
void raft__step_vote_request(struct raft *r, const struct raft_message *m);
void raft__step_vote_response(struct raft *r, const struct raft_message *m);
void raft__self_vote_durable(struct raft *r);

/* replication.c */
void raft__append_local(struct raft *r, uint8_t type, uint32_t size);
bool raft__send_append(struct raft *r, struct progress *p, bool allow_empty);
void raft__flush_appends(struct raft *r);
void raft__bcast_heartbeat(struct raft *r);
bool raft__maybe_commit(struct raft *r);
void raft__commit_to(struct raft *r, uint64_t index);
int raft__step_append(struct raft *r, const struct raft_message *m, struct raft_accept *acc);
void raft__step_append_response(struct raft *r, const struct raft_message *m);
void raft__step_heartbeat(struct raft *r, const struct raft_message *m);
void raft__step_heartbeat_response(struct raft *r, const struct raft_message *m);
void raft__stable_advanced(struct raft *r);

/* membership.c */
int raft__conf_set(struct raft *r, const struct raft_conf *c);
void raft__conf_free(struct conf_store *c);
int raft__conf_copy(struct conf_store *dst, const struct raft_conf *src);
void raft__conf_view(const struct conf_store *c, struct raft_conf *out);
void raft__reset_progress(struct raft *r);

/* snapshot.c */
int raft__step_snapshot(struct raft *r, const struct raft_message *m);

/* read_index.c */
void raft__read_leader_changed(struct raft *r);
void raft__read_fail_all(struct raft *r);
void raft__read_commit_advanced(struct raft *r);
void raft__read_flush(struct raft *r);
uint64_t raft__read_round_start(struct raft *r);
void raft__read_lease_reset(struct raft *r);
void raft__read_check(struct raft *r);
void raft__read_tick(struct raft *r);
void raft__step_read_index(struct raft *r, const struct raft_message *m);
void raft__step_read_index_response(struct raft *r, const struct raft_message *m);

/* transfer.c */
void raft__transfer_abort(struct raft *r);
void raft__transfer_check(struct raft *r, struct progress *p);
void raft__step_timeout_now(struct raft *r, const struct raft_message *m);

#endif
