/*
 * node.c - a cairn member: the data directory (bootstrap and recovery),
 * the Raft core's creation from what the WAL and the store recovered, the
 * loop's timers, and the node.h queries.
 *
 * Data directory (as etcd's, with cairn's stores):
 *   <data-dir>/member/wal    store/wal.h
 *   <data-dir>/member/mvcc   store/mvcc.h (meta: cluster and member IDs)
 *   <data-dir>/member/snap   snapshot files (received, or being sent)
 * A fresh member is bootstrapped in <data-dir>/member.tmp and renamed into
 * place when complete, so a crash during bootstrap leaves nothing half-made.
 *
 * Bootstrap of a new cluster (etcd's): every initial member writes the same
 * log prefix, one configuration-change entry per initial member at indexes
 * 1..n in term 1, committed, and records the members in its store. A member
 * that joins later replays those entries (or receives a snapshot) and so
 * learns the initial configuration like everything else.
 *
 * Recovery: the store's applied index A and the WAL must agree: the WAL is
 * replayed from A + 1. If the WAL recorded a received snapshot beyond A
 * (crash before its install), the snapshot file is installed first; if A is
 * beyond the WAL's last entry (a snapshot installed, crash before the WAL
 * caught up), the WAL is compacted to A.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "server/node_internal.h"
#include "server/node_run.h"

#define META_CLUSTER_ID "cairn/cluster_id"
#define META_MEMBER_ID  "cairn/member_id"
#define META_PEERS      "cairn/peers"
#define META_NAME       "cairn/name"

void node__wal_options(struct node *n, struct store_wal_options *o);
void node__retry_tick(struct node *n);

static char *path_join(const char *a, const char *b)
{
	size_t len = strlen(a) + strlen(b) + 2;
	char *p = malloc(len);
	if (p)
		snprintf(p, len, "%s/%s", a, b);
	return p;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (!d)
			return -errno;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *sub = path_join(path, de->d_name);
			if (sub) {
				rm_rf(sub);
				free(sub);
			}
		}
		closedir(d);
		return rmdir(path) ? -errno : 0;
	}
	return unlink(path) ? -errno : 0;
}

static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void mvcc_log(void *data, enum store_mvcc_log_level level, const char *msg)
{
	(void)data;
	int l = level == STORE_MVCC_LOG_ERROR  ? CAIRN_LOG_ERROR
	        : level == STORE_MVCC_LOG_WARN ? CAIRN_LOG_WARN
	                                       : CAIRN_LOG_INFO;
	CAIRN_LOG_(l, "mvcc", LF_STR("detail", msg));
}

static void wal_log(void *data, enum store_wal_log_level level, const char *msg)
{
	(void)data;
	int l = level == STORE_WAL_LOG_ERROR  ? CAIRN_LOG_ERROR
	        : level == STORE_WAL_LOG_WARN ? CAIRN_LOG_WARN
	                                      : CAIRN_LOG_INFO;
	CAIRN_LOG_(l, "wal", LF_STR("detail", msg));
}

static void mvcc_options(const struct cairn_config *cfg, struct store_mvcc_options *o)
{
	memset(o, 0, sizeof *o);
	o->quota_bytes = cfg->quota_backend_bytes;
	/* etcd's minimum lease TTL: ceil(1.5 x election timeout) seconds. */
	o->min_lease_ttl = (int64_t)ceil(1.5 * cfg->election_ms / 1000.0);
	o->max_txn_ops = cfg->max_txn_ops;
	o->max_request_bytes = cfg->max_request_bytes;
	o->log_cb = mvcc_log;
	/* Measurement only (not a supported mode): LMDB commits without
	 * fdatasync, as etcd's backend between its periodic commits. A power
	 * loss may corrupt the store in this mode. */
	if (getenv("CAIRN_UNSAFE_BACKEND_NOSYNC"))
		o->sync_mode = STORE_MVCC_SYNC_NONE;
}

/* ---- Bootstrap ------------------------------------------------------------ */

static bool urls_overlap(char *const *a, size_t na, char *const *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t k = 0; k < nb; k++)
			if (!strcmp(a[i], b[k]))
				return true;
	return false;
}

