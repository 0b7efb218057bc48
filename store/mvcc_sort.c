/*
 * store/mvcc_sort.c - Range sorting with etcd's exact tie order.
 *
 * etcd sorts Range results with Go's sort.Sort, which is not stable: keys
 * with equal versions (or create/mod revisions, or values) come out in an
 * order that depends on the algorithm, and with a limit the algorithm even
 * decides which keys are returned. To answer exactly as etcd 3.4.23 does
 * (built with Go 1.19), this is the same algorithm: pattern-defeating
 * quicksort as Go 1.19's sort package implements it (src/sort/
 * zsortinterface.go, sort.go: insertion sort up to 12 elements, Tukey's
 * ninther, partial insertion sort on presorted input, the xorshift pattern
 * breaker, heapsort fallback), driven through the same Less and Swap calls.
 * DESCEND is sort.Reverse: Less with its arguments swapped. The golden
 * tests compare tie orders with a real etcd's.
 */
#include <string.h>

#include "store/mvcc_internal.h"

struct sorter {
	Mvccpb__KeyValue **kv;
	Etcdserverpb__RangeRequest__SortTarget target;
	bool reverse;
};

static int sort__bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return mvcc__bytes_cmp(a->data, a->len, b->data, b->len);
}

/* etcd's kvSortBy*.Less: (a - b) < 0 with Go's wrapping int64 arithmetic. */
static bool sort__diff_neg(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b) < 0;
}

static bool sort__less_fwd(const struct sorter *s, size_t i, size_t j)
{
	const Mvccpb__KeyValue *a = s->kv[i], *b = s->kv[j];
	switch (s->target) {
	case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION:
		return sort__diff_neg(a->version, b->version);
	case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE:
		return sort__diff_neg(a->create_revision, b->create_revision);
	case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD:
		return sort__diff_neg(a->mod_revision, b->mod_revision);
	case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE:
		return sort__bytes(&a->value, &b->value) < 0;
	case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY:
	default:
		return sort__bytes(&a->key, &b->key) < 0;
	}
}

static bool less(const struct sorter *s, size_t i, size_t j)
{
	return s->reverse ? sort__less_fwd(s, j, i) : sort__less_fwd(s, i, j);
}

static void swap(struct sorter *s, size_t i, size_t j)
{
	Mvccpb__KeyValue *t = s->kv[i];
	s->kv[i] = s->kv[j];
	s->kv[j] = t;
}

static int bits_len(uint64_t x)
{
	int n = 0;
	while (x) {
		n++;
		x >>= 1;
	}
	return n;
}

static void insertion_sort(struct sorter *s, size_t a, size_t b)
{
	for (size_t i = a + 1; i < b; i++)
		for (size_t j = i; j > a && less(s, j, j - 1); j--)
			swap(s, j, j - 1);
}

static void sift_down(struct sorter *s, size_t lo, size_t hi, size_t first)
{
	size_t root = lo;
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= hi)
			return;
		if (child + 1 < hi && less(s, first + child, first + child + 1))
			child++;
		if (!less(s, first + root, first + child))
			return;
		swap(s, first + root, first + child);
		root = child;
	}
}

static void heap_sort(struct sorter *s, size_t a, size_t b)
{
	size_t first = a, hi = b - a;
	for (size_t i = (hi - 1) / 2 + 1; i-- > 0;)
		sift_down(s, i, hi, first);
	for (size_t i = hi; i-- > 0;) {
		swap(s, first, first + i);
		sift_down(s, 0, i, first);
	}
}

enum {
	HINT_UNKNOWN,
	HINT_INCREASING,
	HINT_DECREASING
};

static size_t order2(struct sorter *s, size_t a, size_t b, int *swaps, size_t *hi)
{
	if (less(s, b, a)) {
		(*swaps)++;
		*hi = a;
		return b;
	}
	*hi = b;
	return a;
}

static size_t median(struct sorter *s, size_t a, size_t b, size_t c, int *swaps)
{
	a = order2(s, a, b, swaps, &b);
	b = order2(s, b, c, swaps, &c);
	a = order2(s, a, b, swaps, &b);
	(void)a;
	(void)c;
	return b;
}

static size_t median_adjacent(struct sorter *s, size_t a, int *swaps)
{
	return median(s, a - 1, a, a + 1, swaps);
}

static size_t choose_pivot(struct sorter *s, size_t a, size_t b, int *hint)
{
	const size_t shortest_ninther = 50;
	const int max_swaps = 4 * 3;
	size_t l = b - a;
	int swaps = 0;
	size_t i = a + l / 4 * 1, j = a + l / 4 * 2, k = a + l / 4 * 3;
	if (l >= 8) {
		if (l >= shortest_ninther) {
			i = median_adjacent(s, i, &swaps);
			j = median_adjacent(s, j, &swaps);
			k = median_adjacent(s, k, &swaps);
		}
		j = median(s, i, j, k, &swaps);
	}
	*hint = swaps == 0 ? HINT_INCREASING : swaps == max_swaps ? HINT_DECREASING : HINT_UNKNOWN;
	return j;
}

