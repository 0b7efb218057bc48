/*
 * host.c - one simulated node: what cairnd does around the Raft core.
 *
 * The host keeps two logs. The cache is its in-memory log: proposals and
 * accepted appends land there at once, written or not, and outgoing appends
 * read their payloads from it (as the WAL's cache does). The disk is what
 * survives a crash: a Ready's persistence becomes a job on the node's disk
 * queue, completed in order after a delay; only then are its after-persist
 * messages sent and raft_persisted() called. A crash drops the queue, so
 * un-synced writes are lost.
 *
 * The state machine is a small key-value map. It is durable only through
 * snapshots: a restart reloads the last snapshot and replays the log from
 * there, configuration changes included (apply-time semantics).
 *
 * Every entry carries a chain hash covering the whole log up to it, so that
 * the invariant checks in world.c compare whole prefixes in O(1).
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/internal.h"

/* ---- Messages ------------------------------------------------------------- */

void netmsg_free(struct netmsg *nm)
{
	if (!nm)
		return;
	free(nm->ents);
	free(nm->payload);
	free(nm->snap);
	free(nm);
}

static struct netmsg *netmsg_build(struct world *w, int from, const struct raft_message *m)
{
	struct node *n = &w->nodes[from];
	struct netmsg *nm = calloc(1, sizeof *nm);
	if (!nm)
		abort();
	nm->m = *m;
	nm->from = from;
	nm->from_inc = n->inc;
	nm->to = sim_slot(w, m->to);
	if (m->n_entries) {
		size_t bytes = 0;
		for (size_t k = 0; k < m->n_entries; k++)
			bytes += m->entries[k].size;
		nm->ents = sim_xrealloc(NULL, m->n_entries * sizeof *nm->ents);
		nm->payload = sim_xrealloc(NULL, bytes);
		size_t off = 0;
		for (size_t k = 0; k < m->n_entries; k++) {
			uint64_t idx = m->index + 1 + k;
			struct sentry *e = slog_at(&n->cache, idx);
			if (!e || e->term != m->entries[k].term || e->size != m->entries[k].size ||
			    e->type != m->entries[k].type) {
				sim_fail(
				    w,
				    "node %d: append names entry %llu (term %llu) the host log "
				    "does not hold",
				    from, (unsigned long long)idx,
				    (unsigned long long)m->entries[k].term);
				netmsg_free(nm);
				return NULL;
			}
			nm->ents[k] = m->entries[k];
			memcpy(nm->payload + off, e->data, e->size);
			off += e->size;
		}
		off = 0;
		for (size_t k = 0; k < m->n_entries; k++) {
			nm->ents[k].data = nm->payload + off;
			off += nm->ents[k].size;
		}
		nm->m.entries = nm->ents;
	} else {
		nm->m.entries = NULL;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (n->disk_snap.index != m->snapshot.index) {
			sim_fail(w, "node %d: snapshot message names index %llu, host has %llu",
			         from, (unsigned long long)m->snapshot.index,
			         (unsigned long long)n->disk_snap.index);
			netmsg_free(nm);
			return NULL;
		}
		nm->snap = sim_xrealloc(NULL, sizeof *nm->snap);
		*nm->snap = n->disk_snap;
		nm->m.snapshot.conf.voters = nm->snap->voters;
		nm->m.snapshot.conf.learners = nm->snap->learners;
		nm->m.snapshot.conf.n_voters = nm->snap->nv;
		nm->m.snapshot.conf.n_learners = nm->snap->nl;
	} else {
		memset(&nm->m.snapshot, 0, sizeof nm->m.snapshot);
	}
	return nm;
}

/* ---- Boot, crash ---------------------------------------------------------- */

