/*
 * world.c - the simulated world: virtual time, network, chaos, invariants.
 *
 * Events (ticks, deliveries, disk completions, client requests, faults) sit
 * in one heap ordered by (time, sequence), so a seed fixes the whole run.
 *
 * Invariants checked after every event (Figure 3.2 of the dissertation and
 * the implementation invariants of reference/raft.md §4):
 *   - election safety: at most one leader per term;
 *   - leader append-only: a leader never rewrites an entry it holds
 *     (host.c), and its last index never shrinks while it leads;
 *   - log matching: an (index, term) pair names one chain hash cluster-wide,
 *     and a chain hash covers the whole prefix;
 *   - leader completeness: a new leader's log holds the newest committed
 *     entry (hence, by chaining, all of them);
 *   - state machine safety: every node applies at index i the entry that
 *     was committed at i (snapshots included);
 *   - committed means durable on a quorum of the leader's voters (T10);
 *   - reads: a ReadIndex read sees every write acknowledged before it began;
 *   - durable term never decreases, durable vote changes only with the term
 *     (host.c); commit and applied never decrease within a process lifetime
 *     and applied <= commit; nothing at or below commit is truncated;
 *     at most one uncommitted configuration entry (host.c);
 *   - the core's log and the host's agree on the last index.
 * Liveness: after the fault phase everything heals and a fresh proposal must
 * be applied by a leader within settle_us.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/internal.h"

void *sim_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

uint64_t sim_rand(struct world *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double sim_frand(struct world *w)
{
	return (double)(sim_rand(w) >> 11) / (double)(1ull << 53);
}

static uint64_t exp_us(struct world *w, uint64_t mean)
{
	double u = sim_frand(w);
	return (uint64_t)(-log(1.0 - u) * (double)mean) + 1;
}

static uint64_t range(struct world *w, uint64_t lo, uint64_t hi)
{
	return lo + sim_rand(w) % (hi - lo + 1);
}

int sim_slot(struct world *w, uint64_t id)
{
	for (int i = 0; i < w->n_nodes; i++)
		if (w->nodes[i].id == id)
			return i;
	return -1;
}

/* ---- Failure reports ------------------------------------------------------ */

void sim_trace(struct world *w, uint8_t kind, int node, uint64_t a, uint64_t b, uint64_t c,
               uint64_t d, uint64_t e)
{
	if (!w->hist_n && !w->p->trace)
		return;
	struct trace_rec t = {w->now, kind, (int8_t)node, a, b, c, d, e};
	if (w->hist_n) {
		w->hist[w->hist_pos % w->hist_n] = t;
		w->hist_pos++;
	}
	if (w->p->trace) {
		void sim_trace_print(struct world *, FILE *, const struct trace_rec *);
		sim_trace_print(w, w->p->trace, &t);
	}
}

static const char *conf_name(uint64_t t)
{
	static const char *const n[] = {"add-voter", "add-learner", "promote", "remove", "update"};
	return t < 5 ? n[t] : "?";
}

