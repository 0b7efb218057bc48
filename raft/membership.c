/*
 * membership.c - configurations and single-server changes (Chapter 4).
 *
 * cairn uses etcd's apply-time semantics: a conf-change entry is an ordinary
 * entry until the host applies it and calls raft_conf_change_apply(); from
 * then on the new configuration counts for quorums, votes and snapshots.
 * Every node applies the same entries in the same order from the same
 * starting configuration, so every node reaches the same configuration at
 * the same index (and the same verdict on an invalid change).
 *
 * Changes are one node at a time (§4.1), so old and new majorities overlap.
 * A leader appends a new change only when
 *   - an entry of its current term is committed (C8, the 2015 fix, checked
 *     literally as term(commit) == current term), and
 *   - the previous change is applied (etcd's pendingConfIndex, which a new
 *     leader sets to its last index so older changes drain first).
 * A leader whose own removal is applied steps down, handing over with
 * TIMEOUT_NOW to a voter that has its whole log (§4.2.2).
 */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool contains(const uint64_t *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

void raft__conf_free(struct conf_store *c)
{
	free(c->voters);
	free(c->learners);
	memset(c, 0, sizeof *c);
}

void raft__conf_view(const struct conf_store *c, struct raft_conf *out)
{
	out->voters = c->voters;
	out->n_voters = c->n_voters;
	out->learners = c->learners;
	out->n_learners = c->n_learners;
}

/* Sorted, validated copy; dst is replaced only on success. */
int raft__conf_copy(struct conf_store *dst, const struct raft_conf *src)
{
	if ((src->n_voters && !src->voters) || (src->n_learners && !src->learners))
		return RAFT_EINVAL;
	uint64_t *v = malloc((src->n_voters + 1) * sizeof *v);
	uint64_t *l = malloc((src->n_learners + 1) * sizeof *l);
	if (!v || !l) {
		free(v);
		free(l);
		return RAFT_ENOMEM;
	}
	if (src->n_voters)
		memcpy(v, src->voters, src->n_voters * sizeof *v);
	if (src->n_learners)
		memcpy(l, src->learners, src->n_learners * sizeof *l);
	qsort(v, src->n_voters, sizeof *v, cmp_u64);
	qsort(l, src->n_learners, sizeof *l, cmp_u64);
	bool ok = true;
	for (size_t i = 0; i < src->n_voters; i++)
		if (v[i] == RAFT_NONE || (i > 0 && v[i] == v[i - 1]))
			ok = false;
	for (size_t i = 0; i < src->n_learners; i++)
		if (l[i] == RAFT_NONE || (i > 0 && l[i] == l[i - 1]) ||
		    contains(v, src->n_voters, l[i]))
			ok = false;
	if (!ok) {
		free(v);
		free(l);
		return RAFT_EINVAL;
	}
	raft__conf_free(dst);
	dst->voters = v;
	dst->n_voters = src->n_voters;
	dst->learners = l;
	dst->n_learners = src->n_learners;
	return 0;
}

/* Installs c as the configuration in force and rebuilds the progress
 * array: members that stay keep their progress; new ones start probing from
 * the end of the log, marked active so that CheckQuorum gives them an
 * election timeout to answer (etcd's confchange initProgress). A leader's
 * next Ready probes them at once, with an empty append if the log is idle
 * (raft__flush_appends); etcd starts at next = last instead, so its first
 * probe carries the last entry, which costs the same round trip. */
int raft__conf_set(struct raft *r, const struct raft_conf *c)
{
	int rc = raft__conf_copy(&r->conf, c);
	if (rc)
		return rc;
	size_t n = r->conf.n_voters + r->conf.n_learners;
	struct progress *prs = raft__xrealloc(NULL, n + 1, sizeof *prs);
	uint64_t next = rlog_last_index(&r->log) + 1;
	for (size_t i = 0; i < n; i++) {
		bool learner = i >= r->conf.n_voters;
		uint64_t id = learner ? r->conf.learners[i - r->conf.n_voters] : r->conf.voters[i];
		struct progress *old = raft__progress(r, id);
		if (old) {
			prs[i] = *old;
			old->infl = NULL; /* moved */
			prs[i].learner = learner;
		} else {
			progress_init(&prs[i], id, learner, next, r->cfg.max_inflight_msgs);
			if (id == r->id && r->role == RAFT_LEADER) {
				prs[i].state = RAFT_PROGRESS_REPLICATE;
				prs[i].match = r->stable;
			}
		}
	}
	for (size_t i = 0; i < r->n_prs; i++)
		progress_free(&r->prs[i]);
	free(r->prs);
	r->prs = prs;
	r->n_prs = n;
	r->scratch = raft__xrealloc(r->scratch, n + 1, sizeof *r->scratch);
	return 0;
}

static int validate_change(const struct conf_store *c, const struct raft_conf_change *cc)
{
	if (cc->node_id == RAFT_NONE)
		return RAFT_EINVAL;
	bool voter = contains(c->voters, c->n_voters, cc->node_id);
	bool learner = contains(c->learners, c->n_learners, cc->node_id);
	switch (cc->type) {
	case RAFT_CONF_ADD_VOTER:
	case RAFT_CONF_ADD_LEARNER:
		return voter || learner ? RAFT_EINVAL : 0;
	case RAFT_CONF_PROMOTE_LEARNER:
		return learner ? 0 : RAFT_EINVAL;
	case RAFT_CONF_REMOVE_NODE:
		if (!voter && !learner)
			return RAFT_EINVAL;
		return voter && c->n_voters == 1 ? RAFT_EINVAL : 0;
	case RAFT_CONF_UPDATE_NODE:
		return voter || learner ? 0 : RAFT_EINVAL;
	default:
		return RAFT_EINVAL;
	}
}

int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint32_t size,
                             uint64_t *index, uint64_t *term)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (r->transferee != RAFT_NONE)
		return RAFT_ETRANSFER;
	if (!raft__committed_in_term(r))
		return RAFT_ENOTREADY;
	if (r->pending_conf_index > r->applied)
		return RAFT_ECONFPENDING;
	int rc = validate_change(&r->conf, cc);
	if (rc)
		return rc;
	uint64_t max = r->cfg.max_uncommitted_bytes;
	if (max && r->uncommitted_bytes > 0 && r->uncommitted_bytes + size > max)
		return RAFT_EOVERLOAD;
	raft__append_local(r, RAFT_ENTRY_CONF_CHANGE, size);
	*index = rlog_last_index(&r->log);
	*term = r->term;
	r->pending_conf_index = *index;
	return 0;
}