void host_boot(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	n->inc++;
	n->alive = true;
	n->started = true;
	slog_copy(&n->cache, &n->disk);
	memcpy(n->kv, n->disk_snap.kv, sizeof n->kv);
	n->applied = n->disk_snap.index;
	n->sm_chain = n->disk_snap.chain;
	n->has_rx_snap = false;

	struct raft_entry *ents = sim_xrealloc(NULL, (n->disk.n + 1) * sizeof *ents);
	for (size_t k = 0; k < n->disk.n; k++) {
		ents[k].term = n->disk.v[k].term;
		ents[k].size = n->disk.v[k].size;
		ents[k].type = n->disk.v[k].type;
		ents[k].data = NULL;
	}
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.hard_state = n->disk_hs;
	b.snapshot.index = n->disk_snap.index;
	b.snapshot.term = n->disk_snap.term;
	b.snapshot.conf.voters = n->disk_snap.voters;
	b.snapshot.conf.n_voters = n->disk_snap.nv;
	b.snapshot.conf.learners = n->disk_snap.learners;
	b.snapshot.conf.n_learners = n->disk_snap.nl;
	b.log_index = n->disk.base;
	b.log_term = n->disk.base_term;
	b.entries = ents;
	b.n_entries = n->disk.n;
	b.applied = n->disk_snap.index;
	b.conf = b.snapshot.conf;

	struct raft_config cfg = w->base_cfg;
	cfg.id = n->id;
	cfg.seed = w->seed * 1000003ull + (uint64_t)i * 7919 + n->inc;
	int rc = raft_create(&n->r, &cfg, &b);
	free(ents);
	if (rc) {
		sim_fail(w, "node %d: raft_create failed: %s", i, raft_strerror(rc));
		n->alive = false;
		return;
	}
	struct raft_status st;
	raft_status_get(n->r, &st);
	n->seen_commit = st.commit;
	n->seen_applied = st.applied;
	n->seen_role = RAFT_FOLLOWER;
	n->seen_term = st.term;
	n->lead_last = 0;
	n->t10_commit = st.commit;
	sim_schedule(w, w->now + 1 + sim_rand(w) % TICK_US, EV_TICK, i, n->inc, NULL);
}

static void jobs_clear(struct node *n)
{
	for (size_t k = 0; k < n->n_jobs; k++) {
		struct job *j = &n->jobs[n->job_head + k];
		for (size_t e = 0; e < j->n_ents; e++)
			free(j->ents[e].data);
		free(j->ents);
		for (size_t e = 0; e < j->n_after; e++)
			netmsg_free(j->after[e]);
		free(j->after);
	}
	n->job_head = 0;
	n->n_jobs = 0;
}

void host_crash(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	if (!n->alive)
		return;
	raft_destroy(n->r);
	n->r = NULL;
	n->alive = false;
	jobs_clear(n); /* un-synced writes are lost */
	slog_free(&n->cache);
	n->has_rx_snap = false;
	for (size_t k = 0; k < w->n_reads; k++)
		if (w->reads[k].node == i)
			w->reads[k].done = true;
}

void host_free(struct node *n)
{
	if (n->r)
		raft_destroy(n->r);
	n->r = NULL;
	jobs_clear(n);
	free(n->jobs);
	n->jobs = NULL;
	slog_free(&n->cache);
	slog_free(&n->disk);
}

/* ---- Proposals and reads -------------------------------------------------- */