void sim_trace_print(struct world *w, FILE *f, const struct trace_rec *t);
void sim_trace_print(struct world *w, FILE *f, const struct trace_rec *t)
{
	(void)w;
	fprintf(f, "  %8.3fms n%d ", (double)t->time / 1000.0, t->node);
	unsigned long long a = t->a, b = t->b, c = t->c, d = t->d, e = t->e;
	switch (t->kind) {
	case TR_DELIVER:
	case TR_DROP: {
		/* a: type|from<<8|reject<<16|n_entries<<24, b: term, c: index,
		 * d: log_term, e: commit */
		unsigned type = a & 0xff, from = (a >> 8) & 0xff, rej = (a >> 16) & 1;
		unsigned long long n = a >> 24;
		fprintf(f, "%s %s from n%u term=%llu index=%llu log_term=%llu commit=%llu",
		        t->kind == TR_DROP ? "DROP" : "recv", raft_message_type_name((int)type),
		        from, b, c, d, e);
		if (n)
			fprintf(f, " entries=%llu", n);
		if (rej)
			fprintf(f, " REJECT");
		break;
	}
	case TR_ROLE:
		fprintf(f, "becomes %s term=%llu leader=n%lld", raft_role_name((enum raft_role)a),
		        b, (long long)(int64_t)c);
		break;
	case TR_PROPOSE:
		fprintf(f, "propose op=%llu at index=%llu term=%llu key=%llu kind=%llu", a, b, c, d,
		        e);
		break;
	case TR_READ:
		fprintf(f, "read ctx=%llu key=%llu rc=-%llu floor=%llu", a, b, c, d);
		break;
	case TR_READ_OK:
		fprintf(f, "read done ctx=%llu key=%llu read_index=%llu sees=%llu floor=%llu", a, b,
		        c, d, e);
		break;
	case TR_CRASH:
		fprintf(f, "CRASH");
		break;
	case TR_RESTART:
		fprintf(f, "RESTART term=%llu commit=%llu disk_last=%llu snap=%llu", a, b, c, d);
		break;
	case TR_PARTITION:
		fprintf(f, "PARTITION kind=%llu mask=%#llx", a, b);
		break;
	case TR_HEAL:
		fprintf(f, "HEAL %s", a ? "everything" : "links");
		break;
	case TR_DISK:
		fprintf(f, "disk done seq=%llu mark=%llu first=%llu n=%llu snap=%llu", a, b, c, d,
		        e);
		break;
	case TR_CONF:
		fprintf(f, "propose conf %s n%lld rc=-%llu index=%llu", conf_name(a),
		        (long long)(int64_t)b, c, d);
		break;
	case TR_TRANSFER:
		fprintf(f, "transfer leadership to n%llu rc=-%llu", a, b);
		break;
	case TR_APPLY_CONF:
		fprintf(f, "apply conf %s n%lld at %llu rc=-%llu", conf_name(a),
		        (long long)(int64_t)b, c, d);
		break;
	case TR_SNAP_TAKE:
		fprintf(f, "snapshot at %llu, compact to %llu", a, b);
		break;
	case TR_SNAP_INSTALL:
		fprintf(f, "install snapshot %llu term %llu", a, b);
		break;
	case TR_RETIRE:
		fprintf(f, "RETIRED (removed from the cluster)");
		break;
	case TR_LOSS:
		fprintf(f, "LOSS drop=%llu%% dup=%llu%%", a, b);
		break;
	case TR_SLOW:
		fprintf(f, "SLOW DISK x%llu", a);
		break;
	default:
		fprintf(f, "note %llu %llu %llu", a, b, c);
	}
	fputc('\n', f);
}

void sim_fail(struct world *w, const char *fmt, ...)
{
	if (w->failed)
		return;
	w->failed = true;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(w->rep->error, sizeof w->rep->error, "seed %llu, t=%.3fms: %s",
	         (unsigned long long)w->seed, (double)w->now / 1000.0, msg);
}

/* ---- Event heap ----------------------------------------------------------- */

static bool ev_less(const struct event *a, const struct event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_schedule(struct world *w, uint64_t at, uint8_t kind, int node, uint32_t inc, void *ptr)
{
	if (w->n_heap == w->cap_heap) {
		w->cap_heap = w->cap_heap ? w->cap_heap * 2 : 1024;
		w->heap = sim_xrealloc(w->heap, w->cap_heap * sizeof *w->heap);
	}
	struct event ev = {at, ++w->seq, kind, (uint8_t)node, inc, ptr};
	size_t i = w->n_heap++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ev_less(&ev, &w->heap[parent]))
			break;
		w->heap[i] = w->heap[parent];
		i = parent;
	}
	w->heap[i] = ev;
}

static struct event pop(struct world *w)
{
	struct event top = w->heap[0];
	struct event last = w->heap[--w->n_heap];
	if (w->n_heap == 0)
		return top;
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1;
		if (l >= w->n_heap)
			break;
		size_t m = l;
		if (r < w->n_heap && ev_less(&w->heap[r], &w->heap[l]))
			m = r;
		if (!ev_less(&w->heap[m], &last))
			break;
		w->heap[i] = w->heap[m];
		i = m;
	}
	w->heap[i] = last;
	return top;
}

/* ---- Network -------------------------------------------------------------- */

