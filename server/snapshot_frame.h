/*
 * server/snapshot_frame.h - the byte stream of Maintenance/Snapshot.
 *
 * etcd (v3rpc/maintenance.go) streams the backend file in 32 KiB chunks,
 * each with remaining_bytes = bytes still to come after it, then one last
 * message whose blob is the SHA-256 of everything sent before (and
 * remaining_bytes 0). etcdctl's `snapshot save` accepts the result only if
 * its length is 32 more than a multiple of 512 (clientv3/snapshot
 * v3_snapshot.go: the bbolt file is a whole number of pages). cairn's LMDB
 * copy is page-aligned too, but the framer pads the image with zeros to a
 * multiple of 512 anyway, so the rule holds for any file size; the hash
 * covers the padding, as it covers every byte before the trailer.
 */
#ifndef CAIRN_SERVER_SNAPSHOT_FRAME_H
#define CAIRN_SERVER_SNAPSHOT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "store/mvcc.h"

#define SNAPSHOT_CHUNK   (32u * 1024)
#define SNAPSHOT_ALIGN   512u
#define SNAPSHOT_SHA_LEN 32u

struct snapshot_frame {
	uint64_t file_size; /* bytes of the file itself */
	uint64_t total;     /* file_size padded to SNAPSHOT_ALIGN */
	uint64_t sent;      /* bytes of the image framed so far */
	struct store_mvcc_sha256 sha;
};

void snapshot_frame_init(struct snapshot_frame *f, uint64_t file_size);

/*
 * The next chunk: how many bytes to put in it (at most SNAPSHOT_CHUNK),
 * and how many of those come from the file (the rest are zero padding).
 * Returns 0 when the image is complete (then send the trailer).
 */
size_t snapshot_frame_next(const struct snapshot_frame *f, size_t *from_file);

/* Records a chunk of n bytes about to be sent (data = the chunk, padding
 * included) and returns its remaining_bytes. */
uint64_t snapshot_frame_add(struct snapshot_frame *f, const uint8_t *data, size_t n);

/* The trailer blob: SHA-256 of all bytes added. */
void snapshot_frame_trailer(struct snapshot_frame *f, uint8_t out[SNAPSHOT_SHA_LEN]);

#endif
