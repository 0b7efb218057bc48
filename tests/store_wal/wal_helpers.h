/*
 * Helpers shared by the WAL tests: scratch directories, deterministic
 * payloads (an entry's bytes are a function of its index and term, so any
 * entry read back proves itself uncorrupted), and a log capture.
 */
#ifndef CAIRN_TESTS_WAL_HELPERS_H
#define CAIRN_TESTS_WAL_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/wal.h"

/* A fresh empty directory under $TMPDIR (or /tmp); malloc'd path. */
char *wt_mkdtemp(void);
/* rm -rf dir, then free(dir). */
void wt_rmtree(char *dir);

/* Small segments (64 KiB) and the capturing logger; everything else
 * default. */
struct store_wal_options wt_options(void);

/* Payload length and bytes of the entry (index, term), at most max bytes. */
size_t wt_len(uint64_t index, uint64_t term, size_t max);
void wt_fill(uint64_t index, uint64_t term, uint8_t *buf, size_t len);
uint8_t wt_type(uint64_t index, uint64_t term);
/* true if e's type and bytes are what wt_fill makes for (index, term). */
bool wt_entry_ok(const struct store_wal_entry *e, size_t max);

/* Appends [lo, hi) with term in one call, payloads from wt_fill (lengths
 * from wt_len(.., max)). Returns store_wal_append's result. */
int wt_append(struct store_wal *w, uint64_t lo, uint64_t hi, uint64_t term, size_t max);
/* Reads [lo, hi) back one entry at a time and checks each against the
 * generator with the expected term. Returns the first bad index, or 0. */
uint64_t wt_verify(struct store_wal *w, uint64_t lo, uint64_t hi, uint64_t term, size_t max);

/* Log capture: lines from wt_options()' logger, newline separated. */
void wt_log_clear(void);
bool wt_log_has(const char *needle);
const char *wt_log_text(void);

/* <dir>/<16 hex>.wal, malloc'd. */
char *wt_seg_path(const char *dir, uint64_t seq);
/* Number of entries in dir whose name ends with suffix. */
size_t wt_count(const char *dir, const char *suffix);
/* Whole-file helpers. */
uint8_t *wt_read_file(const char *path, size_t *len);
void wt_write_file(const char *path, const uint8_t *buf, size_t len);
/* CRC-32C of every file in dir (name and contents), to prove a refusal
 * modified nothing. */
uint32_t wt_dir_digest(const char *dir);

uint64_t wt_rand(uint64_t *state);

#endif
