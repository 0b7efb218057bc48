/*
 * The Maintenance/Snapshot byte stream (server/snapshot_frame.h): 32 KiB
 * chunks with etcd's remaining_bytes, the image padded to 512, and a
 * SHA-256 trailer of everything before it, so that etcdctl's check
 * (total % 512 == 32, and the hash) holds for any file size.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/snapshot_frame.h"

/* Streams a file of `size` bytes (byte i = i * 7) as api_snapshot.c does;
 * returns the bytes a client would write to its file. */
static uint8_t *stream(uint64_t size, size_t *total, int *chunks, uint64_t *last_remaining)
{
	struct snapshot_frame f;
	snapshot_frame_init(&f, size);
	uint8_t *outb = malloc(size + SNAPSHOT_ALIGN + SNAPSHOT_SHA_LEN);
	size_t out = 0;
	uint8_t buf[SNAPSHOT_CHUNK];
	*chunks = 0;
	*last_remaining = UINT64_MAX;
	for (;;) {
		size_t from_file;
		size_t n = snapshot_frame_next(&f, &from_file);
		if (n == 0)
			break;
		cr_assert_leq(from_file, n);
		for (size_t i = 0; i < from_file; i++)
			buf[i] = (uint8_t)((f.sent + i) * 7);
		memset(buf + from_file, 0, n - from_file);
		uint64_t rem = snapshot_frame_add(&f, buf, n);
		cr_assert_lt(rem, *last_remaining, "remaining_bytes decreases");
		*last_remaining = rem;
		memcpy(outb + out, buf, n);
		out += n;
		(*chunks)++;
	}
	snapshot_frame_trailer(&f, outb + out);
	out += SNAPSHOT_SHA_LEN;
	*total = out;
	return outb;
}

static void check_sha(const uint8_t *data, size_t total)
{
	struct store_mvcc_sha256 c;
	uint8_t want[32];
	store_mvcc_sha256_init(&c);
	store_mvcc_sha256_update(&c, data, total - 32);
	store_mvcc_sha256_final(&c, want);
	cr_assert_eq(memcmp(want, data + total - 32, 32), 0, "trailer is the SHA-256 of the rest");
}

Test(snapshot_frame, page_aligned_file_streams_unpadded)
{
	size_t total;
	int chunks;
	uint64_t rem;
	uint8_t *d = stream(20480, &total, &chunks, &rem);
	cr_assert_eq(total, 20480 + 32);
	cr_assert_eq(total % 512, 32);
	cr_assert_eq(chunks, 1);
	cr_assert_eq(rem, 0);
	check_sha(d, total);
	free(d);
}

Test(snapshot_frame, chunks_are_32k_with_etcds_remaining_bytes)
{
	struct snapshot_frame f;
	snapshot_frame_init(&f, 100 * 1024);
	uint8_t buf[SNAPSHOT_CHUNK] = {0};
	size_t ff;
	cr_assert_eq(snapshot_frame_next(&f, &ff), 32768);
	cr_assert_eq(snapshot_frame_add(&f, buf, 32768), 100 * 1024 - 32768);
	cr_assert_eq(snapshot_frame_next(&f, &ff), 32768);
	cr_assert_eq(snapshot_frame_add(&f, buf, 32768), 100 * 1024 - 65536);
	cr_assert_eq(snapshot_frame_next(&f, &ff), 32768);
	cr_assert_eq(snapshot_frame_add(&f, buf, 32768), 4096);
	cr_assert_eq(snapshot_frame_next(&f, &ff), 4096);
	cr_assert_eq(snapshot_frame_add(&f, buf, 4096), 0);
	cr_assert_eq(snapshot_frame_next(&f, &ff), 0);
}

Test(snapshot_frame, odd_sizes_are_padded_to_512)
{
	uint64_t sizes[] = {0, 1, 511, 512, 513, 32767, 32768, 32769, 65536 + 100};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t total;
		int chunks;
		uint64_t rem;
		uint8_t *d = stream(sizes[i], &total, &chunks, &rem);
		cr_assert_eq(total % 512, 32, "size %llu", (unsigned long long)sizes[i]);
		cr_assert_geq(total, sizes[i] + 32);
		for (uint64_t b = 0; b < sizes[i]; b++)
			cr_assert_eq(d[b], (uint8_t)(b * 7));
		for (uint64_t b = sizes[i]; b < total - 32; b++)
			cr_assert_eq(d[b], 0, "padding is zeros");
		check_sha(d, total);
		free(d);
	}
}
