/*
 * kill -9 crash test for the WAL.
 *
 * A child process opens the WAL and runs a random Raft-like workload:
 * appends in the current term, saved hard states with a rising commit
 * index, conflicting-suffix truncations above the commit index (each
 * followed by a new term, as after an election), compactions below it, and
 * now and then a snapshot past the end of the log (an install from a
 * leader). From the WAL's notify callback, on the writer thread, it reports
 * every durable position to the parent through a pipe; before each
 * truncation it tells the parent what it is about to cut.
 *
 * The parent kills the child with SIGKILL at a random moment, or lets the
 * WAL's torn-write hook (CAIRN_WAL_FAULT) tear a batch and kill it. Then it
 * opens the directory itself and checks what a Raft host relies on:
 *   - every entry reported durable is there, with its term (unless a
 *     truncation queued after that report cut it, which the parent knows);
 *   - every entry present is byte for byte what the child wrote (payloads
 *     are a function of index and term, so nothing corrupt can pass);
 *   - the hard state's term never went down, its vote never changed within
 *     a term, the commit index and the snapshot never went backwards.
 * The same directory goes through many crashes in a row.
 *
 *   store_wal_crash_test [seed [runs [crashes-per-run]]]
 *
 * The seed is printed first; pass it back to replay a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wal_helpers.h"

#define MAX_PAYLOAD 1500

struct msg {
	uint64_t kind;  /* 'D' durable report, 'T' truncation notice */
	uint64_t seq;   /* D: durable op count; T: the op count the truncation gets */
	uint64_t index; /* D: last durable entry; T: first index cut */
	uint64_t term;  /* D: its term; T: term of the entry before the cut */
	uint64_t hs_term, hs_vote, hs_commit;
	uint64_t snap_index;
};

/* What the parent knows survived the previous crash. */
struct known {
	uint64_t index, term, hs_term, hs_vote, hs_commit, snap_index;
};

static int report_fd = -1;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void send_msg(const struct msg *m)
{
	/* A pipe write of this size is atomic, so the writer thread and the
	 * main thread never interleave. */
	if (write(report_fd, m, sizeof *m) != (ssize_t)sizeof *m)
		_exit(4);
}

static void report_cb(struct store_wal *w, void *data)
{
	struct store_wal_durable d;
	store_wal_durable(w, &d);
	if (d.error)
		return;
	struct msg m = {'D',
	                d.seq,
	                d.index,
	                d.term,
	                d.hard_state.term,
	                d.hard_state.vote,
	                d.hard_state.commit,
	                d.snapshot_index};
	send_msg(&m);
}

/* ---- the child ---------------------------------------------------------- */

static void child_check(struct store_wal *w, uint64_t *rng)
{
	uint64_t first = store_wal_first_index(w), last = store_wal_last_index(w);
	if (last < first)
		return;
	uint64_t lo = first + wt_rand(rng) % (last - first + 1);
	struct store_wal_entry out[32];
	size_t n;
	if (store_wal_entries(w, lo, last + 1, 16384, out, 32, &n) != 0)
		_exit(3);
	for (size_t k = 0; k < n; k++)
		if (!wt_entry_ok(&out[k], MAX_PAYLOAD))
			_exit(3);
}

static void child_main(const char *dir, uint64_t seed)
{
	struct store_wal_options o = wt_options();
	o.cache_bytes = 32 * 1024; /* so reads also come from segment mappings */
	o.notify_cb = report_cb;
	struct store_wal *w;
	struct store_wal_state st;
	int rc = store_wal_open(dir, &o, &w, &st);
	if (rc) {
		fprintf(stderr, "child: open: %s\n%s", store_wal_strerror(rc), wt_log_text());
		_exit(2);
	}
	uint64_t rng = seed;
	struct store_wal_hard_state hs = st.hard_state;
	uint64_t term = hs.term > st.last_term ? hs.term : st.last_term;
	/* A new life is a new term, with a vote in it. */
	hs.term = term + 1;
	hs.vote = 1 + wt_rand(&rng) % 5;
	if (store_wal_save_hard_state(w, &hs))
		_exit(3);
	for (;;) {
		uint64_t r = wt_rand(&rng) % 100;
		uint64_t first = store_wal_first_index(w), last = store_wal_last_index(w);
		if (r < 68) {
			uint64_t n = 1 + wt_rand(&rng) % 16;
			if (wt_append(w, last + 1, last + 1 + n, hs.term, MAX_PAYLOAD))
				_exit(3);
		} else if (r < 78) {
			uint64_t lo = hs.commit + 1 > first ? hs.commit + 1 : first;
			if (last < lo)
				continue;
			uint64_t t = lo + wt_rand(&rng) % (last - lo + 1);
			uint64_t before;
			if (store_wal_term(w, t - 1, &before))
				_exit(3);
			struct msg m = {.kind = 'T',
			                .seq = store_wal_queued(w) + 1,
			                .index = t,
			                .term = before};
			send_msg(&m);
			if (store_wal_truncate(w, t))
				_exit(3);
			hs.term++; /* a new leader overwrote our tail */
			hs.vote = 1 + wt_rand(&rng) % 5;
			if (store_wal_save_hard_state(w, &hs))
				_exit(3);
		} else if (r < 90) {
			struct store_wal_durable d;
			store_wal_durable(w, &d);
			uint64_t c = d.index < last ? d.index : last;
			if (c > hs.commit)
				hs.commit = c;
			if (store_wal_save_hard_state(w, &hs))
				_exit(3);
		} else if (r < 97) {
			uint64_t top = hs.commit < last ? hs.commit : last;
			if (top < first)
				continue;
			struct store_wal_snapshot snap = {.index = first + wt_rand(&rng) %
			                                                       (top - first + 1)};
			if (store_wal_term(w, snap.index, &snap.term))
				_exit(3);
			char conf[32];
			snap.conf_len =
			    (size_t)snprintf(conf, sizeof conf, "conf@%" PRIu64, snap.index);
			snap.conf = conf;
			if (store_wal_compact(w, &snap))
				_exit(3);
		} else {
			/* A snapshot from the leader, past our log. */
			struct store_wal_snapshot snap = {.index = last + 1 + wt_rand(&rng) % 50,
			                                  .term = hs.term};
			if (store_wal_compact(w, &snap))
				_exit(3);
			if (snap.index > hs.commit)
				hs.commit = snap.index;
			if (store_wal_save_hard_state(w, &hs))
				_exit(3);
		}
		if (wt_rand(&rng) % 8 == 0)
			child_check(w, &rng);
	}
}

