/*
 * chaos.c - the clients and the fault schedule of the simulated world.
 *
 * Clients propose writes and issue ReadIndex reads at random nodes,
 * following leader hints. During the fault phase a seeded schedule crashes
 * nodes (half the time the leader), partitions links symmetrically or in
 * one direction, isolates the leader, raises loss and duplication, slows
 * disks, changes membership (spare nodes join as voters or learners,
 * learners are promoted, members removed) and transfers leadership. After
 * healing, a marker proposal probes liveness.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/internal.h"

static uint64_t range(struct world *w, uint64_t lo, uint64_t hi)
{
	return lo + sim_rand(w) % (hi - lo + 1);
}

/* ---- Clients -------------------------------------------------------------- */

int sim_find_leader(struct world *w)
{
	int best = -1;
	uint64_t term = 0;
	for (int i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (!n->alive)
			continue;
		struct raft_status st;
		raft_status_get(n->r, &st);
		if (st.role == RAFT_LEADER && st.term >= term) {
			best = i;
			term = st.term;
		}
	}
	return best;
}

static int random_alive(struct world *w)
{
	int cand[SIM_MAX], k = 0;
	for (int i = 0; i < w->n_nodes; i++)
		if (w->nodes[i].alive)
			cand[k++] = i;
	return k ? cand[sim_rand(w) % (uint64_t)k] : -1;
}

/* A client talks to a random node and follows its leader hint. */
static int client_target(struct world *w)
{
	int i = random_alive(w);
	if (i < 0)
		return -1;
	struct raft_status st;
	raft_status_get(w->nodes[i].r, &st);
	if (st.role == RAFT_LEADER)
		return i;
	int l = st.leader ? sim_slot(w, st.leader) : -1;
	return l >= 0 && w->nodes[l].alive ? l : -1;
}

void sim_client_write(struct world *w)
{
	if (w->healed && !w->done) {
		/* Liveness probe: keep one marker proposal on the leader. */
		bool pending = false;
		if (w->mark_op) {
			struct op *o = &w->ops[w->mark_op - 1];
			struct node *n = &w->nodes[o->node];
			struct raft_status st;
			if (n->alive && n->inc == o->inc) {
				raft_status_get(n->r, &st);
				pending = st.role == RAFT_LEADER && st.term == o->term;
			}
		}
		int l = pending ? -1 : sim_find_leader(w);
		if (l >= 0 && host_propose(w, l, PL_MARK, 0, &w->mark_op, 16) == 0)
			host_process(w, l);
	}
	int i = client_target(w);
	if (i >= 0) {
		uint32_t key = (uint32_t)(sim_rand(w) % SIM_KEYS);
		uint32_t size = (uint32_t)range(w, 16, 200);
		if (host_propose(w, i, PL_PUT, key, NULL, size) == 0)
			host_process(w, i);
	}
}

void sim_client_read(struct world *w)
{
	int i = random_alive(w);
	if (i < 0)
		return;
	host_read(w, i, (uint32_t)(sim_rand(w) % SIM_KEYS));
	host_process(w, i);
}

/* ---- Chaos ---------------------------------------------------------------- */

void sim_restart(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	if (n->alive || n->retired || !n->started)
		return;
	host_boot(w, i);
	sim_trace(w, TR_RESTART, i, n->disk_hs.term, n->disk_hs.commit, slog_last(&n->disk),
	          n->disk_snap.index, 0);
	if (n->alive)
		host_process(w, i);
}

static int next_spare(struct world *w)
{
	for (int i = 0; i < w->n_nodes; i++)
		if (!w->nodes[i].started)
			return i;
	return -1;
}

static void membership_change(struct world *w)
{
	int l = sim_find_leader(w);
	if (l < 0)
		return;
	struct raft_conf c;
	raft_conf_get(w->nodes[l].r, &c);
	unsigned pick = (unsigned)(sim_rand(w) % 5);
	uint8_t type;
	uint64_t id;
	if (pick <= 1 || (pick == 2 && c.n_learners == 0)) {
		int s = next_spare(w);
		if (s < 0)
			return;
		/* A joining member starts empty and learns everything. */
		host_boot(w, s);
		sim_trace(w, TR_RESTART, s, 0, 0, 0, 0, 0);
		type = pick == 0 ? RAFT_CONF_ADD_VOTER : RAFT_CONF_ADD_LEARNER;
		id = w->nodes[s].id;
	} else if (pick == 2) {
		type = RAFT_CONF_PROMOTE_LEARNER;
		id = c.learners[sim_rand(w) % c.n_learners];
	} else {
		size_t total = c.n_voters + c.n_learners;
		size_t k = (size_t)(sim_rand(w) % total);
		type = RAFT_CONF_REMOVE_NODE;
		id = k < c.n_voters ? c.voters[k] : c.learners[k - c.n_voters];
		if (c.n_voters <= 2 && k < c.n_voters)
			return; /* keep some redundancy */
	}
	host_conf_change(w, l, type, id);
	host_process(w, l);
}

