/*
 * tests/store_mvcc/maintenance_test.c - the applied index and replay, the
 * change feed and watch history, compaction, hashes, alarms and quota,
 * members, meta, refusing foreign or damaged directories, snapshots,
 * defragmentation, and the small utilities (errors, arena, SHA-256).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static char *dir;
static struct store_mvcc *s;

static void setup(void)
{
	s = th_fixture_open("maint", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(maint, .init = setup, .fini = teardown);

static char *sibling(const char *name)
{
	char *p = malloc(4096);
	snprintf(p, 4096, "%s", dir);
	*strrchr(p, '/') = 0;
	strcat(p, "/");
	strcat(p, name);
	return p;
}

/* ---- the applied index ---- */

Test(maint, replayed_entries_are_no_ops)
{
	struct store_mvcc_batch *b;
	Etcdserverpb__PutResponse *pr;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 5, 2), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "1"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 6, 2), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "2"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert_eq(st.applied_index, 6);
	cr_assert_eq(st.applied_term, 2);
	cr_assert_eq(st.revision, 3);
	/* A restart replays from an older index: 5 and 6 are skipped. */
	store_mvcc_close(s);
	s = th_open(dir);
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 5, 2), 1);
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "1"), &th_arena, &pr), STORE_MVCC_EAPPLIED);
	cr_assert_eq(store_mvcc_batch_entry(b, 6, 2), 1);
	cr_assert_eq(store_mvcc_batch_entry(b, 7, 3), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("b", "x"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	store_mvcc_state(s, &st);
	cr_assert_eq(st.applied_index, 7);
	cr_assert_eq(st.revision, 4);
	char v[8];
	th_get(s, "a", v, sizeof(v), NULL);
	cr_assert_str_eq(v, "2");
	uint64_t durable;
	cr_assert_eq(store_mvcc_sync(s, &durable), 0);
	cr_assert_eq(durable, 7);
}

Test(maint, an_aborted_batch_leaves_no_trace)
{
	th_put(s, "a", "1");
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 9, 1), 0);
	Etcdserverpb__PutResponse *pr;
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "2"), &th_arena, &pr), 0);
	Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	g.id = 1;
	g.ttl = 5;
	Etcdserverpb__LeaseGrantResponse *gr;
	cr_assert_eq(store_mvcc_lease_grant(b, &g, 0, &th_arena, &gr), 0);
	store_mvcc_batch_abort(b);
	char v[8];
	th_get(s, "a", v, sizeof(v), NULL);
	cr_assert_str_eq(v, "1");
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert_eq(st.applied_index, 0);
	cr_assert_eq(st.revision, 2);
	store_mvcc_lease_promote(s, 0, 0);
	int64_t ttl;
	cr_assert_eq(store_mvcc_lease_renew(s, 1, 0, &ttl), STORE_MVCC_ELEASE_NOT_FOUND);
}

Test(maint, server_meta_commits_with_the_batch)
{
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_meta_put(b, "cluster_id", 10, "\x01\x02", 2), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	store_mvcc_close(s);
	s = th_open(dir);
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	const void *val;
	size_t len;
	cr_assert_eq(store_mvcc_meta_get(rd, "cluster_id", 10, &val, &len), 0);
	cr_assert_eq(len, 2);
	cr_assert_eq(memcmp(val, "\x01\x02", 2), 0);
	cr_assert_eq(store_mvcc_meta_get(rd, "nope", 4, &val, &len), -ENOENT);
	store_mvcc_read_end(rd);
}

/* ---- feed and history ---- */

static struct store_mvcc_events history(int64_t start, int64_t end, bool prev, size_t max,
                                        const char *key, const char *range_end)
{
	struct store_mvcc_events_query q = {
	    .start_revision = start, .end_revision = end, .prev_kv = prev, .max_events = max};
	if (key) {
		q.key = (const uint8_t *)key;
		q.key_len = strlen(key);
	}
	if (range_end) {
		q.range_end = (const uint8_t *)(*range_end ? range_end : "");
		q.range_end_len = *range_end ? strlen(range_end) : 1;
	}
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	struct store_mvcc_events ev;
	int rc = store_mvcc_events(rd, &q, &th_arena, &ev);
	cr_assert_eq(rc, 0, "events: %s", store_mvcc_strerror(rc));
	/* Copy out of LMDB before ending the read. */
	for (size_t i = 0; i < ev.n_events; i++) {
		ev.events[i]->kv->key =
		    th_binn(ev.events[i]->kv->key.data, ev.events[i]->kv->key.len);
		ev.events[i]->kv->value =
		    th_binn(ev.events[i]->kv->value.data, ev.events[i]->kv->value.len);
		if (ev.events[i]->prev_kv)
			ev.events[i]->prev_kv->value = th_binn(ev.events[i]->prev_kv->value.data,
			                                       ev.events[i]->prev_kv->value.len);
	}
	store_mvcc_read_end(rd);
	return ev;
}