static int bootstrap(uv_loop_t *loop, const struct cairn_config *cfg, const char *tmp)
{
	int rc;
	struct initial_cluster ic;
	memset(&ic, 0, sizeof ic);
	char err[512];
	uint64_t my_id = 0, cluster_id = 0;
	Cairnpeer__HelloResponse *hello = NULL;
	if (cfg->initial_cluster_state_new) {
		if (initial_cluster_parse(cfg->initial_cluster, cfg->initial_cluster_token, &ic,
		                          err, sizeof err)) {
			LOGE("invalid --initial-cluster", LF_STR("error", err));
			return -EINVAL;
		}
		for (size_t i = 0; i < ic.n; i++)
			if (!strcmp(ic.v[i].name, cfg->name))
				my_id = ic.v[i].id;
		cluster_id = ic.cluster_id;
	} else {
		rc = node__hello(cfg, loop, &hello);
		if (rc) {
			LOGE("cannot reach any member of the existing cluster listed in "
			     "--initial-cluster",
			     LF_STR("initial-cluster", cfg->initial_cluster));
			return rc;
		}
		cluster_id = hello->cluster_id;
		for (size_t i = 0; i < hello->n_members; i++) {
			Etcdserverpb__Member *m = hello->members[i];
			if (urls_overlap(m->peerurls, m->n_peerurls,
			                 cfg->initial_advertise_peer_urls.v,
			                 cfg->initial_advertise_peer_urls.n))
				my_id = m->id;
		}
		if (!my_id) {
			LOGE("this member is not in the existing cluster: add it first "
			     "(etcdctl member add) with its peer URLs",
			     LF_STR("initial-advertise-peer-urls",
			            cfg->initial_advertise_peer_urls.n
			                ? cfg->initial_advertise_peer_urls.v[0]
			                : ""));
			cairnpeer__hello_response__free_unpacked(hello, NULL);
			return -ENOENT;
		}
	}
	if (!my_id) {
		initial_cluster_free(&ic);
		return -EINVAL;
	}
	rm_rf(tmp);
	char *mvcc_dir = path_join(tmp, "mvcc"), *wal_dir = path_join(tmp, "wal"),
	     *snap_dir = path_join(tmp, "snap");
	rc = -ENOMEM;
	if (!mvcc_dir || !wal_dir || !snap_dir)
		goto out;
	if ((rc = mkdir_p(snap_dir)))
		goto out;

	struct store_mvcc_options mo;
	mvcc_options(cfg, &mo);
	struct store_mvcc *s = NULL;
	if ((rc = store_mvcc_open(mvcc_dir, &mo, &s)))
		goto out;
	struct store_mvcc_batch *b;
	if ((rc = store_mvcc_batch_begin(s, 0, NULL, &b))) {
		store_mvcc_close(s);
		goto out;
	}
	uint8_t v[8];
	put_be64(v, cluster_id);
	rc = store_mvcc_meta_put(b, META_CLUSTER_ID, strlen(META_CLUSTER_ID), v, 8);
	put_be64(v, my_id);
	if (!rc)
		rc = store_mvcc_meta_put(b, META_MEMBER_ID, strlen(META_MEMBER_ID), v, 8);
	if (!rc)
		rc = store_mvcc_meta_put(b, META_NAME, strlen(META_NAME), cfg->name,
		                         strlen(cfg->name));
	for (size_t i = 0; !rc && i < ic.n; i++) {
		Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
		m.id = ic.v[i].id;
		m.name = ic.v[i].name;
		m.peerurls = ic.v[i].peer_urls.v;
		m.n_peerurls = ic.v[i].peer_urls.n;
		rc = store_mvcc_member_add(b, &m);
	}
	if (!rc && hello) {
		/* The peers a joining member talks to before it learns the
		 * configuration from the log. */
		Cairnpeer__HelloResponse keep = CAIRNPEER__HELLO_RESPONSE__INIT;
		keep.members = hello->members;
		keep.n_members = hello->n_members;
		size_t len = cairnpeer__hello_response__get_packed_size(&keep);
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf)
			rc = -ENOMEM;
		else {
			cairnpeer__hello_response__pack(&keep, buf);
			rc = store_mvcc_meta_put(b, META_PEERS, strlen(META_PEERS), buf, len);
			free(buf);
		}
	}
	if (rc) {
		store_mvcc_batch_abort(b);
		store_mvcc_close(s);
		goto out;
	}
	rc = store_mvcc_batch_commit(b, NULL);
	if (!rc)
		rc = store_mvcc_sync(s, NULL);
	store_mvcc_close(s);
	if (rc)
		goto out;

	struct store_wal_options wo;
	memset(&wo, 0, sizeof wo);
	wo.log_cb = wal_log;
	struct store_wal *w;
	if ((rc = store_wal_open(wal_dir, &wo, &w, NULL)))
		goto out;
	if (ic.n) {
		/* etcd's bootstrap: one conf-change entry per initial member,
		 * term 1, committed, identical on every initial member. */
		struct store_wal_entry *ents = calloc(ic.n, sizeof *ents);
		uint8_t **bufs = calloc(ic.n, sizeof *bufs);
		rc = -ENOMEM;
		if (ents && bufs) {
			rc = 0;
			for (size_t i = 0; i < ic.n && !rc; i++) {
				Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
				m.id = ic.v[i].id;
				m.name = ic.v[i].name;
				m.peerurls = ic.v[i].peer_urls.v;
				m.n_peerurls = ic.v[i].peer_urls.n;
				Cairnpb__ConfChange cc = CAIRNPB__CONF_CHANGE__INIT;
				cc.type = RAFT_CONF_ADD_VOTER;
				cc.node_id = m.id;
				cc.member = &m;
				size_t len = cairnpb__conf_change__get_packed_size(&cc);
				bufs[i] = malloc(len);
				if (!bufs[i]) {
					rc = -ENOMEM;
					break;
				}
				cairnpb__conf_change__pack(&cc, bufs[i]);
				ents[i].index = i + 1;
				ents[i].term = 1;
				ents[i].type = RAFT_ENTRY_CONF_CHANGE;
				ents[i].data = bufs[i];
				ents[i].len = len;
			}
			if (!rc)
				rc = store_wal_append(w, ents, ic.n);
			struct store_wal_hard_state hs = {.term = 1, .vote = 0, .commit = ic.n};
			if (!rc)
				rc = store_wal_save_hard_state(w, &hs);
			if (!rc)
				rc = store_wal_wait(w);
		}
		for (size_t i = 0; bufs && i < ic.n; i++)
			free(bufs[i]);
		free(bufs);
		free(ents);
	}
	int crc = store_wal_close(w);
	if (!rc)
		rc = crc;
	if (!rc)
		LOGI("bootstrapped member",
		     LF_HEX("local-member-id", my_id) LF_HEX("cluster-id", cluster_id)
		         LF_BOOL("new-cluster", ic.n > 0));
