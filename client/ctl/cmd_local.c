/*
 * client/ctl/cmd_local.c - the offline commands on cairn's files:
 * snapshot status, snapshot restore, defrag --data-dir.
 *
 * A cairn snapshot (Maintenance/Snapshot, `snapshot save`) is an LMDB copy
 * of the MVCC store followed by etcd's trailer: the SHA-256 of everything
 * before it (so its length is 32 mod 512). Restore builds a new member's
 * data directory from it, as etcd's does (etcd v3.4.23
 * clientv3/snapshot/v3_snapshot.go Restore):
 *
 *   <data-dir>/member/mvcc   the snapshot's store (store_mvcc_restore), with
 *                            the membership replaced by --initial-cluster
 *                            and this member's identity in the store's meta
 *   <data-dir>/member/wal    an empty WAL: cairnd starts its log at the
 *                            store's applied index (server/node.c recover())
 *   <data-dir>/member/snap
 *
 * built in <data-dir>/member.tmp and renamed into place, as cairnd
 * bootstraps. Member and cluster IDs are etcd's (and cairnd's,
 * server/config.c): SHA-1 of the sorted peer URLs and the cluster token,
 * and SHA-1 of the sorted member IDs.
 *
 * The identity lives in the store's meta under the keys cairnd reads
 * (server/node.c META_*): "cairn/cluster_id" and "cairn/member_id" (8
 * bytes, big-endian), "cairn/name".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "client/ctl/ctl.h"

#ifdef CAIRN_HAVE_STORE
#include "store/mvcc.h"
#include "store/wal.h"

#define META_CLUSTER_ID "cairn/cluster_id"
#define META_MEMBER_ID  "cairn/member_id"
#define META_NAME       "cairn/name"

/* ---- SHA-1 (FIPS 180-4), for etcd's member and cluster IDs ------------------------------ */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* The first 8 bytes of SHA-1(data), big-endian. */
static uint64_t sha1_u64(const uint8_t *data, size_t len)
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	size_t i = 0;
	for (; i + 64 <= len; i += 64)
		sha1_block(h, data + i);
	uint8_t tail[128] = {0};
	size_t rest = len - i;
	memcpy(tail, data + i, rest);
	tail[rest] = 0x80;
	size_t tl = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int k = 0; k < 8; k++)
		tail[tl - 1 - k] = (uint8_t)(bits >> (8 * k));
	sha1_block(h, tail);
	if (tl == 128)
		sha1_block(h, tail + 64);
	return (uint64_t)h[0] << 32 | h[1];
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* etcd's computeMemberId without a time: sorted peer URLs, then token. */
static uint64_t member_id(char **urls, size_t n, const char *token)
{
	qsort(urls, n, sizeof *urls, cmp_str);
	struct buf b = {0};
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, urls[i]);
	buf_puts(&b, token);
	uint64_t id = sha1_u64((const uint8_t *)b.p, b.len);
	buf_free(&b);
	return id;
}

static uint64_t cluster_id(uint64_t *ids, size_t n)
{
	qsort(ids, n, sizeof *ids, cmp_u64);
	uint8_t *b = calloc(n + 1, 8);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++)
			b[8 * i + (size_t)k] = (uint8_t)(ids[i] >> (56 - 8 * k));
	uint64_t id = sha1_u64(b, n * 8);
	free(b);
	return id;
}

/* --initial-cluster "n1=http://a,n1=http://b,n2=http://c": members by name. */
struct imember {
	char *name;
	struct strlist urls;
	uint64_t id;
};