static bool same_event(const Mvccpb__Event *a, const Mvccpb__Event *b)
{
	const Mvccpb__KeyValue *x = a->kv, *y = b->kv;
	bool same = a->type == b->type && x->key.len == y->key.len &&
	            !memcmp(x->key.data, y->key.data, x->key.len) && x->value.len == y->value.len &&
	            (!x->value.len || !memcmp(x->value.data, y->value.data, x->value.len)) &&
	            x->create_revision == y->create_revision &&
	            x->mod_revision == y->mod_revision && x->version == y->version &&
	            x->lease == y->lease && !a->prev_kv == !b->prev_kv;
	if (same && a->prev_kv)
		same = a->prev_kv->mod_revision == b->prev_kv->mod_revision &&
		       a->prev_kv->value.len == b->prev_kv->value.len;
	return same;
}

Test(maint, the_feed_and_the_history_tell_the_same_events)
{
	struct store_mvcc_arena feed;
	store_mvcc_arena_init(&feed, 0);
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED_PREV_KV, &feed, &b), 0);
	Etcdserverpb__PutResponse *pr;
	Etcdserverpb__TxnResponse *tr;
	Etcdserverpb__DeleteRangeResponse *dr;
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "1"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("a", "2"), &th_arena, &pr), 0);
	Etcdserverpb__TxnRequest *t = th_txn(
	    NULL, (Etcdserverpb__RequestOp *[]){th_op_put("b", "3"), th_op_del("a", NULL), NULL},
	    NULL);
	cr_assert_eq(store_mvcc_txn(b, t, &th_arena, &tr), 0);
	cr_assert_eq(store_mvcc_delete_range(b, th_del_req("b", NULL), &th_arena, &dr), 0);
	struct store_mvcc_feed f;
	cr_assert_eq(store_mvcc_batch_commit(b, &f), 0);
	cr_assert_eq(f.first_revision, 2);
	cr_assert_eq(f.last_revision, 5);
	cr_assert_eq(f.n_events, 5);
	/* a@2 create: no prev; a@3 prev a@2; b@4 create; a deleted @4 prev
	 * a@3; b deleted @5 prev b@4. */
	cr_assert_null(f.events[0]->prev_kv);
	cr_assert_eq(f.events[1]->prev_kv->mod_revision, 2);
	cr_assert_eq(f.events[3]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
	cr_assert_eq(f.events[3]->kv->mod_revision, 4);
	cr_assert_eq(f.events[3]->kv->version, 0);
	cr_assert_eq(f.events[3]->kv->value.len, 0);
	cr_assert(th_eq(f.events[3]->prev_kv->value, "2"));
	struct store_mvcc_events h = history(1, 0, true, 0, NULL, NULL);
	cr_assert_eq(h.n_events, f.n_events);
	for (size_t i = 0; i < h.n_events; i++)
		cr_assert(same_event(h.events[i], f.events[i]), "event %zu differs", i);
	cr_assert_eq(h.next_revision, 6);
	cr_assert_not(h.more);
	store_mvcc_arena_destroy(&feed);
}

