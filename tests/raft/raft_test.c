/*
 * Tests of the Raft core through raft/raft.h, written from the paper, the
 * dissertation and the traps list (reference/raft.md). The larger stories
 * are transcripts in testdata/; here are the cases easiest to state with
 * hand-made messages and direct calls.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "raft/raft.h"
#include "tests/raft/fixture.h"

static const uint64_t three[] = {1, 2, 3};

/* A core with id, voters 1..3, term `term`, and `n` entries of the given
 * terms on its (durable) log. */
static struct raft *make(uint64_t id, uint64_t term, const uint64_t *terms, size_t n)
{
	struct raft_config cfg;
	raft_config_init(&cfg, id);
	struct raft_entry ents[16];
	memset(ents, 0, sizeof ents);
	for (size_t i = 0; i < n; i++)
		ents[i].term = terms[i];
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.hard_state.term = term;
	b.entries = ents;
	b.n_entries = n;
	b.conf.voters = three;
	b.conf.n_voters = 3;
	struct raft *r = NULL;
	cr_assert_eq(raft_create(&r, &cfg, &b), 0);
	return r;
}

static struct raft_status status(struct raft *r)
{
	struct raft_status st;
	raft_status_get(r, &st);
	return st;
}

/* Steps an append from `from` at term `term` with entries of the given
 * terms after (prev_index, prev_term). */
static int append(struct raft *r, uint64_t from, uint64_t term, uint64_t prev_index,
                  uint64_t prev_term, const uint64_t *terms, size_t n, struct raft_accept *acc)
{
	static const char payload[] = "p";
	struct raft_entry ents[16];
	memset(ents, 0, sizeof ents);
	for (size_t i = 0; i < n; i++) {
		ents[i].term = terms[i];
		ents[i].size = 1;
		ents[i].data = payload;
	}
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_APPEND;
	m.from = from;
	m.to = status(r).id;
	m.term = term;
	m.index = prev_index;
	m.log_term = prev_term;
	m.entries = ents;
	m.n_entries = n;
	return raft_step(r, &m, acc);
}

static struct raft_persist_mark drain(struct raft *r)
{
	struct raft_ready rd;
	struct raft_persist_mark mark = {0};
	while (raft_has_ready(r)) {
		raft_ready(r, &rd);
		if (rd.persist.seq)
			mark = rd.persist;
	}
	return mark;
}

/* ---- Persistence and trap T9 ------------------------------------------- */

Test(persistence, completion_overtaken_by_later_overwrite_is_not_counted)
{
	/* etcd's async_storage_writes_append_aba_race: the entry (1, term 2)
	 * is written, overwritten by (1, term 3), then rewritten as
	 * (1, term 2) by a later leader, each write still in flight. The first
	 * completion names (1, 2), which matches the log again, yet the
	 * overwrite by term 3 may land after it: nothing is durable until the
	 * last write completes. */
	struct raft *r = make(2, 1, NULL, 0);
	struct raft_accept acc;
	uint64_t t2[] = {2}, t3[] = {3};
	cr_assert_eq(append(r, 1, 2, 0, 0, t2, 1, &acc), 0);
	cr_assert_eq(acc.count, 1);
	struct raft_persist_mark w1 = drain(r);
	cr_assert_eq(append(r, 3, 3, 0, 0, t3, 1, &acc), 0);
	cr_assert_eq(acc.index, 1);
	struct raft_persist_mark w2 = drain(r);
	cr_assert_eq(append(r, 1, 4, 0, 0, t2, 1, &acc), 0);
	cr_assert_eq(acc.index, 1);
	struct raft_persist_mark w3 = drain(r);
	cr_assert(w1.seq < w2.seq && w2.seq < w3.seq);
	cr_assert_eq(w1.index, 1);
	cr_assert_eq(w1.term, 2);
	cr_assert_eq(w3.term, 2);

	cr_assert_eq(raft_persisted(r, &w1), 0);
	cr_assert_eq(status(r).stable_index, 0, "overwrites are still in flight");
	cr_assert_eq(raft_persisted(r, &w2), 0);
	cr_assert_eq(status(r).stable_index, 0);
	cr_assert_eq(raft_persisted(r, &w3), 0);
	cr_assert_eq(status(r).stable_index, 1);
	raft_destroy(r);
}