static size_t parse_initial_cluster(const char *s, struct imember **out)
{
	struct strlist items = {0};
	strlist_set_csv(&items, s, false);
	struct imember *ms = NULL;
	size_t n = 0;
	for (size_t i = 0; i < items.n; i++) {
		char *eq = strchr(items.v[i], '=');
		if (!eq || eq == items.v[i] || !eq[1])
			ctl_fail(EXIT_ERROR, "%s", "--initial-cluster: expected name=URL items");
		*eq = 0;
		size_t k = 0;
		while (k < n && strcmp(ms[k].name, items.v[i]) != 0)
			k++;
		if (k == n) {
			ms = realloc(ms, (n + 1) * sizeof *ms);
			ms[n] = (struct imember){.name = strdup(items.v[i])};
			n++;
		}
		strlist_set_csv(&ms[k].urls, eq + 1, true);
	}
	strlist_free(&items);
	*out = ms;
	return n;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* ---- the snapshot file ----------------------------------------------------------------- */

/*
 * Copies the database part of a snapshot file to dst, checking etcd's
 * SHA-256 trailer (unless skip_hash, for a copy taken from a data
 * directory). Fails with etcd's wording.
 */
static void extract_db(const char *src, const char *dst, bool skip_hash, uint64_t *db_size)
{
	int in = open(src, O_RDONLY);
	if (in < 0)
		ctl_fail(EXIT_ERROR, "open %s: %s", src, strerror(errno));
	struct stat st;
	fstat(in, &st);
	uint64_t size = (uint64_t)st.st_size;
	bool has_hash = size % 512 == 32;
	if (!has_hash && !skip_hash)
		ctl_fail(EXIT_ERROR, "%s", "snapshot missing hash but --skip-hash-check=false");
	uint64_t db = has_hash ? size - 32 : size;
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0)
		ctl_fail(EXIT_ERROR, "open %s: %s", dst, strerror(errno));
	struct store_mvcc_sha256 h;
	store_mvcc_sha256_init(&h);
	uint8_t buf[65536];
	uint64_t left = db;
	while (left > 0) {
		ssize_t n = read(in, buf, left < sizeof buf ? left : sizeof buf);
		if (n <= 0)
			ctl_fail(EXIT_ERROR, "read %s: %s", src, n < 0 ? strerror(errno) : "EOF");
		store_mvcc_sha256_update(&h, buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n)
			ctl_fail(EXIT_ERROR, "write %s: %s", dst, strerror(errno));
		left -= (uint64_t)n;
	}
	if (has_hash && !skip_hash) {
		uint8_t want[32], got[32];
		if (read(in, want, 32) != 32)
			ctl_fail(EXIT_ERROR, "read %s: short trailer", src);
		store_mvcc_sha256_final(&h, got);
		if (memcmp(want, got, 32) != 0) {
			struct buf e = {0};
			buf_puts(&e, "expected sha256 [");
			for (int i = 0; i < 32; i++)
				buf_printf(&e, "%s%u", i ? " " : "", want[i]);
			buf_puts(&e, "], got [");
			for (int i = 0; i < 32; i++)
				buf_printf(&e, "%s%u", i ? " " : "", got[i]);
			buf_puts(&e, "]");
			ctl_fail(EXIT_ERROR, "%s", buf_str(&e));
		}
	}
	fsync(out);
	close(out);
	close(in);
	if (db_size)
		*db_size = db;
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", path, de->d_name);
			rm_rf(p);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void log_restore(const char *msg, const char *caller, const char *path, const char *dir)
{
	struct buf f = {0};
	buf_puts(&f, ",\"path\":\"");
	zap_string(&f, path);
	buf_printf(&f, "\",\"wal-dir\":\"");
	zap_string(&f, dir);
	buf_puts(&f, "/member/wal\",\"data-dir\":\"");
	zap_string(&f, dir);
	buf_puts(&f, "\",\"snap-dir\":\"");
	zap_string(&f, dir);
	buf_puts(&f, "/member/snap\"");
	ctl_log_info(caller, msg, buf_str(&f));
	buf_free(&f);
}

static void store_fail(const char *what, int rc)
{
	ctl_fail(EXIT_ERROR, "%s: %s", what, store_mvcc_strerror(rc));
}

int cmd_snapshot_restore(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "snapshot restore requires exactly one argument");
	if (g_restore_wal_dir && *g_restore_wal_dir)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "--wal-dir is not supported: cairn keeps the WAL in "
		         "<data-dir>/member/wal");
	const char *snap = argv[0];
	struct buf dir = {0};
	if (g_restore_data_dir && *g_restore_data_dir)
		buf_puts(&dir, g_restore_data_dir);
	else
		buf_printf(&dir, "%s.etcd", g_restore_name);
	struct imember *ms;
	size_t nm = parse_initial_cluster(g_restore_cluster, &ms);
	struct imember *me = NULL;
	uint64_t *ids = calloc(nm + 1, sizeof *ids);
	for (size_t i = 0; i < nm; i++) {
		ms[i].id = member_id(ms[i].urls.v, ms[i].urls.n, g_restore_token);
		ids[i] = ms[i].id;
		if (!strcmp(ms[i].name, g_restore_name))
			me = &ms[i];
	}
	if (!me)
		ctl_fail(EXIT_ERROR,
		         "couldn't find local name \"%s\" in the initial cluster "
		         "configuration",
		         g_restore_name);
	/* --initial-advertise-peer-urls must be this member's entry */
	struct strlist adv = {0};
	strlist_set_csv(&adv, g_restore_peer_urls, false);
	qsort(adv.v, adv.n, sizeof *adv.v, cmp_str);
	bool same = adv.n == me->urls.n;
	for (size_t i = 0; same && i < adv.n; i++)
		same = !strcmp(adv.v[i], me->urls.v[i]);
	if (!same)
		ctl_fail(EXIT_ERROR, "--initial-cluster must include %s=%s", g_restore_name,
		         g_restore_peer_urls);
	uint64_t cid = cluster_id(ids, nm);

	struct buf member = {0}, tmp = {0}, mvcc = {0}, wal = {0}, snapdir = {0}, db = {0};
	buf_printf(&member, "%s/member", buf_str(&dir));
	struct stat st;
	if (stat(buf_str(&member), &st) == 0)
		ctl_fail(EXIT_ERROR, "data-dir \"%s\" exists", buf_str(&dir));
	log_restore("restoring snapshot", "snapshot/v3_snapshot.go:296", snap, buf_str(&dir));
	mkdir(buf_str(&dir), 0700);
	buf_printf(&tmp, "%s/member.tmp", buf_str(&dir));
	rm_rf(buf_str(&tmp));
	if (mkdir(buf_str(&tmp), 0700))
		ctl_fail(EXIT_ERROR, "mkdir %s: %s", buf_str(&tmp), strerror(errno));
	buf_printf(&db, "%s/snapshot.db", buf_str(&tmp));
	extract_db(snap, buf_str(&db), g_restore_skip_hash, NULL);
	buf_printf(&mvcc, "%s/mvcc", buf_str(&tmp));
	struct store_mvcc_snapshot_info info;
	int rc = store_mvcc_snapshot_info(buf_str(&db), &info);
	if (!rc)
		rc = store_mvcc_restore(buf_str(&mvcc), buf_str(&db));
	if (rc)
		store_fail("restoring the snapshot", rc);
	unlink(buf_str(&db));

	/* Identity and membership: the new cluster's. */
	struct store_mvcc_options mo = {0};
	struct store_mvcc *s;
	if ((rc = store_mvcc_open(buf_str(&mvcc), &mo, &s)))
		store_fail("opening the restored store", rc);
	struct store_mvcc_arena arena;
	store_mvcc_arena_init(&arena, 0);
	struct store_mvcc_read *rd;
	Etcdserverpb__Member **old = NULL;
	size_t nold = 0;
	if ((rc = store_mvcc_read_begin(s, &rd)) ||
	    (rc = store_mvcc_members(rd, &arena, &old, &nold)))
		store_fail("reading the snapshot's members", rc);
	uint64_t *old_ids = calloc(nold + 1, sizeof *old_ids);
	for (size_t i = 0; i < nold; i++)
		old_ids[i] = old[i]->id;
	store_mvcc_read_end(rd);
	struct store_mvcc_batch *b;
	if ((rc = store_mvcc_batch_begin(s, 0, NULL, &b)))
		store_fail("writing the restored store", rc);
	for (size_t i = 0; !rc && i < nold; i++) {
		bool kept = false;
		for (size_t k = 0; k < nm; k++)
			kept |= ms[k].id == old_ids[i];
		if (!kept)
			rc = store_mvcc_member_remove(b, old_ids[i]);
	}
	for (size_t k = 0; !rc && k < nm; k++) {
		bool exists = false;
		for (size_t i = 0; i < nold; i++)
			exists |= old_ids[i] == ms[k].id;
		if (exists) {
			rc = store_mvcc_member_update(b, ms[k].id, ms[k].urls.v, ms[k].urls.n);
			if (!rc)
				rc = store_mvcc_member_set_attributes(b, ms[k].id, ms[k].name, NULL,
				                                      0);
		} else {
			Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
			m.id = ms[k].id;
			m.name = ms[k].name;
			m.peerurls = ms[k].urls.v;
			m.n_peerurls = ms[k].urls.n;
			rc = store_mvcc_member_add(b, &m);
		}
		if (!rc) {
			struct buf f = {0};
			buf_printf(&f,
			           ",\"cluster-id\":\"%" PRIx64 "\",\"local-member-id\":\"0\","
			           "\"added-peer-id\":\"%" PRIx64 "\",\"added-peer-peer-urls\":[",
			           cid, ms[k].id);
			for (size_t u = 0; u < ms[k].urls.n; u++) {
				buf_puts(&f, u ? ",\"" : "\"");
				zap_string(&f, ms[k].urls.v[u]);
				buf_puts(&f, "\"");
			}
			buf_puts(&f, "]");
			ctl_log_info("membership/cluster.go:392", "added member", buf_str(&f));
			buf_free(&f);
		}
	}
	uint8_t v[8];
	put_be64(v, cid);
	if (!rc)
		rc = store_mvcc_meta_put(b, META_CLUSTER_ID, strlen(META_CLUSTER_ID), v, 8);
	put_be64(v, me->id);
	if (!rc)
		rc = store_mvcc_meta_put(b, META_MEMBER_ID, strlen(META_MEMBER_ID), v, 8);
	if (!rc)
		rc = store_mvcc_meta_put(b, META_NAME, strlen(META_NAME), g_restore_name,
		                         strlen(g_restore_name));
	if (rc) {
		store_mvcc_batch_abort(b);
		store_fail("writing the new membership", rc);
	}
	if ((rc = store_mvcc_batch_commit(b, NULL)) || (rc = store_mvcc_sync(s, NULL)))
		store_fail("committing the restored store", rc);
	store_mvcc_close(s);
	store_mvcc_arena_destroy(&arena);

	/* A WAL with no entries whose hard state is at the snapshot (term
	 * and commit = the store's applied term and index): cairnd compacts it
	 * to the store's applied index and the log goes on from there. */
	buf_printf(&wal, "%s/wal", buf_str(&tmp));
	struct store_wal_options wo = {0};
	struct store_wal *w;
	struct store_wal_hard_state hs = {.term = info.applied_term, .commit = info.applied_index};
	if ((rc = store_wal_open(buf_str(&wal), &wo, &w, NULL)) ||
	    (rc = store_wal_save_hard_state(w, &hs)) || (rc = store_wal_wait(w)) ||
	    (rc = store_wal_close(w)))
		ctl_fail(EXIT_ERROR, "creating the WAL: %s", store_wal_strerror(rc));
	buf_printf(&snapdir, "%s/snap", buf_str(&tmp));
	mkdir(buf_str(&snapdir), 0700);
	if (rename(buf_str(&tmp), buf_str(&member)))
		ctl_fail(EXIT_ERROR, "rename %s %s: %s", buf_str(&tmp), buf_str(&member),
		         strerror(errno));
	int dfd = open(buf_str(&dir), O_RDONLY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	log_restore("restored snapshot", "snapshot/v3_snapshot.go:309", snap, buf_str(&dir));
	for (size_t i = 0; i < nm; i++) {
		free(ms[i].name);
		strlist_free(&ms[i].urls);
	}
	free(ms);
	free(ids);
	free(old_ids);
	strlist_free(&adv);
	buf_free(&dir);
	buf_free(&member);
	buf_free(&tmp);
	buf_free(&mvcc);
	buf_free(&wal);
	buf_free(&snapdir);
	buf_free(&db);
	return 0;
}