static uint64_t pack_msg(const struct netmsg *nm)
{
	return (uint64_t)nm->m.type | ((uint64_t)(nm->from & 0xff) << 8) |
	       ((uint64_t)nm->m.reject << 16) | ((uint64_t)nm->m.n_entries << 24);
}

static struct netmsg *netmsg_clone(const struct netmsg *nm)
{
	struct netmsg *c = sim_xrealloc(NULL, sizeof *c);
	*c = *nm;
	c->ents = NULL;
	c->payload = NULL;
	c->snap = NULL;
	if (nm->m.n_entries) {
		size_t bytes = 0;
		for (size_t k = 0; k < nm->m.n_entries; k++)
			bytes += nm->ents[k].size;
		c->ents = sim_xrealloc(NULL, nm->m.n_entries * sizeof *c->ents);
		c->payload = sim_xrealloc(NULL, bytes);
		memcpy(c->payload, nm->payload, bytes);
		size_t off = 0;
		for (size_t k = 0; k < nm->m.n_entries; k++) {
			c->ents[k] = nm->ents[k];
			c->ents[k].data = c->payload + off;
			off += c->ents[k].size;
		}
		c->m.entries = c->ents;
	}
	if (nm->snap) {
		c->snap = sim_xrealloc(NULL, sizeof *c->snap);
		*c->snap = *nm->snap;
		c->m.snapshot.conf.voters = c->snap->voters;
		c->m.snapshot.conf.learners = c->snap->learners;
	}
	return c;
}

static uint64_t link_delay(struct world *w)
{
	uint64_t d = w->delay_base + (w->delay_jitter ? sim_rand(w) % w->delay_jitter : 0);
	if (w->long_delay > 0 && sim_frand(w) < w->long_delay)
		d += range(w, 10000, 300000);
	return d;
}

void sim_send(struct world *w, struct netmsg *nm)
{
	if (nm->to < 0) {
		netmsg_free(nm);
		return;
	}
	uint64_t d = link_delay(w);
	if (nm->m.type == RAFT_MSG_SNAPSHOT)
		d += range(w, 1000, 20000); /* streaming takes a while */
	sim_schedule(w, w->now + d, EV_DELIVER, nm->to, 0, nm);
	if (w->dup > 0 && sim_frand(w) < w->dup)
		sim_schedule(w, w->now + link_delay(w), EV_DELIVER, nm->to, 0, netmsg_clone(nm));
}

static void deliver(struct world *w, struct netmsg *nm)
{
	struct node *to = &w->nodes[nm->to];
	bool lost =
	    !to->alive || w->blocked[nm->from][nm->to] || (w->drop > 0 && sim_frand(w) < w->drop);
	sim_trace(w, lost ? TR_DROP : TR_DELIVER, nm->to, pack_msg(nm), nm->m.term, nm->m.index,
	          nm->m.log_term, nm->m.commit);
	/* A partition looks like a dead connection to the sender's transport,
	 * which reports it (random loss goes unnoticed). */
	struct node *sender = &w->nodes[nm->from];
	if (w->blocked[nm->from][nm->to] && sender->alive && sender->inc == nm->from_inc &&
	    sim_rand(w) % 2 == 0) {
		raft_report_unreachable(sender->r, to->id);
		host_process(w, nm->from);
	}
	if (nm->m.type == RAFT_MSG_SNAPSHOT && !w->failed) {
		/* The sender learns how the stream ended. */
		struct node *from = &w->nodes[nm->from];
		if (!lost)
			host_deliver(w, nm);
		if (from->alive && from->inc == nm->from_inc && !w->failed)
			host_snapshot_sent(w, nm->from, to->id, !lost);
	} else if (!lost) {
		host_deliver(w, nm);
	}
	netmsg_free(nm);
}

/* ---- Setup and the run loop ----------------------------------------------- */

void sim_params_default(struct sim_params *p, unsigned nodes)
{
	memset(p, 0, sizeof *p);
	p->nodes = nodes;
	p->spares = 3;
	p->faults = true;
	p->fault_us = 3000000;
	p->settle_us = 20000000;
	p->history = 60;
}

/* Per-seed variety: timing, feature flags, flow-control limits, snapshot
 * cadence and the network's manners all come from the seed. */