Test(persistence, stale_or_unknown_mark_is_refused)
{
	struct raft *r = make(2, 1, NULL, 0);
	struct raft_accept acc;
	uint64_t t2[] = {2};
	append(r, 1, 2, 0, 0, t2, 1, &acc);
	struct raft_persist_mark w = drain(r);
	struct raft_persist_mark bad = w;
	bad.term = 7;
	cr_assert_eq(raft_persisted(r, &bad), RAFT_ESTALE);
	cr_assert_eq(raft_persisted(r, &w), 0);
	cr_assert_eq(raft_persisted(r, &w), RAFT_ESTALE, "reported twice");
	raft_destroy(r);
}

Test(persistence, acknowledgements_wait_for_the_write)
{
	/* C1: the append response is an after-persist message. */
	struct raft *r = make(2, 1, NULL, 0);
	struct raft_accept acc;
	uint64_t t1[] = {1};
	append(r, 1, 1, 0, 0, t1, 1, &acc);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert_eq(rd.n_messages, 0);
	cr_assert_eq(rd.n_after_persist, 1);
	cr_assert_eq(rd.after_persist[0].type, RAFT_MSG_APPEND_RESPONSE);
	cr_assert_eq(rd.after_persist[0].index, 1);
	cr_assert_eq(rd.n_entries, 1);
	cr_assert_eq(rd.entries_first, 1);
	cr_assert(rd.persist.seq > 0);
	raft_destroy(r);
}

Test(persistence, committed_entries_are_applied_only_once_durable)
{
	struct raft *r = make(2, 1, NULL, 0);
	struct raft_accept acc;
	uint64_t t1[] = {1, 1};
	struct raft_message m;
	append(r, 1, 1, 0, 0, t1, 2, &acc);
	struct raft_persist_mark w = drain(r);
	/* The leader says both are committed; we have not written them. */
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 2;
	m.term = 1;
	m.commit = 2;
	raft_step(r, &m, NULL);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert(rd.apply_first > rd.apply_last, "nothing durable to apply yet");
	raft_persisted(r, &w);
	raft_ready(r, &rd);
	cr_assert_eq(rd.apply_first, 1);
	cr_assert_eq(rd.apply_last, 2);
	raft_destroy(r);
}

/* ---- Elections ------------------------------------------------------------ */

Test(election, candidate_leads_only_once_its_own_vote_is_durable)
{
	struct raft *r = make(1, 0, NULL, 0);
	struct raft_config cfg;
	raft_config_init(&cfg, 1);
	cfg.pre_vote = false;
	raft_destroy(r);
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.conf.voters = three;
	b.conf.n_voters = 3;
	cr_assert_eq(raft_create(&r, &cfg, &b), 0);
	cr_assert_eq(raft_campaign(r), 0);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert(rd.hard_state_changed);
	cr_assert_eq(rd.hard_state.vote, 1);
	cr_assert_eq(rd.n_messages, 2, "vote requests go out at once");
	struct raft_persist_mark mark = rd.persist;

	/* Both peers grant before our own write completes. */
	for (uint64_t from = 2; from <= 3; from++) {
		struct raft_message m;
		memset(&m, 0, sizeof m);
		m.type = RAFT_MSG_VOTE_RESPONSE;
		m.from = from;
		m.to = 1;
		m.term = 1;
		raft_step(r, &m, NULL);
	}
	cr_assert_eq(status(r).role, RAFT_CANDIDATE);
	raft_persisted(r, &mark);
	cr_assert_eq(status(r).role, RAFT_LEADER);
	raft_destroy(r);
}

Test(election, vote_is_not_granted_to_a_stale_log)
{
	uint64_t mine[] = {1, 2, 2};
	struct raft *r = make(2, 2, mine, 3);
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_VOTE;
	m.from = 1;
	m.to = 2;
	m.term = 3;
	m.log_term = 2;
	m.index = 2; /* shorter log of the same last term */
	raft_step(r, &m, NULL);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert_eq(rd.n_after_persist, 1);
	cr_assert(rd.after_persist[0].reject);
	cr_assert_eq(status(r).term, 3, "the term still rises");
	cr_assert_eq(status(r).vote, 0);
	raft_destroy(r);
}