static void partition(struct world *w, unsigned kind)
{
	uint64_t mask = 0;
	if (kind == 0) {
		/* Symmetric split into two groups. */
		for (int i = 0; i < w->n_nodes; i++)
			if (sim_rand(w) & 1)
				mask |= 1ull << i;
		for (int i = 0; i < w->n_nodes; i++)
			for (int j = 0; j < w->n_nodes; j++)
				if (((mask >> i) & 1) != ((mask >> j) & 1))
					w->blocked[i][j] = true;
	} else if (kind == 1) {
		/* Asymmetric: some links fail in one direction only. */
		unsigned n = (unsigned)range(w, 1, (uint64_t)w->n_nodes * 2);
		for (unsigned k = 0; k < n; k++) {
			int i = (int)(sim_rand(w) % (uint64_t)w->n_nodes);
			int j = (int)(sim_rand(w) % (uint64_t)w->n_nodes);
			w->blocked[i][j] = true;
			mask |= 1ull << i;
		}
	} else {
		/* Isolate the leader, or cut only its outgoing links. */
		int l = sim_find_leader(w);
		if (l < 0)
			return;
		mask = 1ull << l;
		bool oneway = sim_rand(w) & 1;
		for (int j = 0; j < w->n_nodes; j++) {
			w->blocked[l][j] = true;
			if (!oneway)
				w->blocked[j][l] = true;
		}
	}
	sim_trace(w, TR_PARTITION, -1, kind, mask, 0, 0, 0);
	sim_schedule(w, w->now + range(w, 50000, 1500000), EV_HEAL_LINKS, 0, 0, NULL);
}

void sim_chaos(struct world *w)
{
	unsigned roll = (unsigned)(sim_rand(w) % 100);
	if (roll < 16) {
		/* Half the crashes hit the leader: leadership churn is where
		 * the commitment rules matter. */
		int i = sim_rand(w) % 2 ? sim_find_leader(w) : random_alive(w);
		if (i < 0)
			i = random_alive(w);
		if (i >= 0) {
			sim_trace(w, TR_CRASH, i, 0, 0, 0, 0, 0);
			host_crash(w, i);
			w->rep->crashes++;
			sim_schedule(w, w->now + range(w, 10000, 1000000), EV_RESTART, i, 0, NULL);
		}
	} else if (roll < 30) {
		partition(w, 0);
	} else if (roll < 38) {
		partition(w, 1);
	} else if (roll < 46) {
		partition(w, 2);
	} else if (roll < 54) {
		w->drop = sim_frand(w) * 0.4;
		w->dup = sim_frand(w) * 0.1;
		sim_trace(w, TR_LOSS, -1, (uint64_t)(w->drop * 100), (uint64_t)(w->dup * 100), 0, 0,
		          0);
		sim_schedule(w, w->now + range(w, 50000, 1000000), EV_LOSS_END, 0, 0, NULL);
	} else if (roll < 62) {
		int i = random_alive(w);
		if (i >= 0) {
			w->nodes[i].disk_slow = (unsigned)range(w, 10, 200);
			sim_trace(w, TR_SLOW, i, w->nodes[i].disk_slow, 0, 0, 0, 0);
			sim_schedule(w, w->now + range(w, 50000, 1000000), EV_SLOW_END, i, 0, NULL);
		}
	} else if (roll < 80) {
		membership_change(w);
	} else if (roll < 92) {
		int l = sim_find_leader(w);
		if (l >= 0) {
			struct raft_conf c;
			raft_conf_get(w->nodes[l].r, &c);
			if (c.n_voters > 1) {
				uint64_t to = c.voters[sim_rand(w) % c.n_voters];
				int rc = raft_transfer_leadership(w->nodes[l].r, to);
				sim_trace(w, TR_TRANSFER, l, (uint64_t)sim_slot(w, to),
				          (uint64_t)(-rc), 0, 0, 0);
				if (rc == 0)
					w->rep->transfers++;
				host_process(w, l);
			}
		}
	} else {
		int i = random_alive(w);
		if (i >= 0) {
			sim_trace(w, TR_CRASH, i, 0, 0, 0, 0, 0);
			host_crash(w, i);
			w->rep->crashes++;
			sim_restart(w, i);
		}
	}
}

void sim_heal_all(struct world *w)
{
	w->healed = true;
	w->heal_at = w->now;
	memset(w->blocked, 0, sizeof w->blocked);
	w->drop = 0;
	w->dup = 0;
	w->long_delay = 0;
	sim_trace(w, TR_HEAL, -1, 1, 0, 0, 0, 0);
	for (int i = 0; i < w->n_nodes; i++) {
		w->nodes[i].disk_slow = 1;
		sim_restart(w, i);
	}
	sim_schedule(w, w->now + w->p->settle_us, EV_DEADLINE, 0, 0, NULL);
}