Test(maint, the_feed_before_the_commit_is_the_feed_of_the_commit)
{
	struct store_mvcc_arena feed;
	store_mvcc_arena_init(&feed, 0);
	struct store_mvcc_batch *b;
	Etcdserverpb__PutResponse *pr;
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED_PREV_KV, &feed, &b), 0);
	struct store_mvcc_feed early;
	cr_assert_eq(store_mvcc_batch_feed(b, &early), 0);
	cr_assert_eq(early.n_events, 0, "nothing written yet");
	cr_assert_eq(store_mvcc_put(b, th_put_req("e", "1"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("e", "2"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_feed(b, &early), 0);
	cr_assert_eq(early.n_events, 2);
	cr_assert_eq(early.first_revision, 2);
	cr_assert_eq(early.last_revision, 3);
	cr_assert_eq(early.events[1]->prev_kv->mod_revision, 2);
	/* Not visible before the commit. */
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert_eq(st.revision, 1);
	struct store_mvcc_feed at_commit;
	cr_assert_eq(store_mvcc_batch_commit(b, &at_commit), 0);
	cr_assert_eq(at_commit.n_events, early.n_events);
	for (size_t i = 0; i < early.n_events; i++)
		cr_assert_eq(at_commit.events[i], early.events[i], "event %zu", i);
	struct store_mvcc_events h = history(1, 0, true, 0, NULL, NULL);
	cr_assert_eq(h.n_events, 2);
	for (size_t i = 0; i < h.n_events; i++)
		cr_assert(same_event(h.events[i], early.events[i]), "event %zu differs", i);
	cr_assert_neq(store_mvcc_batch_feed(b, &early), 0, "no batch open");
	cr_assert_eq(early.n_events, 0);
	store_mvcc_arena_destroy(&feed);
}

Test(maint, a_feed_outlives_the_next_batch)
{
	struct store_mvcc_arena f1, f2;
	store_mvcc_arena_init(&f1, 0);
	store_mvcc_arena_init(&f2, 0);
	struct store_mvcc_batch *b;
	struct store_mvcc_feed a, c;
	Etcdserverpb__PutResponse *pr;
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED, &f1, &b), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("first", "1"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, &a), 0);
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED, &f2, &b), 0);
	cr_assert_eq(store_mvcc_put(b, th_put_req("second", "2"), &th_arena, &pr), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, &c), 0);
	cr_assert_eq(a.n_events, 1);
	cr_assert(th_eq(a.events[0]->kv->key, "first"));
	cr_assert(th_eq(c.events[0]->kv->key, "second"));
	store_mvcc_arena_destroy(&f1);
	store_mvcc_arena_destroy(&f2);
}

Test(maint, prev_kv_is_the_state_before_the_revision_even_within_one_txn)
{
	th_put(s, "k", "old"); /* 2 */
	/* From-key deletes are empty intervals for the duplicate check, so one
	 * txn may delete k, recreate it and delete it again. */
	Etcdserverpb__TxnRequest *t =
	    th_txn(NULL,
	           (Etcdserverpb__RequestOp *[]){th_op_del("a", ""), th_op_put("k", "new"),
	                                         th_op_del("j", ""), NULL},
	           NULL);
	struct store_mvcc_arena feed;
	store_mvcc_arena_init(&feed, 0);
	struct store_mvcc_batch *b;
	Etcdserverpb__TxnResponse *tr;
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED_PREV_KV, &feed, &b), 0);
	cr_assert_eq(store_mvcc_txn(b, t, &th_arena, &tr), 0);
	struct store_mvcc_feed f;
	cr_assert_eq(store_mvcc_batch_commit(b, &f), 0);
	cr_assert_eq(f.n_events, 3);
	/* DELETE k, PUT k (a create: no prev), DELETE k: both deletes see
	 * k as it was at revision 2, as etcd's Range at revision 2 does. */
	cr_assert(th_eq(f.events[0]->prev_kv->value, "old"));
	cr_assert_null(f.events[1]->prev_kv);
	cr_assert_not_null(f.events[2]->prev_kv);
	cr_assert(th_eq(f.events[2]->prev_kv->value, "old"));
	struct store_mvcc_events h = history(3, 0, true, 0, NULL, NULL);
	cr_assert_eq(h.n_events, 3);
	cr_assert(th_eq(h.events[2]->prev_kv->value, "old"));
	store_mvcc_arena_destroy(&feed);
}

Test(maint, history_is_bounded_but_never_splits_a_revision)
{
	th_put(s, "a", "1"); /* 2 */
	th_txn_do(s,
	          th_txn(NULL,
	                 (Etcdserverpb__RequestOp *[]){th_op_put("b", "1"), th_op_put("c", "1"),
	                                               th_op_put("d", "1"), NULL},
	                 NULL),
	          NULL);     /* 3: three events */
	th_put(s, "e", "1"); /* 4 */
	struct store_mvcc_events h = history(2, 0, false, 2, NULL, NULL);
	cr_assert_eq(h.n_events, 4, "revision 3 is whole");
	cr_assert(h.more);
	cr_assert_eq(h.next_revision, 4);
	h = history(h.next_revision, 0, false, 2, NULL, NULL);
	cr_assert_eq(h.n_events, 1);
	cr_assert_not(h.more);
	h = history(1, 0, false, 0, "b", "d");
	cr_assert_eq(h.n_events, 2);
	h = history(1, 3, false, 0, "c", NULL);
	cr_assert_eq(h.n_events, 1);
	h = history(1, 0, false, 0, "d", "");
	cr_assert_eq(h.n_events, 2, "from d on");
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	struct store_mvcc_events_query q = {.start_revision = 1, .end_revision = 9};
	struct store_mvcc_events ev;
	cr_assert_eq(store_mvcc_events(rd, &q, &th_arena, &ev), STORE_MVCC_EFUTURE_REV);
	store_mvcc_read_end(rd);
}