out:
	free(mvcc_dir);
	free(wal_dir);
	free(snap_dir);
	initial_cluster_free(&ic);
	if (hello)
		cairnpeer__hello_response__free_unpacked(hello, NULL);
	return rc;
}

/* ---- Recovery ---------------------------------------------------------------- */

static int read_identity(struct node *n)
{
	struct store_mvcc_read *rd;
	int rc = store_mvcc_read_begin(n->mvcc, &rd);
	if (rc)
		return rc;
	const void *v;
	size_t len;
	rc = store_mvcc_meta_get(rd, META_CLUSTER_ID, strlen(META_CLUSTER_ID), &v, &len);
	if (!rc && len == 8)
		n->cluster_id = get_be64(v);
	rc = store_mvcc_meta_get(rd, META_MEMBER_ID, strlen(META_MEMBER_ID), &v, &len);
	if (!rc && len == 8)
		n->id = get_be64(v);
	/* A data directory is one member's: started under another name it is
	 * almost always the wrong --data-dir. */
	rc = store_mvcc_meta_get(rd, META_NAME, strlen(META_NAME), &v, &len);
	bool other = !rc && (len != strlen(n->name) || memcmp(v, n->name, len) != 0);
	if (other) {
		char stored[256];
		snprintf(stored, sizeof stored, "%.*s", (int)(len < 255 ? len : 255),
		         (const char *)v);
		LOGE("the data directory belongs to another member: refusing it (check --data-dir "
		     "and --name)",
		     LF_STR("data-dir", n->cfg->data_dir) LF_STR("stored-name", stored)
		         LF_HEX("stored-member-id", n->id)
		             LF_HEX("stored-cluster-id", n->cluster_id) LF_STR("name", n->name));
	}
	store_mvcc_read_end(rd);
	if (other)
		return -EEXIST;
	return n->id && n->cluster_id ? 0 : -ENOENT;
}