static void setup(struct world *w)
{
	const struct sim_params *p = w->p;
	struct raft_config *c = &w->base_cfg;
	raft_config_init(c, 1);
	bool bench = p->bench_window > 0;
	if (!bench) {
		c->election_ticks = (unsigned)range(w, 6, 15);
		c->heartbeat_ticks = (unsigned)range(w, 1, 2);
		c->pre_vote = sim_rand(w) % 8 != 0;
		c->check_quorum = sim_rand(w) % 8 != 0;
		if (c->check_quorum && sim_rand(w) % 6 == 0)
			c->read_mode = RAFT_READ_LEASE;
		/* 1 byte: one entry per append, so acknowledgements arrive
		 * entry by entry (the Figure 8 and commit-prefix hazards). */
		static const uint64_t msg_bytes[] = {0, 1, 200, 4096, 1 << 20};
		static const unsigned infl[] = {1, 2, 4, 256};
		static const uint64_t infl_bytes[] = {0, 600, 1 << 20, 0};
		static const uint64_t uncommitted[] = {0, 2000, 65536, 1 << 20};
		c->max_msg_bytes = msg_bytes[sim_rand(w) % 5];
		c->max_inflight_msgs = infl[sim_rand(w) % 4];
		c->max_inflight_bytes = infl_bytes[sim_rand(w) % 4];
		c->max_uncommitted_bytes = uncommitted[sim_rand(w) % 4];
		c->max_apply_bytes = sim_rand(w) % 4 == 0 ? 300 : 0;
	}
	w->delay_base = range(w, 200, 3000);
	w->delay_jitter = p->faults ? range(w, 0, 6000) : 200;
	w->long_delay = p->faults ? sim_frand(w) * 0.02 : 0;
	w->drop = p->faults ? sim_frand(w) * 0.03 : 0;
	w->dup = p->faults ? sim_frand(w) * 0.03 : 0;
	w->disk_base = bench ? 200 : range(w, 100, 4000);

	unsigned total = p->nodes + (p->faults ? p->spares : 0);
	if (total > SIM_MAX)
		total = SIM_MAX;
	w->n_nodes = (int)total;
	w->initial = p->nodes;
	static const unsigned every[] = {0, 3, 10, 60};
	static const unsigned keep[] = {0, 2, 20};
	unsigned snap_every = bench ? 5000 : every[sim_rand(w) % 4];
	unsigned snap_keep = bench ? 100 : keep[sim_rand(w) % 3];
	for (int i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		memset(n, 0, sizeof *n);
		do {
			n->id = sim_rand(w) | 1;
		} while (sim_slot(w, n->id) != i);
		n->disk_slow = 1;
		n->snap_every = snap_every;
		n->snap_keep = snap_keep;
	}

	/* Bootstrap like etcd: every initial member's log starts with one
	 * add-voter entry per member, committed at term 1, so that a node
	 * joining later rebuilds the configuration from the log. */
	for (unsigned i = 0; i < p->nodes; i++) {
		struct node *n = &w->nodes[i];
		uint64_t chain = 0;
		for (unsigned k = 0; k < p->nodes; k++) {
			uint8_t data[24] = {0};
			data[0] = PL_CONF;
			data[1] = RAFT_CONF_ADD_VOTER;
			memcpy(data + 2, &w->nodes[k].id, 8);
			struct sentry e = {
			    .term = 1, .size = 24, .type = RAFT_ENTRY_CONF_CHANGE, .data = data};
			chain = sim_chain(chain, 1, e.type, data, e.size);
			e.chain = chain;
			if (n->disk.n == n->disk.cap) {
				n->disk.cap = n->disk.cap ? n->disk.cap * 2 : 64;
				n->disk.v =
				    sim_xrealloc(n->disk.v, n->disk.cap * sizeof *n->disk.v);
			}
			e.data = sim_xrealloc(NULL, 24);
			memcpy(e.data, data, 24);
			n->disk.v[n->disk.n++] = e;
			sim_check_chain(w, k + 1, 1, chain, "bootstrap");
		}
		n->disk_hs.term = 1;
		n->disk_hs.commit = p->nodes;
	}
	for (unsigned i = 0; i < p->nodes; i++) {
		host_boot(w, (int)i);
		host_process(w, (int)i);
	}

	if (!bench) {
		if (p->faults)
			sim_schedule(w, w->now + range(w, 50000, 400000), EV_CHAOS, 0, 0, NULL);
		sim_schedule(w, w->now + range(w, 1000, 20000), EV_WRITE, 0, 0, NULL);
		sim_schedule(w, w->now + range(w, 1000, 40000), EV_READ, 0, 0, NULL);
		sim_schedule(w, w->now + p->fault_us, EV_HEAL_ALL, 0, 0, NULL);
	}
}

