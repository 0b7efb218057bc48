/*
 * Watch IDs of one stream (server/watch_ids.h), etcd's rules: automatic
 * IDs count from 0, skip IDs in use and never go back; explicit IDs are
 * used as given and refused when taken.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "server/watch_ids.h"

/* Entries come from here (each test runs in its own process). */
static struct watch_id_entry pool[8192];
static size_t pool_used;

static struct watch_id_entry *add(struct watch_ids *ids, int64_t requested, int64_t *got)
{
	int64_t id;
	if (watch_ids_pick(ids, requested, &id))
		return NULL;
	cr_assert_lt(pool_used, sizeof pool / sizeof *pool);
	struct watch_id_entry *e = &pool[pool_used++];
	e->id = id;
	cr_assert_eq(watch_ids_insert(ids, e), 0);
	if (got)
		*got = id;
	return e;
}

Test(watch_ids, automatic_ids_count_from_zero)
{
	struct watch_ids ids;
	watch_ids_init(&ids);
	int64_t a, b, c;
	add(&ids, 0, &a);
	add(&ids, 0, &b);
	add(&ids, 0, &c);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(c, 2);
	watch_ids_free(&ids);
}

Test(watch_ids, automatic_ids_skip_explicit_ones_in_use)
{
	struct watch_ids ids;
	watch_ids_init(&ids);
	int64_t x;
	add(&ids, 1, &x);
	add(&ids, 2, &x);
	cr_assert_eq(x, 2);
	add(&ids, 0, &x);
	cr_assert_eq(x, 0);
	add(&ids, 0, &x);
	cr_assert_eq(x, 3, "1 and 2 are taken");
	watch_ids_free(&ids);
}

Test(watch_ids, automatic_ids_are_not_reused_after_cancel)
{
	struct watch_ids ids;
	watch_ids_init(&ids);
	int64_t x;
	struct watch_id_entry *e0 = add(&ids, 0, &x);
	watch_ids_remove(&ids, e0);
	cr_assert_null(watch_ids_find(&ids, 0));
	add(&ids, 0, &x);
	cr_assert_eq(x, 1);
	/* but an explicit request may take a freed ID */
	add(&ids, 0 + 5, &x);
	cr_assert_eq(x, 5);
	watch_ids_free(&ids);
}

Test(watch_ids, explicit_id_in_use_is_refused)
{
	struct watch_ids ids;
	watch_ids_init(&ids);
	int64_t x;
	add(&ids, 7, &x);
	cr_assert_eq(watch_ids_pick(&ids, 7, &x), -EEXIST);
	add(&ids, 0, &x);
	cr_assert_eq(x, 0);
	cr_assert_eq(watch_ids_pick(&ids, 0 + 0, &x), 0);
	cr_assert_eq(x, 1, "the counter moves on each automatic pick");
	watch_ids_free(&ids);
}

Test(watch_ids, thousands_of_ids_stay_findable)
{
	struct watch_ids ids;
	watch_ids_init(&ids);
	struct watch_id_entry *es[5000];
	for (int i = 0; i < 5000; i++) {
		int64_t x;
		es[i] = add(&ids, 0, &x);
		cr_assert_eq(x, i);
	}
	for (int i = 0; i < 5000; i += 3)
		watch_ids_remove(&ids, es[i]);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(watch_ids_find(&ids, i) != NULL, i % 3 != 0);
	cr_assert_eq(ids.n, 5000 - 1667);
	watch_ids_free(&ids);
}