/* The new configuration after cc (validated), in scratch arrays. */
static void changed_conf(const struct conf_store *c, const struct raft_conf_change *cc, uint64_t *v,
                         size_t *nv, uint64_t *l, size_t *nl)
{
	*nv = 0;
	*nl = 0;
	for (size_t i = 0; i < c->n_voters; i++)
		if (!(cc->type == RAFT_CONF_REMOVE_NODE && c->voters[i] == cc->node_id))
			v[(*nv)++] = c->voters[i];
	for (size_t i = 0; i < c->n_learners; i++) {
		uint64_t id = c->learners[i];
		if (id == cc->node_id &&
		    (cc->type == RAFT_CONF_REMOVE_NODE || cc->type == RAFT_CONF_PROMOTE_LEARNER))
			continue;
		l[(*nl)++] = id;
	}
	if (cc->type == RAFT_CONF_ADD_VOTER || cc->type == RAFT_CONF_PROMOTE_LEARNER)
		v[(*nv)++] = cc->node_id;
	if (cc->type == RAFT_CONF_ADD_LEARNER)
		l[(*nl)++] = cc->node_id;
}

static void leader_removed(struct raft *r)
{
	/* Hand over to a voter that holds our whole log, if any, so the
	 * cluster need not wait out an election timeout. */
	uint64_t last = rlog_last_index(&r->log);
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (!p->learner && p->id != r->id && p->match == last) {
			raft__msg(r, RAFT_MSG_TIMEOUT_NOW, p->id);
			break;
		}
	}
	raft__become_follower(r, r->term, RAFT_NONE);
}

int raft_conf_change_apply(struct raft *r, uint64_t index, const struct raft_conf_change *cc)
{
	if (index <= r->conf_index)
		return 0; /* already reflected (replay after restart) */
	const struct rlog_entry *e = rlog_at(&r->log, index);
	if (index > r->applying || (e && e->type != RAFT_ENTRY_CONF_CHANGE))
		return RAFT_EINVAL;
	r->conf_index = index;
	int rc = validate_change(&r->conf, cc);
	if (rc)
		return rc;
	if (cc->type == RAFT_CONF_UPDATE_NODE)
		return 0;

	size_t n = r->conf.n_voters + r->conf.n_learners + 1;
	uint64_t *v = raft__xrealloc(NULL, n, sizeof *v);
	uint64_t *l = raft__xrealloc(NULL, n, sizeof *l);
	struct raft_conf nc;
	changed_conf(&r->conf, cc, v, &nc.n_voters, l, &nc.n_learners);
	nc.voters = v;
	nc.learners = l;
	rc = raft__conf_set(r, &nc);
	free(v);
	free(l);
	if (rc)
		return rc;

	if (r->role == RAFT_LEADER) {
		if (!raft__is_voter(r, r->id)) {
			leader_removed(r);
			return 0;
		}
		if (r->transferee != RAFT_NONE && !raft__is_voter(r, r->transferee))
			raft__transfer_abort(r);
		/* The quorum changed: commitment and read rounds may be done;
		 * acknowledgements under the old quorum prove no lease. */
		raft__read_lease_reset(r);
		raft__maybe_commit(r);
		raft__read_check(r);
		r->bcast_pending = true;
	} else if (r->role != RAFT_FOLLOWER && !raft__promotable(r)) {
		raft__become_follower(r, r->term, RAFT_NONE);
	}
	return 0;
}

void raft_conf_get(const struct raft *r, struct raft_conf *out)
{
	raft__conf_view(&r->conf, out);
}
