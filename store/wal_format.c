/*
 * store/wal_format.c - the WAL's on-disk format, version 1.
 *
 * All integers are little-endian. A WAL directory holds only segment files:
 *
 *   <seq as 16 lowercase hex digits>.wal       a segment
 *   <seq as 16 lowercase hex digits>.wal.tmp   a segment being prepared;
 *                                              deleted on open
 *
 * Segments are numbered from 1 without gaps; compaction deletes a prefix.
 * A segment is created at its full size and zero-filled before it is renamed
 * into place (so fdatasync() after a write flushes data only, never a size
 * or extent change), and is then written front to back, never rewritten.
 *
 * Segment header, 64 bytes at offset 0:
 *    0  8  magic "CAIRNWAL"
 *    8  4  format version (1)
 *   12  4  header size (64)
 *   16  8  WAL identity: random, the same in every segment of one WAL
 *   24  8  segment sequence number (the file name, again)
 *   32 28  zero
 *   60  4  CRC-32C of bytes 0..59
 *
 * Then batches, back to back from offset 64, each 8-byte aligned. One batch
 * is one write() followed by one fdatasync(): the unit of group commit, and
 * the unit that survives a crash whole or not at all.
 *
 * Batch header, 40 bytes:
 *    0  4  magic 0x4257_4c43 ("CLWB" on disk)
 *    4  4  CRC-32C of bytes 8..39
 *    8  8  batch sequence number: the previous batch's plus one, across
 *          segments
 *   16  8  segment sequence number (a batch copied elsewhere fails)
 *   24  4  offset of this header in the segment (a shifted batch fails)
 *   28  4  length of the records that follow, a multiple of 8
 *   32  4  CRC-32C of those records
 *   36  4  zero
 *
 * After the last batch the segment holds zeros. A zero batch header ends the
 * segment's data.
 *
 * Records, 24-byte header then payload, zero-padded to 8 bytes:
 *    0  1  kind: 1 entry, 2 hard state, 3 truncate, 4 snapshot
 *    1  1  entry type (entries), else 0
 *    2  2  zero
 *    4  4  payload length
 *    8  8  index: the entry's; truncate: the first index removed;
 *          snapshot: its last included index; hard state: 0
 *   16  8  term: the entry's or the snapshot's; else 0
 *
 *   entry       payload = the entry's bytes
 *   hard state  payload = term, vote, commit (3 x 8 bytes)
 *   truncate    no payload: entries >= index are gone
 *   snapshot    payload = the host's configuration blob; entries <= index
 *               are gone. A compaction that discards the whole log writes a
 *               truncate first. Every snapshot record is preceded, in the
 *               same batch, by a hard state record, so compaction can delete
 *               every segment before the one holding it (T3, T6).
 *
 * Replay applies the records in order. The state is the last hard state,
 * the last snapshot and the entries above it.
 */
#include <stdio.h>
#include <string.h>

#include "store/wal_internal.h"

static const uint8_t seg_magic[8] = {'C', 'A', 'I', 'R', 'N', 'W', 'A', 'L'};
#define BATCH_MAGIC 0x42574c43u

void wal__put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void wal__put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t wal__get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t wal__get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void wal__seg_hdr_encode(uint8_t out[WAL__SEG_HDR], const struct wal__seg_hdr *h)
{
	memset(out, 0, WAL__SEG_HDR);
	memcpy(out, seg_magic, sizeof seg_magic);
	wal__put32(out + 8, h->version);
	wal__put32(out + 12, WAL__SEG_HDR);
	wal__put64(out + 16, h->wal_id);
	wal__put64(out + 24, h->seq);
	wal__put32(out + 60, wal__crc32c(0, out, 60));
}

int wal__seg_hdr_decode(const uint8_t in[WAL__SEG_HDR], struct wal__seg_hdr *h)
{
	if (memcmp(in, seg_magic, sizeof seg_magic) != 0)
		return STORE_WAL_EFOREIGN;
	/* The version is read before the checksum: a future format may lay out
	 * its header differently, and "newer version" is the useful answer. */
	h->version = wal__get32(in + 8);
	if (h->version != WAL__VERSION)
		return STORE_WAL_EVERSION;
	if (wal__get32(in + 60) != wal__crc32c(0, in, 60) || wal__get32(in + 12) != WAL__SEG_HDR)
		return STORE_WAL_ECORRUPT;
	h->wal_id = wal__get64(in + 16);
	h->seq = wal__get64(in + 24);
	return 0;
}

