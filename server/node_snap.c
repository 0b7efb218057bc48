/*
 * node_snap.c - snapshots: this member's own (every --snapshot-count
 * applied entries: LMDB synced, the core told, the log compacted behind a
 * tail kept for slow followers) and the ones sent to and received from
 * peers.
 *
 * Sending: the store writes a consistent copy to member/snap on a worker
 * thread (store_mvcc_snapshot_save); it goes out in 1 MiB chunks on a
 * connection of its own (never in front of Raft traffic, trap T8) with a
 * SHA-256 of the whole file in the last chunk; raft_snapshot_sent() reports
 * the outcome. The copy may be newer than the index the core names: the
 * receiver's store then reports the newer applied index, and replaying the
 * entries in between is a no-op (store/mvcc.h batch_entry).
 *
 * Receiving: chunks go to a temporary file; after the checksum and size
 * match it is synced and renamed to member/snap/<term>-<index>.snap.db on a
 * worker thread, then the SNAPSHOT message is stepped. The Ready that
 * installs it records the snapshot in the WAL and queues the install on the
 * apply thread behind every earlier range; a crash in between is repaired at
 * boot from the file (node.c recover).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"
#include "server/node_internal.h"

#define SNAP_CHUNK (1u << 20)

int node__conf_blob(const struct raft_snapshot_meta *meta, struct bytes *out)
{
	Cairnpeer__SnapshotMeta sm = CAIRNPEER__SNAPSHOT_META__INIT;
	sm.index = meta->index;
	sm.term = meta->term;
	sm.n_voters = meta->conf.n_voters;
	sm.voters = (uint64_t *)meta->conf.voters;
	sm.n_learners = meta->conf.n_learners;
	sm.learners = (uint64_t *)meta->conf.learners;
	size_t len = cairnpeer__snapshot_meta__get_packed_size(&sm);
	if (bytes_reserve(out, len))
		return -ENOMEM;
	cairnpeer__snapshot_meta__pack(&sm, out->p + out->len);
	out->len += len;
	return 0;
}

/* ---- Sending ------------------------------------------------------------------ */

struct snap_send {
	struct node *n;
	struct peer *p;
	uint64_t peer_id;
	Cairnpeer__RaftMessage msg;
	Cairnpeer__SnapshotMeta meta;
	uint64_t *ids;
	char path[4096];
	int fd;
	uint64_t size, offset;
	struct rpc_client *c;
	struct rpc_call *call;
	struct store_mvcc_sha256 sha;
	uint8_t *buf;
	uv_work_t work;
	uv_fs_t fs;
	int save_rc;
	bool reading, waiting_writable, canceled, finished;
};

static void send_free(struct snap_send *ss)
{
	if (ss->fd >= 0)
		close(ss->fd);
	unlink(ss->path);
	free(ss->ids);
	free(ss->buf);
	free(ss);
}

static void send_done(struct snap_send *ss, bool ok)
{
	if (ss->finished)
		return;
	ss->finished = true;
	struct node *n = ss->n;
	if (!ss->canceled) {
		if (ss->p)
			ss->p->snap = NULL;
		if (n->raft)
			raft_snapshot_sent(n->raft, ss->peer_id, ok);
		if (ok)
			n->m.snapshots_sent++;
		LOGI(ok ? "sent snapshot" : "failed to send snapshot",
		     LF_HEX("remote-peer-id", ss->peer_id) LF_U64("bytes", ss->size)
		         LF_U64("index", ss->meta.index));
		node__schedule_ready(n);
	}
	if (ss->call) {
		struct rpc_call *c = ss->call;
		ss->call = NULL;
		rpc_call_cancel(c);
	}
	if (ss->c) {
		struct rpc_client *c = ss->c;
		ss->c = NULL;
		rpc_client_close(c);
	}
	if (!ss->reading)
		send_free(ss);
}

static void send_next(struct snap_send *ss);