Test(maint, compaction_hides_old_revisions_and_keeps_answers_while_removing)
{
	th_put(s, "a", "1");        /* 2 */
	th_put(s, "a", "2");        /* 3 */
	th_put(s, "b", "1");        /* 4 */
	th_del(s, "b", NULL, NULL); /* 5 */
	th_put(s, "c", "1");        /* 6 */
	th_put(s, "a", "3");        /* 7 */
	struct store_mvcc_read *rd;
	uint32_t h_before, h_after;
	int64_t crev;
	cr_assert_eq(th_compact(s, 5), 0);
	cr_assert_eq(th_compact(s, 5), STORE_MVCC_ECOMPACTED);
	cr_assert_eq(th_compact(s, 4), STORE_MVCC_ECOMPACTED);
	cr_assert_eq(th_compact(s, 8), STORE_MVCC_EFUTURE_REV);
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert_eq(st.compact_revision, 5);
	cr_assert_lt(st.compacted_revision, 5, "nothing removed yet");
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 0, &h_before, &crev, NULL), 0);
	cr_assert_eq(crev, 5);
	store_mvcc_read_end(rd);
	struct store_mvcc_events e1 = history(5, 0, true, 0, NULL, NULL);
	/* At the compact revision itself: a's put @3 is history, the
	 * tombstone of b @5 is not served. */
	cr_assert_eq(e1.n_events, 2);
	cr_assert_eq(e1.events[0]->kv->mod_revision, 6);
	Etcdserverpb__RangeRequest *rq = th_range_req("a", "");
	rq->revision = 5;
	Etcdserverpb__RangeResponse *r;
	cr_assert_eq(th_range(s, rq, &r), 0);
	cr_assert_eq(r->n_kvs, 1);
	cr_assert(th_eq(r->kvs[0]->value, "2"));

	cr_assert_eq(th_compact_all(s, 6), 0);
	store_mvcc_state(s, &st);
	cr_assert_eq(st.compacted_revision, 6);
	cr_assert_eq(th_range(s, rq, &r), STORE_MVCC_ECOMPACTED);
	rq->revision = 6;
	cr_assert_eq(th_range(s, rq, &r), 0);
	cr_assert_eq(r->n_kvs, 2);
	cr_assert(th_eq(r->kvs[0]->value, "2"));
	struct store_mvcc_events e2 = history(6, 0, true, 0, NULL, NULL);
	cr_assert_eq(e2.n_events, 2);
	cr_assert_eq(e2.events[1]->prev_kv->mod_revision, 3, "prev of a@7 survives");
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 0, &h_after, &crev, NULL), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 6, &h_after, &crev, NULL), STORE_MVCC_ECOMPACTED);
	store_mvcc_read_end(rd);
}

Test(maint, hash_kv_does_not_depend_on_physical_compaction)
{
	for (int i = 0; i < 50; i++) {
		char k[8], v[8];
		snprintf(k, sizeof(k), "k%d", i % 7);
		snprintf(v, sizeof(v), "%d", i);
		th_put(s, k, v);
		if (i % 5 == 4)
			th_del(s, k, NULL, NULL);
	}
	cr_assert_eq(th_compact(s, 30), 0);
	struct store_mvcc_read *rd;
	uint32_t h1, h2, h3;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 0, &h1, NULL, NULL), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 40, &h3, NULL, NULL), 0);
	store_mvcc_read_end(rd);
	/* Drive the physical removal to the end. */
	for (;;) {
		struct store_mvcc_batch *b;
		cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
		int more = store_mvcc_compact_step(b, 3);
		cr_assert_geq(more, 0);
		cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
		if (!more)
			break;
	}
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 0, &h2, NULL, NULL), 0);
	cr_assert_eq(h1, h2);
	cr_assert_eq(store_mvcc_hash_kv(rd, 40, &h2, NULL, NULL), 0);
	cr_assert_eq(h3, h2);
	store_mvcc_read_end(rd);
	/* And not on defragmentation. */
	cr_assert_eq(store_mvcc_defrag(s), 0);
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_hash_kv(rd, 0, &h2, NULL, NULL), 0);
	cr_assert_eq(h1, h2);
	store_mvcc_read_end(rd);
}

/* ---- alarms, quota ---- */

static int do_alarm(int action, int type, uint64_t member)
{
	Etcdserverpb__AlarmRequest r = ETCDSERVERPB__ALARM_REQUEST__INIT;
	r.action = action;
	r.alarm = type;
	r.memberid = member;
	Etcdserverpb__AlarmResponse *resp;
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	int rc = store_mvcc_alarm(b, &r, &th_arena, &resp);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	return rc ? -1 : (int)resp->n_alarms;
}