static void reverse_range(struct sorter *s, size_t a, size_t b)
{
	size_t i = a, j = b - 1;
	while (i < j) {
		swap(s, i, j);
		i++;
		j--;
	}
}

static bool partial_insertion_sort(struct sorter *s, size_t a, size_t b)
{
	const int max_steps = 5;
	const size_t shortest_shifting = 50;
	size_t i = a + 1;
	for (int step = 0; step < max_steps; step++) {
		while (i < b && !less(s, i, i - 1))
			i++;
		if (i == b)
			return true;
		if (b - a < shortest_shifting)
			return false;
		swap(s, i, i - 1);
		if (i - a >= 2) {
			for (size_t j = i - 1; j >= 1; j--) {
				if (!less(s, j, j - 1))
					break;
				swap(s, j, j - 1);
			}
		}
		if (b - i >= 2) {
			for (size_t j = i + 1; j < b; j++) {
				if (!less(s, j, j - 1))
					break;
				swap(s, j, j - 1);
			}
		}
	}
	return false;
}

static void break_patterns(struct sorter *s, size_t a, size_t b)
{
	size_t length = b - a;
	if (length < 8)
		return;
	uint64_t random = length; /* Go 1.19: xorshift seeded with the length */
	uint64_t modulus = 1ull << bits_len(length);
	for (size_t idx = a + (length / 4) * 2 - 1; idx <= a + (length / 4) * 2 + 1; idx++) {
		random ^= random << 13;
		random ^= random >> 17;
		random ^= random << 5;
		size_t other = (size_t)(random & (modulus - 1));
		if (other >= length)
			other -= length;
		swap(s, idx, a + other);
	}
}

static size_t partition_equal(struct sorter *s, size_t a, size_t b, size_t pivot)
{
	swap(s, a, pivot);
	/* i, j inclusive; j may go to a (signed in Go): keep it signed here. */
	ptrdiff_t i = (ptrdiff_t)a + 1, j = (ptrdiff_t)b - 1;
	for (;;) {
		while (i <= j && !less(s, a, (size_t)i))
			i++;
		while (i <= j && less(s, a, (size_t)j))
			j--;
		if (i > j)
			break;
		swap(s, (size_t)i, (size_t)j);
		i++;
		j--;
	}
	return (size_t)i;
}

static size_t partition(struct sorter *s, size_t a, size_t b, size_t pivot, bool *already)
{
	swap(s, a, pivot);
	ptrdiff_t i = (ptrdiff_t)a + 1, j = (ptrdiff_t)b - 1;
	while (i <= j && less(s, (size_t)i, a))
		i++;
	while (i <= j && !less(s, (size_t)j, a))
		j--;
	if (i > j) {
		swap(s, (size_t)j, a);
		*already = true;
		return (size_t)j;
	}
	swap(s, (size_t)i, (size_t)j);
	i++;
	j--;
	for (;;) {
		while (i <= j && less(s, (size_t)i, a))
			i++;
		while (i <= j && !less(s, (size_t)j, a))
			j--;
		if (i > j)
			break;
		swap(s, (size_t)i, (size_t)j);
		i++;
		j--;
	}
	swap(s, (size_t)j, a);
	*already = false;
	return (size_t)j;
}

static void pdqsort(struct sorter *s, size_t a, size_t b, int limit)
{
	const size_t max_insertion = 12;
	bool was_balanced = true, was_partitioned = true;
	for (;;) {
		size_t length = b - a;
		if (length <= max_insertion) {
			insertion_sort(s, a, b);
			return;
		}
		if (limit == 0) {
			heap_sort(s, a, b);
			return;
		}
		if (!was_balanced) {
			break_patterns(s, a, b);
			limit--;
		}
		int hint;
		size_t pivot = choose_pivot(s, a, b, &hint);
		if (hint == HINT_DECREASING) {
			reverse_range(s, a, b);
			pivot = (b - 1) - (pivot - a);
			hint = HINT_INCREASING;
		}
		if (was_balanced && was_partitioned && hint == HINT_INCREASING) {
			if (partial_insertion_sort(s, a, b))
				return;
		}
		if (a > 0 && !less(s, a - 1, pivot)) {
			a = partition_equal(s, a, b, pivot);
			continue;
		}
		bool already;
		size_t mid = partition(s, a, b, pivot, &already);
		was_partitioned = already;
		size_t left = mid - a, right = b - mid;
		size_t balance_threshold = length / 8;
		if (left < right) {
			was_balanced = left >= balance_threshold;
			pdqsort(s, a, mid, limit);
			a = mid + 1;
		} else {
			was_balanced = right >= balance_threshold;
			pdqsort(s, mid + 1, b, limit);
			b = mid;
		}
	}
}

void mvcc__sort_kvs(Mvccpb__KeyValue **kvs, size_t n, Etcdserverpb__RangeRequest__SortTarget target,
                    bool descending)
{
	if (n <= 1)
		return;
	struct sorter s = {.kv = kvs, .target = target, .reverse = descending};
	pdqsort(&s, 0, n, bits_len(n));
}