static void read_cb(uv_fs_t *req)
{
	struct snap_send *ss = req->data;
	ssize_t got = req->result;
	uv_fs_req_cleanup(req);
	ss->reading = false;
	if (ss->finished) {
		send_free(ss);
		return;
	}
	if (got < 0 || (got == 0 && ss->offset < ss->size)) {
		send_done(ss, false);
		return;
	}
	Cairnpeer__SnapshotChunk ch = CAIRNPEER__SNAPSHOT_CHUNK__INIT;
	if (ss->offset == 0) {
		ch.message = &ss->msg;
		ch.total_size = ss->size;
	}
	ch.offset = ss->offset;
	ch.data.data = ss->buf;
	ch.data.len = (size_t)got;
	store_mvcc_sha256_update(&ss->sha, ss->buf, (size_t)got);
	ss->offset += (uint64_t)got;
	uint8_t digest[32];
	if (ss->offset >= ss->size) {
		ch.last = true;
		store_mvcc_sha256_final(&ss->sha, digest);
		ch.sha256.data = digest;
		ch.sha256.len = 32;
	}
	int rc = rpc_call_send(ss->call, &ch.base);
	if (rc < 0) {
		send_done(ss, false);
		return;
	}
	if (ch.last) {
		rpc_call_close_send(ss->call);
		return;
	}
	if (rc == RPC_SEND_FULL) {
		ss->waiting_writable = true;
		return;
	}
	send_next(ss);
}

static void send_next(struct snap_send *ss)
{
	size_t want = SNAP_CHUNK;
	if (ss->size - ss->offset < want)
		want = (size_t)(ss->size - ss->offset);
	uv_buf_t b = uv_buf_init((char *)ss->buf, (unsigned)want);
	ss->fs.data = ss;
	ss->reading = true;
	if (uv_fs_read(ss->n->loop, &ss->fs, ss->fd, &b, 1, (int64_t)ss->offset, read_cb)) {
		ss->reading = false;
		send_done(ss, false);
	}
}

static void send_writable(struct rpc_call *call, void *arg)
{
	(void)call;
	struct snap_send *ss = arg;
	if (ss->waiting_writable && !ss->finished) {
		ss->waiting_writable = false;
		send_next(ss);
	}
}

static void send_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct snap_send *ss = arg;
	ss->call = NULL;
	if (code != RPC_OK)
		LOGW("snapshot stream failed",
		     LF_HEX("remote-peer-id", ss->peer_id) LF_STR("error", message ? message : ""));
	send_done(ss, code == RPC_OK);
}

static void send_ignore(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                        const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)arg;
	(void)msg;
	(void)bytes;
	(void)len;
}

static void save_work(uv_work_t *w)
{
	struct snap_send *ss = w->data;
	ss->save_rc = store_mvcc_snapshot_save(ss->n->mvcc, ss->path, &ss->size);
}

static void save_after(uv_work_t *w, int status)
{
	struct snap_send *ss = w->data;
	ss->reading = false;
	if (ss->canceled || status || ss->save_rc) {
		if (!ss->canceled)
			LOGW("cannot write the snapshot to send",
			     LF_STR("error", store_mvcc_strerror(ss->save_rc)));
		if (ss->canceled) {
			ss->finished = true;
			send_free(ss);
			return;
		}
		send_done(ss, false);
		return;
	}
	struct node *n = ss->n;
	ss->fd = open(ss->path, O_RDONLY | O_CLOEXEC);
	ss->buf = malloc(SNAP_CHUNK);
	char addr[300];
	struct peer *p = ss->p;
	if (ss->fd < 0 || !ss->buf || !p || !p->urls.n) {
		send_done(ss, false);
		return;
	}
	node__url_to_addr(p->urls.v[p->url_idx % p->urls.n], addr, sizeof addr);
	struct rpc_client_options o;
	memset(&o, 0, sizeof o);
	o.connect_timeout_ms = 5000;
	o.max_send_msg = 2 * SNAP_CHUNK;
	if (rpc_client_connect(n->loop, addr, &o, &ss->c)) {
		ss->c = NULL;
		send_done(ss, false);
		return;
	}
	char cid[20], from[20];
	snprintf(cid, sizeof cid, "%" PRIx64, n->cluster_id);
	snprintf(from, sizeof from, "%" PRIx64, n->id);
	struct rpc_metadata md[2] = {{"cairn-cluster-id", cid}, {"cairn-from", from}};
	struct rpc_call_options co;
	memset(&co, 0, sizeof co);
	co.metadata = md;
	co.n_metadata = 2;
	co.arg = ss;
	co.on_message = send_ignore;
	co.on_end = send_end;
	co.on_writable = send_writable;
	if (rpc_call_start(ss->c, "/cairnpeer.Peer/Snapshot", &co, &ss->call)) {
		ss->call = NULL;
		send_done(ss, false);
		return;
	}
	store_mvcc_sha256_init(&ss->sha);
	LOGI("sending snapshot", LF_HEX("remote-peer-id", ss->peer_id) LF_U64("bytes", ss->size)
	                             LF_U64("index", ss->meta.index));
	send_next(ss);
}