void wal__batch_hdr_encode(uint8_t out[WAL__BATCH_HDR], const struct wal__batch_hdr *h)
{
	wal__put32(out, BATCH_MAGIC);
	wal__put64(out + 8, h->batch_seq);
	wal__put64(out + 16, h->segment_seq);
	wal__put32(out + 24, h->offset);
	wal__put32(out + 28, h->data_len);
	wal__put32(out + 32, h->data_crc);
	wal__put32(out + 36, 0);
	wal__put32(out + 4, wal__crc32c(0, out + 8, WAL__BATCH_HDR - 8));
}

bool wal__batch_hdr_decode(const uint8_t in[WAL__BATCH_HDR], struct wal__batch_hdr *h)
{
	if (wal__get32(in) != BATCH_MAGIC)
		return false;
	if (wal__get32(in + 4) != wal__crc32c(0, in + 8, WAL__BATCH_HDR - 8))
		return false;
	h->batch_seq = wal__get64(in + 8);
	h->segment_seq = wal__get64(in + 16);
	h->offset = wal__get32(in + 24);
	h->data_len = wal__get32(in + 28);
	h->data_crc = wal__get32(in + 32);
	return wal__get32(in + 36) == 0 && h->data_len % WAL__ALIGN == 0;
}

size_t wal__rec_encode(uint8_t *out, const struct wal__rec *r, const void *payload)
{
	out[0] = r->kind;
	out[1] = r->type;
	out[2] = 0;
	out[3] = 0;
	wal__put32(out + 4, r->len);
	wal__put64(out + 8, r->index);
	wal__put64(out + 16, r->term);
	if (r->len)
		memcpy(out + WAL__REC_HDR, payload, r->len);
	size_t padded = wal__pad(r->len);
	memset(out + WAL__REC_HDR + r->len, 0, padded - r->len);
	return WAL__REC_HDR + padded;
}

size_t wal__rec_decode(const uint8_t *in, size_t avail, struct wal__rec *r)
{
	if (avail < WAL__REC_HDR || in[2] != 0 || in[3] != 0)
		return 0;
	r->kind = in[0];
	r->type = in[1];
	r->len = wal__get32(in + 4);
	r->index = wal__get64(in + 8);
	r->term = wal__get64(in + 16);
	size_t size = wal__rec_size(r->len);
	if (size > avail)
		return 0;
	switch (r->kind) {
	case WAL__REC_ENTRY:
		if (r->index == 0)
			return 0;
		break;
	case WAL__REC_HARD_STATE:
		if (r->len != WAL__HS_LEN || r->type || r->index || r->term)
			return 0;
		break;
	case WAL__REC_TRUNCATE:
		if (r->len || r->type || r->index == 0 || r->term)
			return 0;
		break;
	case WAL__REC_SNAPSHOT:
		if (r->type || r->index == 0)
			return 0;
		break;
	default:
		return 0;
	}
	return size;
}

void wal__hs_encode(uint8_t out[WAL__HS_LEN], const struct store_wal_hard_state *hs)
{
	wal__put64(out, hs->term);
	wal__put64(out + 8, hs->vote);
	wal__put64(out + 16, hs->commit);
}

void wal__hs_decode(const uint8_t in[WAL__HS_LEN], struct store_wal_hard_state *hs)
{
	hs->term = wal__get64(in);
	hs->vote = wal__get64(in + 8);
	hs->commit = wal__get64(in + 16);
}

void wal__seg_name(char out[WAL__NAME_LEN + 8], uint64_t seq, bool tmp)
{
	snprintf(out, WAL__NAME_LEN + 8, "%016llx.wal%s", (unsigned long long)seq,
	         tmp ? ".tmp" : "");
}

int wal__seg_name_parse(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	if (v == 0)
		return 0;
	*seq = v;
	if (strcmp(name + 16, ".wal") == 0)
		return 1;
	if (strcmp(name + 16, ".wal.tmp") == 0)
		return 2;
	return 0;
}