/* The configuration as of the store's applied index: its member table. */
static int store_conf(struct node *n, uint64_t **voters, size_t *nv, uint64_t **learners,
                      size_t *nl)
{
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	struct store_mvcc_read *rd;
	int rc = store_mvcc_read_begin(n->mvcc, &rd);
	if (rc)
		return rc;
	Etcdserverpb__Member **ms = NULL;
	size_t cnt = 0;
	rc = store_mvcc_members(rd, &a, &ms, &cnt);
	*voters = calloc(cnt + 1, sizeof **voters);
	*learners = calloc(cnt + 1, sizeof **learners);
	*nv = *nl = 0;
	if (!rc && (!*voters || !*learners))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < cnt; i++) {
		if (ms[i]->islearner)
			(*learners)[(*nl)++] = ms[i]->id;
		else
			(*voters)[(*nv)++] = ms[i]->id;
		if (ms[i]->id == n->id)
			n->is_learner = ms[i]->islearner;
		node__peer_ensure(n, ms[i]->id, ms[i]->peerurls, ms[i]->n_peerurls);
	}
	/* A joining member's peers, from Hello, until it learns the members. */
	const void *v;
	size_t len;
	if (!rc && store_mvcc_meta_get(rd, META_PEERS, strlen(META_PEERS), &v, &len) == 0) {
		Cairnpeer__HelloResponse *h = cairnpeer__hello_response__unpack(NULL, len, v);
		for (size_t i = 0; h && i < h->n_members; i++)
			if (!node__peer_get(n, h->members[i]->id))
				node__peer_ensure(n, h->members[i]->id, h->members[i]->peerurls,
				                  h->members[i]->n_peerurls);
		if (h)
			cairnpeer__hello_response__free_unpacked(h, NULL);
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_destroy(&a);
	return rc;
}

void node__members_changed(struct node *n)
{
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	struct store_mvcc_read *rd;
	if (store_mvcc_read_begin(n->mvcc, &rd))
		return;
	Etcdserverpb__Member **ms = NULL;
	size_t cnt = 0;
	if (store_mvcc_members(rd, &a, &ms, &cnt) == 0) {
		for (size_t i = 0; i < cnt; i++) {
			if (ms[i]->id == n->id)
				n->is_learner = ms[i]->islearner;
			node__peer_ensure(n, ms[i]->id, ms[i]->peerurls, ms[i]->n_peerurls);
		}
		/* Peers no longer members go (unless still only known from
		 * Hello while the configuration is being learned). */
		for (size_t i = 0; i < n->n_peers;) {
			bool keep = !cnt;
			for (size_t k = 0; k < cnt && !keep; k++)
				keep = ms[k]->id == n->peers[i]->id;
			if (!keep && store_mvcc_member_removed(rd, n->peers[i]->id))
				node__peer_remove(n, n->peers[i]->id);
			else
				i++;
		}
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_destroy(&a);
}

static int find_snapshot_file(struct node *n, uint64_t index, char *out, size_t outlen)
{
	DIR *d = opendir(n->snap_dir);
	if (!d)
		return -ENOENT;
	struct dirent *de;
	int rc = -ENOENT;
	char want[64];
	snprintf(want, sizeof want, "-%016" PRIx64 ".snap.db", index);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > strlen(want) && !strcmp(de->d_name + l - strlen(want), want)) {
			snprintf(out, outlen, "%s/%s", n->snap_dir, de->d_name);
			rc = 0;
		}
	}
	closedir(d);
	return rc;
}