void node__snap_send(struct node *n, const struct raft_message *m)
{
	struct peer *p = node__peer_get(n, m->to);
	if (!p || node__fault_drops(n, m->to)) {
		if (n->raft)
			raft_snapshot_sent(n->raft, m->to, false);
		return;
	}
	if (p->snap)
		return; /* one at a time; the core asks again if needed */
	struct snap_send *ss = calloc(1, sizeof *ss);
	size_t nids = m->snapshot.conf.n_voters + m->snapshot.conf.n_learners;
	if (!ss || !(ss->ids = calloc(nids + 1, sizeof *ss->ids))) {
		free(ss);
		raft_snapshot_sent(n->raft, m->to, false);
		return;
	}
	ss->n = n;
	ss->p = p;
	ss->peer_id = m->to;
	ss->fd = -1;
	memcpy(ss->ids, m->snapshot.conf.voters, m->snapshot.conf.n_voters * sizeof *ss->ids);
	memcpy(ss->ids + m->snapshot.conf.n_voters, m->snapshot.conf.learners,
	       m->snapshot.conf.n_learners * sizeof *ss->ids);
	cairnpeer__snapshot_meta__init(&ss->meta);
	ss->meta.index = m->snapshot.index;
	ss->meta.term = m->snapshot.term;
	ss->meta.voters = ss->ids;
	ss->meta.n_voters = m->snapshot.conf.n_voters;
	ss->meta.learners = ss->ids + m->snapshot.conf.n_voters;
	ss->meta.n_learners = m->snapshot.conf.n_learners;
	cairnpeer__raft_message__init(&ss->msg);
	ss->msg.type = m->type;
	ss->msg.from = m->from;
	ss->msg.to = m->to;
	ss->msg.term = m->term;
	ss->msg.snapshot = &ss->meta;
	snprintf(ss->path, sizeof ss->path, "%s/send-%016" PRIx64 "-%016" PRIx64 ".db", n->snap_dir,
	         m->to, m->snapshot.index);
	ss->work.data = ss;
	ss->reading = true; /* the worker owns it until save_after */
	p->snap = ss;
	if (uv_queue_work(n->loop, &ss->work, save_work, save_after)) {
		p->snap = NULL;
		free(ss->ids);
		free(ss);
		raft_snapshot_sent(n->raft, m->to, false);
	}
}

void node__snap_cancel(struct peer *p)
{
	struct snap_send *ss = p->snap;
	if (!ss)
		return;
	p->snap = NULL;
	ss->p = NULL;
	ss->canceled = true;
	if (!ss->finished && !(ss->reading && !ss->c))
		send_done(ss, false);
}

/* ---- Receiving -------------------------------------------------------------- */

struct snap_recv {
	struct node *n;
	struct rpc_stream *s;
	int fd;
	char tmp[4096];
	char final[4096];
	uint64_t from, total, received;
	struct store_mvcc_sha256 sha;
	struct bytes msg; /* packed RaftMessage of the first chunk */
	uint8_t digest[32];
	uv_work_t work;
	int rc;
	bool in_work;
	bool gone;
};

