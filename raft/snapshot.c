/*
 * snapshot.c - snapshots: made available by the host, sent to followers
 * behind the log's start, installed by followers (§5.1, C6).
 *
 * The host snapshots its state machine when it likes and tells the core
 * (raft_snapshot_available); separately it chooses how far to compact
 * (raft_compact), typically keeping a tail of entries so that slightly slow
 * followers catch up from the log. A follower that needs an entry at or
 * below the compaction point gets the latest snapshot instead.
 *
 * On a follower, a snapshot at or below the commit index is stale and only
 * acknowledged. A snapshot whose last entry (index, term) is in the log
 * covers a prefix: the suffix after it is kept (C6). Otherwise the whole log
 * is discarded. The snapshot's term describes its last entry and never
 * touches the current term or vote (T2, T3); its configuration becomes the
 * configuration in force.
 */
#include "raft/internal.h"

int raft_snapshot_available(struct raft *r, const struct raft_snapshot_meta *meta)
{
	if (meta->index == 0 || meta->index > r->applied)
		return RAFT_EINVAL;
	uint64_t t;
	if (rlog_term(&r->log, meta->index, &t) && t != meta->term)
		return RAFT_EINVAL;
	if (meta->index < r->snap.index)
		return 0; /* we already have a newer one */
	int rc = raft__conf_copy(&r->snap_conf, &meta->conf);
	if (rc)
		return rc;
	r->snap.index = meta->index;
	r->snap.term = meta->term;
	raft__conf_view(&r->snap_conf, &r->snap.conf);
	return 0;
}

int raft_compact(struct raft *r, uint64_t index)
{
	if (index <= r->log.snap_index)
		return 0;
	if (index > r->applied || index > r->snap.index || index > rlog_last_index(&r->log))
		return RAFT_EINVAL;
	rlog_compact(&r->log, index);
	return 0;
}

void raft_snapshot_sent(struct raft *r, uint64_t peer, bool ok)
{
	if (r->role != RAFT_LEADER)
		return;
	struct progress *p = raft__progress(r, peer);
	if (!p || p->state != RAFT_PROGRESS_SNAPSHOT)
		return;
	if (!ok)
		p->pending_snapshot = 0;
	/* Either way wait for the follower's answer (or the next heartbeat
	 * round) before sending again (etcd's ReportSnapshot). */
	progress_become_probe(p);
	p->probe_sent = true;
}

void raft_report_unreachable(struct raft *r, uint64_t peer)
{
	if (r->role != RAFT_LEADER)
		return;
	struct progress *p = raft__progress(r, peer);
	if (p && p->id != r->id && p->state == RAFT_PROGRESS_REPLICATE)
		progress_become_probe(p);
}

int raft__step_snapshot(struct raft *r, const struct raft_message *m)
{
	const struct raft_snapshot_meta *s = &m->snapshot;
	if (s->index == 0 || s->term == 0 || s->term > m->term)
		return RAFT_EINVAL;
	if (s->index <= r->commit) {
		struct raft_message *resp = raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
		resp->index = r->commit;
		return 0;
	}
	struct conf_store conf = {0};
	int rc = raft__conf_copy(&conf, &s->conf);
	if (rc)
		return rc;

	uint64_t t;
	if (rlog_term(&r->log, s->index, &t) && t == s->term) {
		/* A prefix of our log: keep what follows. */
		rlog_compact(&r->log, s->index);
		if (r->persist_next <= s->index)
			r->persist_next = s->index + 1;
	} else {
		rlog_reset(&r->log, s->index, s->term);
		/* Nothing of the old log counts as durable until the install
		 * is: earlier writes vouch for nothing. */
		r->stable = 0;
		r->unsent_cap = 0;
		r->persist_next = s->index + 1;
		r->persist_trunc = true;
	}
	r->commit = s->index;
	r->applied = s->index;
	r->applying = s->index;

	struct raft_conf view;
	raft__conf_view(&conf, &view);
	rc = raft__conf_set(r, &view);
	assert(rc == 0 || rc == RAFT_ENOMEM);
	r->conf_index = s->index;

	/* The host now holds this snapshot's data: it is also what we would
	 * send, should we lead. */
	raft__conf_free(&r->snap_conf);
	r->snap_conf = conf;
	r->snap.index = s->index;
	r->snap.term = s->term;
	raft__conf_view(&r->snap_conf, &r->snap.conf);

	rc = raft__conf_copy(&r->install_conf, &view);
	assert(rc == 0 || rc == RAFT_ENOMEM);
	r->install.index = s->index;
	r->install.term = s->term;
	r->install_pending = true;

	struct raft_message *resp = raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
	resp->index = s->index;
	return 0;
}