static int recover(struct node *n, struct raft_boot *boot, struct raft_entry **ents_out,
                   uint64_t **conf_bufs)
{
	struct store_wal_state ws;
	store_wal_state(n->wal, &ws);
	struct store_mvcc_state ms;
	store_mvcc_state(n->mvcc, &ms);
	int rc;
	if (ms.applied_index < ws.snapshot.index) {
		char path[4096];
		if (find_snapshot_file(n, ws.snapshot.index, path, sizeof path)) {
			LOGE("the store is behind the WAL's snapshot and the snapshot file is "
			     "missing",
			     LF_U64("applied-index", ms.applied_index)
			         LF_U64("snapshot-index", ws.snapshot.index));
			return -ENOENT;
		}
		LOGI("installing the received snapshot left by a crash", LF_STR("path", path));
		if ((rc = store_mvcc_install(n->mvcc, path))) {
			LOGE("cannot install snapshot", LF_STR("error", store_mvcc_strerror(rc)));
			return rc;
		}
		store_mvcc_state(n->mvcc, &ms);
	}
	uint64_t *voters, *learners;
	size_t nv, nl;
	if ((rc = store_conf(n, &voters, &nv, &learners, &nl)))
		return rc;
	conf_bufs[0] = voters;
	conf_bufs[1] = learners;
	if (ms.applied_index > ws.last_index) {
		struct raft_snapshot_meta meta = {.index = ms.applied_index,
		                                  .term = ms.applied_term,
		                                  .conf = {voters, nv, learners, nl}};
		struct bytes blob = {0};
		node__conf_blob(&meta, &blob);
		struct store_wal_snapshot snap = {.index = ms.applied_index,
		                                  .term = ms.applied_term,
		                                  .conf = blob.p,
		                                  .conf_len = blob.len};
		rc = store_wal_compact(n->wal, &snap);
		bytes_free(&blob);
		if (!rc)
			rc = store_wal_wait(n->wal);
		if (rc) {
			LOGE("cannot compact the WAL to the store",
			     LF_STR("error", store_wal_strerror(rc)));
			return rc;
		}
		store_wal_state(n->wal, &ws);
	}
	size_t cnt = (size_t)(ws.last_index - ws.snapshot.index);
	struct raft_entry *ents = calloc(cnt + 1, sizeof *ents);
	if (!ents)
		return -ENOMEM;
	struct store_wal_entry buf[512];
	uint64_t lo = ws.snapshot.index + 1;
	size_t k = 0;
	while (lo <= ws.last_index) {
		size_t got = 0;
		rc = store_wal_entries(n->wal, lo, ws.last_index + 1, 0, buf, 512, &got);
		if (rc || !got) {
			free(ents);
			LOGE("cannot read the WAL", LF_STR("error", store_wal_strerror(rc)));
			return rc ? rc : -EIO;
		}
		for (size_t i = 0; i < got; i++) {
			ents[k].term = buf[i].term;
			ents[k].type = buf[i].type;
			ents[k].size = (uint32_t)buf[i].len;
			k++;
		}
		lo += got;
	}
	*ents_out = ents;
	memset(boot, 0, sizeof *boot);
	boot->hard_state.term = ws.hard_state.term;
	boot->hard_state.vote = ws.hard_state.vote;
	boot->hard_state.commit = ws.hard_state.commit;
	if (boot->hard_state.commit < ms.applied_index)
		boot->hard_state.commit = ms.applied_index;
	if (boot->hard_state.commit > ws.last_index)
		boot->hard_state.commit = ws.last_index;
	if (ms.applied_index) {
		boot->snapshot.index = ms.applied_index;
		boot->snapshot.term = ms.applied_term;
		boot->snapshot.conf = (struct raft_conf){voters, nv, learners, nl};
	}
	boot->log_index = ws.snapshot.index;
	boot->log_term = ws.snapshot.term;
	boot->entries = ents;
	boot->n_entries = cnt;
	boot->applied = ms.applied_index;
	boot->conf = (struct raft_conf){voters, nv, learners, nl};
	n->applied = ms.applied_index;
	n->queued_apply = ms.applied_index;
	n->commit = boot->hard_state.commit;
	n->term = ws.hard_state.term;
	n->saved_hs = boot->hard_state;
	n->last_snapshot_index = ms.applied_index;
	LOGI("recovered",
	     LF_HEX("local-member-id", n->id) LF_HEX("cluster-id", n->cluster_id)
	         LF_U64("applied-index", ms.applied_index) LF_U64("wal-first-index", ws.first_index)
	             LF_U64("wal-last-index", ws.last_index) LF_U64("term", ws.hard_state.term)
	                 LF_U64("voters", nv) LF_U64("learners", nl));
	return 0;
}