static void recv_free(struct snap_recv *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->tmp[0])
		unlink(r->tmp);
	bytes_free(&r->msg);
	free(r);
}

static void recv_fail(struct snap_recv *r, const char *why)
{
	LOGW("rejected snapshot", LF_HEX("remote-peer-id", r->from) LF_STR("reason", why));
	if (r->s) {
		rpc_stream_set_data(r->s, NULL);
		rpc_stream_finish(r->s, RPC_INVALID_ARGUMENT, why);
		r->s = NULL;
	}
	recv_free(r);
}

static void finish_work(uv_work_t *w)
{
	struct snap_recv *r = w->data;
	r->rc = 0;
	if (fsync(r->fd) || rename(r->tmp, r->final)) {
		r->rc = -errno;
		return;
	}
	r->tmp[0] = '\0';
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", r->final);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

static char *rx_snap_path;

static void finish_after(uv_work_t *w, int status)
{
	struct snap_recv *r = w->data;
	struct node *n = r->n;
	r->in_work = false;
	if (status || r->rc || r->gone || !n->raft || n->stopping) {
		if (r->s) {
			rpc_stream_set_data(r->s, NULL);
			rpc_stream_finish(r->s, RPC_UNAVAILABLE, "cairn: cannot store snapshot");
			r->s = NULL;
		}
		recv_free(r);
		return;
	}
	Cairnpeer__RaftMessage *pm = cairnpeer__raft_message__unpack(NULL, r->msg.len, r->msg.p);
	if (!pm || !pm->snapshot) {
		if (pm)
			cairnpeer__raft_message__free_unpacked(pm, NULL);
		recv_fail(r, "cairn: snapshot without metadata");
		return;
	}
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = pm->from;
	m.to = pm->to;
	m.term = pm->term;
	m.snapshot.index = pm->snapshot->index;
	m.snapshot.term = pm->snapshot->term;
	m.snapshot.conf.voters = pm->snapshot->voters;
	m.snapshot.conf.n_voters = pm->snapshot->n_voters;
	m.snapshot.conf.learners = pm->snapshot->learners;
	m.snapshot.conf.n_learners = pm->snapshot->n_learners;
	free(rx_snap_path);
	rx_snap_path = strdup(r->final);
	n->m.snapshots_received++;
	LOGI("received snapshot", LF_HEX("remote-peer-id", r->from) LF_U64("bytes", r->received)
	                              LF_U64("index", m.snapshot.index));
	raft_step(n->raft, &m, NULL);
	cairnpeer__raft_message__free_unpacked(pm, NULL);
	/* The Ready that installs it must come before any later append. */
	node__process_ready(n);
	if (r->s) {
		rpc_stream_set_data(r->s, NULL);
		Cairnpeer__Ack ack = CAIRNPEER__ACK__INIT;
		rpc_stream_reply(r->s, &ack.base);
		r->s = NULL;
	}
	r->tmp[0] = '\0';
	recv_free(r);
}

static void recv_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                            size_t len)
{
	(void)bytes;
	(void)len;
	struct node *n = rpc_stream_method_data(s);
	const Cairnpeer__SnapshotChunk *ch = (const Cairnpeer__SnapshotChunk *)msg;
	struct snap_recv *r = rpc_stream_data(s);
	if (!r) {
		const char *cid = rpc_stream_metadata(s, "cairn-cluster-id");
		if (!cid || strtoull(cid, NULL, 16) != n->cluster_id) {
			rpc_stream_finish(s, RPC_FAILED_PRECONDITION, "cairn: cluster ID mismatch");
			return;
		}
		if (!ch->message || !ch->message->snapshot || n->stopping) {
			rpc_stream_finish(s, RPC_INVALID_ARGUMENT,
			                  "cairn: snapshot without metadata");
			return;
		}
		if (node__fault_drops(n, ch->message->from)) {
			rpc_stream_finish(s, RPC_UNAVAILABLE, "cairn: dropped by fault injection");
			return;
		}
		r = calloc(1, sizeof *r);
		if (!r) {
			rpc_stream_finish(s, RPC_RESOURCE_EXHAUSTED, "cairn: out of memory");
			return;
		}
		r->n = n;
		r->s = s;
		r->from = ch->message->from;
		r->total = ch->total_size;
		store_mvcc_sha256_init(&r->sha);
		snprintf(r->tmp, sizeof r->tmp, "%s/recv-%016" PRIx64 ".tmp", n->snap_dir, r->from);
		snprintf(r->final, sizeof r->final, "%s/%016" PRIx64 "-%016" PRIx64 ".snap.db",
		         n->snap_dir, ch->message->snapshot->term, ch->message->snapshot->index);
		r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		size_t ml = cairnpeer__raft_message__get_packed_size(ch->message);
		if (r->fd < 0 || bytes_reserve(&r->msg, ml)) {
			r->tmp[0] = '\0';
			recv_fail(r, "cairn: cannot create snapshot file");
			return;
		}
		cairnpeer__raft_message__pack(ch->message, r->msg.p);
		r->msg.len = ml;
		rpc_stream_set_data(s, r);
	}
	if (r->in_work)
		return;
	if (ch->offset != r->received) {
		recv_fail(r, "cairn: snapshot chunk out of order");
		return;
	}
	if (ch->data.len) {
		size_t off = 0;
		while (off < ch->data.len) {
			ssize_t w = write(r->fd, ch->data.data + off, ch->data.len - off);
			if (w <= 0) {
				recv_fail(r, "cairn: cannot write snapshot file");
				return;
			}
			off += (size_t)w;
		}
		store_mvcc_sha256_update(&r->sha, ch->data.data, ch->data.len);
		r->received += ch->data.len;
	}
	if (!ch->last)
		return;
	store_mvcc_sha256_final(&r->sha, r->digest);
	if (r->received != r->total || ch->sha256.len != 32 ||
	    memcmp(ch->sha256.data, r->digest, 32)) {
		recv_fail(r, "cairn: snapshot checksum mismatch");
		return;
	}
	r->work.data = r;
	r->in_work = true;
	if (uv_queue_work(n->loop, &r->work, finish_work, finish_after)) {
		r->in_work = false;
		recv_fail(r, "cairn: cannot queue snapshot work");
	}
}

