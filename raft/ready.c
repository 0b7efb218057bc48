/*
 * ready.c - the work the core hands to its host, and the host's reports back.
 *
 * Messages and read states accumulate in a "building" arena while events are
 * stepped; raft_ready() hands that arena out and starts filling the other
 * one, so what a Ready points to stays put until the next raft_ready(). The
 * arenas are reused: in steady state nothing is allocated per Ready.
 *
 * Persistence is tracked as a FIFO of records, one per Ready that asked for
 * any. The host reports a record's mark when it (and all before it) is
 * durable. A record says which entries it wrote; it raises the stable index
 * only up to the lowest truncation issued after it (trap T9: a write that
 * completes after a later overwrite was issued must not count entries the
 * overwrite replaces, even if an entry with the same index and term is
 * rewritten once more: the ABA race of etcd-io/raft's
 * async_storage_writes_append_aba_race.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

/* ---- Message construction ------------------------------------------------- */

/* After-persist messages: they acknowledge log state or grant votes (C1;
 * etcd's msgsAfterAppend). Everything else may leave at once. */
static bool after_persist(uint8_t type)
{
	return type == RAFT_MSG_APPEND_RESPONSE || type == RAFT_MSG_VOTE_RESPONSE ||
	       type == RAFT_MSG_PRE_VOTE_RESPONSE;
}

struct raft_message *raft__msg(struct raft *r, uint8_t type, uint64_t to)
{
	struct arena *a = &r->arenas[r->building];
	struct msg_list *l = after_persist(type) ? &a->after : &a->now;
	if (l->n >= l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		l->v = raft__xrealloc(l->v, cap, sizeof *l->v);
		l->fix = raft__xrealloc(l->fix, cap, sizeof *l->fix);
		l->cap = cap;
	}
	struct raft_message *m = &l->v[l->n];
	l->fix[l->n].ents = SIZE_MAX;
	l->fix[l->n].ids = SIZE_MAX;
	l->n++;
	memset(m, 0, sizeof *m);
	m->type = type;
	m->from = r->id;
	m->to = to;
	m->term = r->term;
	return m;
}

static struct msg_fix *fix_of(struct raft *r, struct raft_message *m)
{
	struct arena *a = &r->arenas[r->building];
	struct msg_list *l = after_persist(m->type) ? &a->after : &a->now;
	assert(m >= l->v && m < l->v + l->n);
	return &l->fix[m - l->v];
}

static size_t arena_entries(struct raft *r, uint64_t lo, uint64_t hi)
{
	struct arena *a = &r->arenas[r->building];
	size_t n = (size_t)(hi - lo + 1);
	RAFT_GROW(a->ents, a->n_ents + n, a->cap_ents);
	size_t off = a->n_ents;
	for (uint64_t i = lo; i <= hi; i++) {
		const struct rlog_entry *e = rlog_at(&r->log, i);
		struct raft_entry *o = &a->ents[a->n_ents++];
		o->term = e->term;
		o->size = e->size;
		o->type = e->type;
		o->data = NULL;
	}
	return off;
}

void raft__msg_entries(struct raft *r, struct raft_message *m, uint64_t lo, uint64_t hi)
{
	if (hi < lo)
		return;
	size_t off = arena_entries(r, lo, hi);
	fix_of(r, m)->ents = off;
	m->n_entries = (size_t)(hi - lo + 1);
}

static size_t arena_conf(struct raft *r, const struct raft_conf *c)
{
	struct arena *a = &r->arenas[r->building];
	size_t n = c->n_voters + c->n_learners;
	RAFT_GROW(a->ids, a->n_ids + n + 1, a->cap_ids);
	size_t off = a->n_ids;
	if (c->n_voters)
		memcpy(a->ids + off, c->voters, c->n_voters * sizeof *a->ids);
	if (c->n_learners)
		memcpy(a->ids + off + c->n_voters, c->learners, c->n_learners * sizeof *a->ids);
	a->n_ids += n;
	return off;
}

void raft__msg_snapshot(struct raft *r, struct raft_message *m, const struct raft_snapshot_meta *s)
{
	m->snapshot.index = s->index;
	m->snapshot.term = s->term;
	m->snapshot.conf.n_voters = s->conf.n_voters;
	m->snapshot.conf.n_learners = s->conf.n_learners;
	fix_of(r, m)->ids = arena_conf(r, &s->conf);
}

void raft__read_state(struct raft *r, uint64_t context, uint64_t index)
{
	struct arena *a = &r->arenas[r->building];
	RAFT_GROW(a->reads, a->n_reads, a->cap_reads);
	a->reads[a->n_reads].context = context;
	a->reads[a->n_reads].index = index;
	a->n_reads++;
}

