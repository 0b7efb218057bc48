/*
 * server/watch_index.h - which watchers a key belongs to.
 *
 * The watch hub keeps its watchers in two of these (synced and unsynced)
 * and asks, for every event's key, which watchers it matches. The cost of a
 * lookup is the number of matching entries plus a small term, never the
 * number of entries: a put on one key with ten thousand watchers elsewhere
 * touches none of them.
 *
 *   - Single-key entries live in a hash table of chains; every entry with
 *     the same key lands in the same chain.
 *   - Range entries ([key, end), or [key, +inf) for etcd's "\0" range end)
 *     live in a treap ordered by start key and augmented with the largest
 *     end of each subtree: an interval tree, as etcd's adt.IntervalTree.
 *
 * Entries are intrusive (embedded in the watcher) and point at key bytes the
 * caller owns and keeps unchanged while the entry is in an index. No
 * allocation per entry; the hash table grows by doubling.
 */
#ifndef CAIRN_SERVER_WATCH_INDEX_H
#define CAIRN_SERVER_WATCH_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch_key {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *end; /* range end (exclusive); meaningful if is_range */
	size_t end_len;     /* 0 with is_range: no upper bound */
	bool is_range;

	/* private */
	struct watch_key *hnext, **hpprev;       /* hash chain */
	struct watch_key *left, *right, *parent; /* treap */
	uint32_t prio;
	const struct watch_key *max_end; /* entry with the largest end below */
};

struct watch_index {
	struct watch_key **buckets;
	size_t n_buckets; /* power of two, or 0 */
	size_t n_single;
	struct watch_key *root;
	size_t n_range;
	uint32_t seed;
};

void watch_index_init(struct watch_index *x);
/* Frees the hash table; entries still in it are forgotten, not touched. */
void watch_index_free(struct watch_index *x);

/* Allocates the hash table now, so that later adds cannot fail. Returns 0
 * or -ENOMEM. */
int watch_index_reserve(struct watch_index *x);

/* Adds e (its key fields set). Returns 0 or -ENOMEM (e not added): only
 * if the index was never reserved and the first table cannot be had; a
 * failed growth later only lengthens the chains. */
int watch_index_add(struct watch_index *x, struct watch_key *e);
/* Removes e, which must be in x. */
void watch_index_remove(struct watch_index *x, struct watch_key *e);

static inline size_t watch_index_count(const struct watch_index *x)
{
	return x->n_single + x->n_range;
}

/* True if key lies in e's key or range. */
bool watch_key_matches(const struct watch_key *e, const uint8_t *key, size_t key_len);

/*
 * Calls fn for every entry matching key. The index must not be modified
 * during the visit (collect first, act after).
 */
typedef void (*watch_index_fn)(void *arg, struct watch_key *e);
void watch_index_visit(const struct watch_index *x, const uint8_t *key, size_t key_len,
                       watch_index_fn fn, void *arg);

#endif
