/*
 * tests/sim/internal.h - the simulator's shared state (host.c, world.c).
 */
#ifndef CAIRN_TESTS_SIM_INTERNAL_H
#define CAIRN_TESTS_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "tests/sim/sim.h"

#define SIM_MAX  12    /* nodes, spares included */
#define SIM_KEYS 8     /* keys of the state machine */
#define TICK_US  10000 /* one raft tick: 10 ms */

/* Payload kinds (first byte of an entry's payload). */
enum {
	PL_PUT = 1,
	PL_CONF = 2,
	PL_MARK = 3
};

/* An entry as a host stores it: payload plus the chain hash that covers the
 * whole log up to it (so equal chains mean equal prefixes). */
struct sentry {
	uint64_t term;
	uint64_t chain;
	uint32_t size;
	uint8_t type;
	uint8_t *data;
};

/* A host log: entries base+1 .. base+n; (base, base_term, base_chain) is the
 * compaction point. */
struct slog {
	uint64_t base;
	uint64_t base_term;
	uint64_t base_chain;
	struct sentry *v;
	size_t n;
	size_t cap;
};

struct kv {
	uint64_t op;    /* op id of the write visible */
	uint64_t index; /* its log index */
};

struct ssnap {
	uint64_t index;
	uint64_t term;
	uint64_t chain;
	uint64_t voters[SIM_MAX];
	size_t nv;
	uint64_t learners[SIM_MAX];
	size_t nl;
	struct kv kv[SIM_KEYS];
};

struct netmsg {
	struct raft_message m;
	struct raft_entry *ents;
	uint8_t *payload;
	struct ssnap *snap;
	int from;
	int to;
	uint32_t from_inc;
};

/* One Ready's persistence, queued on a node's disk. */
struct job {
	uint64_t done_at;
	struct raft_persist_mark mark;
	bool hs_changed;
	struct raft_hard_state hs;
	bool has_snap;
	struct ssnap snap;
	uint64_t entries_first;
	struct sentry *ents;
	size_t n_ents;
	struct netmsg **after;
	size_t n_after;
};

struct node {
	uint64_t id;
	bool started; /* ever started (a spare that joined, or initial) */
	bool alive;
	bool retired; /* removed from the cluster: stopped for good */
	uint32_t inc; /* incarnation: bumps at every restart */
	struct raft *r;

	struct slog cache; /* the host's log: everything, written or not */
	struct slog disk;  /* what survives a crash */
	struct raft_hard_state disk_hs;
	struct ssnap disk_snap;

	struct job *jobs;
	size_t job_head;
	size_t n_jobs;
	size_t cap_jobs;
	unsigned disk_slow; /* latency multiplier */

	struct kv kv[SIM_KEYS];
	uint64_t applied;
	uint64_t sm_chain;

	struct ssnap rx_snap; /* data of the last snapshot message stepped */
	bool has_rx_snap;

	/* Per incarnation, for the invariants. */
	uint64_t seen_commit;
	uint64_t seen_applied;
	uint8_t seen_role;
	uint64_t seen_term;
	uint64_t lead_last;  /* last index held while leader of seen_term */
	uint64_t t10_commit; /* commit last checked for durability */
	unsigned snap_every;
	unsigned snap_keep;
};

struct event {
	uint64_t time;
	uint64_t seq;
	uint8_t kind;
	uint8_t node;
	uint32_t inc;
	void *ptr;
};

/* A compact record of an event, formatted only for failure reports. */
struct trace_rec {
	uint64_t time;
	uint8_t kind;
	int8_t node;
	uint64_t a, b, c, d, e;
};

struct op {
	uint64_t index;
	uint64_t term;
	uint32_t key;
	int node;
	uint32_t inc;
	bool acked;
};

struct read {
	int node;
	uint32_t inc;
	uint32_t key;
	uint64_t floor; /* newest write acknowledged before the read began */
	uint64_t index; /* read index, once known */
	bool done;
};

struct world {
	uint64_t seed;
	uint64_t rng;
	const struct sim_params *p;
	struct sim_report *rep;
	uint64_t now;
	uint64_t seq;
	bool failed;
	bool healed;
	bool done;

	/* Cluster. */
	struct node nodes[SIM_MAX];
	int n_nodes;
	unsigned initial;
	struct raft_config base_cfg;

	/* Event queue (binary heap). */
	struct event *heap;
	size_t n_heap;
	size_t cap_heap;

	/* Network. */
	bool blocked[SIM_MAX][SIM_MAX];
	double drop;
	double dup;
	uint64_t delay_base;
	uint64_t delay_jitter;
	double long_delay;
	uint64_t disk_base;