int cmd_snapshot_status(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "snapshot status requires exactly one argument");
	struct stat st;
	if (stat(argv[0], &st))
		ctl_fail(EXIT_ERROR, "stat %s: %s", argv[0], strerror(errno));
	char dir[] = "/tmp/cairnctl-status-XXXXXX";
	if (!mkdtemp(dir))
		ctl_fail(EXIT_ERROR, "mkdtemp: %s", strerror(errno));
	struct buf db = {0}, mvcc = {0};
	buf_printf(&db, "%s/snapshot.db", dir);
	buf_printf(&mvcc, "%s/mvcc", dir);
	/* etcd reads the file as it is; the trailer, if any, is not checked */
	uint64_t size;
	extract_db(argv[0], buf_str(&db), true, &size);
	int rc = store_mvcc_restore(buf_str(&mvcc), buf_str(&db));
	struct store_mvcc *s = NULL;
	struct store_mvcc_options mo = {0};
	if (!rc)
		rc = store_mvcc_open(buf_str(&mvcc), &mo, &s);
	if (rc) {
		rm_rf(dir);
		store_fail("reading the snapshot", rc);
	}
	struct store_mvcc_read *rd;
	struct db_status ds = {.total_size = (int64_t)size};
	struct store_mvcc_arena arena;
	store_mvcc_arena_init(&arena, 0);
	if (!(rc = store_mvcc_read_begin(s, &rd))) {
		ds.revision = store_mvcc_read_revision(rd);
		store_mvcc_hash(rd, &ds.hash);
		Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
		uint8_t zero = 0;
		r.key = (ProtobufCBinaryData){1, &zero};
		r.range_end = (ProtobufCBinaryData){1, &zero};
		r.count_only = 1;
		Etcdserverpb__RangeResponse *resp;
		if (store_mvcc_range(rd, &r, &arena, &resp) == 0)
			ds.total_key = resp->count;
		store_mvcc_read_end(rd);
	}
	store_mvcc_arena_destroy(&arena);
	store_mvcc_close(s);
	rm_rf(dir);
	buf_free(&db);
	buf_free(&mvcc);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_db_status(&out, &po, &ds));
	return 0;
}

