/*
 * The watch key-range index (server/watch_index.h): a key finds exactly
 * the watchers whose key or range holds it, across adds and removes, and
 * the cost of a lookup follows the matches, not the number of watchers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/watch_index.h"

struct entry {
	struct watch_key k;
	char key[16], end[16];
	int hits;
	bool in;
};

static void set_single(struct entry *e, const char *key)
{
	memset(e, 0, sizeof *e);
	snprintf(e->key, sizeof e->key, "%s", key);
	e->k.key = (const uint8_t *)e->key;
	e->k.key_len = strlen(e->key);
}

/* end NULL: to +inf ("\0" range end) */
static void set_range(struct entry *e, const char *key, const char *end)
{
	set_single(e, key);
	e->k.is_range = true;
	if (end) {
		snprintf(e->end, sizeof e->end, "%s", end);
		e->k.end = (const uint8_t *)e->end;
		e->k.end_len = strlen(e->end);
	}
}

static void count_hit(void *arg, struct watch_key *k)
{
	(*(int *)arg)++;
	((struct entry *)k)->hits++;
}

static int visit(struct watch_index *x, const char *key)
{
	int n = 0;
	watch_index_visit(x, (const uint8_t *)key, strlen(key), count_hit, &n);
	return n;
}

Test(watch_index, single_keys_match_only_themselves)
{
	struct watch_index x;
	watch_index_init(&x);
	struct entry a, b, a2;
	set_single(&a, "a");
	set_single(&b, "b");
	set_single(&a2, "a");
	cr_assert_eq(watch_index_add(&x, &a.k), 0);
	cr_assert_eq(watch_index_add(&x, &b.k), 0);
	cr_assert_eq(watch_index_add(&x, &a2.k), 0);
	cr_assert_eq(visit(&x, "a"), 2);
	cr_assert_eq(visit(&x, "b"), 1);
	cr_assert_eq(visit(&x, "ab"), 0);
	cr_assert_eq(visit(&x, ""), 0);
	watch_index_remove(&x, &a.k);
	cr_assert_eq(visit(&x, "a"), 1);
	cr_assert_eq(a2.hits, 2);
	cr_assert_eq(watch_index_count(&x), 2);
	watch_index_free(&x);
}

Test(watch_index, ranges_are_half_open_and_null_end_is_unbounded)
{
	struct watch_index x;
	watch_index_init(&x);
	struct entry r1, r2, all;
	set_range(&r1, "b", "d");  /* [b, d) */
	set_range(&r2, "c", NULL); /* [c, +inf) */
	set_range(&all, "\x01", NULL);
	watch_index_add(&x, &r1.k);
	watch_index_add(&x, &r2.k);
	watch_index_add(&x, &all.k);
	cr_assert_eq(visit(&x, "a"), 1);
	cr_assert_eq(visit(&x, "b"), 2);
	cr_assert_eq(visit(&x, "c"), 3);
	cr_assert_eq(visit(&x, "cz"), 3);
	cr_assert_eq(visit(&x, "d"), 2); /* end is exclusive */
	cr_assert_eq(visit(&x, "zzz"), 2);
	cr_assert(watch_key_matches(&r1.k, (const uint8_t *)"bb", 2));
	cr_assert_not(watch_key_matches(&r1.k, (const uint8_t *)"d", 1));
	watch_index_remove(&x, &r2.k);
	cr_assert_eq(visit(&x, "c"), 2);
	watch_index_free(&x);
}

/* A prefix watcher: "foo" .. "fop" (etcd's prefix end). */
Test(watch_index, prefix_range_holds_longer_keys_only)
{
	struct watch_index x;
	watch_index_init(&x);
	struct entry p;
	set_range(&p, "foo", "fop");
	watch_index_add(&x, &p.k);
	cr_assert_eq(visit(&x, "foo"), 1);
	cr_assert_eq(visit(&x, "foo/bar"), 1);
	cr_assert_eq(visit(&x, "fo"), 0);
	cr_assert_eq(visit(&x, "fop"), 0);
	watch_index_free(&x);
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void rand_key(uint32_t *s, char *out)
{
	int len = 1 + (int)(rnd(s) % 3);
	for (int i = 0; i < len; i++)
		out[i] = (char)('a' + rnd(s) % 6);
	out[len] = 0;
}

/* Random adds and removes of keys and ranges, every lookup checked
 * against a linear scan. */
Test(watch_index, agrees_with_a_linear_scan_under_random_churn)
{
	enum {
		N = 600,
		ROUNDS = 4000
	};
	struct entry *e = calloc(N, sizeof *e);
	struct watch_index x;
	watch_index_init(&x);
	uint32_t seed = 12345;
	for (int r = 0; r < ROUNDS; r++) {
		struct entry *t = &e[rnd(&seed) % N];
		if (t->in) {
			watch_index_remove(&x, &t->k);
			t->in = false;
		} else {
			char k1[8], k2[8];
			rand_key(&seed, k1);
			switch (rnd(&seed) % 3) {
			case 0:
				set_single(t, k1);
				break;
			case 1:
				rand_key(&seed, k2);
				if (strcmp(k1, k2) < 0)
					set_range(t, k1, k2);
				else if (strcmp(k1, k2) > 0)
					set_range(t, k2, k1);
				else
					set_single(t, k1);
				break;
			default:
				set_range(t, k1, NULL);
				break;
			}
			cr_assert_eq(watch_index_add(&x, &t->k), 0);
			t->in = true;
		}
		char probe[8];
		rand_key(&seed, probe);
		for (int i = 0; i < N; i++)
			e[i].hits = 0;
		int got = visit(&x, probe);
		int want = 0;
		for (int i = 0; i < N; i++) {
			bool m = e[i].in &&
			         watch_key_matches(&e[i].k, (const uint8_t *)probe, strlen(probe));
			want += m;
			cr_assert_eq(e[i].hits, m ? 1 : 0, "round %d entry %d probe %s", r, i,
			             probe);
		}
		cr_assert_eq(got, want);
	}
	watch_index_free(&x);
	free(e);
}

/* Ten thousand watchers on other keys and ranges elsewhere: a lookup of a
 * key with two watchers visits two entries, and add/remove stay cheap with
 * thousands of watchers on one key. */
Test(watch_index, many_watchers_cost_only_their_matches)
{
	enum {
		N = 10000
	};
	struct entry *e = calloc(2 * N, sizeof *e);
	struct watch_index x;
	watch_index_init(&x);
	for (int i = 0; i < N; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%05d", i);
		set_single(&e[i], k);
		watch_index_add(&x, &e[i].k);
		char b[16], en[16];
		snprintf(b, sizeof b, "r%05d", i);
		snprintf(en, sizeof en, "r%05d~", i);
		set_range(&e[N + i], b, en);
		watch_index_add(&x, &e[N + i].k);
	}
	cr_assert_eq(visit(&x, "k01234"), 1);
	cr_assert_eq(visit(&x, "r01234x"), 1);
	cr_assert_eq(visit(&x, "q"), 0);
	for (int i = 0; i < 2 * N; i++)
		watch_index_remove(&x, &e[i].k);
	cr_assert_eq(watch_index_count(&x), 0);

	/* same key, N times */
	for (int i = 0; i < N; i++) {
		set_single(&e[i], "hot");
		watch_index_add(&x, &e[i].k);
	}
	cr_assert_eq(visit(&x, "hot"), N);
	for (int i = 0; i < N; i += 2)
		watch_index_remove(&x, &e[i].k);
	cr_assert_eq(visit(&x, "hot"), N / 2);
	watch_index_free(&x);
	free(e);
}