	/* Global bookkeeping for the invariants. */
	uint64_t *committed;   /* chain hash committed at each index (0: unknown) */
	uint64_t *commit_term; /* lowest term in which it was seen committed */
	size_t cap_committed;
	uint64_t max_committed;
	struct {
		uint64_t *keys; /* (index, term) -> chain, open addressing */
		uint64_t *vals;
		size_t cap;
		size_t n;
	} chains;
	struct {
		uint64_t *terms;
		uint64_t *ids;
		size_t cap;
		size_t n;
	} leaders;
	uint64_t key_acked[SIM_KEYS]; /* newest acknowledged write per key */

	struct op *ops;
	size_t n_ops;
	size_t cap_ops;
	struct read *reads;
	size_t n_reads;
	size_t cap_reads;

	/* Liveness: the marker proposal after healing. */
	uint64_t mark_op;
	uint64_t heal_at;

	/* Bench. */
	uint64_t bench_committed;
	bool bench_warmed;

	/* Failure report ring. */
	struct trace_rec *hist;
	size_t hist_n;
	size_t hist_pos;
};

/* world.c */
void *sim_xrealloc(void *p, size_t n); /* aborts on failure */
uint64_t sim_rand(struct world *w);
double sim_frand(struct world *w);
void sim_fail(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_trace(struct world *w, uint8_t kind, int node, uint64_t a, uint64_t b, uint64_t c,
               uint64_t d, uint64_t e);
void sim_schedule(struct world *w, uint64_t at, uint8_t kind, int node, uint32_t inc, void *ptr);
void sim_send(struct world *w, struct netmsg *nm);
void sim_check_chain(struct world *w, uint64_t index, uint64_t term, uint64_t chain,
                     const char *what);
void sim_check_committed(struct world *w, uint64_t index, uint64_t chain, const char *what,
                         int node, uint64_t term);
void sim_note_leader(struct world *w, int node, uint64_t term);
void sim_check_durable_quorum(struct world *w, int li, uint64_t commit);
int sim_slot(struct world *w, uint64_t id);

/* check.c */
void sim_check_all(struct world *w);

/* chaos.c */
int sim_find_leader(struct world *w);
void sim_client_write(struct world *w);
void sim_client_read(struct world *w);
void sim_chaos(struct world *w);
void sim_heal_all(struct world *w);
void sim_restart(struct world *w, int i);

/* world.c: event kinds the other files schedule. */
enum {
	EV_TICK = 1,
	EV_DELIVER = 2,
	EV_DISK = 3,
	EV_WRITE,
	EV_READ,
	EV_CHAOS,
	EV_RESTART,
	EV_HEAL_LINKS,
	EV_LOSS_END,
	EV_SLOW_END,
	EV_HEAL_ALL,
	EV_DEADLINE,
};

/* log.c */
uint64_t sim_chain(uint64_t prev, uint64_t term, uint8_t type, const uint8_t *data, uint32_t size);
void slog_free(struct slog *l);
struct sentry *slog_at(struct slog *l, uint64_t index);
uint64_t slog_last(const struct slog *l);
uint64_t slog_chain_at(struct slog *l, uint64_t index);
void slog_truncate(struct slog *l, uint64_t from);
void slog_append(struct slog *l, const struct sentry *e);
void slog_compact(struct slog *l, uint64_t upto);
void slog_reset(struct slog *l, uint64_t index, uint64_t term, uint64_t chain);
void slog_copy(struct slog *dst, const struct slog *src);
void slog_install(struct slog *l, const struct ssnap *s);

/* host.c */
void host_boot(struct world *w, int i);
void host_crash(struct world *w, int i);
void host_free(struct node *n);
void host_process(struct world *w, int i);
void host_deliver(struct world *w, struct netmsg *nm);
void host_disk_done(struct world *w, int i);
int host_propose(struct world *w, int i, uint8_t kind, uint32_t key, uint64_t *op_out,
                 uint32_t size);
int host_conf_change(struct world *w, int i, uint8_t type, uint64_t node_id);
void host_read(struct world *w, int i, uint32_t key);
void host_snapshot_sent(struct world *w, int i, uint64_t to, bool ok);
void netmsg_free(struct netmsg *nm);

/* Trace record kinds. */
enum {
	TR_DELIVER = 1,
	TR_DROP,
	TR_ROLE,
	TR_PROPOSE,
	TR_READ,
	TR_READ_OK,
	TR_CRASH,
	TR_RESTART,
	TR_PARTITION,
	TR_HEAL,
	TR_DISK,
	TR_CONF,
	TR_TRANSFER,
	TR_APPLY_CONF,
	TR_SNAP_TAKE,
	TR_SNAP_INSTALL,
	TR_RETIRE,
	TR_NOTE,
	TR_LOSS,
	TR_SLOW,
};

#endif