Test(maint, nospace_alarm_refuses_growing_requests_only)
{
	th_put(s, "a", "1");
	cr_assert_eq(do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE,
	                      ETCDSERVERPB__ALARM_TYPE__NOSPACE, 1),
	             1);
	cr_assert_eq(do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE,
	                      ETCDSERVERPB__ALARM_TYPE__NOSPACE, 1),
	             1, "activating again answers the alarm");
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert(st.nospace);
	cr_assert_eq(th_put(s, "b", "1"), STORE_MVCC_ENOSPACE);
	cr_assert_eq(th_lease_grant(s, 1, 10, NULL), STORE_MVCC_ENOSPACE);
	cr_assert_eq(
	    th_txn_do(s,
	              th_txn(NULL, (Etcdserverpb__RequestOp *[]){th_op_put("b", "1"), NULL}, NULL),
	              NULL),
	    STORE_MVCC_ENOSPACE);
	/* Deletes, read-only txns, compaction go through; so do nested puts,
	 * which etcd's quota cost does not count. */
	cr_assert_eq(th_del(s, "a", NULL, NULL), 0);
	Etcdserverpb__TxnRequest *nested =
	    th_txn(NULL, (Etcdserverpb__RequestOp *[]){th_op_put("n", "1"), NULL}, NULL);
	cr_assert_eq(
	    th_txn_do(s, th_txn(NULL, (Etcdserverpb__RequestOp *[]){th_op_txn(nested), NULL}, NULL),
	              NULL),
	    0);
	cr_assert_eq(th_compact(s, 2), 0);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ENOSPACE),
	                 "etcdserver: mvcc: database space exceeded");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_ENOSPACE), 8);
	cr_assert_eq(do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET,
	                      ETCDSERVERPB__ALARM_TYPE__NONE, 0),
	             1);
	/* The alarm survives a restart. */
	store_mvcc_close(s);
	s = th_open(dir);
	cr_assert_eq(th_put(s, "b", "1"), STORE_MVCC_ENOSPACE);
	cr_assert_eq(do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE,
	                      ETCDSERVERPB__ALARM_TYPE__NOSPACE, 1),
	             1);
	cr_assert_eq(do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE,
	                      ETCDSERVERPB__ALARM_TYPE__NOSPACE, 1),
	             0, "nothing left to deactivate");
	cr_assert_eq(th_put(s, "b", "1"), 0);
}

Test(maint, corrupt_alarm_refuses_writes)
{
	do_alarm(ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE,
	         ETCDSERVERPB__ALARM_TYPE__CORRUPT, 3);
	cr_assert_eq(th_put(s, "b", "1"), STORE_MVCC_ECORRUPT);
	cr_assert_eq(th_del(s, "b", NULL, NULL), STORE_MVCC_ECORRUPT);
	cr_assert_eq(th_compact(s, 1), STORE_MVCC_ECORRUPT);
	cr_assert_eq(th_lease_grant(s, 1, 10, NULL), STORE_MVCC_ECORRUPT);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ECORRUPT), "etcdserver: corrupt cluster");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_ECORRUPT), 15);
}

Test(maint, over_quota_writes_are_applied_and_answered_nospace)
{
	store_mvcc_close(s);
	th_rmrf(dir);
	struct store_mvcc_options o = {.quota_bytes = 256 * 1024, .map_size = 64 << 20};
	s = th_open_opts(dir, &o);
	cr_assert(s);
	char *v = malloc(4000);
	memset(v, 'v', 3999);
	v[3999] = 0;
	int rc = 0, i;
	for (i = 0; i < 1000 && rc == 0; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%04d", i);
		rc = th_put(s, k, v);
	}
	cr_assert_eq(rc, STORE_MVCC_ENOSPACE);
	char k[16];
	snprintf(k, sizeof(k), "k%04d", i - 1);
	cr_assert_eq(th_get(s, k, NULL, 0, NULL), 0, "the put was applied all the same");
	cr_assert_not(store_mvcc_quota_available(s, 256 + 10));
	free(v);
}

/* ---- members ---- */

static Etcdserverpb__Member *member(uint64_t id, const char *url, bool learner)
{
	Etcdserverpb__Member *m = store_mvcc_arena_alloc(&th_arena, sizeof(*m));
	etcdserverpb__member__init(m);
	m->id = id;
	char **urls = store_mvcc_arena_alloc(&th_arena, sizeof(char *));
	urls[0] = (char *)url;
	m->peerurls = urls;
	m->n_peerurls = 1;
	m->islearner = learner;
	return m;
}