int node_create(uv_loop_t *loop, const struct cairn_config *cfg, struct node **out)
{
	int rc;
	struct node *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	n->cfg = cfg;
	n->name = strdup(cfg->name);
	n->started_ms = uv_now(loop);
	if ((rc = mkdir_p(cfg->data_dir))) {
		LOGE("cannot create the data directory",
		     LF_STR("data-dir", cfg->data_dir) LF_STR("error", strerror(-rc)));
		goto fail;
	}
	n->member_dir = path_join(cfg->data_dir, "member");
	char *tmp = path_join(cfg->data_dir, "member.tmp");
	if (!n->member_dir || !tmp) {
		free(tmp);
		rc = -ENOMEM;
		goto fail;
	}
	struct stat st;
	if (stat(n->member_dir, &st)) {
		LOGI("starting a new member",
		     LF_STR("name", cfg->name) LF_STR("data-dir", cfg->data_dir)
		         LF_BOOL("new-cluster", cfg->initial_cluster_state_new));
		rc = bootstrap(loop, cfg, tmp);
		if (!rc && rename(tmp, n->member_dir))
			rc = -errno;
		if (rc) {
			free(tmp);
			goto fail;
		}
		fsync_dir(cfg->data_dir);
	} else {
		LOGI("restarting member from its data directory (--initial-cluster* ignored)",
		     LF_STR("data-dir", cfg->data_dir));
	}
	free(tmp);
	n->wal_dir = path_join(n->member_dir, "wal");
	n->mvcc_dir = path_join(n->member_dir, "mvcc");
	n->snap_dir = path_join(n->member_dir, "snap");
	if (!n->wal_dir || !n->mvcc_dir || !n->snap_dir) {
		rc = -ENOMEM;
		goto fail;
	}
	mkdir_p(n->snap_dir);
	struct store_mvcc_options mo;
	mvcc_options(cfg, &mo);
	if ((rc = store_mvcc_open(n->mvcc_dir, &mo, &n->mvcc))) {
		LOGE("cannot open the store",
		     LF_STR("path", n->mvcc_dir) LF_STR("error", store_mvcc_strerror(rc)));
		goto fail;
	}
	if ((rc = read_identity(n)) == -EEXIST)
		goto fail;
	if (rc) {
		LOGE("the data directory holds no cairn member identity (not a cairn data "
		     "directory, or an incomplete bootstrap): refusing it",
		     LF_STR("data-dir", cfg->data_dir));
		rc = -EINVAL;
		goto fail;
	}
	struct store_wal_options wo;
	memset(&wo, 0, sizeof wo);
	wo.log_cb = wal_log;
	node__wal_options(n, &wo);
	node__ready_init(n);
	if ((rc = store_wal_open(n->wal_dir, &wo, &n->wal, NULL))) {
		LOGE("cannot open the WAL",
		     LF_STR("path", n->wal_dir) LF_STR("error", store_wal_strerror(rc)));
		goto fail;
	}
	node__waits_init(n);
	struct raft_boot boot;
	struct raft_entry *ents = NULL;
	uint64_t *conf_bufs[2] = {NULL, NULL};
	if ((rc = recover(n, &boot, &ents, conf_bufs)))
		goto fail;
	struct raft_config rcfg;
	raft_config_init(&rcfg, n->id);
	rcfg.election_ticks = cfg->election_ms / cfg->heartbeat_ms;
	if (rcfg.election_ticks < 2)
		rcfg.election_ticks = 2;
	rcfg.heartbeat_ticks = 1;
	rcfg.pre_vote = cfg->pre_vote;
	rcfg.check_quorum = true;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rcfg.seed = n->id ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	rc = raft_create(&n->raft, &rcfg, &boot);
	free(ents);
	free(conf_bufs[0]);
	free(conf_bufs[1]);
	if (rc) {
		LOGE("cannot create the Raft core", LF_STR("error", raft_strerror(rc)));
		goto fail;
	}
	struct store_wal_durable d;
	store_wal_durable(n->wal, &d);
	n->durable_seq = d.seq;
	LOGD("WAL sequence at start",
	     LF_U64("durable", d.seq) LF_U64("queued", store_wal_queued(n->wal)));
	if ((rc = applier_start(n)))
		goto fail;
	if ((rc = node__peer_server_start(n)))
		goto fail;
	*out = n;
	return 0;
fail:
	/* A failed start exits the process: the OS reclaims the rest. */
	if (n->wal)
		store_wal_close(n->wal);
	n->wal = NULL;
	return rc ? rc : -EINVAL;
}

