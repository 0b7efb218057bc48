/*
 * MVCC store benchmark: apply throughput against raw LMDB in the same run,
 * read rates, and memory and disk after loading the keys (issue 4).
 *
 *   1. Load: N keys (default 1,000,000) of the form "k/%07u" in a random
 *      order, 256-byte values, in batches of B puts (default 1000), into
 *      two environments side by side, batch for batch alternating so the
 *      machine's noise hits both alike:
 *        raw   mdb_put() of the key and value into one plain database, one
 *              write transaction per batch;
 *        mvcc  store_mvcc_put() of the same key and value (a full etcd Put:
 *              revision, index record, history record, response), one
 *              batch (one LMDB transaction) per batch, applied index set.
 *      Both commit with the same sync mode (default: data pages synced,
 *      meta page not - the store's production setting). Reported: puts/s
 *      of each and the ratio mvcc / raw (target >= 40%).
 *   2. Update: N/4 overwrites of random existing keys, same alternation
 *      (raw overwrites in place; the store appends history).
 *   3. Memory and disk: VmRSS, RssAnon (the heap), and the resident pages
 *      of each memory map (/proc/self/smaps); the store's data file size
 *      and allocated blocks, its db_size, and the raw file's size.
 *   4. Reads, one thread, alternating 50 ms slices against raw LMDB:
 *        point    raw: a read transaction (reset/renew) and mdb_get();
 *                 mvcc: a read context and a Range of one random key;
 *        100-key  raw: a cursor over 100 consecutive keys; mvcc: a Range
 *                 of [k/xxxxx00, k/xxxxx00 + 100), exactly 100 keys with
 *                 values, count and header, as etcd answers.
 *
 *   mvcc_bench [--dir DIR] [--keys N] [--batch B] [--seconds S]
 *              [--sync data|full|none]
 *
 * DIR defaults to the current directory: run it on the disk you care about
 * (not tmpfs). Two subdirectories are created and removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "store/mvcc.h"

#define VALUE 256

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "mvcc_bench: %s: %d (%s)\n", what, rc,
	        rc < 0 ? store_mvcc_strerror(rc) : mdb_strerror(rc));
	exit(1);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "mvcc_bench: could not remove %s\n", dir);
}

/* ---- raw LMDB ---- */

struct raw {
	MDB_env *env;
	MDB_dbi dbi;
};

static void raw_open(struct raw *r, const char *path, unsigned sync_flags, size_t map)
{
	int rc;
	if ((rc = mdb_env_create(&r->env)) || (rc = mdb_env_set_mapsize(r->env, map)) ||
	    (rc = mdb_env_open(r->env, path, MDB_NOSUBDIR | MDB_NOTLS | sync_flags, 0600)))
		die("raw open", rc);
	MDB_txn *txn;
	if ((rc = mdb_txn_begin(r->env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &r->dbi)) || (rc = mdb_txn_commit(txn)))
		die("raw dbi", rc);
}