#define MEMBER_OP(call)                                                   \
	({                                                                \
		struct store_mvcc_batch *b_;                              \
		cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b_), 0); \
		int rc_ = (call);                                         \
		cr_assert_eq(store_mvcc_batch_commit(b_, NULL), 0);       \
		rc_;                                                      \
	})

Test(maint, membership_changes_follow_etcds_rules)
{
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(1, "http://a:2380", false))), 0);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(1, "http://b:2380", false))),
	             STORE_MVCC_EMEMBER_EXISTS);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(2, "http://a:2380", false))),
	             STORE_MVCC_EPEER_URL_EXISTS);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(2, "http://b:2380", true))), 0);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(3, "http://c:2380", true))),
	             STORE_MVCC_ETOO_MANY_LEARNERS);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_promote(b_, 1)), STORE_MVCC_EMEMBER_NOT_LEARNER);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_promote(b_, 2)), 0);
	char *urls[] = {"http://a:2380"};
	cr_assert_eq(MEMBER_OP(store_mvcc_member_update(b_, 2, urls, 1)),
	             STORE_MVCC_EPEER_URL_EXISTS);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_update(b_, 1, urls, 1)), 0, "its own URL is fine");
	char *curls[] = {"http://a:2379"};
	cr_assert_eq(MEMBER_OP(store_mvcc_member_set_attributes(b_, 1, "one", curls, 1)), 0);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_remove(b_, 2)), 0);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_remove(b_, 2)), STORE_MVCC_EMEMBER_NOT_FOUND);
	cr_assert_eq(MEMBER_OP(store_mvcc_member_add(b_, member(2, "http://x:2380", false))),
	             STORE_MVCC_EMEMBER_NOT_FOUND, "a removed ID never comes back");
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	Etcdserverpb__Member **ms;
	size_t n;
	cr_assert_eq(store_mvcc_members(rd, &th_arena, &ms, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ms[0]->name, "one");
	cr_assert_str_eq(ms[0]->clienturls[0], "http://a:2379");
	cr_assert(store_mvcc_member_removed(rd, 2));
	store_mvcc_read_end(rd);
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EMEMBER_EXISTS),
	                 "etcdserver: member ID already exist");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_EPEER_URL_EXISTS),
	                 "etcdserver: Peer URLs already exists");
}

/* ---- refusing directories ---- */

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static size_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? (size_t)-1 : (size_t)st.st_size;
}

Test(maint, a_foreign_directory_is_refused_untouched)
{
	char *d = sibling("foreign");
	mkdir(d, 0700);
	char f[4096];
	snprintf(f, sizeof(f), "%s/notes.txt", d);
	write_file(f, "hello", 5);
	struct store_mvcc *x = NULL;
	cr_assert_eq(store_mvcc_open(d, &(struct store_mvcc_options){.log_cb = NULL}, &x),
	             STORE_MVCC_EFOREIGN);
	snprintf(f, sizeof(f), "%s/LOCK", d);
	cr_assert_eq(access(f, F_OK), -1, "nothing was created");
	free(d);
}

Test(maint, damaged_and_foreign_data_files_are_refused)
{
	store_mvcc_close(s);
	s = NULL;
	char cur[4096], data[4096];
	snprintf(cur, sizeof(cur), "%s/CURRENT", dir);
	snprintf(data, sizeof(data), "%s/data-1.mdb", dir);
	size_t size = file_size(data);
	/* Garbage where the data file should be. */
	char junk[16384];
	memset(junk, 0x5a, sizeof(junk));
	write_file(data, junk, sizeof(junk));
	struct store_mvcc *x = NULL;
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	cr_assert_eq(file_size(data), sizeof(junk), "left as it was");
	/* An empty one (LMDB would initialise it in place). */
	write_file(data, "", 0);
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	cr_assert_eq(file_size(data), 0);
	/* An LMDB environment of another application. */
	unlink(data);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	cr_assert_eq(mdb_env_open(env, data, MDB_NOSUBDIR, 0600), 0);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "stuff", MDB_CREATE, &dbi);
	MDB_val k = {1, "k"}, v = {1, "v"};
	mdb_put(txn, dbi, &k, &v, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
	size = file_size(data);
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EFOREIGN);
	cr_assert_eq(file_size(data), size);
	/* CURRENT naming a missing generation. */
	write_file(cur, "7\n", 2);
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	write_file(cur, "garbage", 7);
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	/* Data files without CURRENT. */
	unlink(cur);
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	th_rmrf(dir);
	s = th_open(dir);
}