static void cache_add(struct world *w, int i, uint64_t index, uint64_t term, uint8_t type,
                      const uint8_t *data, uint32_t size)
{
	struct node *n = &w->nodes[i];
	if (slog_last(&n->cache) + 1 != index) {
		sim_fail(w, "node %d: proposal at %llu but the host log ends at %llu", i,
		         (unsigned long long)index, (unsigned long long)slog_last(&n->cache));
		return;
	}
	struct sentry e = {.term = term, .size = size, .type = type, .data = (uint8_t *)data};
	e.chain = sim_chain(slog_chain_at(&n->cache, index - 1), term, type, data, size);
	slog_append(&n->cache, &e);
	sim_check_chain(w, index, term, e.chain, "proposal");
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int host_propose(struct world *w, int i, uint8_t kind, uint32_t key, uint64_t *op_out,
                 uint32_t size)
{
	struct node *n = &w->nodes[i];
	if (size < 16)
		size = 16;
	uint64_t index, term;
	int rc = raft_propose(n->r, size, &index, &term);
	if (rc)
		return rc;
	if (w->n_ops == w->cap_ops) {
		w->cap_ops = w->cap_ops ? w->cap_ops * 2 : 256;
		w->ops = sim_xrealloc(w->ops, w->cap_ops * sizeof *w->ops);
	}
	uint64_t op = ++w->n_ops;
	struct op *o = &w->ops[op - 1];
	o->index = index;
	o->term = term;
	o->key = key;
	o->node = i;
	o->inc = n->inc;
	o->acked = false;
	uint8_t *data = sim_xrealloc(NULL, size);
	memset(data, (int)(op & 0xff), size);
	data[0] = kind;
	put64(data + 1, op);
	memcpy(data + 9, &key, 4);
	cache_add(w, i, index, term, RAFT_ENTRY_NORMAL, data, size);
	free(data);
	w->rep->proposals++;
	sim_trace(w, TR_PROPOSE, i, op, index, term, key, kind);
	if (op_out)
		*op_out = op;
	return 0;
}

int host_conf_change(struct world *w, int i, uint8_t type, uint64_t node_id)
{
	struct node *n = &w->nodes[i];
	uint8_t data[24] = {0};
	data[0] = PL_CONF;
	data[1] = type;
	put64(data + 2, node_id);
	struct raft_conf_change cc = {.type = type, .node_id = node_id};
	uint64_t index, term;
	int rc = raft_propose_conf_change(n->r, &cc, sizeof data, &index, &term);
	sim_trace(w, TR_CONF, i, type, sim_slot(w, node_id), (uint64_t)(-rc), index, 0);
	if (rc)
		return rc;
	/* At most one configuration entry may be uncommitted. */
	struct raft_status st;
	raft_status_get(n->r, &st);
	for (uint64_t k = st.commit + 1; k < index; k++) {
		struct sentry *e = slog_at(&n->cache, k);
		if (e && e->type == RAFT_ENTRY_CONF_CHANGE) {
			sim_fail(w,
			         "node %d: second uncommitted configuration entry (%llu and %llu)",
			         i, (unsigned long long)k, (unsigned long long)index);
			return rc;
		}
	}
	cache_add(w, i, index, term, RAFT_ENTRY_CONF_CHANGE, data, sizeof data);
	w->rep->conf_changes++;
	return 0;
}

void host_read(struct world *w, int i, uint32_t key)
{
	struct node *n = &w->nodes[i];
	uint64_t ctx = w->n_reads + 1;
	int rc = raft_read_index(n->r, ctx);
	sim_trace(w, TR_READ, i, ctx, key, (uint64_t)(-rc), w->key_acked[key], 0);
	if (rc)
		return;
	if (w->n_reads == w->cap_reads) {
		w->cap_reads = w->cap_reads ? w->cap_reads * 2 : 256;
		w->reads = sim_xrealloc(w->reads, w->cap_reads * sizeof *w->reads);
	}
	struct read *r = &w->reads[w->n_reads++];
	r->node = i;
	r->inc = n->inc;
	r->key = key;
	r->floor = w->key_acked[key];
	r->index = 0;
	r->done = false;
}

static void complete_reads(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	for (size_t k = 0; k < w->n_reads; k++) {
		struct read *r = &w->reads[k];
		if (r->done || r->node != i || r->inc != n->inc || r->index == 0 ||
		    r->index > n->applied)
			continue;
		r->done = true;
		uint64_t seen = n->kv[r->key].index;
		sim_trace(w, TR_READ_OK, i, k + 1, r->key, r->index, seen, r->floor);
		if (seen < r->floor)
			sim_fail(w,
			         "stale read on node %d: key %u read at index %llu sees the write "
			         "at %llu, but the write at %llu was acknowledged before the read "
			         "began",
			         i, r->key, (unsigned long long)r->index, (unsigned long long)seen,
			         (unsigned long long)r->floor);
		w->rep->reads_checked++;
	}
}

/* ---- Applying ------------------------------------------------------------- */

static void retire(struct world *w, int slot)
{
	if (slot < 0 || w->nodes[slot].retired)
		return;
	sim_trace(w, TR_RETIRE, slot, 0, 0, 0, 0, 0);
	w->nodes[slot].retired = true;
	host_crash(w, slot);
}

static void apply_entry(struct world *w, int i, uint64_t idx)
{
	struct node *n = &w->nodes[i];
	struct sentry *e = slog_at(&n->cache, idx);
	if (!e) {
		sim_fail(w, "node %d: asked to apply %llu, not in the host log", i,
		         (unsigned long long)idx);
		return;
	}
	if (idx != n->applied + 1) {
		sim_fail(w, "node %d: applies %llu after %llu", i, (unsigned long long)idx,
		         (unsigned long long)n->applied);
		return;
	}
	struct raft_status st;
	raft_status_get(n->r, &st);
	sim_check_committed(w, idx, e->chain, "apply", i, st.term);
	n->applied = idx;
	n->sm_chain = e->chain;
	if (e->size == 0)
		return;
	uint8_t kind = e->data[0];
	if (e->type == RAFT_ENTRY_CONF_CHANGE) {
		struct raft_conf_change cc = {.type = e->data[1], .node_id = get64(e->data + 2)};
		int rc = raft_conf_change_apply(n->r, idx, &cc);
		sim_trace(w, TR_APPLY_CONF, i, cc.type, sim_slot(w, cc.node_id), idx,
		          (uint64_t)(-rc), 0);
		/* Like etcd, a removed member shuts down for good. */
		if (rc == 0 && cc.type == RAFT_CONF_REMOVE_NODE) {
			int s = sim_slot(w, cc.node_id);
			if (s != i)
				retire(w, s);
		}
		return;
	}
	uint64_t op = get64(e->data + 1);
	uint32_t key;
	memcpy(&key, e->data + 9, 4);
	if (kind == PL_PUT && key < SIM_KEYS) {
		n->kv[key].op = op;
		n->kv[key].index = idx;
	}
	if (op >= 1 && op <= w->n_ops) {
		struct op *o = &w->ops[op - 1];
		if (o->node == i && o->inc == n->inc && o->index == idx && !o->acked) {
			o->acked = true;
			if (kind == PL_PUT && key < SIM_KEYS && w->key_acked[key] < idx)
				w->key_acked[key] = idx;
			if (kind == PL_MARK && op == w->mark_op)
				w->done = true;
			if (w->p->bench_window) {
				w->bench_committed++;
				w->rep->committed_bytes += e->size;
			}
		}
	}
}

static void maybe_snapshot(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	if (!n->snap_every || n->applied < n->disk_snap.index + n->snap_every)
		return;
	struct sentry *e = slog_at(&n->cache, n->applied);
	if (!e)
		return;
	struct ssnap s;
	memset(&s, 0, sizeof s);
	s.index = n->applied;
	s.term = e->term;
	s.chain = n->sm_chain;
	struct raft_conf c;
	raft_conf_get(n->r, &c);
	s.nv = c.n_voters;
	s.nl = c.n_learners;
	if (c.n_voters)
		memcpy(s.voters, c.voters, c.n_voters * sizeof *c.voters);
	if (c.n_learners)
		memcpy(s.learners, c.learners, c.n_learners * sizeof *c.learners);
	memcpy(s.kv, n->kv, sizeof s.kv);
	struct raft_snapshot_meta meta = {.index = s.index, .term = s.term, .conf = c};
	int rc = raft_snapshot_available(n->r, &meta);
	if (rc) {
		sim_fail(w, "node %d: raft_snapshot_available(%llu): %s", i,
		         (unsigned long long)s.index, raft_strerror(rc));
		return;
	}
	n->disk_snap = s; /* written durably before the core is told */
	uint64_t keep = n->snap_keep;
	uint64_t upto = s.index > keep ? s.index - keep : 0;
	if (upto > n->cache.base) {
		rc = raft_compact(n->r, upto);
		if (rc) {
			sim_fail(w, "node %d: raft_compact(%llu): %s", i, (unsigned long long)upto,
			         raft_strerror(rc));
			return;
		}
		slog_compact(&n->cache, upto);
		if (upto > n->disk.base && upto <= slog_last(&n->disk))
			slog_compact(&n->disk, upto);
	}
	sim_trace(w, TR_SNAP_TAKE, i, s.index, upto, 0, 0, 0);
}

/* ---- The Ready loop ------------------------------------------------------- */

static struct job *job_new(struct world *w, struct node *n)
{
	if (n->job_head + n->n_jobs == n->cap_jobs) {
		if (n->job_head > 0) {
			memmove(n->jobs, n->jobs + n->job_head, n->n_jobs * sizeof *n->jobs);
			n->job_head = 0;
		} else {
			n->cap_jobs = n->cap_jobs ? n->cap_jobs * 2 : 16;
			n->jobs = sim_xrealloc(n->jobs, n->cap_jobs * sizeof *n->jobs);
		}
	}
	struct job *j = &n->jobs[n->job_head + n->n_jobs];
	memset(j, 0, sizeof *j);
	uint64_t prev = n->n_jobs ? n->jobs[n->job_head + n->n_jobs - 1].done_at : 0;
	uint64_t lat = w->disk_base * n->disk_slow;
	lat = lat / 2 + sim_rand(w) % (lat + 1);
	/* Latency counts from submission; completions stay in order (a WAL
	 * merges writes queued behind a slow one into its next write). */
	j->done_at = prev > w->now + lat ? prev : w->now + lat;
	n->n_jobs++;
	return j;
}

static bool check_ready_entries(struct world *w, int i, const struct raft_ready *rd)
{
	struct node *n = &w->nodes[i];
	for (size_t k = 0; k < rd->n_entries; k++) {
		uint64_t idx = rd->entries_first + k;
		struct sentry *e = slog_at(&n->cache, idx);
		if (!e || e->term != rd->entries[k].term || e->type != rd->entries[k].type ||
		    e->size != rd->entries[k].size) {
			sim_fail(w,
			         "node %d: Ready asks to persist entry %llu (term %llu) the host "
			         "log does not hold",
			         i, (unsigned long long)idx,
			         (unsigned long long)rd->entries[k].term);
			return false;
		}
	}
	return true;
}

void host_process(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	while (n->alive && !w->failed && raft_has_ready(n->r)) {
		struct raft_ready rd;
		raft_ready(n->r, &rd);

		if (rd.soft_state_changed) {
			sim_trace(w, TR_ROLE, i, rd.soft_state.role, rd.soft_state.term,
			          (uint64_t)sim_slot(w, rd.soft_state.leader), 0, 0);
			if (rd.soft_state.role == RAFT_LEADER && n->seen_role != RAFT_LEADER) {
				w->rep->elections++;
				sim_note_leader(w, i, rd.soft_state.term);
				n->lead_last = slog_last(&n->cache);
			}
			n->seen_role = rd.soft_state.role;
		}

		/* The core's own entries (a new leader's no-op) are empty. */
		for (size_t k = 0; k < rd.n_entries; k++) {
			uint64_t idx = rd.entries_first + k;
			if (idx <= slog_last(&n->cache))
				continue;
			if (rd.entries[k].size != 0) {
				sim_fail(w,
				         "node %d: Ready names entry %llu of %u bytes the host "
				         "never stored",
				         i, (unsigned long long)idx, rd.entries[k].size);
				return;
			}
			cache_add(w, i, idx, rd.entries[k].term, rd.entries[k].type, NULL, 0);
		}

		for (size_t k = 0; k < rd.n_messages; k++) {
			struct netmsg *nm = netmsg_build(w, i, &rd.messages[k]);
			if (nm)
				sim_send(w, nm);
		}

		if (rd.snapshot) {
			const struct raft_snapshot_meta *s = rd.snapshot;
			if (!n->has_rx_snap || n->rx_snap.index != s->index ||
			    n->rx_snap.term != s->term || n->rx_snap.nv != s->conf.n_voters) {
				sim_fail(w,
				         "node %d: Ready installs snapshot %llu it did not receive",
				         i, (unsigned long long)s->index);
				return;
			}
			sim_check_committed(w, s->index, n->rx_snap.chain, "snapshot install", i,
			                    rd.soft_state.term);
			memcpy(n->kv, n->rx_snap.kv, sizeof n->kv);
			n->applied = s->index;
			n->sm_chain = n->rx_snap.chain;
			slog_install(&n->cache, &n->rx_snap);
			w->rep->snapshots_installed++;
			sim_trace(w, TR_SNAP_INSTALL, i, s->index, s->term, 0, 0, 0);
		}

		if (n->seen_role == RAFT_LEADER && rd.hard_state.commit > n->t10_commit)
			sim_check_durable_quorum(w, i, rd.hard_state.commit);
		if (rd.hard_state.commit > n->t10_commit)
			n->t10_commit = rd.hard_state.commit;

		if (rd.entries_first && !check_ready_entries(w, i, &rd))
			return;
		if (n->seen_role == RAFT_LEADER && rd.entries_first &&
		    rd.entries_first <= n->lead_last) {
			sim_fail(w,
			         "leader append-only: leader %d rewrites from %llu (held up to "
			         "%llu)",
			         i, (unsigned long long)rd.entries_first,
			         (unsigned long long)n->lead_last);
			return;
		}
		if (n->seen_role == RAFT_LEADER)
			n->lead_last = slog_last(&n->cache);

		if (rd.persist.seq || rd.n_after_persist) {
			struct job *j = job_new(w, n);
			j->mark = rd.persist;
			j->hs_changed = rd.hard_state_changed;
			j->hs = rd.hard_state;
			if (rd.snapshot) {
				j->has_snap = true;
				j->snap = n->rx_snap;
			}
			j->entries_first = rd.entries_first;
			if (rd.n_entries) {
				j->ents = sim_xrealloc(NULL, rd.n_entries * sizeof *j->ents);
				for (size_t k = 0; k < rd.n_entries; k++) {
					struct sentry *e = slog_at(&n->cache, rd.entries_first + k);
					j->ents[k] = *e;
					j->ents[k].data = sim_xrealloc(NULL, e->size);
					memcpy(j->ents[k].data, e->data, e->size);
				}
				j->n_ents = rd.n_entries;
			}
			if (rd.n_after_persist) {
				j->after =
				    sim_xrealloc(NULL, rd.n_after_persist * sizeof *j->after);
				for (size_t k = 0; k < rd.n_after_persist; k++) {
					j->after[j->n_after] =
					    netmsg_build(w, i, &rd.after_persist[k]);
					if (j->after[j->n_after])
						j->n_after++;
				}
			}
			sim_schedule(w, j->done_at, EV_DISK, i, n->inc, NULL);
		}
		if (rd.snapshot)
			n->has_rx_snap = false;

		for (uint64_t idx = rd.apply_first; idx <= rd.apply_last && n->alive; idx++) {
			apply_entry(w, i, idx);
			if (w->failed)
				return;
		}
		if (!n->alive)
			return;
		if (rd.apply_last >= rd.apply_first) {
			int rc = raft_applied(n->r, rd.apply_last);
			if (rc) {
				sim_fail(w, "node %d: raft_applied(%llu): %s", i,
				         (unsigned long long)rd.apply_last, raft_strerror(rc));
				return;
			}
		}

		for (size_t k = 0; k < rd.n_reads; k++) {
			uint64_t ctx = rd.reads[k].context;
			if (ctx == 0 || ctx > w->n_reads) {
				sim_fail(w, "node %d: read state for unknown context %llu", i,
				         (unsigned long long)ctx);
				return;
			}
			struct read *r = &w->reads[ctx - 1];
			if (r->done || r->node != i || r->inc != n->inc || r->index != 0)
				continue;
			if (rd.reads[k].index == 0)
				r->done = true;
			else
				r->index = rd.reads[k].index;
		}
		complete_reads(w, i);
		maybe_snapshot(w, i);
	}
}

/* ---- Events from the world ------------------------------------------------ */

void host_deliver(struct world *w, struct netmsg *nm)
{
	int i = nm->to;
	struct node *n = &w->nodes[i];
	struct raft_status before;
	raft_status_get(n->r, &before);
	if (nm->m.type == RAFT_MSG_SNAPSHOT) {
		n->rx_snap = *nm->snap;
		n->has_rx_snap = true;
	}
	struct raft_accept acc;
	int rc = raft_step(n->r, &nm->m, &acc);
	if (rc) {
		sim_fail(w, "node %d: raft_step(%s from %d) failed: %s", i,
		         raft_message_type_name(nm->m.type), nm->from, raft_strerror(rc));
		return;
	}
	if (nm->m.type == RAFT_MSG_APPEND && acc.count) {
		if (acc.index <= slog_last(&n->cache)) {
			if (acc.index <= before.commit) {
				sim_fail(w,
				         "node %d: truncates at %llu at or below its commit %llu",
				         i, (unsigned long long)acc.index,
				         (unsigned long long)before.commit);
				return;
			}
			slog_truncate(&n->cache, acc.index);
		}
		if (slog_last(&n->cache) + 1 != acc.index) {
			sim_fail(w, "node %d: accept at %llu leaves a gap after %llu", i,
			         (unsigned long long)acc.index,
			         (unsigned long long)slog_last(&n->cache));
			return;
		}
		for (size_t k = 0; k < acc.count; k++) {
			const struct raft_entry *re = &nm->m.entries[acc.first + k];
			uint64_t idx = acc.index + k;
			struct sentry e = {.term = re->term,
			                   .size = re->size,
			                   .type = re->type,
			                   .data = (uint8_t *)re->data};
			e.chain = sim_chain(slog_chain_at(&n->cache, idx - 1), e.term, e.type,
			                    re->data, re->size);
			slog_append(&n->cache, &e);
			sim_check_chain(w, idx, e.term, e.chain, "append");
		}
	}
	host_process(w, i);
}

void host_disk_done(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	struct raft_persist_mark last = {0};
	bool group = sim_rand(w) % 2 == 0;
	while (n->n_jobs > 0 && n->jobs[n->job_head].done_at <= w->now && !w->failed) {
		struct job *j = &n->jobs[n->job_head];
		/* A snapshot the host took itself since this install was queued
		 * supersedes it. */
		if (j->has_snap && j->snap.index > n->disk_snap.index) {
			n->disk_snap = j->snap;
			slog_install(&n->disk, &j->snap);
		}
		if (j->entries_first) {
			slog_truncate(&n->disk, j->entries_first);
			if (slog_last(&n->disk) + 1 != j->entries_first) {
				sim_fail(w,
				         "node %d: write at %llu leaves a gap after %llu on disk",
				         i, (unsigned long long)j->entries_first,
				         (unsigned long long)slog_last(&n->disk));
				return;
			}
			for (size_t k = 0; k < j->n_ents; k++)
				slog_append(&n->disk, &j->ents[k]);
		}
		if (j->hs_changed) {
			/* Durable term never decreases; the vote changes only
			 * with a term increase (T2, T3). */
			if (j->hs.term < n->disk_hs.term)
				sim_fail(w, "node %d: durable term lowered %llu -> %llu", i,
				         (unsigned long long)n->disk_hs.term,
				         (unsigned long long)j->hs.term);
			else if (j->hs.term == n->disk_hs.term && n->disk_hs.vote != RAFT_NONE &&
			         j->hs.vote != n->disk_hs.vote)
				sim_fail(w, "node %d: durable vote changed within term %llu", i,
				         (unsigned long long)j->hs.term);
			n->disk_hs = j->hs;
		}
		sim_trace(w, TR_DISK, i, j->mark.seq, j->mark.index, j->entries_first, j->n_ents,
		          j->has_snap);
		for (size_t k = 0; k < j->n_after; k++) {
			sim_send(w, j->after[k]);
			j->after[k] = NULL;
		}
		struct raft_persist_mark mark = j->mark;
		for (size_t e = 0; e < j->n_ents; e++)
			free(j->ents[e].data);
		free(j->ents);
		free(j->after);
		n->job_head++;
		n->n_jobs--;
		if (mark.seq) {
			/* Group commit: sometimes one report covers several. */
			if (!group && last.seq) {
				int rc = raft_persisted(n->r, &last);
				if (rc)
					sim_fail(w, "node %d: raft_persisted: %s", i,
					         raft_strerror(rc));
			}
			last = mark;
		}
	}
	if (n->n_jobs == 0)
		n->job_head = 0;
	if (last.seq && !w->failed) {
		int rc = raft_persisted(n->r, &last);
		if (rc)
			sim_fail(w, "node %d: raft_persisted: %s", i, raft_strerror(rc));
	}
	host_process(w, i);
}

void host_snapshot_sent(struct world *w, int i, uint64_t to, bool ok)
{
	struct node *n = &w->nodes[i];
	if (!n->alive)
		return;
	raft_snapshot_sent(n->r, to, ok);
	host_process(w, i);
}