Test(election, learner_promoted_by_an_unapplied_entry_still_votes)
{
	/* etcd's campaign_learner_must_vote: node 3 is a learner in the
	 * configuration it applied; votes are answered regardless. */
	struct raft_config cfg;
	raft_config_init(&cfg, 3);
	static const uint64_t voters[] = {1, 2}, learners[] = {3};
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.conf.voters = voters;
	b.conf.n_voters = 2;
	b.conf.learners = learners;
	b.conf.n_learners = 1;
	struct raft *r;
	cr_assert_eq(raft_create(&r, &cfg, &b), 0);
	cr_assert_eq(raft_campaign(r), RAFT_ENOTVOTER, "a learner never campaigns");
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_VOTE;
	m.from = 2;
	m.to = 3;
	m.term = 1;
	raft_step(r, &m, NULL);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert_eq(rd.n_after_persist, 1);
	cr_assert_not(rd.after_persist[0].reject);
	cr_assert_eq(status(r).vote, 2);
	raft_destroy(r);
}

/* ---- Snapshots and trap T2 ------------------------------------------------ */

Test(snapshot, install_never_lowers_the_term_or_touches_the_vote)
{
	uint64_t mine[] = {1};
	struct raft_config cfg;
	raft_config_init(&cfg, 2);
	struct raft_entry ents[1] = {{.term = 1}};
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.hard_state.term = 5;
	b.hard_state.vote = 1;
	b.entries = ents;
	b.n_entries = 1;
	b.conf.voters = three;
	b.conf.n_voters = 3;
	(void)mine;
	struct raft *r;
	cr_assert_eq(raft_create(&r, &cfg, &b), 0);
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = 1;
	m.to = 2;
	m.term = 5;
	m.snapshot.index = 10;
	m.snapshot.term = 2;
	m.snapshot.conf.voters = three;
	m.snapshot.conf.n_voters = 3;
	cr_assert_eq(raft_step(r, &m, NULL), 0);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert_not_null(rd.snapshot);
	cr_assert_eq(rd.snapshot->index, 10);
	cr_assert_eq(rd.snapshot->term, 2);
	cr_assert_eq(rd.entries_first, 11, "the old log goes");
	cr_assert_eq(status(r).term, 5);
	cr_assert_eq(status(r).vote, 1);
	cr_assert_eq(status(r).commit, 10);
	raft_destroy(r);
}

Test(snapshot, install_keeps_the_suffix_of_a_matching_log)
{
	uint64_t mine[] = {1, 1, 2, 2, 2};
	struct raft *r = make(2, 2, mine, 5);
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = 1;
	m.to = 2;
	m.term = 2;
	m.snapshot.index = 3;
	m.snapshot.term = 2;
	m.snapshot.conf.voters = three;
	m.snapshot.conf.n_voters = 3;
	cr_assert_eq(raft_step(r, &m, NULL), 0);
	struct raft_ready rd;
	raft_ready(r, &rd);
	cr_assert_not_null(rd.snapshot);
	cr_assert_eq(rd.entries_first, 0, "nothing discarded above the snapshot");
	struct raft_status st = status(r);
	cr_assert_eq(st.first_index, 4);
	cr_assert_eq(st.last_index, 5);
	cr_assert_eq(st.commit, 3);
	cr_assert_eq(rd.after_persist[0].index, 3, "acknowledges only the snapshot");
	raft_destroy(r);
}

/* ---- Replication ---------------------------------------------------------- */

Test(replication, a_delayed_shorter_append_never_truncates)
{
	/* C4: entries it would drop may already be acknowledged. */
	uint64_t mine[] = {1, 1, 1};
	struct raft *r = make(2, 1, mine, 3);
	struct raft_accept acc;
	uint64_t t1[] = {1};
	cr_assert_eq(append(r, 1, 1, 0, 0, t1, 1, &acc), 0);
	cr_assert_eq(acc.count, 0);
	cr_assert_eq(status(r).last_index, 3);
	raft_destroy(r);
}

