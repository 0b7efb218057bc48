/*
 * replication.c - log replication and commitment (§3.5, §3.6.2, §10.2).
 *
 * Proposals only append to the leader's log; appends to followers are built
 * when the host drains a Ready (raft__flush_appends), so everything proposed
 * in between travels in one message per follower, cut at max_msg_bytes.
 * Followers in step get pipelined appends bounded by the in-flight window;
 * others are probed one append at a time (progress.c).
 *
 * A follower accepts an append only if its log holds (index, log_term)
 * (C3); it skips entries it already has and truncates only from the first
 * real conflict, so a duplicated or reordered append never shortens the log
 * (C4). A rejection carries a hint (largest index <= the probe whose term is
 * <= the leader's term there) so catching up costs a round trip per term.
 *
 * The leader advances its commit index only over entries of its own term
 * held by a quorum (C2, Figure 8), and counts itself only for durable
 * entries (T10).
 */
#include <string.h>

#include "raft/internal.h"

void raft__append_local(struct raft *r, uint8_t type, uint32_t size)
{
	rlog_append(&r->log, r->term, size, type);
	r->uncommitted_bytes += size;
	r->bcast_pending = true;
}

int raft_propose(struct raft *r, uint32_t size, uint64_t *index, uint64_t *term)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (r->transferee != RAFT_NONE)
		return RAFT_ETRANSFER;
	uint64_t max = r->cfg.max_uncommitted_bytes;
	if (max && r->uncommitted_bytes > 0 && r->uncommitted_bytes + size > max)
		return RAFT_EOVERLOAD;
	raft__append_local(r, RAFT_ENTRY_NORMAL, size);
	*index = rlog_last_index(&r->log);
	*term = r->term;
	return 0;
}

static bool send_snapshot(struct raft *r, struct progress *p)
{
	/* etcd: no snapshot to a peer we have not heard from lately; it would
	 * tie up a stream for nothing. */
	if (!p->recent_active || r->snap.index == 0)
		return false;
	struct raft_message *m = raft__msg(r, RAFT_MSG_SNAPSHOT, p->id);
	raft__msg_snapshot(r, m, &r->snap);
	progress_become_snapshot(p, r->snap.index);
	return true;
}

bool raft__send_append(struct raft *r, struct progress *p, bool allow_empty)
{
	if (progress_is_paused(p, r->cfg.max_inflight_bytes))
		return false;
	uint64_t prev = p->next - 1, prev_term;
	if (!rlog_term(&r->log, prev, &prev_term))
		return send_snapshot(r, p);

	uint64_t last = rlog_last_index(&r->log);
	uint64_t lo = p->next, hi = lo - 1, bytes = 0;
	while (hi < last) {
		const struct rlog_entry *e = rlog_at(&r->log, hi + 1);
		if (r->cfg.max_msg_bytes && hi >= lo && bytes + e->size > r->cfg.max_msg_bytes)
			break;
		bytes += e->size;
		hi++;
	}
	if (hi < lo && !allow_empty)
		return false;

	struct raft_message *m = raft__msg(r, RAFT_MSG_APPEND, p->id);
	m->index = prev;
	m->log_term = prev_term;
	m->commit = r->commit;
	raft__msg_entries(r, m, lo, hi);
	if (p->state == RAFT_PROGRESS_REPLICATE) {
		if (hi >= lo) {
			p->next = hi + 1;
			progress_inflights_add(p, hi, bytes);
		}
	} else {
		p->probe_sent = true;
	}
	if (p->sent_commit < r->commit)
		p->sent_commit = r->commit;
	return true;
}

void raft__flush_appends(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->id)
			continue;
		/* A probe finds the match point, and an empty append at next - 1
		 * does that as well as a full one: a probing follower whose match
		 * is still unknown is probed even with nothing new to send. A
		 * member added to an idle cluster starts probing at last + 1
		 * (membership.c), so without this it would hear nothing but
		 * heartbeats until the next proposal. etcd sends the same empty
		 * probe from bcastAppend and on a heartbeat response
		 * (maybeSendAppend with sendIfEmpty, etcd-io/raft raft.go). */
		bool probe = p->state == RAFT_PROGRESS_PROBE && p->match + 1 < p->next;
		bool sent = false;
		while (raft__send_append(r, p, probe)) {
			sent = true;
			if (p->state != RAFT_PROGRESS_REPLICATE)
				break;
		}
		/* Nothing new, but the commit index moved: tell the follower so
		 * it can apply (and serve reads) without waiting a heartbeat. */
		if (!sent && p->state == RAFT_PROGRESS_REPLICATE && p->sent_commit < r->commit)
			raft__send_append(r, p, true);
	}
}

