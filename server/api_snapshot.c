/*
 * server/api_snapshot.c - etcdserverpb.Maintenance/Snapshot, the
 * server-streaming copy of this member's store.
 *
 * The node writes a consistent copy to a temporary file on a worker thread
 * (node_snapshot); this file streams it in etcd's 32 KiB chunks, each read
 * with an asynchronous uv_fs_read (the loop never waits on the disk), at
 * the pace the client reads: a send that fills the stream's buffer
 * (RPC_SEND_FULL) pauses until rpc/ reports it writable. After the image
 * comes etcd's trailer, the SHA-256 of every byte before it
 * (snapshot_frame.h), then OK. The file is unlinked at the end, on error
 * and on cancel. Responses carry no header, as etcd's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/api_internal.h"
#include "server/snapshot_frame.h"

struct api_snapshot {
	struct api *a;
	struct rpc_stream *s; /* NULL once canceled */
	struct node_wait *w;
	char *path;
	int fd;
	struct snapshot_frame f;
	uv_fs_t req;
	bool reading;
	size_t chunk_n, chunk_file, chunk_have;
	struct api_snapshot *next, *prev;
	uint8_t buf[SNAPSHOT_CHUNK];
};

static void release(struct api_snapshot *ss)
{
	struct api *a = ss->a;
	node_wait_cancel(ss->w);
	if (ss->fd >= 0)
		close(ss->fd);
	if (ss->path) {
		unlink(ss->path);
		free(ss->path);
	}
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		a->snapshots = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	free(ss);
}

static void end(struct api_snapshot *ss, int code, const char *msg)
{
	if (ss->s) {
		rpc_stream_set_data(ss->s, NULL);
		api_finish(ss->a, ss->s, API_SNAPSHOT, code, msg);
		ss->s = NULL;
	}
	if (!ss->reading)
		release(ss);
}

static void fail(struct api_snapshot *ss, int err)
{
	int code;
	const char *msg;
	api_status_of(err, &code, &msg);
	end(ss, code, msg);
}

static void pump(struct api_snapshot *ss);

static void read_done(uv_fs_t *req)
{
	struct api_snapshot *ss = req->data;
	struct api *a = ss->a;
	ssize_t r = req->result;
	uv_fs_req_cleanup(req);
	ss->reading = false;
	api_handle_closed(a);
	if (!ss->s) {
		release(ss);
		return;
	}
	if (r <= 0) {
		fail(ss, r < 0 ? (int)r : -EIO); /* error, or the file shrank */
		return;
	}
	ss->chunk_have += (size_t)r;
	pump(ss);
}

/* Sends chunks while the stream takes them; reads the next from the file
 * when needed. */
static void pump(struct api_snapshot *ss)
{
	for (;;) {
		if (ss->chunk_n == 0) {
			ss->chunk_n = snapshot_frame_next(&ss->f, &ss->chunk_file);
			ss->chunk_have = 0;
			if (ss->chunk_n == 0) {
				uint8_t sha[SNAPSHOT_SHA_LEN];
				snapshot_frame_trailer(&ss->f, sha);
				Etcdserverpb__SnapshotResponse r =
				    ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
				r.blob.data = sha;
				r.blob.len = sizeof sha;
				int rc = rpc_stream_send(ss->s, &r.base);
				if (rc < 0)
					fail(ss, rc);
				else
					end(ss, RPC_OK, NULL);
				return;
			}
		}
		if (ss->chunk_have < ss->chunk_file) {
			uv_buf_t b = uv_buf_init((char *)ss->buf + ss->chunk_have,
			                         (unsigned)(ss->chunk_file - ss->chunk_have));
			int64_t off = (int64_t)(ss->f.sent + ss->chunk_have);
			ss->req.data = ss;
			int rc = uv_fs_read(node_loop(ss->a->n), &ss->req, ss->fd, &b, 1, off,
			                    read_done);
			if (rc) {
				fail(ss, rc);
				return;
			}
			ss->reading = true;
			ss->a->open_handles++;
			return;
		}
		/* The tail past the file is zero padding (snapshot_frame.h). */
		memset(ss->buf + ss->chunk_file, 0, ss->chunk_n - ss->chunk_file);
		Etcdserverpb__SnapshotResponse r = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
		r.blob.data = ss->buf;
		r.blob.len = ss->chunk_n;
		r.remaining_bytes = snapshot_frame_add(&ss->f, ss->buf, ss->chunk_n);
		ss->chunk_n = 0;
		int rc = rpc_stream_send(ss->s, &r.base);
		if (rc < 0) {
			fail(ss, rc);
			return;
		}
		if (rc == RPC_SEND_FULL)
			return; /* on_writable resumes */
	}
}

static void snapshot_ready(void *arg, int err, const char *path, uint64_t size)
{
	struct api_snapshot *ss = arg;
	ss->w = NULL;
	if (path) {
		ss->path = strdup(path);
		if (!ss->path)
			unlink(path);
	}
	if (!err && !ss->path)
		err = -ENOMEM;
	if (err) {
		fail(ss, err);
		return;
	}
	/* open(2) of a file we just wrote is a metadata lookup in the page
	 * cache; the reads, which may go to disk, are asynchronous. */
	ss->fd = open(ss->path, O_RDONLY | O_CLOEXEC);
	if (ss->fd < 0) {
		fail(ss, -errno);
		return;
	}
	snapshot_frame_init(&ss->f, size);
	pump(ss);
}

void api_snapshot_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                             size_t n)
{
	struct api *a = api_ref(s)->a;
	if (!api_precheck(a, s, API_SNAPSHOT, false))
		return;
	struct api_snapshot *ss = calloc(1, sizeof *ss);
	if (!ss) {
		api_fail(a, s, API_SNAPSHOT, -ENOMEM);
		return;
	}
	ss->a = a;
	ss->s = s;
	ss->fd = -1;
	ss->next = a->snapshots;
	if (ss->next)
		ss->next->prev = ss;
	a->snapshots = ss;
	rpc_stream_set_data(s, ss);
	ss->w = node_snapshot(a->n, snapshot_ready, ss);
	if (!ss->w)
		fail(ss, -ENOMEM);
}

void api_snapshot_on_cancel(struct rpc_stream *s, int code)
{
	struct api_method_ref *ref = api_ref(s);
	api_count_cancel(ref->a, API_SNAPSHOT, code);
	struct api_snapshot *ss = rpc_stream_data(s);
	if (!ss)
		return;
	ss->s = NULL;
	if (!ss->reading)
		release(ss);
}

void api_snapshot_on_writable(struct rpc_stream *s)
{
	struct api_snapshot *ss = rpc_stream_data(s);
	if (ss && !ss->reading && !ss->w && ss->fd >= 0)
		pump(ss);
}

void api_snapshot_end_all(struct api *a, int code, const char *msg)
{
	struct api_snapshot *ss = a->snapshots;
	while (ss) {
		struct api_snapshot *next = ss->next;
		if (ss->s)
			end(ss, code, msg);
		ss = next;
	}
}