/* ---- the parent --------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct outcome {
	struct msg last_d; /* highest seq */
	bool have_d;
	struct msg *notices;
	size_t n_notices, cap;
	uint64_t reports;
};

static void take(struct outcome *out, const struct msg *m)
{
	if (m->kind == 'D') {
		out->reports++;
		if (!out->have_d || m->seq >= out->last_d.seq) {
			out->last_d = *m;
			out->have_d = true;
		}
	} else if (m->kind == 'T') {
		if (out->n_notices == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->notices = realloc(out->notices, out->cap * sizeof *out->notices);
		}
		out->notices[out->n_notices++] = *m;
	} else {
		die("bad message kind %" PRIu64, m->kind);
	}
}

/* Reads messages until deadline (or EOF); returns false at EOF. */
static bool pump(int fd, struct outcome *out, uint64_t deadline, uint8_t *buf, size_t *have)
{
	for (;;) {
		uint64_t now = now_ms();
		int timeout = deadline == UINT64_MAX ? -1
		              : now >= deadline      ? 0
		                                     : (int)(deadline - now);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return true;
		ssize_t n = read(fd, buf + *have, 4096 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		*have += (size_t)n;
		size_t used = 0;
		while (*have - used >= sizeof(struct msg)) {
			struct msg m;
			memcpy(&m, buf + used, sizeof m);
			take(out, &m);
			used += sizeof m;
		}
		memmove(buf, buf + used, *have - used);
		*have -= used;
	}
}

static void verify(const char *dir, const struct known *before, const struct outcome *out,
                   struct known *after, const char *ctx)
{
	/* The guarantee: the last durable report (or, if none came, what the
	 * previous check found), minus any truncation queued after it. */
	uint64_t seq = 0, guard = before->index, gterm = before->term;
	struct known want = *before;
	if (out->have_d) {
		const struct msg *d = &out->last_d;
		seq = d->seq;
		guard = d->index;
		gterm = d->term;
		want = (struct known){d->index,   d->term,      d->hs_term,
		                      d->hs_vote, d->hs_commit, d->snap_index};
	}
	for (size_t i = 0; i < out->n_notices; i++) {
		const struct msg *t = &out->notices[i];
		if (t->seq > seq && t->index - 1 < guard) {
			guard = t->index - 1;
			gterm = t->term;
		}
	}

	struct store_wal_options o = wt_options();
	struct store_wal *w;
	struct store_wal_state st;
	int rc = store_wal_open(dir, &o, &w, &st);
	if (rc)
		die("%s: recovery failed: %s\n%s", ctx, store_wal_strerror(rc), wt_log_text());
	const struct store_wal_hard_state *hs = &st.hard_state;
	if (hs->term < want.hs_term)
		die("%s: term went down: %" PRIu64 " < durable %" PRIu64 " (T2)", ctx, hs->term,
		    want.hs_term);
	if (hs->term == want.hs_term && want.hs_vote && hs->vote != want.hs_vote)
		die("%s: vote changed within term %" PRIu64 ": %" PRIu64 " != %" PRIu64 " (T3)",
		    ctx, hs->term, hs->vote, want.hs_vote);
	if (hs->commit < want.hs_commit)
		die("%s: commit went down: %" PRIu64 " < %" PRIu64, ctx, hs->commit,
		    want.hs_commit);
	if (st.snapshot.index < want.snap_index)
		die("%s: snapshot went back: %" PRIu64 " < %" PRIu64, ctx, st.snapshot.index,
		    want.snap_index);
	if (guard > st.snapshot.index) {
		uint64_t term;
		if (st.last_index < guard)
			die("%s: lost durable entries: log ends at %" PRIu64 ", entry %" PRIu64
			    " was reported durable",
			    ctx, st.last_index, guard);
		if (store_wal_term(w, guard, &term) || term != gterm)
			die("%s: entry %" PRIu64 " has term %" PRIu64 ", durable term %" PRIu64,
			    ctx, guard, term, gterm);
	}
	uint64_t prev_term = st.snapshot.term;
	for (uint64_t i = st.first_index; i <= st.last_index; i++) {
		struct store_wal_entry e;
		size_t n;
		if (store_wal_entries(w, i, i + 1, 0, &e, 1, &n) || n != 1)
			die("%s: cannot read entry %" PRIu64, ctx, i);
		if (!wt_entry_ok(&e, MAX_PAYLOAD))
			die("%s: entry %" PRIu64 " term %" PRIu64 " is corrupt", ctx, i, e.term);
		if (e.term < prev_term)
			die("%s: entry %" PRIu64 " term %" PRIu64 " below %" PRIu64, ctx, i, e.term,
			    prev_term);
		prev_term = e.term;
	}
	*after = (struct known){st.last_index, st.last_term, hs->term,
	                        hs->vote,      hs->commit,   st.snapshot.index};
	if (store_wal_close(w))
		die("%s: close failed", ctx);
}

int main(int argc, char **argv)
{
	uint64_t seed =
	    argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	int runs = argc > 2 ? atoi(argv[2]) : 4;
	int crashes = argc > 3 ? atoi(argv[3]) : 25;
	printf("store_wal_crash_test: seed %" PRIu64
	       " (%d runs x %d crashes); replay with: %s %" PRIu64 " %d %d\n",
	       seed, runs, crashes, argv[0], seed, runs, crashes);
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	uint64_t rng = seed;
	uint64_t torn = 0, killed = 0, reports = 0, truncations = 0, max_index = 0, cut = 0;
	uint64_t t0 = now_ms();
	for (int run = 0; run < runs; run++) {
		char *dir = wt_mkdtemp();
		struct known k = {0};
		for (int c = 0; c < crashes; c++) {
			uint64_t cseed = wt_rand(&rng);
			bool tear = wt_rand(&rng) % 3 == 0;
			uint64_t tear_at = 1 + wt_rand(&rng) % 80;
			uint64_t delay = 5 + wt_rand(&rng) % 80;
			char ctx[160];
			snprintf(ctx, sizeof ctx, "seed %" PRIu64 " run %d crash %d (%s)", seed,
			         run, c, tear ? "torn write" : "kill -9");
			int fds[2];
			if (pipe(fds))
				die("pipe: %s", strerror(errno));
			pid_t pid = fork();
			if (pid < 0)
				die("fork: %s", strerror(errno));
			if (pid == 0) {
				close(fds[0]);
				report_fd = fds[1];
				if (tear) {
					char spec[64];
					snprintf(spec, sizeof spec, "torn:%" PRIu64 ":%" PRIu64,
					         tear_at, cseed);
					setenv("CAIRN_WAL_FAULT", spec, 1);
				}
				child_main(dir, cseed);
				_exit(0);
			}
			close(fds[1]);
			struct outcome out = {0};
			uint8_t buf[4096];
			size_t have = 0;
			uint64_t deadline = now_ms() + (tear ? 5000 : delay);
			if (pump(fds[0], &out, deadline, buf, &have))
				kill(pid, SIGKILL);
			pump(fds[0], &out, UINT64_MAX, buf, &have);
			close(fds[0]);
			int status;
			waitpid(pid, &status, 0);
			if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
				die("%s: child ended with status %d (2: open failed, 3: bad "
				    "read or refused call)",
				    ctx, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			torn += tear;
			killed += !tear;
			reports += out.reports;
			truncations += out.n_notices;
			wt_log_clear();
			verify(dir, &k, &out, &k, ctx);
			cut += wt_log_has("torn write at the tail");
			if (k.index > max_index)
				max_index = k.index;
			free(out.notices);
		}
		wt_rmtree(dir);
	}
	printf("store_wal_crash_test: ok: %" PRIu64 " kill -9, %" PRIu64 " torn writes, %" PRIu64
	       " recoveries cut a torn tail, %" PRIu64 " durable reports checked, %" PRIu64
	       " truncations, log reached index %" PRIu64 ", %.1f s\n",
	       killed, torn, cut, reports, truncations, max_index,
	       (double)(now_ms() - t0) / 1000.0);
	return 0;
}