void raft__bcast_heartbeat(struct raft *r)
{
	uint64_t round = raft__read_round_start(r);
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->id)
			continue;
		struct raft_message *m = raft__msg(r, RAFT_MSG_HEARTBEAT, p->id);
		/* Only what the follower is known to hold: its log beyond match
		 * may still differ from ours. */
		m->commit = p->match < r->commit ? p->match : r->commit;
		m->context = round;
		if (p->sent_commit < m->commit)
			p->sent_commit = m->commit;
	}
}

static void commit_advanced(struct raft *r, uint64_t old)
{
	/* Entries of this leadership leave the uncommitted budget. */
	uint64_t from = old + 1 > r->uncommitted_from ? old + 1 : r->uncommitted_from;
	for (uint64_t i = from; i <= r->commit; i++) {
		uint32_t size = rlog_at(&r->log, i)->size;
		r->uncommitted_bytes =
		    r->uncommitted_bytes > size ? r->uncommitted_bytes - size : 0;
	}
	raft__read_commit_advanced(r);
	r->bcast_pending = true;
}

bool raft__maybe_commit(struct raft *r)
{
	uint64_t *v = r->scratch;
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (p->learner)
			continue;
		uint64_t m = p->id == r->id ? r->stable : p->match;
		/* Insertion sort, descending: clusters are small. */
		size_t j = n++;
		while (j > 0 && v[j - 1] < m) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = m;
	}
	if (n == 0)
		return false;
	uint64_t q = v[raft__quorum(r) - 1];
	if (q <= r->commit || rlog_term_or0(&r->log, q) != r->term)
		return false;
	uint64_t old = r->commit;
	r->commit = q;
	commit_advanced(r, old);
	return true;
}

void raft__commit_to(struct raft *r, uint64_t index)
{
	uint64_t last = rlog_last_index(&r->log);
	if (index > last)
		index = last;
	if (index > r->commit)
		r->commit = index;
}

void raft__stable_advanced(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	struct progress *self = raft__progress(r, r->id);
	if (self)
		self->match = r->stable;
	raft__maybe_commit(r);
}

static int validate_entries(const struct raft *r, const struct raft_message *m)
{
	uint64_t prev = m->log_term;
	if (m->n_entries && !m->entries)
		return RAFT_EINVAL;
	if (m->index > UINT64_MAX - m->n_entries)
		return RAFT_EINVAL;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->term < prev || e->term > m->term || e->term == 0)
			return RAFT_EINVAL;
		if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_CONF_CHANGE)
			return RAFT_EINVAL;
		prev = e->term;
	}
	(void)r;
	return 0;
}

int raft__step_append(struct raft *r, const struct raft_message *m, struct raft_accept *acc)
{
	int rc = validate_entries(r, m);
	if (rc)
		return rc;

	if (m->index < r->commit) {
		/* Everything up to commit is settled: say so, and the leader
		 * resumes from there. */
		struct raft_message *resp = raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
		resp->index = r->commit;
		return 0;
	}

	uint64_t t;
	if (!rlog_term(&r->log, m->index, &t) || t != m->log_term) {
		uint64_t last = rlog_last_index(&r->log);
		uint64_t hint = rlog_find_conflict_by_term(
		    &r->log, m->index < last ? m->index : last, m->log_term);
		struct raft_message *resp = raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
		resp->index = m->index;
		resp->reject = true;
		resp->reject_hint = hint;
		resp->log_term = rlog_term_or0(&r->log, hint);
		return 0;
	}

	uint64_t last = rlog_last_index(&r->log);
	uint64_t lastnew = m->index + m->n_entries;
	uint64_t conflict = 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		uint64_t idx = m->index + 1 + i;
		if (idx > last || rlog_at(&r->log, idx)->term != m->entries[i].term) {
			conflict = idx;
			break;
		}
	}
	if (conflict) {
		/* C4: never truncate a committed entry. A leader asking for it
		 * is broken; refuse rather than lose committed state. */
		if (conflict <= r->commit)
			return RAFT_EINVAL;
		if (conflict <= last) {
			rlog_truncate(&r->log, conflict);
			raft__truncated(r, conflict);
		}
		for (uint64_t idx = conflict; idx <= lastnew; idx++) {
			const struct raft_entry *e = &m->entries[idx - m->index - 1];
			rlog_append(&r->log, e->term, e->size, e->type);
		}
		acc->first = (size_t)(conflict - m->index - 1);
		acc->count = (size_t)(lastnew - conflict + 1);
		acc->index = conflict;
	}
	/* Only up to the last entry this message vouched for: beyond it our
	 * log may still hold entries the leader does not have. */
	raft__commit_to(r, m->commit < lastnew ? m->commit : lastnew);

	struct raft_message *resp = raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
	resp->index = lastnew;
	return 0;
}