static void recv_on_cancel(struct rpc_stream *s, int code)
{
	(void)code;
	struct snap_recv *r = rpc_stream_data(s);
	if (!r)
		return;
	r->s = NULL;
	if (r->in_work)
		r->gone = true;
	else
		recv_free(r);
}

static void recv_on_half_close(struct rpc_stream *s)
{
	(void)s;
}

int node__snap_recv_register(struct node *n, struct rpc_server *srv)
{
	struct rpc_method m = {.path = "/cairnpeer.Peer/Snapshot",
	                       .kind = RPC_BIDI,
	                       .request = &cairnpeer__snapshot_chunk__descriptor,
	                       .on_message = recv_on_message,
	                       .on_half_close = recv_on_half_close,
	                       .on_cancel = recv_on_cancel,
	                       .data = n};
	return rpc_server_register(srv, &m);
}

void node__install_ready(struct node *n, const struct raft_snapshot_meta *meta)
{
	struct bytes blob = {0};
	node__conf_blob(meta, &blob);
	struct store_wal_snapshot snap = {
	    .index = meta->index, .term = meta->term, .conf = blob.p, .conf_len = blob.len};
	int rc = store_wal_compact(n->wal, &snap);
	bytes_free(&blob);
	if (rc) {
		LOGE("cannot record the snapshot in the WAL: stopping",
		     LF_STR("error", store_wal_strerror(rc)));
		node__request_stop(n, 1);
		return;
	}
	if (!rx_snap_path || applier_queue_install(n, rx_snap_path, meta->index, meta->term)) {
		LOGE("no snapshot file to install: stopping", LF_U64("index", meta->index));
		node__request_stop(n, 1);
		return;
	}
	n->installing = true;
	n->last_snapshot_index = meta->index;
	if (n->queued_apply < meta->index)
		n->queued_apply = meta->index;
}

