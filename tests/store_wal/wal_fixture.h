/*
 * The Criterion fixture of the WAL unit tests: each test gets a fresh
 * directory and a clean log capture. Included by each test file (it
 * defines static functions).
 */
#ifndef CAIRN_TESTS_WAL_FIXTURE_H
#define CAIRN_TESTS_WAL_FIXTURE_H

#include <criterion/criterion.h>

#include "wal_helpers.h"

static char *dir;

static void setup(void)
{
	dir = wt_mkdtemp();
	wt_log_clear();
}

static void teardown(void)
{
	wt_rmtree(dir);
}

/* Opens the WAL in d (options o, or wt_options() if NULL) or fails the
 * test, printing the WAL's log lines. */
static inline struct store_wal *open_in(const char *d, const struct store_wal_options *o,
                                        struct store_wal_state *st)
{
	struct store_wal_options def = wt_options();
	struct store_wal *w = NULL;
	int rc = store_wal_open(d, o ? o : &def, &w, st);
	cr_assert_eq(rc, 0, "open %s: %s\n%s", d, store_wal_strerror(rc), wt_log_text());
	return w;
}

#endif