int ctl_defrag_data_dir(const char *dir)
{
	struct buf mvcc = {0};
	buf_printf(&mvcc, "%s/member/mvcc", dir);
	struct store_mvcc_options mo = {0};
	struct store_mvcc *s;
	int rc = store_mvcc_open(buf_str(&mvcc), &mo, &s);
	if (rc)
		ctl_fail(EXIT_ERROR, "%s: %s", buf_str(&mvcc), store_mvcc_strerror(rc));
	rc = store_mvcc_defrag(s);
	store_mvcc_close(s);
	if (rc)
		ctl_fail(EXIT_ERROR, "%s", store_mvcc_strerror(rc));
	printf("finished defragmenting directory: %s\n", dir);
	buf_free(&mvcc);
	return 0;
}

#else /* without cairn_store */

int cmd_snapshot_status(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl, (void)argc, (void)argv;
	ctl_fail(EXIT_BAD_FEATURE, "%s", "snapshot status: built without cairn_store");
}

int cmd_snapshot_restore(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl, (void)argc, (void)argv;
	ctl_fail(EXIT_BAD_FEATURE, "%s", "snapshot restore: built without cairn_store");
}

int ctl_defrag_data_dir(const char *dir)
{
	(void)dir;
	ctl_fail(EXIT_BAD_FEATURE, "%s", "defrag --data-dir: built without cairn_store");
}
#endif