static void resolve(struct arena *a, struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct raft_message *m = &l->v[i];
		if (l->fix[i].ents != SIZE_MAX)
			m->entries = a->ents + l->fix[i].ents;
		if (l->fix[i].ids != SIZE_MAX) {
			m->snapshot.conf.voters = a->ids + l->fix[i].ids;
			m->snapshot.conf.learners =
			    a->ids + l->fix[i].ids + m->snapshot.conf.n_voters;
		}
	}
}

static void arena_clear(struct arena *a)
{
	a->now.n = 0;
	a->after.n = 0;
	a->n_ents = 0;
	a->n_ids = 0;
	a->n_reads = 0;
}

void raft__arena_free(struct arena *a)
{
	free(a->now.v);
	free(a->now.fix);
	free(a->after.v);
	free(a->after.fix);
	free(a->ents);
	free(a->ids);
	free(a->reads);
	memset(a, 0, sizeof *a);
}

/* ---- Persistence bookkeeping --------------------------------------------- */

/* The core's log lost entries >= index: they are no longer durable in its
 * view, and writes already issued may only vouch for entries below. */
void raft__truncated(struct raft *r, uint64_t index)
{
	uint64_t below = index - 1;
	if (r->stable > below)
		r->stable = below;
	if (r->unsent_cap > below)
		r->unsent_cap = below;
	if (r->persist_next > index) {
		r->persist_next = index;
	}
	r->persist_trunc = true;
}

static uint64_t apply_limit(const struct raft *r)
{
	return r->commit < r->stable ? r->commit : r->stable;
}

static struct raft_hard_state hard_state(const struct raft *r)
{
	struct raft_hard_state hs = {.term = r->term, .vote = r->vote, .commit = r->commit};
	return hs;
}

static struct raft_soft_state soft_state(const struct raft *r)
{
	struct raft_soft_state ss = {.role = r->role, .leader = r->leader, .term = r->term};
	return ss;
}

