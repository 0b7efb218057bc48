/*
 * The WAL's operations, each through store/wal.h as the server uses them:
 * append, read back (before and after the disk catches up), truncate,
 * hard state, compaction, the durable position and its notification, group
 * commit, and what survives a clean reopen.
 */
#define _GNU_SOURCE /* asprintf */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/wal_internal.h"
#include "wal_fixture.h"

static struct store_wal *open_ok(struct store_wal_options *o, struct store_wal_state *st)
{
	return open_in(dir, o, st);
}

static struct store_wal *reopen(struct store_wal *w, struct store_wal_state *st)
{
	cr_assert_eq(store_wal_close(w), 0);
	return open_ok(NULL, st);
}

TestSuite(wal, .init = setup, .fini = teardown, .timeout = 60);

Test(wal, crc32c_matches_the_castagnoli_check_value)
{
	cr_assert_eq(wal__crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(wal__crc32c_portable(0, "123456789", 9), 0xe3069283u);
	/* Chaining equals one pass; both implementations agree at every
	 * alignment and length. */
	uint8_t buf[1100];
	uint64_t s = 1;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)wt_rand(&s);
	for (size_t off = 0; off < 9; off++) {
		for (size_t len = 0; len < 1000; len += 37) {
			uint32_t a = wal__crc32c(0, buf + off, len);
			cr_assert_eq(a, wal__crc32c_portable(0, buf + off, len));
			cr_assert_eq(a, wal__crc32c(wal__crc32c(0, buf + off, len / 3),
			                            buf + off + len / 3, len - len / 3));
		}
	}
}

Test(wal, a_new_directory_starts_an_empty_log)
{
	struct store_wal_state st;
	struct store_wal *w = open_ok(NULL, &st);
	cr_assert_eq(st.first_index, 1);
	cr_assert_eq(st.last_index, 0);
	cr_assert_eq(st.last_term, 0);
	cr_assert_eq(st.hard_state.term, 0);
	cr_assert_eq(st.snapshot.index, 0);
	cr_assert_eq(store_wal_first_index(w), 1);
	cr_assert_eq(store_wal_last_index(w), 0);
	uint64_t term = 99;
	cr_assert_eq(store_wal_term(w, 0, &term), 0);
	cr_assert_eq(term, 0);
	cr_assert_eq(store_wal_term(w, 1, &term), STORE_WAL_EUNAVAIL);
	cr_assert_geq(wt_count(dir, ".wal"), 1);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, a_missing_directory_is_created)
{
	char *sub;
	cr_assert(asprintf(&sub, "%s/member/wal", dir) > 0);
	char *member;
	cr_assert(asprintf(&member, "%s/member", dir) > 0);
	cr_assert_eq(mkdir(member, 0700), 0);
	struct store_wal_options o = wt_options();
	struct store_wal *w = NULL;
	cr_assert_eq(store_wal_open(sub, &o, &w, NULL), 0);
	cr_assert_eq(store_wal_close(w), 0);
	cr_assert_geq(wt_count(sub, ".wal"), 1);
	free(sub);
	free(member);
}