Test(replication, conflict_truncates_from_the_first_difference)
{
	uint64_t mine[] = {1, 1, 1};
	struct raft *r = make(2, 2, mine, 3);
	struct raft_accept acc;
	uint64_t ts[] = {1, 2};
	cr_assert_eq(append(r, 1, 2, 1, 1, ts, 2, &acc), 0);
	cr_assert_eq(acc.first, 1);
	cr_assert_eq(acc.count, 1);
	cr_assert_eq(acc.index, 3);
	uint64_t t;
	cr_assert_eq(raft_term_at(r, 3, &t), 0);
	cr_assert_eq(t, 2);
	raft_destroy(r);
}

Test(replication, commit_covers_only_what_the_append_vouched_for)
{
	/* Entries 3 and 4 (term 2) are stale leftovers; the leader's commit
	 * of 4 refers to its own entries there. An empty append at (2, 1)
	 * vouches for index 2 only. */
	uint64_t mine[] = {1, 1, 2, 2};
	struct raft *r = make(2, 3, mine, 4);
	struct raft_accept acc;
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_APPEND;
	m.from = 1;
	m.to = 2;
	m.term = 3;
	m.index = 2;
	m.log_term = 1;
	m.commit = 4;
	cr_assert_eq(raft_step(r, &m, &acc), 0);
	cr_assert_eq(status(r).commit, 2);
	raft_destroy(r);
}

Test(replication, malformed_appends_are_refused)
{
	struct raft *r = make(2, 1, NULL, 0);
	struct raft_accept acc;
	uint64_t future[] = {9};
	cr_assert_eq(append(r, 1, 1, 0, 0, future, 1, &acc), RAFT_EINVAL,
	             "entry of a term above the message's");
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 9;
	m.term = 1;
	cr_assert_eq(raft_step(r, &m, NULL), RAFT_EINVAL, "not addressed to us");
	raft_destroy(r);
}

Test(replication, follower_refuses_proposals)
{
	struct raft *r = make(2, 1, NULL, 0);
	uint64_t index, term;
	cr_assert_eq(raft_propose(r, 3, &index, &term), RAFT_ENOTLEADER);
	raft_destroy(r);
}

Test(replication, a_follower_whose_snapshot_answer_is_lost_is_probed_again)
{
	/* Node 3 misses entry 2, which the leader then compacts: it gets a
	 * snapshot at the leader's last index, and its answer is lost. The
	 * leader probes from last + 1 with nothing new to send; the next
	 * heartbeat response must still bring an (empty) probe, or the leader
	 * never learns that node 3 holds its whole log. */
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3\ncampaign 1\nstabilize\nisolate 3\npropose 1 a\n"
	                       "stabilize\nsnapshot 1\ncompact 1 2\nheal\ntick 1\n"
	                       "deliver\ndeliver\ndeliver\ndeliver\ndeliver"),
	             0, "%s", fx_take(f));
	const char *out = fx_take(f);
	cr_assert_not_null(strstr(out, "3 installs snapshot 1/2"), "%s", out);
	cr_assert_eq(fx_run(f, "drop from=3"), 0);
	out = fx_take(f);
	cr_assert_not_null(strstr(out, "dropped 3->1 append-resp term=1 index=2"), "%s", out);

	struct raft_progress pr;
	cr_assert_eq(raft_progress_get(fx_raft(f, 1), 3, &pr), 0);
	cr_assert_eq(pr.match, 1, "the leader has not heard of the snapshot yet");
	cr_assert_eq(fx_run(f, "tick 1\nstabilize"), 0);
	fx_take(f);
	cr_assert_eq(raft_progress_get(fx_raft(f, 1), 3, &pr), 0);
	cr_assert_eq(pr.match, 2);
	cr_assert_eq(pr.state, RAFT_PROGRESS_REPLICATE);
	fx_free(f);
}

/* ---- Creation ------------------------------------------------------------- */

