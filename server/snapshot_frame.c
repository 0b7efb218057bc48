/*
 * server/snapshot_frame.c - chunking, padding and the SHA-256 trailer of
 * the Maintenance/Snapshot stream (see snapshot_frame.h).
 */
#include "server/snapshot_frame.h"

void snapshot_frame_init(struct snapshot_frame *f, uint64_t file_size)
{
	f->file_size = file_size;
	f->total = (file_size + SNAPSHOT_ALIGN - 1) / SNAPSHOT_ALIGN * SNAPSHOT_ALIGN;
	f->sent = 0;
	store_mvcc_sha256_init(&f->sha);
}

size_t snapshot_frame_next(const struct snapshot_frame *f, size_t *from_file)
{
	uint64_t left = f->total - f->sent;
	size_t n = left < SNAPSHOT_CHUNK ? (size_t)left : SNAPSHOT_CHUNK;
	uint64_t file_left = f->sent < f->file_size ? f->file_size - f->sent : 0;
	*from_file = file_left < n ? (size_t)file_left : n;
	return n;
}

uint64_t snapshot_frame_add(struct snapshot_frame *f, const uint8_t *data, size_t n)
{
	store_mvcc_sha256_update(&f->sha, data, n);
	f->sent += n;
	return f->total - f->sent;
}

void snapshot_frame_trailer(struct snapshot_frame *f, uint8_t out[SNAPSHOT_SHA_LEN])
{
	store_mvcc_sha256_final(&f->sha, out);
}
