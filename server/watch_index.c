/*
 * server/watch_index.c - the key and key-range index of watchers (see
 * watch_index.h). A hash table for single keys, a treap interval tree for
 * ranges; both intrusive.
 */
#include "server/watch_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static uint64_t hash_key(const uint8_t *p, size_t n)
{
	/* FNV-1a, then a final mix so that the low bits (the bucket) depend
	 * on every byte. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

void watch_index_init(struct watch_index *x)
{
	memset(x, 0, sizeof *x);
	x->seed = 0x9e3779b9u;
}

void watch_index_free(struct watch_index *x)
{
	free(x->buckets);
	x->buckets = NULL;
	x->n_buckets = 0;
	x->n_single = 0;
	x->root = NULL;
	x->n_range = 0;
}

bool watch_key_matches(const struct watch_key *e, const uint8_t *key, size_t key_len)
{
	if (!e->is_range)
		return bytes_cmp(e->key, e->key_len, key, key_len) == 0;
	if (bytes_cmp(e->key, e->key_len, key, key_len) > 0)
		return false;
	return e->end_len == 0 || bytes_cmp(key, key_len, e->end, e->end_len) < 0;
}

/* ---- single keys: hash chains ------------------------------------------ */

static void chain_link(struct watch_key **head, struct watch_key *e)
{
	e->hnext = *head;
	if (e->hnext)
		e->hnext->hpprev = &e->hnext;
	e->hpprev = head;
	*head = e;
}

static int grow(struct watch_index *x)
{
	size_t n = x->n_buckets ? x->n_buckets * 2 : 64;
	struct watch_key **b = calloc(n, sizeof *b);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < x->n_buckets; i++) {
		struct watch_key *e = x->buckets[i];
		/* Order among watchers is not part of the contract: prepend. */
		while (e) {
			struct watch_key *next = e->hnext;
			chain_link(&b[hash_key(e->key, e->key_len) & (n - 1)], e);
			e = next;
		}
	}
	free(x->buckets);
	x->buckets = b;
	x->n_buckets = n;
	return 0;
}

/* ---- ranges: treap ordered by (start key, entry address) --------------- */

static int order(const struct watch_key *a, const struct watch_key *b)
{
	int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
	if (c)
		return c;
	return a < b ? -1 : a > b;
}

/* 1 if a's end is beyond b's end (no end = +inf). */
static bool end_gt(const struct watch_key *a, const struct watch_key *b)
{
	if (a->end_len == 0)
		return b->end_len != 0;
	if (b->end_len == 0)
		return false;
	return bytes_cmp(a->end, a->end_len, b->end, b->end_len) > 0;
}

static void augment(struct watch_key *n)
{
	const struct watch_key *m = n;
	if (n->left && end_gt(n->left->max_end, m))
		m = n->left->max_end;
	if (n->right && end_gt(n->right->max_end, m))
		m = n->right->max_end;
	n->max_end = m;
}

static void augment_up(struct watch_key *n)
{
	for (; n; n = n->parent)
		augment(n);
}

static void replace_child(struct watch_index *x, struct watch_key *parent, struct watch_key *old,
                          struct watch_key *new)
{
	if (!parent)
		x->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
	if (new)
		new->parent = parent;
}

/* Rotates n's child c above n. */
static void rotate_up(struct watch_index *x, struct watch_key *c)
{
	struct watch_key *n = c->parent;
	replace_child(x, n->parent, n, c);
	if (n->left == c) {
		n->left = c->right;
		if (n->left)
			n->left->parent = n;
		c->right = n;
	} else {
		n->right = c->left;
		if (n->right)
			n->right->parent = n;
		c->left = n;
	}
	n->parent = c;
	augment(n);
	augment(c);
}

static uint32_t next_prio(struct watch_index *x)
{
	/* xorshift32: priorities need only be well spread, not secret. */
	uint32_t s = x->seed;
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	x->seed = s;
	return s;
}

static void treap_insert(struct watch_index *x, struct watch_key *e)
{
	e->left = e->right = NULL;
	e->prio = next_prio(x);
	e->max_end = e;
	struct watch_key *p = NULL, **link = &x->root;
	while (*link) {
		p = *link;
		link = order(e, p) < 0 ? &p->left : &p->right;
	}
	*link = e;
	e->parent = p;
	augment_up(p);
	while (e->parent && e->parent->prio < e->prio)
		rotate_up(x, e);
	augment_up(e->parent);
}

static void treap_remove(struct watch_index *x, struct watch_key *e)
{
	while (e->left && e->right)
		rotate_up(x, e->left->prio > e->right->prio ? e->left : e->right);
	struct watch_key *child = e->left ? e->left : e->right;
	struct watch_key *p = e->parent;
	replace_child(x, p, e, child);
	augment_up(p);
	e->left = e->right = e->parent = NULL;
}

/* ---- public --------------------------------------------------------------- */

int watch_index_reserve(struct watch_index *x)
{
	return x->n_buckets ? 0 : grow(x);
}

int watch_index_add(struct watch_index *x, struct watch_key *e)
{
	if (e->is_range) {
		treap_insert(x, e);
		x->n_range++;
		return 0;
	}
	if (x->n_single + 1 > x->n_buckets) {
		int rc = grow(x);
		if (rc && !x->n_buckets)
			return rc; /* with a table, a failed grow only lengthens chains */
	}
	chain_link(&x->buckets[hash_key(e->key, e->key_len) & (x->n_buckets - 1)], e);
	x->n_single++;
	return 0;
}

void watch_index_remove(struct watch_index *x, struct watch_key *e)
{
	if (e->is_range) {
		treap_remove(x, e);
		x->n_range--;
		return;
	}
	*e->hpprev = e->hnext;
	if (e->hnext)
		e->hnext->hpprev = e->hpprev;
	e->hnext = NULL;
	e->hpprev = NULL;
	x->n_single--;
}

static void visit_ranges(const struct watch_key *n, const uint8_t *key, size_t key_len,
                         watch_index_fn fn, void *arg)
{
	while (n) {
		/* Every interval below ends at or before key: nothing here. */
		const struct watch_key *m = n->max_end;
		if (m->end_len && bytes_cmp(key, key_len, m->end, m->end_len) >= 0)
			return;
		visit_ranges(n->left, key, key_len, fn, arg);
		/* n and its right subtree start after key: done. */
		if (bytes_cmp(n->key, n->key_len, key, key_len) > 0)
			return;
		if (n->end_len == 0 || bytes_cmp(key, key_len, n->end, n->end_len) < 0)
			fn(arg, (struct watch_key *)n);
		n = n->right; /* tail call by hand */
	}
}

void watch_index_visit(const struct watch_index *x, const uint8_t *key, size_t key_len,
                       watch_index_fn fn, void *arg)
{
	if (x->n_single) {
		struct watch_key *e = x->buckets[hash_key(key, key_len) & (x->n_buckets - 1)];
		for (; e; e = e->hnext)
			if (bytes_cmp(e->key, e->key_len, key, key_len) == 0)
				fn(arg, e);
	}
	if (x->root)
		visit_ranges(x->root, key, key_len, fn, arg);
}