Test(create, refuses_inconsistent_recovered_state)
{
	struct raft_config cfg;
	raft_config_init(&cfg, 1);
	struct raft_entry ents[2] = {{.term = 2}, {.term = 1}};
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.hard_state.term = 2;
	b.entries = ents;
	b.n_entries = 2;
	struct raft *r;
	cr_assert_eq(raft_create(&r, &cfg, &b), RAFT_EINVAL, "terms go down");
	ents[1].term = 2;
	b.snapshot.index = 5; /* beyond the log (T6) */
	b.snapshot.term = 2;
	cr_assert_eq(raft_create(&r, &cfg, &b), RAFT_EINVAL, "log does not reach the snapshot");
	b.snapshot.index = 0;
	b.snapshot.term = 0;
	b.applied = 3;
	cr_assert_eq(raft_create(&r, &cfg, &b), RAFT_EINVAL, "applied beyond the log");
	b.applied = 0;
	cfg.read_mode = RAFT_READ_LEASE;
	cfg.check_quorum = false;
	cr_assert_eq(raft_create(&r, &cfg, &b), RAFT_EINVAL, "leases need CheckQuorum");
	cfg.check_quorum = true;
	cr_assert_eq(raft_create(&r, &cfg, &b), 0);
	raft_destroy(r);
}

/* ---- Reads ---------------------------------------------------------------- */

Test(read_index, lease_reads_skip_the_round_until_the_lease_runs_out)
{
	struct fx *f = fx_new();
	/* In lease mode a node that just started ignores vote requests for an
	 * election timeout (it may have heard a leader before it stopped). */
	cr_assert_eq(
	    fx_run(f, "cluster 3 lease=1\ncampaign 1\nstabilize\nexpect-role 1 pre-candidate"), 0,
	    "%s", fx_take(f));
	cr_assert_eq(fx_run(f, "tick 2 10\ntick 3 10\ncampaign 1\nstabilize\n"
	                       "expect-role 1 leader\ntick 1\nstabilize\n"),
	             0, "%s", fx_take(f));
	fx_take(f);
	/* A round confirmed moments ago: answered without messages. */
	cr_assert_eq(fx_run(f, "read 1 5\nqueue"), 0);
	cr_assert_str_eq(fx_take(f), "1 read ctx=5 index=1\n");
	/* Cut off for an election timeout: the lease is gone, a round is
	 * needed (and cannot complete). */
	cr_assert_eq(fx_run(f, "isolate 1\ntick 1 9\nstabilize\nread 1 6\nstabilize"), 0);
	const char *out = fx_take(f);
	cr_assert_null(strstr(out, "ctx=6 index=1"), "%s", out);
	fx_free(f);
}

Test(read_index, no_lease_after_a_transfer_began_in_the_term)
{
	/* The target's election bypasses the vote denial leases rest on, and
	 * its TIMEOUT_NOW may arrive after the transfer was abandoned (soak
	 * seed 123433). */
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3 lease=1\ntick 2 10\ntick 3 10\ncampaign 1\nstabilize\n"
	                       "tick 1\nstabilize\ntransfer 1 2\ndrop\ntick 1 10\n"
	                       "deliver type=heartbeat\ndeliver type=heartbeat-resp\n"
	                       "expect-role 1 leader"),
	             0, "%s", fx_take(f));
	fx_take(f);
	cr_assert_eq(fx_run(f, "read 1 5\nqueue"), 0);
	const char *out = fx_take(f);
	cr_assert_null(strstr(out, "1 read ctx=5"), "answered from a lease: %s", out);
	cr_assert_not_null(strstr(out, "heartbeat"), "%s", out);
	fx_free(f);
}

Test(read_index, safe_reads_always_take_a_round)
{
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3\ncampaign 1\nstabilize\ntick 1\nstabilize"), 0);
	fx_take(f);
	cr_assert_eq(fx_run(f, "read 1 5\nqueue"), 0);
	cr_assert_str_eq(fx_take(f), "1->2 heartbeat term=1 commit=1 ctx=2\n"
	                             "1->3 heartbeat term=1 commit=1 ctx=2\n");
	fx_free(f);
}