Test(maint, an_interrupted_creation_is_completed_but_nothing_else)
{
	char cur[4096];
	snprintf(cur, sizeof(cur), "%s/CURRENT", dir);
	/* A crash between the data file's rename and CURRENT. */
	store_mvcc_close(s);
	cr_assert_eq(unlink(cur), 0);
	s = th_open(dir);
	cr_assert(s, "a fresh store without CURRENT is adopted");
	cr_assert_eq(th_rev(s), 1);
	/* A store that applied something is not guessed back. */
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 1, 1), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	store_mvcc_close(s);
	cr_assert_eq(unlink(cur), 0);
	struct store_mvcc *x = NULL;
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EDAMAGED);
	th_rmrf(dir);
	s = th_open(dir);
}

Test(maint, a_newer_format_version_is_refused)
{
	store_mvcc_close(s);
	s = NULL;
	char data[4096];
	snprintf(data, sizeof(data), "%s/data-1.mdb", dir);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 16);
	cr_assert_eq(mdb_env_open(env, data, MDB_NOSUBDIR, 0600), 0);
	mdb_txn_begin(env, NULL, 0, &txn);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	uint8_t fmt[20];
	memcpy(fmt, "cairn-mvcc-store", 16);
	fmt[16] = 2;
	fmt[17] = fmt[18] = fmt[19] = 0;
	MDB_val k = {6, "format"}, v = {20, fmt};
	mdb_put(txn, dbi, &k, &v, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
	struct store_mvcc *x = NULL;
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_EVERSION);
	th_rmrf(dir);
	s = th_open(dir);
}

Test(maint, one_process_at_a_time)
{
	struct store_mvcc *x = NULL;
	cr_assert_eq(store_mvcc_open(dir, NULL, &x), STORE_MVCC_ELOCKED);
}

/* ---- snapshots, install, restore, defrag ---- */

Test(maint, snapshots_install_and_restore)
{
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "key%03d", i);
		th_put(s, k, "value");
	}
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_batch_entry(b, 42, 3), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	char *snap = sibling("snap.db");
	uint64_t size;
	cr_assert_eq(store_mvcc_snapshot_save(s, snap, &size), 0);
	cr_assert_gt(size, 0);
	struct store_mvcc_snapshot_info info;
	cr_assert_eq(store_mvcc_snapshot_info(snap, &info), 0);
	cr_assert_eq(info.revision, 101);
	cr_assert_eq(info.applied_index, 42);
	cr_assert_eq(info.applied_term, 3);

	/* Restore offline into a new directory. */
	char *rdir = sibling("restored");
	cr_assert_eq(store_mvcc_restore(rdir, snap), 0);
	cr_assert_eq(store_mvcc_restore(rdir, snap), STORE_MVCC_EFOREIGN, "not over a store");
	struct store_mvcc *r = th_open(rdir);
	cr_assert(r);
	cr_assert_eq(th_rev(r), 101);
	cr_assert_eq(th_get(r, "key050", NULL, 0, NULL), 0);

	/* Install on a live store with other content. */
	th_put(r, "only-here", "x");
	struct store_mvcc_read *old;
	cr_assert_eq(store_mvcc_read_begin(r, &old), 0);
	char *snap2 = sibling("snap2.db");
	cr_assert_eq(store_mvcc_snapshot_save(s, snap2, NULL), 0);
	cr_assert_eq(store_mvcc_install(r, snap2), 0);
	cr_assert_eq(access(snap2, F_OK), -1, "the file was consumed");
	cr_assert_eq(th_get(r, "only-here", NULL, 0, NULL), -1);
	struct store_mvcc_state st;
	store_mvcc_state(r, &st);
	cr_assert_eq(st.applied_index, 42);
	cr_assert_eq(st.generation, 2);
	/* A reader from before the install still sees its snapshot. */
	Etcdserverpb__RangeResponse *rr;
	cr_assert_eq(store_mvcc_range(old, th_range_req("only-here", NULL), &th_arena, &rr), 0);
	cr_assert_eq(rr->n_kvs, 1);
	store_mvcc_read_end(old);
	store_mvcc_close(r);
	r = th_open(rdir);
	cr_assert_eq(th_get(r, "key099", NULL, 0, NULL), 0);
	store_mvcc_close(r);

	/* Garbage is not a snapshot. */
	write_file(snap, "nope", 4);
	cr_assert_eq(store_mvcc_snapshot_info(snap, &info), STORE_MVCC_EDAMAGED);
	free(snap);
	free(snap2);
	free(rdir);
}