static void bench_topup(struct world *w)
{
	int l = sim_find_leader(w);
	if (l < 0)
		return;
	struct raft_status st;
	raft_status_get(w->nodes[l].r, &st);
	uint64_t outstanding = st.last_index - st.commit;
	bool any = false;
	while (outstanding < w->p->bench_window) {
		if (host_propose(w, l, PL_PUT, (uint32_t)(outstanding % SIM_KEYS), NULL,
		                 w->p->bench_payload) != 0)
			break;
		outstanding++;
		any = true;
	}
	if (any)
		host_process(w, l);
	if (!w->bench_warmed && w->bench_committed >= w->p->bench_entries / 10) {
		w->bench_warmed = true;
		if (w->p->bench_warm)
			w->p->bench_warm(w->p->bench_arg, w->bench_committed);
	}
	if (w->bench_committed >= w->p->bench_entries)
		w->done = true;
}

static void dispatch(struct world *w, const struct event *ev)
{
	struct node *n = &w->nodes[ev->node];
	switch (ev->kind) {
	case EV_TICK:
		if (!n->alive || n->inc != ev->inc)
			return;
		raft_tick(n->r);
		host_process(w, ev->node);
		sim_schedule(w, w->now + TICK_US, EV_TICK, ev->node, n->inc, NULL);
		return;
	case EV_DELIVER:
		deliver(w, ev->ptr);
		return;
	case EV_DISK:
		if (n->alive && n->inc == ev->inc)
			host_disk_done(w, ev->node);
		return;
	case EV_WRITE: {
		sim_client_write(w);
		uint64_t mean = w->healed ? 20000 : 6000;
		sim_schedule(w, w->now + exp_us(w, mean), EV_WRITE, 0, 0, NULL);
		return;
	}
	case EV_READ:
		sim_client_read(w);
		sim_schedule(w, w->now + exp_us(w, 12000), EV_READ, 0, 0, NULL);
		return;
	case EV_CHAOS:
		if (w->healed)
			return;
		sim_chaos(w);
		sim_schedule(w, w->now + exp_us(w, 150000), EV_CHAOS, 0, 0, NULL);
		return;
	case EV_RESTART:
		if (!w->healed)
			sim_restart(w, ev->node);
		return;
	case EV_HEAL_LINKS:
		if (!w->healed) {
			memset(w->blocked, 0, sizeof w->blocked);
			sim_trace(w, TR_HEAL, -1, 0, 0, 0, 0, 0);
		}
		return;
	case EV_LOSS_END:
		if (!w->healed) {
			w->drop = 0.01;
			w->dup = 0.01;
		}
		return;
	case EV_SLOW_END:
		n->disk_slow = 1;
		return;
	case EV_HEAL_ALL:
		sim_heal_all(w);
		return;
	case EV_DEADLINE:
		if (!w->done)
			sim_fail(w, "liveness: no proposal committed within %.1fs of healing",
			         (double)w->p->settle_us / 1e6);
		return;
	}
}