void raft__step_append_response(struct raft *r, const struct raft_message *m)
{
	struct progress *p = raft__progress(r, m->from);
	if (!p || p->id == r->id)
		return;
	p->recent_active = true;

	if (m->reject) {
		uint64_t hint = m->reject_hint;
		/* Skip, in one step, every entry of ours whose term is above the
		 * follower's term at its hint: none of them can match. */
		if (m->log_term > 0)
			hint = rlog_find_conflict_by_term(&r->log, hint, m->log_term);
		if (progress_maybe_decr_to(p, m->index, hint)) {
			if (p->state == RAFT_PROGRESS_REPLICATE)
				progress_become_probe(p);
			r->bcast_pending = true;
		}
		return;
	}

	bool was_paused = progress_is_paused(p, r->cfg.max_inflight_bytes);
	if (progress_maybe_update(p, m->index)) {
		switch (p->state) {
		case RAFT_PROGRESS_PROBE:
			progress_become_replicate(p);
			break;
		case RAFT_PROGRESS_SNAPSHOT:
			if (p->match >= r->log.snap_index) {
				progress_become_probe(p);
				progress_become_replicate(p);
			}
			break;
		default:
			progress_inflights_free_to(p, m->index);
			break;
		}
		raft__maybe_commit(r);
		raft__transfer_check(r, p);
		r->bcast_pending = true;
	} else if (p->state == RAFT_PROGRESS_REPLICATE) {
		progress_inflights_free_to(p, m->index);
		if (was_paused && !progress_is_paused(p, r->cfg.max_inflight_bytes))
			r->bcast_pending = true;
	}
}

void raft__step_heartbeat(struct raft *r, const struct raft_message *m)
{
	raft__commit_to(r, m->commit);
	struct raft_message *resp = raft__msg(r, RAFT_MSG_HEARTBEAT_RESPONSE, m->from);
	resp->context = m->context;
}

void raft__step_heartbeat_response(struct raft *r, const struct raft_message *m)
{
	struct progress *p = raft__progress(r, m->from);
	if (!p || p->id == r->id)
		return;
	p->recent_active = true;
	p->probe_sent = false;
	if (m->context > p->read_acked) {
		p->read_acked = m->context;
		raft__read_check(r);
	}
	if (p->match < rlog_last_index(&r->log)) {
		if (p->state == RAFT_PROGRESS_REPLICATE) {
			/* Appends may have been lost with the window open (or
			 * full): an empty append at next - 1 either confirms it
			 * or draws a rejection that drops us back to probing. */
			uint64_t prev = p->next - 1, prev_term;
			if (rlog_term(&r->log, prev, &prev_term)) {
				struct raft_message *a = raft__msg(r, RAFT_MSG_APPEND, p->id);
				a->index = prev;
				a->log_term = prev_term;
				a->commit = r->commit;
			} else {
				/* Compacted past what we sent: probing will find
				 * out whether it needs a snapshot. */
				progress_become_probe(p);
				r->bcast_pending = true;
			}
		} else {
			/* Probing: the flush sends the next probe, empty if
			 * there is nothing new (a snapshot in flight waits). */
			r->bcast_pending = true;
		}
	}
}