static void raw_batch(struct raw *r, const char (*keys)[16], const uint32_t *order, size_t from,
                      size_t n, const uint8_t *value)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(r->env, NULL, 0, &txn);
	if (rc)
		die("raw begin", rc);
	for (size_t i = from; i < from + n; i++) {
		MDB_val k = {strlen(keys[order[i]]), (void *)keys[order[i]]};
		MDB_val v = {VALUE, (void *)value};
		if ((rc = mdb_put(txn, r->dbi, &k, &v, 0)))
			die("raw put", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		die("raw commit", rc);
}

/* ---- the store ---- */

static uint64_t applied;

static void mvcc_batch(struct store_mvcc *s, struct store_mvcc_arena *a, const char (*keys)[16],
                       const uint32_t *order, size_t from, size_t n, const uint8_t *value)
{
	struct store_mvcc_batch *b;
	int rc = store_mvcc_batch_begin(s, 0, NULL, &b);
	if (rc)
		die("batch begin", rc);
	store_mvcc_arena_reset(a);
	for (size_t i = from; i < from + n; i++) {
		Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
		p.key.data = (uint8_t *)keys[order[i]];
		p.key.len = strlen(keys[order[i]]);
		p.value.data = (uint8_t *)value;
		p.value.len = VALUE;
		Etcdserverpb__PutResponse *resp;
		if ((rc = store_mvcc_batch_entry(b, ++applied, 1)) ||
		    (rc = store_mvcc_put(b, &p, a, &resp)))
			die("put", rc);
	}
	if ((rc = store_mvcc_batch_commit(b, NULL)))
		die("commit", rc);
}

/* ---- /proc ---- */

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

/* Resident KiB of the mappings of one file (/proc/self/smaps). */
static long map_rss_kb(const char *path)
{
	char real[4096];
	if (!realpath(path, real))
		return -1;
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[4352];
	long kb = 0;
	bool in = false;
	while (f && fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		char *dash = strchr(line, '-');
		if (dash && sp && dash < sp) {
			/* A mapping's header: "start-end perms offset dev inode path". */
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			size_t n = strlen(line), m = strlen(real);
			in = n >= m && !strcmp(line + n - m, real);
		} else if (in && !strncmp(line, "Rss:", 4)) {
			kb += atol(line + 4);
		}
	}
	if (f)
		fclose(f);
	return kb;
}

/* One read: who 0 is raw LMDB (mdb_get, or a cursor over width keys), who 1
 * the store (a read context and a Range of width keys). */
static void read_op(int who, int width, struct store_mvcc *s, struct store_mvcc_arena *arena,
                    struct raw *raw, MDB_txn *rtxn, MDB_cursor *rcur, const char (*keys)[16],
                    size_t n_keys)
{
	size_t k = xorshift() % n_keys;
	if (width > 1) {
		k = k / 100 * 100;
		if (k + 100 > n_keys)
			k = n_keys - 100;
	}
	int rc;
	if (who == 0) {
		if ((rc = mdb_txn_renew(rtxn)) || (rc = mdb_cursor_renew(rtxn, rcur)))
			die("renew", rc);
		MDB_val key = {strlen(keys[k]), (void *)keys[k]}, v;
		if (width == 1) {
			rc = mdb_get(rtxn, raw->dbi, &key, &v);
		} else {
			rc = mdb_cursor_get(rcur, &key, &v, MDB_SET_RANGE);
			for (int i = 1; i < width && !rc; i++)
				rc = mdb_cursor_get(rcur, &key, &v, MDB_NEXT);
		}
		if (rc)
			die("raw read", rc);
		mdb_txn_reset(rtxn);
		return;
	}
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	char end[16];
	if (width > 1) {
		snprintf(end, sizeof(end), "k/%07zu", k + 100);
		r.range_end.data = (uint8_t *)end;
		r.range_end.len = strlen(end);
	}
	r.key.data = (uint8_t *)keys[k];
	r.key.len = strlen(keys[k]);
	struct store_mvcc_read *rd;
	Etcdserverpb__RangeResponse *resp;
	if ((rc = store_mvcc_read_begin(s, &rd)) || (rc = store_mvcc_range(rd, &r, arena, &resp)))
		die("range", rc);
	if (resp->n_kvs != (size_t)width)
		die("range size", -EIO);
	store_mvcc_read_end(rd);
	store_mvcc_arena_reset(arena);
}

int main(int argc, char **argv)
{
	const char *base = ".";
	size_t n_keys = 1000000, batch = 1000;
	double seconds = 3;
	int sync_mode = STORE_MVCC_SYNC_DATA;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			n_keys = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--sync") && i + 1 < argc) {
			const char *m = argv[++i];
			sync_mode = !strcmp(m, "full")   ? STORE_MVCC_SYNC_FULL
			            : !strcmp(m, "none") ? STORE_MVCC_SYNC_NONE
			                                 : STORE_MVCC_SYNC_DATA;
		} else {
			fprintf(
			    stderr,
			    "usage: mvcc_bench [--dir DIR] [--keys N] [--batch B] [--seconds S] "
			    "[--sync data|full|none]\n");
			return 2;
		}
	}
	if (n_keys < 1000 || batch == 0 || n_keys > 9999999)
		return 2;
	unsigned raw_sync = sync_mode == STORE_MVCC_SYNC_DATA   ? MDB_NOMETASYNC
	                    : sync_mode == STORE_MVCC_SYNC_NONE ? MDB_NOSYNC
	                                                        : 0;
	struct statfs fs;
	if (statfs(base, &fs) == 0)
		printf("dir %s (filesystem type 0x%lx), %zu keys, %d-byte values, batches of %zu, "
		       "sync %s\n",
		       base, (unsigned long)fs.f_type, n_keys, VALUE, batch,
		       sync_mode == STORE_MVCC_SYNC_DATA   ? "data"
		       : sync_mode == STORE_MVCC_SYNC_NONE ? "none"
		                                           : "full");

	char raw_dir[4096], mvcc_dir[4096], raw_path[4200];
	snprintf(raw_dir, sizeof(raw_dir), "%s/mvcc-bench-raw.%d", base, (int)getpid());
	snprintf(mvcc_dir, sizeof(mvcc_dir), "%s/mvcc-bench-store.%d", base, (int)getpid());
	mkdir(raw_dir, 0700);
	snprintf(raw_path, sizeof(raw_path), "%s/raw.mdb", raw_dir);
	size_t map = 16ull << 30;
	struct raw raw;
	raw_open(&raw, raw_path, raw_sync, map);
	struct store_mvcc_options o = {.sync_mode = sync_mode, .quota_bytes = -1, .map_size = map};
	struct store_mvcc *s;
	int rc = store_mvcc_open(mvcc_dir, &o, &s);
	if (rc)
		die("open", rc);

	/* Keys and a random insertion order, the same for both. */
	char(*keys)[16] = malloc(n_keys * sizeof(*keys));
	uint32_t *order = malloc(n_keys * sizeof(*order));
	for (size_t i = 0; i < n_keys; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k/%07zu", i);
		order[i] = (uint32_t)i;
	}
	for (size_t i = n_keys - 1; i > 0; i--) {
		size_t j = xorshift() % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	uint8_t value[VALUE];
	for (int i = 0; i < VALUE; i++)
		value[i] = (uint8_t)('a' + i % 26);
	struct store_mvcc_arena arena;
	store_mvcc_arena_init(&arena, 0);

	/* 1. Load. */
	double t_raw = 0, t_mvcc = 0;
	for (size_t from = 0; from < n_keys; from += batch) {
		size_t n = from + batch <= n_keys ? batch : n_keys - from;
		double t0 = now_s();
		raw_batch(&raw, keys, order, from, n, value);
		double t1 = now_s();
		mvcc_batch(s, &arena, keys, order, from, n, value);
		double t2 = now_s();
		t_raw += t1 - t0;
		t_mvcc += t2 - t1;
	}
	printf("load    raw  %9.0f puts/s   mvcc %9.0f puts/s   ratio %5.1f%%\n",
	       (double)n_keys / t_raw, (double)n_keys / t_mvcc, 100.0 * t_raw / t_mvcc);

	/* 2. Updates of random existing keys. */
	size_t n_upd = n_keys / 4;
	uint32_t *upd = malloc(n_upd * sizeof(*upd));
	for (size_t i = 0; i < n_upd; i++)
		upd[i] = (uint32_t)(xorshift() % n_keys);
	t_raw = t_mvcc = 0;
	for (size_t from = 0; from < n_upd; from += batch) {
		size_t n = from + batch <= n_upd ? batch : n_upd - from;
		double t0 = now_s();
		raw_batch(&raw, keys, upd, from, n, value);
		double t1 = now_s();
		mvcc_batch(s, &arena, keys, upd, from, n, value);
		double t2 = now_s();
		t_raw += t1 - t0;
		t_mvcc += t2 - t1;
	}
	printf("update  raw  %9.0f puts/s   mvcc %9.0f puts/s   ratio %5.1f%%\n",
	       (double)n_upd / t_raw, (double)n_upd / t_mvcc, 100.0 * t_raw / t_mvcc);
	struct stat rst;
	stat(raw_path, &rst);

	/* 3. Memory and disk. */
	store_mvcc_arena_reset(&arena);
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	char data_path[4200];
	snprintf(data_path, sizeof(data_path), "%s/data-%" PRIu64 ".mdb", mvcc_dir, st.generation);
	struct stat dst;
	stat(data_path, &dst);
	printf("memory  VmRSS %ld KiB: RssAnon %ld KiB (heap; the benchmark's own key arrays are "
	       "%zu KiB of it), store map %ld KiB, raw LMDB map %ld KiB\n",
	       status_kb("VmRSS"), status_kb("RssAnon"),
	       (n_keys * (sizeof(*keys) + sizeof(*order)) + n_upd * sizeof(*upd)) / 1024,
	       map_rss_kb(data_path), map_rss_kb(raw_path));
	printf(
	    "disk    store file %.1f MiB (%.1f MiB allocated), db_size %.1f MiB, revision %" PRId64
	    "; raw LMDB file %.1f MiB\n",
	    (double)dst.st_size / 1048576.0, (double)dst.st_blocks * 512 / 1048576.0,
	    (double)st.db_size / 1048576.0, st.revision, (double)rst.st_size / 1048576.0);

	/* 4. Reads, alternating 50 ms slices of raw and store. */
	MDB_txn *rtxn;
	MDB_cursor *rcur;
	if ((rc = mdb_txn_begin(raw.env, NULL, MDB_RDONLY, &rtxn)) ||
	    (rc = mdb_cursor_open(rtxn, raw.dbi, &rcur)))
		die("raw read", rc);
	mdb_txn_reset(rtxn);
	for (int width = 1; width <= 100; width += 99) {
		size_t ops[2] = {0, 0};
		double spent[2] = {0, 0};
		double t_end = now_s() + seconds * 2;
		while (now_s() < t_end) {
			for (int who = 0; who < 2; who++) {
				double t0 = now_s(), t = t0;
				while (t - t0 < 0.05) {
					for (int i = 0; i < 64; i++) {
						read_op(who, width, s, &arena, &raw, rtxn, rcur,
						        keys, n_keys);
						ops[who]++;
					}
					t = now_s();
				}
				spent[who] += t - t0;
			}
		}
		printf("read    %s raw %9.0f/s   mvcc %9.0f/s   ratio %5.1f%%\n",
		       width == 1 ? "point        " : "100-key range", (double)ops[0] / spent[0],
		       (double)ops[1] / spent[1],
		       100.0 * ((double)ops[1] / spent[1]) / ((double)ops[0] / spent[0]));
	}
	mdb_cursor_close(rcur);
	mdb_txn_abort(rtxn);
	printf("memory  after reads: VmRSS %ld KiB (RssAnon %ld KiB, store map %ld KiB)\n",
	       status_kb("VmRSS"), status_kb("RssAnon"), map_rss_kb(data_path));
	mdb_env_close(raw.env);
	rm_rf(raw_dir);

	store_mvcc_close(s);
	rm_rf(mvcc_dir);
	store_mvcc_arena_destroy(&arena);
	free(keys);
	free(order);
	free(upd);
	return 0;
}
