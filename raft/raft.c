/*
 * raft.c - creating a core, dispatching messages, answering queries.
 *
 * raft_step() first applies the term rules every message obeys (§3.3):
 *   - a higher term makes us a follower of that term, except for requests
 *     that must not disturb us: a vote request while a leader is heard
 *     (C9, with CheckQuorum) is ignored outright, and pre-vote traffic never
 *     changes terms (§9.6);
 *   - a lower term is stale: dropped, but a stale leader is told our term
 *     (so that with CheckQuorum or PreVote it steps down instead of being
 *     ignored forever), and a stale pre-vote is refused explicitly.
 * Then the message goes to the handler of its concern.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

/* ---- Small helpers shared by the core's files ---------------------------- */

void *raft__xrealloc(void *p, size_t n, size_t size)
{
	if (n && size > SIZE_MAX / n)
		abort();
	size_t bytes = n * size;
	void *q = realloc(p, bytes ? bytes : 1);
	if (!q)
		abort();
	return q;
}

uint64_t raft__rand(struct raft *r)
{
	/* splitmix64: tiny, and fully determined by the host's seed. */
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

unsigned raft__quorum(const struct raft *r)
{
	return (unsigned)(r->conf.n_voters / 2 + 1);
}

static bool contains(const uint64_t *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

bool raft__is_voter(const struct raft *r, uint64_t id)
{
	return contains(r->conf.voters, r->conf.n_voters, id);
}

bool raft__is_learner(const struct raft *r, uint64_t id)
{
	return contains(r->conf.learners, r->conf.n_learners, id);
}

bool raft__promotable(const struct raft *r)
{
	return raft__is_voter(r, r->id);
}

struct progress *raft__progress(struct raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

bool raft__committed_in_term(const struct raft *r)
{
	return rlog_term_or0(&r->log, r->commit) == r->term;
}

/* ---- Names ---------------------------------------------------------------- */

const char *raft_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case RAFT_ENOMEM:
		return "out of memory";
	case RAFT_EINVAL:
		return "invalid argument";
	case RAFT_ENOTLEADER:
		return "not the leader";
	case RAFT_ENOLEADER:
		return "no leader known";
	case RAFT_ETRANSFER:
		return "leadership transfer in progress";
	case RAFT_EOVERLOAD:
		return "too many uncommitted bytes: proposal dropped";
	case RAFT_ECONFPENDING:
		return "previous configuration change not yet applied";
	case RAFT_ENOTREADY:
		return "leader has not yet committed an entry of its term";
	case RAFT_ENOTVOTER:
		return "not a voter";
	case RAFT_ESTALE:
		return "stale report: ignored";
	default:
		return "unknown error";
	}
}

const char *raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRE_CANDIDATE:
		return "pre-candidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	}
	return "?";
}

const char *raft_message_type_name(int type)
{
	static const char *const names[RAFT_MSG_TYPE_COUNT] = {
	    "append",   "append-resp", "heartbeat",  "heartbeat-resp",
	    "vote",     "vote-resp",   "pre-vote",   "pre-vote-resp",
	    "snapshot", "timeout-now", "read-index", "read-index-resp",
	};
	return type >= 0 && type < RAFT_MSG_TYPE_COUNT ? names[type] : "?";
}

/* ---- Creation ------------------------------------------------------------- */

void raft_config_init(struct raft_config *cfg, uint64_t id)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->id = id;
	cfg->election_ticks = 10;
	cfg->heartbeat_ticks = 1;
	cfg->seed = id;
	cfg->pre_vote = true;
	cfg->check_quorum = true;
	cfg->read_mode = RAFT_READ_SAFE;
	cfg->max_msg_bytes = 1u << 20;
	cfg->max_inflight_msgs = 256;
	cfg->max_inflight_bytes = 32u << 20;
	cfg->max_uncommitted_bytes = 1u << 30;
	cfg->max_apply_bytes = 64u << 20;
}

static int check_config(const struct raft_config *c)
{
	if (c->id == RAFT_NONE || c->election_ticks < 1 || c->heartbeat_ticks < 1 ||
	    c->heartbeat_ticks >= c->election_ticks || c->max_inflight_msgs < 1)
		return RAFT_EINVAL;
	if (c->read_mode != RAFT_READ_SAFE && c->read_mode != RAFT_READ_LEASE)
		return RAFT_EINVAL;
	if (c->read_mode == RAFT_READ_LEASE && !c->check_quorum)
		return RAFT_EINVAL;
	return 0;
}

/* T6: the recovered log must reach the snapshot, terms must not go down,
 * and nothing may claim more than the log holds. */
