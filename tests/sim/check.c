/*
 * check.c - the simulator's invariants (see world.c for the list).
 *
 * Log matching is checked as entries appear anywhere (an (index, term) pair
 * must always name the same chain hash); state machine safety and leader
 * completeness against the chain hash committed at each index; the rest
 * after every event (check_all) or where the host sees the state change.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/internal.h"

static uint64_t pair_key(uint64_t index, uint64_t term)
{
	return index * 0x9e3779b97f4a7c15ull ^
	       (term + 0x632be59bd9b4e019ull) * 0xff51afd7ed558ccdull;
}

void sim_check_chain(struct world *w, uint64_t index, uint64_t term, uint64_t chain,
                     const char *what)
{
	/* Log matching: one chain hash per (index, term), cluster-wide. */
	if (w->chains.n * 2 >= w->chains.cap) {
		size_t cap = w->chains.cap ? w->chains.cap * 2 : 4096;
		uint64_t *k = calloc(cap * 3, sizeof *k);
		if (!k)
			abort();
		uint64_t *v = k + cap;
		uint64_t *tm = k + 2 * cap;
		for (size_t i = 0; i < w->chains.cap; i++) {
			if (!w->chains.keys[i])
				continue;
			uint64_t idx = w->chains.keys[i];
			uint64_t t = w->chains.keys[w->chains.cap * 2 + i];
			size_t h = pair_key(idx, t) & (cap - 1);
			while (k[h])
				h = (h + 1) & (cap - 1);
			k[h] = idx;
			v[h] = w->chains.vals[i];
			tm[h] = t;
		}
		free(w->chains.keys);
		w->chains.keys = k;
		w->chains.vals = v;
		w->chains.cap = cap;
	}
	size_t cap = w->chains.cap;
	uint64_t *terms = w->chains.keys + 2 * cap;
	size_t h = pair_key(index, term) & (cap - 1);
	while (w->chains.keys[h]) {
		if (w->chains.keys[h] == index && terms[h] == term) {
			if (w->chains.vals[h] != chain)
				sim_fail(w,
				         "log matching: two different logs hold entry %llu of "
				         "term %llu (%s)",
				         (unsigned long long)index, (unsigned long long)term, what);
			return;
		}
		h = (h + 1) & (cap - 1);
	}
	w->chains.keys[h] = index;
	w->chains.vals[h] = chain;
	terms[h] = term;
	w->chains.n++;
}

void sim_check_committed(struct world *w, uint64_t index, uint64_t chain, const char *what,
                         int node, uint64_t term)
{
	if (index == 0)
		return;
	if (index >= w->cap_committed) {
		size_t cap = w->cap_committed ? w->cap_committed : 1024;
		while (cap <= index)
			cap *= 2;
		w->committed = sim_xrealloc(w->committed, cap * sizeof *w->committed);
		w->commit_term = sim_xrealloc(w->commit_term, cap * sizeof *w->commit_term);
		memset(w->committed + w->cap_committed, 0,
		       (cap - w->cap_committed) * sizeof *w->committed);
		memset(w->commit_term + w->cap_committed, 0xff,
		       (cap - w->cap_committed) * sizeof *w->commit_term);
		w->cap_committed = cap;
	}
	if (w->committed[index] == 0) {
		w->committed[index] = chain;
		if (index > w->max_committed)
			w->max_committed = index;
	} else if (w->committed[index] != chain) {
		sim_fail(w,
		         "state machine safety: node %d %s a different entry at %llu than was "
		         "committed there",
		         node, what, (unsigned long long)index);
	}
	if (term < w->commit_term[index])
		w->commit_term[index] = term;
}

