/*
 * tests/store_mvcc/crash_test.c - kill -9 in the middle of batches, reopen,
 * check.
 *
 * A child process applies a deterministic stream of Raft entries (entry i
 * is a put, a delete, a txn or a lease operation derived from i) in batches
 * of random size, reporting each committed applied index to the parent
 * through a pipe; now and then it also compacts, runs physical compaction
 * steps and defragments. The parent kills it with SIGKILL at a random
 * moment - often inside a batch, sometimes inside a defragmentation - then
 * opens the store and checks:
 *
 *   - it opens (no damage, leftovers of an interrupted defrag cleaned up);
 *   - its applied index A is at least the last one reported committed
 *     (a killed process loses nothing that was committed);
 *   - its whole key space equals the model's after entries 1..A exactly
 *     (no half batch, no half request), and so does its revision;
 *   - replaying entries from well before A is a no-op up to A and applies
 *     the rest: the state then equals the model after the last entry.
 *
 * The next round continues from there with a new child. Usage:
 * store_mvcc_crash_test [seed [rounds]].
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define N_KEYS 40

/* ---- the entry stream and its model ---- */

struct mstate {
	char val[N_KEYS][32]; /* "" = absent */
	int64_t lease_of[N_KEYS];
	bool lease_live[4];
	int64_t rev;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void key_name(int k, char *buf)
{
	sprintf(buf, "key/%02d", k);
}

enum {
	OP_PUT,
	OP_DEL,
	OP_TXN,
	OP_GRANT,
	OP_PUT_LEASE,
	OP_REVOKE
};

static int op_of(uint64_t i, int *k, int *k2, int *lease)
{
	uint64_t h = mix(i);
	*k = (int)(h % N_KEYS);
	*k2 = (int)((h >> 20) % N_KEYS);
	*lease = 1 + (int)((h >> 40) % 3);
	int r = (int)((h >> 50) % 100);
	return r < 55   ? OP_PUT
	       : r < 70 ? OP_DEL
	       : r < 85 ? OP_TXN
	       : r < 90 ? OP_GRANT
	       : r < 96 ? OP_PUT_LEASE
	                : OP_REVOKE;
}

static void model_apply(struct mstate *m, uint64_t i)
{
	int k, k2, l;
	int op = op_of(i, &k, &k2, &l);
	switch (op) {
	case OP_PUT:
		sprintf(m->val[k], "v%" PRIu64, i);
		m->lease_of[k] = 0;
		m->rev++;
		break;
	case OP_DEL:
		if (m->val[k][0]) {
			m->val[k][0] = 0;
			m->lease_of[k] = 0;
			m->rev++;
		}
		break;
	case OP_TXN:
		/* if key k exists: put k2 (unless k2 == k); else put k */
		if (m->val[k][0] && k2 != k) {
			sprintf(m->val[k2], "t%" PRIu64, i);
			m->lease_of[k2] = 0;
		} else {
			sprintf(m->val[k], "t%" PRIu64, i);
			m->lease_of[k] = 0;
		}
		m->rev++;
		break;
	case OP_GRANT:
		m->lease_live[l] = true;
		break;
	case OP_PUT_LEASE:
		if (m->lease_live[l]) {
			sprintf(m->val[k], "l%" PRIu64, i);
			m->lease_of[k] = l;
			m->rev++;
		}
		break;
	case OP_REVOKE:
		if (m->lease_live[l]) {
			bool any = false;
			for (int j = 0; j < N_KEYS; j++)
				if (m->val[j][0] && m->lease_of[j] == l) {
					m->val[j][0] = 0;
					m->lease_of[j] = 0;
					any = true;
				}
			m->lease_live[l] = false;
			m->rev += any;
		}
		break;
	}
}

/* Applies entry i to the batch; errors that the model also expects (a
 * grant of a live lease, a put with a dead lease) are part of the stream. */
static int store_apply(struct store_mvcc_batch *b, uint64_t i)
{
	int k, k2, l;
	int op = op_of(i, &k, &k2, &l);
	char key[16], key2[16], val[32];
	key_name(k, key);
	key_name(k2, key2);
	th_reset();
	int rc;
	switch (op) {
	case OP_PUT: {
		sprintf(val, "v%" PRIu64, i);
		Etcdserverpb__PutResponse *r;
		return store_mvcc_put(b, th_put_req(key, val), &th_arena, &r);
	}
	case OP_DEL: {
		Etcdserverpb__DeleteRangeResponse *r;
		return store_mvcc_delete_range(b, th_del_req(key, NULL), &th_arena, &r);
	}
	case OP_TXN: {
		sprintf(val, "t%" PRIu64, i);
		Etcdserverpb__Compare *c[] = {
		    th_cmp_int(key, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION,
		               ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER, 0),
		    th_cmp_int(key2, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION,
		               k2 == k ? ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS
		                       : ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER,
		               -1),
		    NULL};
		Etcdserverpb__RequestOp *succ[] = {th_op_put(key2, val), NULL};
		Etcdserverpb__RequestOp *fail[] = {th_op_put(key, val), NULL};
		Etcdserverpb__TxnResponse *r;
		return store_mvcc_txn(b, th_txn(c, succ, fail), &th_arena, &r);
	}
	case OP_GRANT: {
		Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
		g.id = l;
		g.ttl = 100;
		Etcdserverpb__LeaseGrantResponse *r;
		rc = store_mvcc_lease_grant(b, &g, 0, &th_arena, &r);
		return rc == STORE_MVCC_ELEASE_EXISTS ? 0 : rc;
	}
	case OP_PUT_LEASE: {
		sprintf(val, "l%" PRIu64, i);
		Etcdserverpb__PutRequest *p = th_put_req(key, val);
		p->lease = l;
		Etcdserverpb__PutResponse *r;
		rc = store_mvcc_put(b, p, &th_arena, &r);
		return rc == STORE_MVCC_ELEASE_NOT_FOUND ? 0 : rc;
	}
	default: {
		Etcdserverpb__LeaseRevokeRequest v = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
		v.id = l;
		Etcdserverpb__LeaseRevokeResponse *r;
		rc = store_mvcc_lease_revoke(b, &v, &th_arena, &r);
		return rc == STORE_MVCC_ELEASE_NOT_FOUND ? 0 : rc;
	}
	}
}

/* ---- the child ---- */

static void child(const char *dir, int fd, uint64_t seed)
{
	struct store_mvcc_options o = {.sync_mode = STORE_MVCC_SYNC_DATA, .map_size = 1ull << 30};
	struct store_mvcc *s = th_open_opts(dir, &o);
	if (!s)
		_exit(2);
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	uint64_t i = st.applied_index;
	uint64_t r = seed;
	for (;;) {
		r = mix(r + 1);
		struct store_mvcc_batch *b;
		if (store_mvcc_batch_begin(s, 0, NULL, &b))
			_exit(3);
		int n = 1 + (int)(r % 64);
		for (int j = 0; j < n; j++) {
			i++;
			if (store_mvcc_batch_entry(b, i, 1) != 0 || store_apply(b, i) != 0)
				_exit(4);
		}
		if ((r >> 10) % 16 == 0) {
			store_mvcc_state(s, &st);
			Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
			/* The store's own revision, minus a little (the batch's
			 * requests are not in st yet). */
			c.revision = st.revision - 5;
			Etcdserverpb__CompactionResponse *cr;
			if (c.revision > st.compact_revision)
				store_mvcc_compact(b, &c, &th_arena, &cr);
		}
		if (store_mvcc_compact_step(b, 1 + (r >> 20) % 50) < 0)
			_exit(5);
		if (store_mvcc_batch_commit(b, NULL))
			_exit(6);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(7);
		if ((r >> 30) % 40 == 0 && store_mvcc_defrag(s))
			_exit(8);
	}
}

/* ---- the parent ---- */

static int failures;

#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond)) {                        \
			printf("FAIL: " __VA_ARGS__); \
			printf("\n");                 \
			failures++;                   \
			return;                       \
		}                                     \
	} while (0)