/* ---- Timers ------------------------------------------------------------------ */

static void tick_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	if (!n->raft || n->stopping == 2)
		return;
	raft_tick(n->raft);
	node__retry_tick(n);
	node__process_ready(n);
}

void node_start(struct node *n)
{
	uv_timer_init(n->loop, &n->tick_timer);
	n->tick_timer.data = n;
	uv_timer_start(&n->tick_timer, tick_cb, n->cfg->heartbeat_ms, n->cfg->heartbeat_ms);
	node__lease_start(n);
	/* A single-member cluster elects itself at once, as etcd does. */
	struct raft_conf c;
	raft_conf_get(n->raft, &c);
	if (c.n_voters == 1 && c.voters[0] == n->id)
		raft_campaign(n->raft);
	node__schedule_ready(n);
	LOGI("serving peer traffic", LF_HEX("local-member-id", n->id) LF_STR("name", n->name));
}

/* ---- Stop -------------------------------------------------------------------- */

struct stop_ctx {
	void (*done)(struct node *n, void *arg);
	void *arg;
	uv_timer_t timer;
	uint64_t deadline;
	bool called;
};

static struct stop_ctx stop_ctx;

static void stop_finish(struct node *n)
{
	if (stop_ctx.called)
		return;
	stop_ctx.called = true;
	uv_timer_stop(&stop_ctx.timer);
	if (stop_ctx.done)
		stop_ctx.done(n, stop_ctx.arg);
}

static void stop_poll_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	if (n->role != RAFT_LEADER || uv_now(n->loop) >= stop_ctx.deadline) {
		if (n->role != RAFT_LEADER)
			LOGI("leadership transferred before stopping",
			     LF_HEX("new-leader", n->leader));
		else
			LOGW("leadership transfer timed out; stopping anyway", LF_END);
		stop_finish(n);
	}
}

void node_begin_stop(struct node *n, void (*done)(struct node *n, void *arg), void *arg)
{
	if (n->stopping)
		return;
	n->stopping = 1;
	stop_ctx.done = done;
	stop_ctx.arg = arg;
	uv_timer_init(n->loop, &stop_ctx.timer);
	stop_ctx.timer.data = n;
	/* etcd's TransferLeadershipOnShutdown: hand over to the voter with the
	 * highest match index, then stop. */
	uint64_t best = 0, best_match = 0;
	if (n->role == RAFT_LEADER && !n->removed) {
		struct raft_conf c;
		raft_conf_get(n->raft, &c);
		for (size_t i = 0; i < c.n_voters; i++) {
			struct raft_progress pr;
			if (c.voters[i] == n->id || raft_progress_get(n->raft, c.voters[i], &pr))
				continue;
			if (pr.recent_active && pr.match >= best_match) {
				best = c.voters[i];
				best_match = pr.match;
			}
		}
	}
	if (best && raft_transfer_leadership(n->raft, best) == 0) {
		LOGI("transferring leadership before stopping", LF_HEX("transferee", best));
		node__process_ready(n);
		uint64_t wait = 2ull * n->cfg->election_ms;
		if (wait > 5000)
			wait = 5000;
		stop_ctx.deadline = uv_now(n->loop) + wait;
		uv_timer_start(&stop_ctx.timer, stop_poll_cb, 10, 10);
		return;
	}
	stop_finish(n);
}