Test(maint, defrag_shrinks_and_keeps_everything)
{
	char *v = malloc(2000);
	memset(v, 'q', 1999);
	v[1999] = 0;
	for (int i = 0; i < 300; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%03d", i);
		th_put(s, k, v);
	}
	int64_t n;
	th_del(s, "k", "l", &n);
	cr_assert_eq(n, 300);
	th_put(s, "survivor", "yes");
	cr_assert_eq(th_compact_all(s, th_rev(s)), 0);
	struct store_mvcc_state before, after;
	store_mvcc_state(s, &before);
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	int64_t size, in_use;
	cr_assert_eq(store_mvcc_db_size(rd, &size, &in_use), 0);
	cr_assert_lt(in_use, size);
	cr_assert_eq(store_mvcc_defrag(s), 0);
	store_mvcc_state(s, &after);
	cr_assert_lt(after.db_size, before.db_size / 4, "%lld -> %lld", (long long)before.db_size,
	             (long long)after.db_size);
	cr_assert_eq(after.revision, before.revision);
	cr_assert_eq(after.generation, before.generation + 1);
	/* The old reader still works, on the old file. */
	Etcdserverpb__RangeResponse *r;
	cr_assert_eq(store_mvcc_range(rd, th_range_req("survivor", NULL), &th_arena, &r), 0);
	cr_assert_eq(r->n_kvs, 1);
	store_mvcc_read_end(rd);
	cr_assert_eq(th_get(s, "survivor", NULL, 0, NULL), 0);
	th_put(s, "after", "defrag");
	store_mvcc_close(s);
	s = th_open(dir);
	cr_assert_eq(th_get(s, "after", NULL, 0, NULL), 0);
	free(v);
}

/* ---- small utilities ---- */

Test(maint, arena_reuses_its_memory)
{
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 1024);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++) {
			char *p = store_mvcc_arena_alloc(&a, 100);
			cr_assert(p);
			cr_assert_eq((uintptr_t)p % 16, 0);
			memset(p, i, 100);
		}
		void *big = store_mvcc_arena_alloc(&a, 1 << 20);
		cr_assert(big);
		store_mvcc_arena_reset(&a);
		cr_assert_eq(a.total, 1 << 20 > 1024 ? (size_t)(1 << 20) : 1024u,
		             "only the largest chunk is kept");
	}
	ProtobufCAllocator al = store_mvcc_arena_allocator(&a);
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key.data = (uint8_t *)"k";
	p.key.len = 1;
	uint8_t buf[64];
	size_t len = etcdserverpb__put_request__pack(&p, buf);
	Etcdserverpb__PutRequest *q = etcdserverpb__put_request__unpack(&al, len, buf);
	cr_assert(q);
	cr_assert_eq(q->key.len, 1);
	store_mvcc_arena_destroy(&a);
}

Test(maint, sha256_matches_fips_vectors)
{
	uint8_t out[32];
	struct store_mvcc_sha256 c;
	store_mvcc_sha256_init(&c);
	store_mvcc_sha256_update(&c, "abc", 3);
	store_mvcc_sha256_final(&c, out);
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	                                0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	                                0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	                                0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	cr_assert_eq(memcmp(out, abc, 32), 0);
	store_mvcc_sha256_init(&c);
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	for (size_t i = 0; i < strlen(m); i++)
		store_mvcc_sha256_update(&c, m + i, 1);
	store_mvcc_sha256_final(&c, out);
	static const uint8_t two[32] = {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8,
	                                0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
	                                0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67,
	                                0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
	cr_assert_eq(memcmp(out, two, 32), 0);
}

Test(maint, every_etcd_error_text_is_exact)
{
	static const struct {
		int err, code;
		const char *text;
	} t[] = {
	    {STORE_MVCC_ETOO_MANY_OPS, 3, "etcdserver: too many operations in txn request"},
	    {STORE_MVCC_EMEMBER_NOT_FOUND, 5, "etcdserver: member not found"},
	    {STORE_MVCC_EMEMBER_NOT_LEARNER, 9, "etcdserver: can only promote a learner member"},
	    {STORE_MVCC_ETOO_MANY_LEARNERS, 9, "etcdserver: too many learner members in cluster"},
	    {STORE_MVCC_EMEMBER_EXISTS, 9, "etcdserver: member ID already exist"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_str_eq(store_mvcc_strerror(t[i].err), t[i].text);
		cr_assert_eq(store_mvcc_grpc_code(t[i].err), t[i].code);
	}
	cr_assert_str_eq(store_mvcc_strerror(-ENOENT), strerror(ENOENT));
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_EDAMAGED), 13);
}