static void check_state(struct store_mvcc *s, uint64_t upto, const char *when)
{
	struct mstate m;
	memset(&m, 0, sizeof(m));
	m.rev = 1;
	for (uint64_t i = 1; i <= upto; i++)
		model_apply(&m, i);
	CHECK(th_rev(s) == m.rev, "%s: revision %" PRId64 ", model %" PRId64, when, th_rev(s),
	      m.rev);
	for (int k = 0; k < N_KEYS; k++) {
		char key[16], v[64];
		key_name(k, key);
		th_reset();
		Mvccpb__KeyValue kv;
		int rc = th_get(s, key, v, sizeof(v), &kv);
		if (m.val[k][0]) {
			CHECK(rc == 0, "%s: %s missing, model has %s", when, key, m.val[k]);
			CHECK(!strcmp(v, m.val[k]), "%s: %s = %s, model %s", when, key, v,
			      m.val[k]);
			CHECK(kv.lease == m.lease_of[k], "%s: %s lease", when, key);
		} else {
			CHECK(rc != 0, "%s: %s = %s, model has none", when, key, v);
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	int rounds = argc > 2 ? atoi(argv[2]) : 12;
	printf("store_mvcc_crash_test: seed %" PRIu64 ", %d rounds\n", seed, rounds);
	fflush(stdout);
	char *dir = th_tmpdir("crash");
	uint64_t r = seed;
	for (int round = 0; round < rounds && !failures; round++) {
		int p[2];
		if (pipe(p))
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			child(dir, p[1], seed + (uint64_t)round);
		}
		close(p[1]);
		/* Let it run for a random number of committed batches, then a
		 * random few microseconds more: usually mid-batch. */
		r = mix(r + 7);
		int batches = 5 + (int)(r % 60);
		uint64_t last = 0, got;
		for (int b = 0; b < batches; b++)
			if (read(p[0], &got, sizeof(got)) == sizeof(got))
				last = got;
		usleep((useconds_t)((r >> 16) % 3000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		/* Drain reports written before the kill. */
		while (read(p[0], &got, sizeof(got)) == sizeof(got))
			last = got;
		close(p[0]);
		if (!WIFSIGNALED(status)) {
			printf("FAIL: round %d: child exited with %d\n", round,
			       WEXITSTATUS(status));
			failures++;
			break;
		}
		struct store_mvcc *s = th_open(dir);
		if (!s) {
			printf("FAIL: round %d: reopen failed\n", round);
			failures++;
			break;
		}
		struct store_mvcc_state st;
		store_mvcc_state(s, &st);
		printf("round %d: killed after index %" PRIu64 " reported, store at %" PRIu64
		       " (revision %" PRId64 ", generation %" PRIu64 ")\n",
		       round, last, st.applied_index, st.revision, st.generation);
		if (st.applied_index < last) {
			printf("FAIL: committed index %" PRIu64 " lost\n", last);
			failures++;
		}
		check_state(s, st.applied_index, "after the kill");
		/* Replay from well before the applied index: a no-op up to it. */
		uint64_t from = st.applied_index > 100 ? st.applied_index - 100 : 1;
		uint64_t to = st.applied_index + 20;
		struct store_mvcc_batch *b;
		if (store_mvcc_batch_begin(s, 0, NULL, &b))
			return 1;
		for (uint64_t i = from; i <= to; i++) {
			int e = store_mvcc_batch_entry(b, i, 1);
			if (e != (i <= st.applied_index)) {
				printf("FAIL: batch_entry(%" PRIu64 ") = %d\n", i, e);
				failures++;
			}
			int rc = store_apply(b, i);
			if (i <= st.applied_index && rc != STORE_MVCC_EAPPLIED) {
				printf("FAIL: replayed entry %" PRIu64 " applied: %d\n", i, rc);
				failures++;
			}
		}
		if (store_mvcc_batch_commit(b, NULL))
			return 1;
		check_state(s, to, "after the replay");
		store_mvcc_close(s);
	}
	*strrchr(dir, '/') = 0;
	th_rmrf(dir);
	free(dir);
	printf(failures ? "FAILED\n" : "ok\n");
	return failures ? 1 : 0;
}