void sim_note_leader(struct world *w, int node, uint64_t term)
{
	/* Election safety. */
	for (size_t i = 0; i < w->leaders.n; i++) {
		if (w->leaders.terms[i] != term)
			continue;
		if (w->leaders.ids[i] != (uint64_t)node)
			sim_fail(w, "election safety: n%d and n%llu both lead term %llu", node,
			         (unsigned long long)w->leaders.ids[i], (unsigned long long)term);
		return;
	}
	if (w->leaders.n == w->leaders.cap) {
		w->leaders.cap = w->leaders.cap ? w->leaders.cap * 2 : 64;
		w->leaders.terms =
		    sim_xrealloc(w->leaders.terms, w->leaders.cap * sizeof(uint64_t));
		w->leaders.ids = sim_xrealloc(w->leaders.ids, w->leaders.cap * sizeof(uint64_t));
	}
	w->leaders.terms[w->leaders.n] = term;
	w->leaders.ids[w->leaders.n] = (uint64_t)node;
	w->leaders.n++;

	/* Leader completeness: every entry committed in an earlier term is in
	 * its log. Committing an index commits the ones before it, so the
	 * terms of commitment grow with the index: check the newest one
	 * committed before this term (the chain hash covers the rest). */
	struct node *n = &w->nodes[node];
	uint64_t c = w->max_committed;
	while (c > 0 && w->commit_term[c] >= term)
		c--;
	if (c == 0)
		return;
	if (slog_last(&n->cache) < c) {
		sim_fail(w,
		         "leader completeness: n%d leads term %llu without committed entry %llu "
		         "(its log ends at %llu)",
		         node, (unsigned long long)term, (unsigned long long)c,
		         (unsigned long long)slog_last(&n->cache));
		return;
	}
	uint64_t at = c >= n->cache.base ? c : n->cache.base;
	uint64_t want = at < w->cap_committed ? w->committed[at] : 0;
	if (want && slog_chain_at(&n->cache, at) != want)
		sim_fail(w,
		         "leader completeness: n%d leads term %llu with a log that differs at "
		         "committed index %llu",
		         node, (unsigned long long)term, (unsigned long long)at);
}

/* Committed means durable on a quorum of the leader's voters (T10). Called
 * from the Ready loop before the Ready's entries are applied, so that the
 * configuration is the one the commit was decided under. */
void sim_check_durable_quorum(struct world *w, int li, uint64_t commit)
{
	struct node *l = &w->nodes[li];
	struct raft_conf c;
	raft_conf_get(l->r, &c);
	uint64_t want = commit < w->cap_committed ? w->committed[commit] : 0;
	size_t durable = 0;
	for (size_t k = 0; k < c.n_voters; k++) {
		int s = sim_slot(w, c.voters[k]);
		if (s < 0)
			continue;
		struct node *v = &w->nodes[s];
		if (v->disk_snap.index >= commit) {
			durable++;
			continue;
		}
		uint64_t ch = slog_chain_at(&v->disk, commit);
		if (ch && (!want || ch == want))
			durable++;
	}
	if (durable < c.n_voters / 2 + 1)
		sim_fail(w, "leader n%d committed %llu, durable on only %zu of %zu voters", li,
		         (unsigned long long)commit, durable, c.n_voters);
}

static void check_node(struct world *w, int i)
{
	struct node *n = &w->nodes[i];
	struct raft_status st;
	raft_status_get(n->r, &st);
	if (st.commit < n->seen_commit)
		sim_fail(w, "node %d: commit went back %llu -> %llu", i,
		         (unsigned long long)n->seen_commit, (unsigned long long)st.commit);
	if (st.applied < n->seen_applied || st.applied > st.commit)
		sim_fail(w, "node %d: applied %llu (was %llu, commit %llu)", i,
		         (unsigned long long)st.applied, (unsigned long long)n->seen_applied,
		         (unsigned long long)st.commit);
	if (st.term < n->seen_term)
		sim_fail(w, "node %d: term went back", i);
	if (st.last_index != slog_last(&n->cache))
		sim_fail(w, "node %d: core log ends at %llu, host log at %llu", i,
		         (unsigned long long)st.last_index,
		         (unsigned long long)slog_last(&n->cache));
	if (w->failed)
		return;
	if (st.commit > n->seen_commit) {
		uint64_t from = n->seen_commit + 1;
		if (from < n->cache.base)
			from = n->cache.base;
		for (uint64_t k = from; k <= st.commit; k++) {
			uint64_t ch = slog_chain_at(&n->cache, k);
			if (ch)
				sim_check_committed(w, k, ch, "commits", i, st.term);
		}
	}
	if (st.role == RAFT_LEADER && st.term == n->seen_term && st.last_index < n->lead_last)
		sim_fail(w, "leader append-only: leader %d log shrank to %llu", i,
		         (unsigned long long)st.last_index);
	n->seen_commit = st.commit;
	n->seen_applied = st.applied;
	n->seen_term = st.term;
}

void sim_check_all(struct world *w)
{
	for (int i = 0; i < w->n_nodes && !w->failed; i++)
		if (w->nodes[i].alive)
			check_node(w, i);
}