/* ---- Own snapshots ----------------------------------------------------------- */

struct own_snap {
	struct node *n;
	uv_work_t work;
	uint64_t index, term;
	uint64_t *voters, *learners;
	size_t nv, nl;
	int rc;
};

static void own_work(uv_work_t *w)
{
	struct own_snap *o = w->data;
	o->rc = store_mvcc_sync(o->n->mvcc, NULL);
}

static void own_after(uv_work_t *w, int status)
{
	struct own_snap *o = w->data;
	struct node *n = o->n;
	n->snapshotting = false;
	if (status || o->rc || !n->raft || n->stopping) {
		if (o->rc)
			LOGW("cannot sync the store for a snapshot",
			     LF_STR("error", store_mvcc_strerror(o->rc)));
		goto out;
	}
	struct raft_status st;
	raft_status_get(n->raft, &st);
	if (o->index > st.applied)
		goto out; /* the core has not seen it applied yet: next time */
	struct raft_snapshot_meta meta = {
	    .index = o->index, .term = o->term, .conf = {o->voters, o->nv, o->learners, o->nl}};
	int rc = raft_snapshot_available(n->raft, &meta);
	if (rc) {
		LOGW("raft_snapshot_available refused", LF_STR("error", raft_strerror(rc)));
		goto out;
	}
	n->last_snapshot_index = o->index;
	n->m.snapshots_taken++;
	uint64_t keep = n->cfg->snapshot_count < 5000 ? n->cfg->snapshot_count : 5000;
	uint64_t upto = o->index > keep ? o->index - keep : 0;
	uint64_t first = store_wal_first_index(n->wal);
	if (upto >= first) {
		uint64_t term;
		if (store_wal_term(n->wal, upto, &term) == 0 && raft_compact(n->raft, upto) == 0) {
			struct bytes blob = {0};
			node__conf_blob(&meta, &blob);
			struct store_wal_snapshot snap = {
			    .index = upto, .term = term, .conf = blob.p, .conf_len = blob.len};
			rc = store_wal_compact(n->wal, &snap);
			bytes_free(&blob);
			if (rc)
				LOGW("cannot compact the WAL",
				     LF_STR("error", store_wal_strerror(rc)));
		}
	}
	LOGI("saved snapshot", LF_U64("snapshot-index", o->index) LF_U64("compacted-to", upto));
out:
	free(o->voters);
	free(o->learners);
	free(o);
}

void node__maybe_snapshot(struct node *n)
{
	if (n->snapshotting || n->stopping || !n->cfg->snapshot_count ||
	    n->applied < n->last_snapshot_index + n->cfg->snapshot_count)
		return;
	struct own_snap *o = calloc(1, sizeof *o);
	if (!o)
		return;
	o->n = n;
	struct store_mvcc_read *rd;
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	if (store_mvcc_read_begin(n->mvcc, &rd)) {
		free(o);
		return;
	}
	store_mvcc_read_applied(rd, &o->index, &o->term);
	Etcdserverpb__Member **ms = NULL;
	size_t cnt = 0;
	store_mvcc_members(rd, &a, &ms, &cnt);
	o->voters = calloc(cnt + 1, sizeof *o->voters);
	o->learners = calloc(cnt + 1, sizeof *o->learners);
	for (size_t i = 0; o->voters && o->learners && i < cnt; i++) {
		if (ms[i]->islearner)
			o->learners[o->nl++] = ms[i]->id;
		else
			o->voters[o->nv++] = ms[i]->id;
	}
	store_mvcc_read_end(rd);
	store_mvcc_arena_destroy(&a);
	if (!o->voters || !o->learners || !o->index) {
		free(o->voters);
		free(o->learners);
		free(o);
		return;
	}
	o->work.data = o;
	n->snapshotting = true;
	if (uv_queue_work(n->loop, &o->work, own_work, own_after)) {
		n->snapshotting = false;
		free(o->voters);
		free(o->learners);
		free(o);
	}
}