bool raft_has_ready(const struct raft *r)
{
	const struct arena *a = &r->arenas[r->building];
	struct raft_hard_state hs = hard_state(r);
	struct raft_soft_state ss = soft_state(r);
	if (a->now.n || a->after.n || a->n_reads)
		return true;
	if (hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote ||
	    hs.commit != r->prev_hs.commit)
		return true;
	if (ss.role != r->prev_ss.role || ss.leader != r->prev_ss.leader ||
	    ss.term != r->prev_ss.term)
		return true;
	if (r->install_pending || r->persist_trunc || r->persist_next <= rlog_last_index(&r->log))
		return true;
	if (apply_limit(r) > r->applying)
		return true;
	if (r->role == RAFT_LEADER && (r->bcast_pending || r->read_round_needed))
		return true;
	return false;
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	memset(rd, 0, sizeof *rd);

	/* Leader work deferred to here so that everything proposed since the
	 * last Ready travels in one append per follower (batching by
	 * structure), and all reads queued since share one heartbeat round. */
	if (r->role == RAFT_LEADER) {
		raft__read_flush(r);
		raft__flush_appends(r);
	}
	r->bcast_pending = false;

	struct arena *a = &r->arenas[r->building];

	/* Soft state. */
	struct raft_soft_state ss = soft_state(r);
	if (ss.role != r->prev_ss.role || ss.leader != r->prev_ss.leader ||
	    ss.term != r->prev_ss.term) {
		rd->soft_state_changed = true;
		r->prev_ss = ss;
	}
	rd->soft_state = ss;

	/* Hard state. */
	struct raft_hard_state hs = hard_state(r);
	if (hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote ||
	    hs.commit != r->prev_hs.commit) {
		rd->hard_state_changed = true;
		r->prev_hs = hs;
	}
	rd->hard_state = hs;

	/* Snapshot to install. */
	bool install = r->install_pending;
	if (install) {
		a->install.index = r->install.index;
		a->install.term = r->install.term;
		struct raft_conf c;
		raft__conf_view(&r->install_conf, &c);
		size_t off = arena_conf(r, &c);
		a->install.conf.n_voters = c.n_voters;
		a->install.conf.n_learners = c.n_learners;
		a->install_ids = off; /* resolved below, once the pool stops moving */
		rd->snapshot = &a->install;
		r->install_pending = false;
	}

	/* Entries to persist. */
	uint64_t last = rlog_last_index(&r->log);
	size_t ents_off = SIZE_MAX;
	if (r->persist_trunc || r->persist_next <= last) {
		rd->entries_first = r->persist_next;
		if (r->persist_next <= last) {
			ents_off = arena_entries(r, r->persist_next, last);
			rd->n_entries = (size_t)(last - r->persist_next + 1);
		}
		r->persist_next = last + 1;
		r->persist_trunc = false;
	}

	/* The persistence record. */
	if (rd->hard_state_changed || install || rd->entries_first) {
		RAFT_GROW(r->recs, r->n_recs + 1, r->cap_recs);
		if (r->rec_head + r->n_recs >= r->cap_recs) {
			memmove(r->recs, r->recs + r->rec_head, r->n_recs * sizeof *r->recs);
			r->rec_head = 0;
		}
		struct persist_record *rec = &r->recs[r->rec_head + r->n_recs++];
		rec->seq = ++r->seq;
		rec->last = last;
		rec->last_term = rlog_last_term(&r->log);
		rec->cap = r->unsent_cap;
		rec->hs_term = hs.term;
		rec->hs_vote = hs.vote;
		r->unsent_cap = UINT64_MAX;
		rd->persist.seq = rec->seq;
		rd->persist.index = rec->last;
		rd->persist.term = rec->last_term;
	}

	/* Committed entries to apply: only locally durable ones, so the state
	 * machine never runs ahead of the log after a crash. */
	uint64_t limit = apply_limit(r);
	if (limit > r->applying) {
		uint64_t lo = r->applying + 1, hi = lo;
		uint64_t bytes = rlog_at(&r->log, lo) ? rlog_at(&r->log, lo)->size : 0;
		while (hi < limit) {
			const struct rlog_entry *e = rlog_at(&r->log, hi + 1);
			if (r->cfg.max_apply_bytes && bytes + e->size > r->cfg.max_apply_bytes)
				break;
			bytes += e->size;
			hi++;
		}
		rd->apply_first = lo;
		rd->apply_last = hi;
		r->applying = hi;
	} else {
		rd->apply_first = r->applying + 1;
		rd->apply_last = r->applying;
	}

	/* Hand the arena out; pointers are final from here on. */
	resolve(a, &a->now);
	resolve(a, &a->after);
	if (ents_off != SIZE_MAX)
		rd->entries = a->ents + ents_off;
	if (install) {
		a->install.conf.voters = a->ids + a->install_ids;
		a->install.conf.learners = a->ids + a->install_ids + a->install.conf.n_voters;
	}
	rd->messages = a->now.v;
	rd->n_messages = a->now.n;
	rd->after_persist = a->after.v;
	rd->n_after_persist = a->after.n;
	rd->reads = a->reads;
	rd->n_reads = a->n_reads;

	r->building ^= 1;
	arena_clear(&r->arenas[r->building]);
}

int raft_persisted(struct raft *r, const struct raft_persist_mark *mark)
{
	size_t pos = SIZE_MAX;
	for (size_t i = 0; i < r->n_recs; i++) {
		const struct persist_record *rec = &r->recs[r->rec_head + i];
		if (rec->seq == mark->seq) {
			pos = i;
			break;
		}
		if (rec->seq > mark->seq)
			break;
	}
	if (pos == SIZE_MAX)
		return RAFT_ESTALE;
	struct persist_record rec = r->recs[r->rec_head + pos];
	if (rec.last != mark->index || rec.last_term != mark->term)
		return RAFT_ESTALE;

	/* Every record up to this one is durable. */
	r->rec_head += pos + 1;
	r->n_recs -= pos + 1;
	if (r->n_recs == 0)
		r->rec_head = 0;

	r->durable_term = rec.hs_term;
	r->durable_vote = rec.hs_vote;

	/* Writes issued later may overwrite what this one wrote. */
	uint64_t cap = r->unsent_cap;
	for (size_t i = 0; i < r->n_recs; i++)
		if (r->recs[r->rec_head + i].cap < cap)
			cap = r->recs[r->rec_head + i].cap;
	uint64_t upto = rec.last < cap ? rec.last : cap;
	uint64_t t;
	bool ok = upto != rec.last || !rlog_term(&r->log, upto, &t) || t == rec.last_term;
	if (ok && upto > rlog_last_index(&r->log))
		upto = rlog_last_index(&r->log);
	if (ok && upto > r->stable) {
		r->stable = upto;
		raft__stable_advanced(r);
	}
	raft__self_vote_durable(r);
	return 0;
}

int raft_applied(struct raft *r, uint64_t index)
{
	if (index > r->applying)
		return RAFT_EINVAL;
	if (index > r->applied)
		r->applied = index;
	return 0;
}