static int check_boot(const struct raft_boot *b)
{
	uint64_t last = b->log_index + b->n_entries;
	if (b->n_entries && !b->entries)
		return RAFT_EINVAL;
	if (b->snapshot.index < b->log_index || b->snapshot.index > last)
		return RAFT_EINVAL;
	uint64_t prev = b->log_term;
	for (size_t i = 0; i < b->n_entries; i++) {
		const struct raft_entry *e = &b->entries[i];
		if (e->term < prev || e->term == 0 ||
		    (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_CONF_CHANGE))
			return RAFT_EINVAL;
		prev = e->term;
	}
	if (prev > b->hard_state.term)
		return RAFT_EINVAL;
	if (b->snapshot.index > 0) {
		uint64_t t = b->snapshot.index == b->log_index
		                 ? b->log_term
		                 : b->entries[b->snapshot.index - b->log_index - 1].term;
		if (t != b->snapshot.term)
			return RAFT_EINVAL;
	}
	if (b->applied < b->snapshot.index || b->applied > last || b->applied < b->log_index)
		return RAFT_EINVAL;
	if (b->hard_state.commit > last)
		return RAFT_EINVAL;
	return 0;
}

int raft_create(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot)
{
	int rc = check_config(cfg);
	if (rc == 0)
		rc = check_boot(boot);
	if (rc)
		return rc;
	struct raft *r = calloc(1, sizeof *r);
	if (!r)
		return RAFT_ENOMEM;
	r->cfg = *cfg;
	r->id = cfg->id;
	r->rng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ull);

	rlog_init(&r->log, boot->log_index, boot->log_term);
	for (size_t i = 0; i < boot->n_entries; i++)
		rlog_append(&r->log, boot->entries[i].term, boot->entries[i].size,
		            boot->entries[i].type);
	uint64_t last = rlog_last_index(&r->log);

	r->term = boot->hard_state.term;
	r->vote = boot->hard_state.vote;
	r->commit =
	    boot->hard_state.commit > boot->applied ? boot->hard_state.commit : boot->applied;
	r->durable_term = r->term;
	r->durable_vote = r->vote;
	r->stable = last;
	r->applied = boot->applied;
	r->applying = boot->applied;
	r->persist_next = last + 1;
	r->unsent_cap = UINT64_MAX;

	rc = raft__conf_set(r, &boot->conf);
	if (rc == 0 && boot->snapshot.index > 0)
		rc = raft__conf_copy(&r->snap_conf, &boot->snapshot.conf);
	if (rc) {
		raft_destroy(r);
		return rc;
	}
	r->conf_index = boot->applied;
	r->snap.index = boot->snapshot.index;
	r->snap.term = boot->snapshot.term;
	raft__conf_view(&r->snap_conf, &r->snap.conf);

	r->role = RAFT_FOLLOWER;
	r->leader = RAFT_NONE;
	raft__reset_timeout(r);
	r->prev_hs = boot->hard_state;
	r->prev_ss.role = RAFT_FOLLOWER;
	r->prev_ss.leader = RAFT_NONE;
	r->prev_ss.term = r->term;
	*out = r;
	return 0;
}

void raft_destroy(struct raft *r)
{
	if (!r)
		return;
	rlog_free(&r->log);
	for (size_t i = 0; i < r->n_prs; i++)
		progress_free(&r->prs[i]);
	free(r->prs);
	free(r->scratch);
	raft__conf_free(&r->conf);
	raft__conf_free(&r->snap_conf);
	raft__conf_free(&r->install_conf);
	free(r->reads);
	free(r->gated);
	free(r->fwd);
	free(r->recs);
	raft__arena_free(&r->arenas[0]);
	raft__arena_free(&r->arenas[1]);
	free(r);
}

/* ---- Events --------------------------------------------------------------- */

void raft_tick(struct raft *r)
{
	r->ticks++;
	raft__read_tick(r);
	if (r->role == RAFT_LEADER)
		raft__tick_heartbeat(r);
	else
		raft__tick_election(r);
}

static bool from_leader(uint8_t type)
{
	return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT || type == RAFT_MSG_SNAPSHOT;
}