/* ---- Membership ----------------------------------------------------------- */

Test(membership, change_waits_for_a_committed_entry_of_the_term)
{
	/* C8, the 2015 fix, literally: term(commit) == current term. */
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3 pre_vote=0\ncampaign 1\ndeliver type=vote\n"
	                       "deliver type=vote-resp\nconf 1 add-learner 4"),
	             0);
	const char *out = fx_take(f);
	cr_assert_not_null(strstr(out, "add-learner 4: leader has not yet committed"), "%s", out);
	cr_assert_eq(fx_run(f, "stabilize\nconf 1 add-learner 4"), 0);
	out = fx_take(f);
	cr_assert_not_null(strstr(out, "conf add-learner 4 at 1/2"), "%s", out);
	fx_free(f);
}

Test(membership, a_learner_does_not_count_toward_commitment)
{
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 2\ncampaign 1\nstabilize\nadd-node 3\n"
	                       "conf 1 add-learner 3\nstabilize\nisolate 2\npropose 1 x\n"
	                       "stabilize"),
	             0, "%s", fx_take(f));
	fx_take(f);
	struct raft_status st;
	raft_status_get(fx_raft(f, 1), &st);
	cr_assert_eq(st.last_index, 3);
	cr_assert_eq(st.commit, 2, "the learner's copy does not make a quorum");
	fx_free(f);
}

/* Node id holds the leader's whole log, and the leader knows it. */
static void expect_caught_up(struct fx *f, uint64_t leader, uint64_t id)
{
	struct raft_status lst, st;
	raft_status_get(fx_raft(f, leader), &lst);
	raft_status_get(fx_raft(f, id), &st);
	cr_assert_eq(st.last_index, lst.last_index, "node %llu has %llu of %llu entries",
	             (unsigned long long)id, (unsigned long long)st.last_index,
	             (unsigned long long)lst.last_index);
	cr_assert_eq(st.applied, lst.last_index);
	struct raft_progress pr;
	cr_assert_eq(raft_progress_get(fx_raft(f, leader), id, &pr), 0);
	cr_assert_eq(pr.match, lst.last_index);
	cr_assert_eq(pr.state, RAFT_PROGRESS_REPLICATE);
}

Test(membership, a_learner_added_to_an_idle_cluster_gets_the_log_without_a_proposal)
{
	/* The no-op commits, then nothing is proposed: the leader probes the
	 * new member as soon as it applies the change, with an empty append
	 * at its last index (etcd's switchToConfig probes added members). */
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3\ncampaign 1\nstabilize\nadd-node 4\n"
	                       "conf 1 add-learner 4\nstabilize"),
	             0, "%s", fx_take(f));
	const char *out = fx_take(f);
	cr_assert_not_null(strstr(out, "1->4 append term=1 prev=1/2 commit=2\n"), "%s", out);
	expect_caught_up(f, 1, 4);
	cr_assert_str_eq(fx_applied(f, 4), "- cc1:4");
	fx_free(f);
}

Test(membership, a_voter_added_to_an_idle_cluster_catches_up_within_a_heartbeat)
{
	/* The new voter is cut off while the change commits, so the leader's
	 * first probe is lost; the first heartbeat response after it heals
	 * gets the leader probing again. It starts from a snapshot, as a
	 * member joining a cluster whose log is compacted. */
	struct fx *f = fx_new();
	cr_assert_eq(fx_run(f, "cluster 3\ncampaign 1\nstabilize\nsnapshot 1\ncompact 1 1\n"
	                       "add-node 4\nisolate 4\nconf 1 add-voter 4\nstabilize\nheal"),
	             0, "%s", fx_take(f));
	fx_take(f);
	struct raft_status st;
	raft_status_get(fx_raft(f, 4), &st);
	cr_assert_eq(st.last_index, 0, "the first probe was lost");
	cr_assert_eq(fx_run(f, "tick 1\nstabilize"), 0, "%s", fx_take(f));
	const char *out = fx_take(f);
	cr_assert_not_null(strstr(out, "4 installs snapshot 1/1"), "%s", out);
	expect_caught_up(f, 1, 4);
	fx_free(f);
}