Test(wal, appended_entries_read_back_before_and_after_they_are_durable)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 11, 1, 300), 0);
	/* Readable at once, durable or not. */
	cr_assert_eq(store_wal_last_index(w), 10);
	cr_assert_eq(wt_verify(w, 1, 11, 1, 300), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	struct store_wal_durable d;
	store_wal_durable(w, &d);
	cr_assert_eq(d.index, 10);
	cr_assert_eq(d.term, 1);
	cr_assert_eq(d.seq, store_wal_queued(w));
	cr_assert_eq(d.error, 0);
	cr_assert_eq(wt_verify(w, 1, 11, 1, 300), 0);
	uint64_t term;
	cr_assert_eq(store_wal_term(w, 10, &term), 0);
	cr_assert_eq(term, 1);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, entries_survive_a_reopen_byte_for_byte)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 101, 1, 700), 0);
	cr_assert_eq(wt_append(w, 101, 201, 2, 700), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.first_index, 1);
	cr_assert_eq(st.last_index, 200);
	cr_assert_eq(st.last_term, 2);
	cr_assert_eq(wt_verify(w, 1, 101, 1, 700), 0);
	cr_assert_eq(wt_verify(w, 101, 201, 2, 700), 0);
	/* And the log goes on from there. */
	cr_assert_eq(wt_append(w, 201, 202, 3, 700), 0);
	w = reopen(w, &st);
	cr_assert_eq(st.last_index, 201);
	cr_assert_eq(wt_verify(w, 201, 202, 3, 700), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, append_refuses_gaps_disorder_and_falling_terms)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 6, 3, 10), 0);
	cr_assert_eq(wt_append(w, 7, 8, 3, 10), STORE_WAL_EUNAVAIL, "a gap after 5");
	cr_assert_eq(wt_append(w, 6, 7, 2, 10), -EINVAL, "term 2 after term 3");
	struct store_wal_entry bad[2] = {{.index = 6, .term = 3}, {.index = 8, .term = 3}};
	cr_assert_eq(store_wal_append(w, bad, 2), -EINVAL, "indexes not contiguous");
	struct store_wal_entry down[2] = {{.index = 6, .term = 4}, {.index = 7, .term = 3}};
	cr_assert_eq(store_wal_append(w, down, 2), -EINVAL, "term falls inside the batch");
	cr_assert_eq(store_wal_append(w, bad, 0), -EINVAL);
	cr_assert_eq(store_wal_last_index(w), 5, "nothing changed");
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, append_over_the_tail_truncates_the_conflicting_suffix)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 11, 1, 50), 0);
	cr_assert_eq(wt_append(w, 6, 9, 2, 50), 0);
	cr_assert_eq(store_wal_last_index(w), 8);
	cr_assert_eq(wt_verify(w, 1, 6, 1, 50), 0);
	cr_assert_eq(wt_verify(w, 6, 9, 2, 50), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.last_index, 8);
	cr_assert_eq(st.last_term, 2);
	cr_assert_eq(wt_verify(w, 1, 6, 1, 50), 0);
	cr_assert_eq(wt_verify(w, 6, 9, 2, 50), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, truncate_then_append_then_reopen)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 21, 1, 100), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	cr_assert_eq(store_wal_truncate(w, 15), 0);
	cr_assert_eq(store_wal_last_index(w), 14);
	cr_assert_eq(wt_append(w, 15, 31, 2, 100), 0);
	cr_assert_eq(store_wal_truncate(w, 25), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.last_index, 24);
	cr_assert_eq(st.last_term, 2);
	cr_assert_eq(wt_verify(w, 1, 15, 1, 100), 0);
	cr_assert_eq(wt_verify(w, 15, 25, 2, 100), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, a_durable_truncation_lowers_the_durable_position)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 11, 1, 10), 0);
	cr_assert_eq(store_wal_truncate(w, 4), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	struct store_wal_durable d;
	store_wal_durable(w, &d);
	cr_assert_eq(d.index, 3);
	cr_assert_eq(d.term, 1);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, truncate_checks_its_bounds_and_the_commit_index)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 11, 1, 10), 0);
	struct store_wal_hard_state hs = {.term = 1, .vote = 1, .commit = 5};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	cr_assert_eq(store_wal_truncate(w, 5), -EINVAL, "entry 5 is committed (C4)");
	cr_assert_eq(wt_append(w, 3, 4, 2, 10), -EINVAL, "an overwrite is a truncation too");
	cr_assert_eq(store_wal_truncate(w, 12), STORE_WAL_EUNAVAIL);
	cr_assert_eq(store_wal_truncate(w, 11), 0, "last + 1 is a no-op");
	cr_assert_eq(store_wal_last_index(w), 10);
	cr_assert_eq(store_wal_truncate(w, 6), 0);
	cr_assert_eq(store_wal_last_index(w), 5);
	cr_assert(wt_log_has("committed"));
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, hard_state_alone_survives_a_reopen)
{
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_hard_state hs = {.term = 7, .vote = 3, .commit = 0};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.hard_state.term, 7);
	cr_assert_eq(st.hard_state.vote, 3);
	cr_assert_eq(st.last_index, 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, term_never_falls_and_vote_never_changes_within_a_term)
{
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_hard_state hs = {.term = 5, .vote = 0};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	hs.vote = 2; /* voting in the current term */
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	hs.vote = 3;
	cr_assert_eq(store_wal_save_hard_state(w, &hs), -EINVAL, "second vote in term 5 (T3)");
	hs.vote = 0;
	cr_assert_eq(store_wal_save_hard_state(w, &hs), -EINVAL, "vote reset in term 5 (T3)");
	hs = (struct store_wal_hard_state){.term = 4, .vote = 2};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), -EINVAL, "term 4 after 5 (T2)");
	hs = (struct store_wal_hard_state){.term = 6, .vote = 0, .commit = 0};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0, "a new term clears the vote");
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.hard_state.term, 6);
	cr_assert_eq(st.hard_state.vote, 0);
	/* Across the reopen the same rules hold against the durable state. */
	hs = (struct store_wal_hard_state){.term = 5, .vote = 2};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), -EINVAL);
	cr_assert(wt_log_has("(T2)"));
	cr_assert(wt_log_has("(T3)"));
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, reads_respect_the_byte_limit_but_return_at_least_one_entry)
{
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_entry in[5];
	uint8_t payload[5][100];
	for (int k = 0; k < 5; k++) {
		memset(payload[k], 'a' + k, sizeof payload[k]);
		in[k] = (struct store_wal_entry){
		    .index = 1 + k, .term = 1, .type = 9, .data = payload[k], .len = 100};
	}
	cr_assert_eq(store_wal_append(w, in, 5), 0);
	struct store_wal_entry out[5];
	size_t n;
	cr_assert_eq(store_wal_entries(w, 1, 6, 250, out, 5, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(store_wal_entries(w, 1, 6, 10, out, 5, &n), 0);
	cr_assert_eq(n, 1, "one entry even if it alone exceeds the limit");
	cr_assert_eq(store_wal_entries(w, 1, 6, 0, out, 3, &n), 0);
	cr_assert_eq(n, 3, "capped by the output array");
	cr_assert_eq(store_wal_entries(w, 2, 6, 0, out, 5, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_eq(out[0].index, 2);
	cr_assert_eq(out[0].type, 9);
	cr_assert_eq(((const uint8_t *)out[3].data)[99], 'e');
	cr_assert_eq(store_wal_entries(w, 3, 3, 0, out, 5, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(store_wal_entries(w, 1, 7, 0, out, 5, &n), STORE_WAL_EUNAVAIL);
	cr_assert_eq(store_wal_entries(w, 4, 3, 0, out, 5, &n), -EINVAL);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, old_entries_are_read_from_the_segments_once_evicted)
{
	/* A tiny cache and tiny segments: most reads come from mappings of
	 * closed segments, some across a roll, after the chunks are freed. */
	struct store_wal_options o = wt_options();
	o.cache_bytes = 4096;
	struct store_wal *w = open_ok(&o, NULL);
	for (uint64_t i = 1; i < 2001; i += 20) {
		cr_assert_eq(wt_append(w, i, i + 20, 1 + i / 500, 400), 0);
		if (i % 200 == 1)
			cr_assert_eq(store_wal_wait(w), 0);
	}
	cr_assert_eq(store_wal_wait(w), 0);
	cr_assert_eq(wt_append(w, 2001, 2002, 5, 400), 0); /* trims the cache */
	cr_assert_gt(wt_count(dir, ".wal"), 5, "the log spans several segments");
	for (uint64_t i = 1; i < 2001; i += 20)
		cr_assert_eq(wt_verify(w, i, i + 20, 1 + i / 500, 400), 0, "batch at %llu",
		             (unsigned long long)i);
	/* One read spanning many segments. */
	struct store_wal_entry *out = calloc(2001, sizeof *out);
	size_t n;
	cr_assert_eq(store_wal_entries(w, 1, 2002, 0, out, 2001, &n), 0);
	cr_assert_eq(n, 2001);
	for (size_t k = 0; k < n; k++)
		cr_assert(wt_entry_ok(&out[k], 400), "entry %zu", k + 1);
	free(out);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, an_entry_larger_than_a_segment_gets_a_segment_of_its_own)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 3, 1, 100), 0);
	size_t big = 200 * 1024;
	uint8_t *p = malloc(big);
	wt_fill(3, 1, p, big);
	struct store_wal_entry e = {.index = 3, .term = 1, .data = p, .len = big};
	cr_assert_eq(store_wal_append(w, &e, 1), 0);
	cr_assert_eq(wt_append(w, 4, 6, 1, 100), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.last_index, 5);
	struct store_wal_entry out;
	size_t n;
	cr_assert_eq(store_wal_entries(w, 3, 4, 0, &out, 1, &n), 0);
	cr_assert_eq(out.len, big);
	cr_assert_eq(memcmp(out.data, p, big), 0);
	cr_assert_eq(wt_verify(w, 4, 6, 1, 100), 0);
	free(p);
	cr_assert_eq(store_wal_close(w), 0);
}

/* ---- durable position, notification, group commit ------------------- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int notified;
	bool hold; /* block the writer inside the callback */
	struct store_wal_durable last;
};

static void gate_cb(struct store_wal *w, void *data)
{
	struct gate *g = data;
	pthread_mutex_lock(&g->mu);
	store_wal_durable(w, &g->last);
	g->notified++;
	pthread_cond_broadcast(&g->cond);
	while (g->hold)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

Test(wal, the_writer_notifies_after_each_durable_batch_naming_index_and_term)
{
	struct gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct store_wal_options o = wt_options();
	o.notify_cb = gate_cb;
	o.notify_data = &g;
	struct store_wal *w = open_ok(&o, NULL);
	cr_assert_eq(wt_append(w, 1, 4, 2, 10), 0);
	struct store_wal_hard_state hs = {.term = 2, .vote = 1, .commit = 1};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	/* wait() returns once the position is published; the callback runs
	 * just after, on the writer thread. */
	pthread_mutex_lock(&g.mu);
	while (g.last.seq < 2)
		pthread_cond_wait(&g.cond, &g.mu);
	cr_assert_geq(g.notified, 1);
	cr_assert_eq(g.last.index, 3);
	cr_assert_eq(g.last.term, 2);
	cr_assert_eq(g.last.hard_state.vote, 1);
	cr_assert_eq(g.last.seq, 2);
	pthread_mutex_unlock(&g.mu);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, appends_queued_during_a_write_go_out_together_in_the_next_one)
{
	struct gate g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	g.hold = true;
	struct store_wal_options o = wt_options();
	o.notify_cb = gate_cb;
	o.notify_data = &g;
	struct store_wal *w = open_ok(&o, NULL);
	cr_assert_eq(wt_append(w, 1, 2, 1, 100), 0);
	/* The writer is now parked in the callback after batch 1. */
	pthread_mutex_lock(&g.mu);
	while (g.notified < 1)
		pthread_cond_wait(&g.cond, &g.mu);
	pthread_mutex_unlock(&g.mu);
	for (uint64_t i = 2; i < 102; i++)
		cr_assert_eq(wt_append(w, i, i + 1, 1, 100), 0);
	struct store_wal_metrics m;
	store_wal_metrics(w, &m);
	cr_assert_eq(m.syncs, 1);
	pthread_mutex_lock(&g.mu);
	g.hold = false;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.mu);
	cr_assert_eq(store_wal_wait(w), 0);
	store_wal_metrics(w, &m);
	cr_assert_eq(m.syncs, 2, "100 appends, one write and one sync");
	cr_assert_eq(m.entries_written, 101);
	cr_assert_gt(m.bytes_written, 100 * 24);
	uint64_t in_buckets = 0;
	for (int b = 0; b < STORE_WAL_SYNC_BUCKETS; b++)
		in_buckets += m.sync_buckets[b];
	cr_assert_eq(in_buckets, 2);
	cr_assert_geq(m.sync_ns_sum, m.last_sync_ns);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, a_completion_names_the_entry_it_wrote_across_a_truncation)
{
	/* T9: entries 1..5 term 1 durable; then 4..5 replaced by term 2. The
	 * durable position must say (5, 2) only once the overwrite is on disk,
	 * never (5, 1) after it. */
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 6, 1, 10), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	cr_assert_eq(wt_append(w, 4, 6, 2, 10), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	struct store_wal_durable d;
	store_wal_durable(w, &d);
	cr_assert_eq(d.index, 5);
	cr_assert_eq(d.term, 2);
	cr_assert_eq(store_wal_close(w), 0);
}

/* ---- compaction -------------------------------------------------------- */

static void wait_deleted(struct store_wal *w, uint64_t want)
{
	struct store_wal_metrics m;
	for (int i = 0; i < 500; i++) {
		store_wal_metrics(w, &m);
		if (m.segments_deleted >= want)
			return;
		usleep(2000);
	}
	cr_assert_fail("segments_deleted %llu < %llu", (unsigned long long)m.segments_deleted,
	               (unsigned long long)want);
}

Test(wal, compaction_keeps_the_suffix_and_deletes_old_segments)
{
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_hard_state hs = {.term = 3, .vote = 2, .commit = 0};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	for (uint64_t i = 1; i < 1001; i += 50)
		cr_assert_eq(wt_append(w, i, i + 50, 3, 500), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	size_t before = wt_count(dir, ".wal");
	cr_assert_gt(before, 4);
	const char conf[] = "members: 1 2 3";
	struct store_wal_snapshot snap = {
	    .index = 900, .term = 3, .conf = conf, .conf_len = sizeof conf};
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	cr_assert_eq(store_wal_first_index(w), 901);
	cr_assert_eq(store_wal_last_index(w), 1000);
	uint64_t term;
	cr_assert_eq(store_wal_term(w, 900, &term), 0);
	cr_assert_eq(term, 3);
	cr_assert_eq(store_wal_term(w, 899, &term), STORE_WAL_ECOMPACTED);
	struct store_wal_entry e;
	size_t n;
	cr_assert_eq(store_wal_entries(w, 900, 901, 0, &e, 1, &n), STORE_WAL_ECOMPACTED);
	cr_assert_eq(store_wal_wait(w), 0);
	wait_deleted(w, 1);
	cr_assert_lt(wt_count(dir, ".wal"), before);

	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.first_index, 901);
	cr_assert_eq(st.last_index, 1000);
	cr_assert_eq(st.snapshot.index, 900);
	cr_assert_eq(st.snapshot.term, 3);
	cr_assert_eq(st.snapshot.conf_len, sizeof conf);
	cr_assert_str_eq(st.snapshot.conf, conf);
	cr_assert_eq(st.hard_state.term, 3, "term survives compaction (T2, T6)");
	cr_assert_eq(st.hard_state.vote, 2, "vote survives compaction (T3)");
	cr_assert_eq(wt_verify(w, 901, 1001, 3, 500), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, term_and_vote_survive_when_every_segment_that_held_them_is_gone)
{
	/* The hard state is saved once, then the log rolls through many
	 * segments and is compacted twice: the segments that held the hard
	 * state record are deleted. */
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_hard_state hs = {.term = 9, .vote = 4, .commit = 0};
	cr_assert_eq(store_wal_save_hard_state(w, &hs), 0);
	for (uint64_t i = 1; i < 2001; i += 50)
		cr_assert_eq(wt_append(w, i, i + 50, 9, 500), 0);
	struct store_wal_snapshot snap = {.index = 1000, .term = 9};
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	for (uint64_t i = 2001; i < 3001; i += 50)
		cr_assert_eq(wt_append(w, i, i + 50, 9, 500), 0);
	snap.index = 2900;
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	cr_assert_eq(store_wal_wait(w), 0);
	wait_deleted(w, 10);
	char *first = wt_seg_path(dir, 1);
	cr_assert_neq(access(first, F_OK), 0, "segment 1 deleted");
	free(first);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.hard_state.term, 9);
	cr_assert_eq(st.hard_state.vote, 4);
	cr_assert_eq(st.first_index, 2901);
	cr_assert_eq(st.last_index, 3000);
	cr_assert_eq(wt_verify(w, 2901, 3001, 9, 500), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, a_snapshot_past_the_end_discards_the_whole_log)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 51, 1, 100), 0);
	struct store_wal_snapshot snap = {.index = 500, .term = 4};
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	cr_assert_eq(store_wal_first_index(w), 501);
	cr_assert_eq(store_wal_last_index(w), 500);
	uint64_t term;
	cr_assert_eq(store_wal_term(w, 500, &term), 0);
	cr_assert_eq(term, 4);
	cr_assert_eq(wt_append(w, 502, 503, 4, 100), STORE_WAL_EUNAVAIL);
	cr_assert_eq(wt_append(w, 501, 511, 3, 100), -EINVAL, "term below the snapshot's");
	cr_assert_eq(wt_append(w, 501, 511, 4, 100), 0);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.snapshot.index, 500);
	cr_assert_eq(st.first_index, 501);
	cr_assert_eq(st.last_index, 510);
	cr_assert_eq(wt_verify(w, 501, 511, 4, 100), 0);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, a_snapshot_whose_term_conflicts_discards_the_whole_log)
{
	/* C6: the log holds index 30 with term 1, the snapshot says term 2:
	 * the entries after 30 cannot be trusted either. */
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 51, 1, 100), 0);
	struct store_wal_snapshot snap = {.index = 30, .term = 2};
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	cr_assert_eq(store_wal_last_index(w), 30);
	struct store_wal_state st;
	w = reopen(w, &st);
	cr_assert_eq(st.first_index, 31);
	cr_assert_eq(st.last_index, 30);
	cr_assert_eq(st.last_term, 2);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, compaction_never_moves_backwards)
{
	struct store_wal *w = open_ok(NULL, NULL);
	cr_assert_eq(wt_append(w, 1, 51, 1, 10), 0);
	struct store_wal_snapshot snap = {.index = 20, .term = 1};
	cr_assert_eq(store_wal_compact(w, &snap), 0);
	cr_assert_eq(store_wal_compact(w, &snap), 0, "the same snapshot again is a no-op");
	snap.term = 2;
	cr_assert_eq(store_wal_compact(w, &snap), -EINVAL);
	snap = (struct store_wal_snapshot){.index = 10, .term = 1};
	cr_assert_eq(store_wal_compact(w, &snap), -EINVAL);
	snap.index = 0;
	cr_assert_eq(store_wal_compact(w, &snap), -EINVAL);
	cr_assert_eq(wt_append(w, 20, 21, 1, 10), STORE_WAL_ECOMPACTED);
	cr_assert_eq(store_wal_truncate(w, 20), STORE_WAL_ECOMPACTED);
	cr_assert_eq(store_wal_close(w), 0);
}

/* ---- the directory ------------------------------------------------------ */

Test(wal, a_second_open_of_the_same_directory_is_refused)
{
	struct store_wal *w = open_ok(NULL, NULL);
	struct store_wal_options o = wt_options();
	struct store_wal *w2 = NULL;
	cr_assert_eq(store_wal_open(dir, &o, &w2, NULL), STORE_WAL_ELOCKED);
	cr_assert_eq(store_wal_close(w), 0);
	w = open_ok(NULL, NULL);
	cr_assert_eq(store_wal_close(w), 0);
}

Test(wal, bad_options_are_refused)
{
	struct store_wal_options o = wt_options();
	o.segment_size = 1000;
	struct store_wal *w = NULL;
	cr_assert_eq(store_wal_open(dir, &o, &w, NULL), -EINVAL);
}

Test(wal, errors_have_names)
{
	cr_assert_str_eq(store_wal_strerror(STORE_WAL_ECORRUPT), "WAL is corrupt");
	cr_assert_str_eq(store_wal_strerror(-ENOSPC), "No space left on device");
	cr_assert_str_eq(store_wal_strerror(-99999), "unknown error");
}