/* Returns true if the message is for the current term and goes on. */
static bool step_term(struct raft *r, const struct raft_message *m)
{
	bool vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
	if (m->term > r->term) {
		if (vote_req) {
			/* With lease reads, a node that just started may have
			 * heard a leader before it stopped: it counts as hearing
			 * one for its first election timeout, or a restart would
			 * cut the leader's lease short (read_index.c). */
			bool heard =
			    r->leader != RAFT_NONE || (r->cfg.read_mode == RAFT_READ_LEASE &&
			                               r->ticks < r->cfg.election_ticks);
			bool in_lease = r->cfg.check_quorum && heard &&
			                r->election_elapsed < r->cfg.election_ticks;
			if (in_lease && !m->transfer)
				return false; /* C9 */
		}
		if (m->type == RAFT_MSG_PRE_VOTE) {
			/* never changes our term */
		} else if (m->type == RAFT_MSG_PRE_VOTE_RESPONSE && !m->reject) {
			/* carries the term we would campaign in */
		} else {
			raft__become_follower(r, m->term,
			                      from_leader(m->type) ? m->from : RAFT_NONE);
		}
		return true;
	}
	if (m->term < r->term) {
		if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
		    (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
			raft__msg(r, RAFT_MSG_APPEND_RESPONSE, m->from);
		} else if (m->type == RAFT_MSG_PRE_VOTE) {
			struct raft_message *resp =
			    raft__msg(r, RAFT_MSG_PRE_VOTE_RESPONSE, m->from);
			resp->reject = true;
		}
		return false;
	}
	return true;
}

int raft_step(struct raft *r, const struct raft_message *m, struct raft_accept *accept)
{
	if (accept)
		memset(accept, 0, sizeof *accept);
	if (!m || m->type >= RAFT_MSG_TYPE_COUNT || m->from == RAFT_NONE || m->from == r->id ||
	    m->to != r->id)
		return RAFT_EINVAL;
	if (m->n_entries && (m->type != RAFT_MSG_APPEND || !m->entries))
		return RAFT_EINVAL;
	if (m->type == RAFT_MSG_APPEND && !accept)
		return RAFT_EINVAL;
	if (!step_term(r, m))
		return 0;

	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PRE_VOTE:
		raft__step_vote_request(r, m);
		return 0;
	case RAFT_MSG_VOTE_RESPONSE:
	case RAFT_MSG_PRE_VOTE_RESPONSE:
		raft__step_vote_response(r, m);
		return 0;
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		if (r->role == RAFT_LEADER)
			return 0; /* two leaders in one term cannot happen */
		if (r->role != RAFT_FOLLOWER || r->leader != m->from)
			raft__become_follower(r, r->term, m->from);
		r->election_elapsed = 0;
		if (m->type == RAFT_MSG_APPEND)
			return raft__step_append(r, m, accept);
		if (m->type == RAFT_MSG_HEARTBEAT) {
			raft__step_heartbeat(r, m);
			return 0;
		}
		return raft__step_snapshot(r, m);
	case RAFT_MSG_APPEND_RESPONSE:
		if (r->role == RAFT_LEADER)
			raft__step_append_response(r, m);
		return 0;
	case RAFT_MSG_HEARTBEAT_RESPONSE:
		if (r->role == RAFT_LEADER)
			raft__step_heartbeat_response(r, m);
		return 0;
	case RAFT_MSG_TIMEOUT_NOW:
		raft__step_timeout_now(r, m);
		return 0;
	case RAFT_MSG_READ_INDEX:
		raft__step_read_index(r, m);
		return 0;
	case RAFT_MSG_READ_INDEX_RESPONSE:
		raft__step_read_index_response(r, m);
		return 0;
	}
	return RAFT_EINVAL;
}

/* ---- Queries -------------------------------------------------------------- */

void raft_status_get(const struct raft *r, struct raft_status *st)
{
	memset(st, 0, sizeof *st);
	st->id = r->id;
	st->role = r->role;
	st->term = r->term;
	st->vote = r->vote;
	st->leader = r->leader;
	st->commit = r->commit;
	st->applied = r->applied;
	st->first_index = r->log.snap_index + 1;
	st->last_index = rlog_last_index(&r->log);
	st->last_term = rlog_last_term(&r->log);
	st->stable_index = r->stable;
	st->transferee = r->transferee;
	st->uncommitted_bytes = r->uncommitted_bytes;
}

int raft_progress_get(const struct raft *r, uint64_t peer, struct raft_progress *out)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	const struct progress *p = raft__progress((struct raft *)r, peer);
	if (!p)
		return RAFT_EINVAL;
	out->id = p->id;
	out->learner = p->learner;
	out->state = p->state;
	out->match = p->id == r->id ? r->stable : p->match;
	out->next = p->next;
	out->recent_active = p->recent_active;
	out->inflight_msgs = p->infl_count;
	out->inflight_bytes = p->infl_bytes;
	return 0;
}

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
	return rlog_term(&r->log, index, term) ? 0 : RAFT_EINVAL;
}