void node_set_stop_request(struct node *n, void (*fn)(struct node *n, int code))
{
	n->on_stop_request = fn;
}

void node__request_stop(struct node *n, int code)
{
	if (n->on_stop_request) {
		void (*fn)(struct node *, int) = n->on_stop_request;
		n->on_stop_request = NULL;
		fn(n, code);
	}
}

static void noop_close(uv_handle_t *h)
{
	(void)h;
}

void node_close(struct node *n)
{
	n->stopping = 2;
	uv_timer_stop(&n->tick_timer);
	if (uv_is_active((uv_handle_t *)&stop_ctx.timer) || stop_ctx.timer.loop)
		uv_close((uv_handle_t *)&stop_ctx.timer, noop_close);
	node__lease_stop(n);
	node__waits_close(n);
	node__peers_close(n);
	if (n->peer_srv) {
		rpc_server_shutdown(n->peer_srv, 0, RPC_UNAVAILABLE, "etcdserver: server stopped",
		                    NULL, NULL);
		n->peer_srv = NULL;
	}
	applier_stop(n);
	if (n->wal) {
		int rc = store_wal_close(n->wal);
		if (rc)
			LOGE("WAL close reported an error",
			     LF_STR("error", store_wal_strerror(rc)));
		n->wal = NULL;
	}
	if (n->raft) {
		raft_destroy(n->raft);
		n->raft = NULL;
	}
	if (n->mvcc) {
		store_mvcc_close(n->mvcc);
		n->mvcc = NULL;
	}
	uv_close((uv_handle_t *)&n->tick_timer, noop_close);
	uv_close((uv_handle_t *)&n->ready_idle, noop_close);
	uv_close((uv_handle_t *)&n->wal_async, noop_close);
	uv_close((uv_handle_t *)&n->ap.async, noop_close);
	uv_close((uv_handle_t *)&n->deadline_timer, noop_close);
	node__ready_close(n);
	LOGI("stopped", LF_HEX("local-member-id", n->id));
	/* The struct itself stays allocated: handles close on the next loop
	 * runs, and the process exits after. */
}

/* ---- node.h queries ----------------------------------------------------------- */

void node_info(struct node *n, struct node_info *out)
{
	memset(out, 0, sizeof *out);
	out->cluster_id = n->cluster_id;
	out->member_id = n->id;
	out->name = n->name;
	out->term = n->term;
	out->leader = n->leader;
	out->is_leader = n->role == RAFT_LEADER;
	out->is_learner = n->is_learner;
	out->commit_index = n->commit;
	out->applied_index = n->applied;
}

bool node_has_leader(struct node *n)
{
	return n->leader != 0;
}

struct store_mvcc *node_store(struct node *n)
{
	return n->mvcc;
}

uv_loop_t *node_loop(struct node *n)
{
	return n->loop;
}

void node_fill_header(struct node *n, Etcdserverpb__ResponseHeader *h, int64_t revision)
{
	h->cluster_id = n->cluster_id;
	h->member_id = n->id;
	h->raft_term = n->term;
	if (revision <= 0)
		revision = node_current_revision(n);
	h->revision = revision;
}

void node_set_feed(struct node *n, node_feed_fn fn, void *arg)
{
	n->feed_fn = fn;
	n->feed_arg = arg;
	pthread_mutex_lock(&n->ap.mu);
	n->ap.feed = fn != NULL;
	pthread_mutex_unlock(&n->ap.mu);
}

void node_set_leader_watch(struct node *n, node_leader_fn fn, void *arg)
{
	n->leader_fn = fn;
	n->leader_arg = arg;
}

size_t node_status_errors(struct node *n, const char **out, size_t max)
{
	size_t k = 0;
	if (!n->leader && k < max)
		out[k++] = "etcdserver: no leader";
	return k;
}

bool node_healthy(struct node *n, const char **reason)
{
	if (!n->leader) {
		*reason = "RAFT NO LEADER";
		return false;
	}
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	if (st.nospace || st.corrupt) {
		*reason = "ALARM";
		return false;
	}
	*reason = "";
	return true;
}