static void print_status(struct world *w, FILE *out)
{
	for (int i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (!n->started)
			continue;
		fprintf(out, "  n%d id=%016llx %s", i, (unsigned long long)n->id,
		        n->retired ? "retired"
		        : n->alive ? "alive"
		                   : "down");
		if (n->alive) {
			struct raft_status st;
			raft_status_get(n->r, &st);
			struct raft_conf c;
			raft_conf_get(n->r, &c);
			fprintf(out,
			        " %s term=%llu leader=n%d commit=%llu applied=%llu last=%llu "
			        "stable=%llu voters=%zu learners=%zu",
			        raft_role_name((enum raft_role)st.role),
			        (unsigned long long)st.term, sim_slot(w, st.leader),
			        (unsigned long long)st.commit, (unsigned long long)st.applied,
			        (unsigned long long)st.last_index,
			        (unsigned long long)st.stable_index, c.n_voters, c.n_learners);
			for (int j = 0; st.role == RAFT_LEADER && j < w->n_nodes; j++) {
				struct raft_progress pr;
				if (raft_progress_get(n->r, w->nodes[j].id, &pr) != 0)
					continue;
				fprintf(out,
				        "\n    -> n%d %s%s match=%llu next=%llu active=%d "
				        "inflight=%u/%llu",
				        j, pr.learner ? "learner " : "",
				        pr.state == RAFT_PROGRESS_PROBE       ? "probe"
				        : pr.state == RAFT_PROGRESS_REPLICATE ? "replicate"
				                                              : "snapshot",
				        (unsigned long long)pr.match, (unsigned long long)pr.next,
				        pr.recent_active, pr.inflight_msgs,
				        (unsigned long long)pr.inflight_bytes);
			}
		}
		fputc('\n', out);
	}
}

int sim_run(uint64_t seed, const struct sim_params *p, struct sim_report *rep, FILE *out)
{
	struct world *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	memset(rep, 0, sizeof *rep);
	w->seed = seed;
	w->rng = seed * 0x2545f4914f6cdd1dull + 0x1234567;
	w->p = p;
	w->rep = rep;
	w->hist_n = p->history;
	if (w->hist_n)
		w->hist = sim_xrealloc(NULL, w->hist_n * sizeof *w->hist);

	setup(w);
	uint64_t limit = p->fault_us + p->settle_us + 1000000;
	while (!w->failed && !w->done && w->n_heap > 0) {
		struct event ev = pop(w);
		w->now = ev.time;
		if (!p->bench_window && w->now > limit) {
			sim_fail(w, "ran past the time limit");
			break;
		}
		dispatch(w, &ev);
		rep->events++;
		if (!w->failed)
			sim_check_all(w);
		if (p->bench_window && !w->failed)
			bench_topup(w);
	}
	if (!w->failed && !w->done)
		sim_fail(w, "simulation stalled (no events left)");
	rep->ok = !w->failed;
	rep->virtual_us = w->now;
	rep->committed = w->max_committed;

	if (w->failed && out) {
		fprintf(out, "FAIL %s\n", rep->error);
		fprintf(out,
		        "cluster: %u initial voters; config: E=%u h=%u pre_vote=%d "
		        "check_quorum=%d lease=%d msg=%llu inflight=%u/%llu uncommitted=%llu\n",
		        w->initial, w->base_cfg.election_ticks, w->base_cfg.heartbeat_ticks,
		        w->base_cfg.pre_vote, w->base_cfg.check_quorum, w->base_cfg.read_mode,
		        (unsigned long long)w->base_cfg.max_msg_bytes,
		        w->base_cfg.max_inflight_msgs,
		        (unsigned long long)w->base_cfg.max_inflight_bytes,
		        (unsigned long long)w->base_cfg.max_uncommitted_bytes);
		print_status(w, out);
		size_t n = w->hist_pos < w->hist_n ? w->hist_pos : w->hist_n;
		fprintf(out, "last %zu events:\n", n);
		for (size_t k = 0; k < n; k++)
			sim_trace_print(w, out, &w->hist[(w->hist_pos - n + k) % w->hist_n]);
		fprintf(out, "replay: raft_sim --seed %llu --nodes %u\n", (unsigned long long)seed,
		        p->nodes);
	}

	/* Tear down. */
	while (w->n_heap) {
		struct event ev = pop(w);
		if (ev.kind == EV_DELIVER)
			netmsg_free(ev.ptr);
	}
	for (int i = 0; i < w->n_nodes; i++)
		host_free(&w->nodes[i]);
	free(w->heap);
	free(w->committed);
	free(w->commit_term);
	free(w->chains.keys);
	free(w->leaders.terms);
	free(w->leaders.ids);
	free(w->ops);
	free(w->reads);
	free(w->hist);
	int ok = w->failed ? -1 : 0;
	free(w);
	return ok;
}
