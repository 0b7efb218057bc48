/*
 * client/snapshot.c - Maintenance/Snapshot: the streamed database copy.
 *
 * etcd sends the database in chunks and then a last chunk holding the
 * SHA-256 of everything before it (etcd v3.4.23
 * etcdserver/api/v3rpc/maintenance.go), so a complete stream is 32 bytes
 * longer than a multiple of 512 (clientv3/snapshot/v3_snapshot.go
 * hasChecksum). Saving follows etcdctl: write "<path>.part", check the
 * length rule, fsync, rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/internal.h"

int cairn_maint_snapshot(struct cairn_client *c, cairn_chunk_fn on_chunk, cairn_end_fn on_end,
                         void *arg)
{
	if (!on_end)
		return -EINVAL;
	Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	int err;
	struct cairn__op *op = cairn__op_new(c, &cairn__m_snapshot, &req.base, &o, NULL, arg, &err);
	if (!op)
		return err;
	op->kind = CAIRN__OP_SNAPSHOT;
	op->on_chunk = on_chunk;
	op->on_end = on_end;
	cairn__op_start(op);
	return 0;
}

struct save {
	int fd;
	uint64_t size;
	int err;
	bool done;
	struct cairn_status st;
};

static int save_chunk(void *arg, const uint8_t *data, size_t len, uint64_t remaining)
{
	(void)remaining;
	struct save *s = arg;
	while (len > 0) {
		ssize_t n = write(s->fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->err = -errno;
			return 1;
		}
		data += n;
		len -= (size_t)n;
		s->size += (uint64_t)n;
	}
	return 0;
}

static void save_end(void *arg, const struct cairn_status *st)
{
	struct save *s = arg;
	s->st = *st;
	s->done = true;
}

int cairn_maint_snapshot_save(struct cairn_client *c, const char *path, uint64_t *size,
                              struct cairn_status *st)
{
	if (st)
		memset(st, 0, sizeof *st);
	if (!c->own || !path)
		return -EINVAL;
	char *part = malloc(strlen(path) + 6);
	if (!part)
		return -ENOMEM;
	sprintf(part, "%s.part", path);
	struct save s = {.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0600)};
	int rv;
	if (s.fd < 0) {
		rv = -errno;
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL,
		                  "could not open %s (%s)", part, strerror(errno));
		free(part);
		return rv;
	}
	rv = cairn_maint_snapshot(c, save_chunk, save_end, &s);
	if (rv == 0)
		rv = cairn_client_run_until(c, &s.done, 0);
	if (st)
		*st = s.st;
	if (rv == 0 && s.err) {
		rv = s.err;
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  strerror(-s.err));
	} else if (rv == 0 && s.st.code != CAIRN_OK) {
		rv = CAIRN_ESTATUS;
	} else if (rv == 0 && s.size % 512 != 32) {
		rv = -EBADMSG;
		cairn__status_set(st, CAIRN_DATA_LOSS, CAIRN_REASON_CLIENT, NULL,
		                  "sha256 checksum not found [bytes: %llu]",
		                  (unsigned long long)s.size);
	} else if (rv == 0 && fsync(s.fd) != 0) {
		rv = -errno;
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL, "%s",
		                  strerror(errno));
	}
	if (close(s.fd) != 0 && rv == 0)
		rv = -errno;
	if (rv == 0 && rename(part, path) != 0) {
		rv = -errno;
		cairn__status_set(st, CAIRN_INTERNAL, CAIRN_REASON_CLIENT, NULL,
		                  "could not rename %s to %s (%s)", part, path, strerror(errno));
	}
	if (rv != 0)
		unlink(part);
	else if (size)
		*size = s.size;
	free(part);
	return rv;
}
