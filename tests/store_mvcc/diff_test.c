/*
 * tests/store_mvcc/diff_test.c - the differential test: a random sequence of
 * puts, deletes, txns (nested, with compares), compactions, lease grants and
 * revokes and ranges with every option, applied to the store and to the
 * model (model.c), compared after every step:
 *
 *   - every response, packed, byte for byte (errors by code);
 *   - the change feed of every batch against the model's events;
 *   - the whole key space at the current revision;
 *   - every 8 steps: a range at an old revision, HashKV (the model hashes
 *     with protobuf-c and a bitwise CRC, independently of the store), and
 *     the watch history from a random revision.
 *
 * Between steps the store is driven as the server drives it: batches of
 * one to four requests, physical compaction in small random steps, and now
 * and then a close and reopen, a defragmentation, or a snapshot restored
 * into a second store that must answer the same.
 *
 * Keys come from a small pool that mixes prefixes, NUL bytes, 0xff bytes
 * and keys longer than LMDB's 511-byte limit sharing a 479-byte prefix.
 *
 * Usage: store_mvcc_diff_test [seed [ops]]; or MVCC_DIFF_SEED / MVCC_DIFF_OPS.
 * The seed is printed first; a failure prints the step and the seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "model.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rn(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

static bool chance(int percent)
{
	return rn(100) < percent;
}

/* ---- the key and value pools ---- */

#define N_KEYS 22
static ProtobufCBinaryData keys[N_KEYS];

static ProtobufCBinaryData mk(const void *p, size_t n)
{
	ProtobufCBinaryData b = {n, malloc(n + 1)};
	memcpy(b.data, p, n);
	return b;
}

static ProtobufCBinaryData mk_long(char fill, size_t n, const char *suffix, size_t slen)
{
	ProtobufCBinaryData b = {n + slen, malloc(n + slen + 1)};
	memset(b.data, fill, n);
	memcpy(b.data + n, suffix, slen);
	return b;
}

static void init_keys(void)
{
	int i = 0;
	keys[i++] = mk("a", 1);
	keys[i++] = mk("ab", 2);
	keys[i++] = mk("abc", 3);
	keys[i++] = mk("b", 1);
	keys[i++] = mk("b\0", 2);
	keys[i++] = mk("b\0\0", 3);
	keys[i++] = mk("c", 1);
	keys[i++] = mk("cd", 2);
	keys[i++] = mk("z", 1);
	keys[i++] = mk("\xff", 1);
	keys[i++] = mk("\xff\xff", 2);
	keys[i++] = mk("\x01", 1);
	keys[i++] = mk_long('L', 479, "", 0);  /* longest short key */
	keys[i++] = mk_long('L', 479, "a", 1); /* long, shares the prefix */
	keys[i++] = mk_long('L', 479, "b", 1);
	keys[i++] = mk_long('L', 479, "\0", 1);
	keys[i++] = mk_long('L', 479, "ab", 2);
	keys[i++] = mk_long('L', 479,
	                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64);
	keys[i++] = mk_long('L', 478, "M", 1);  /* short, inside the long keys' span */
	keys[i++] = mk_long('L', 478, "Mx", 2); /* long with another prefix */
	keys[i++] = mk_long('L', 478, "K", 1);
	keys[i++] = mk_long('L', 700, "", 0);
	if (i != N_KEYS)
		abort();
}

static const char *vals[] = {"", "x", "y", "xy", "value", "\0\0", "zzz", "a"};

static ProtobufCBinaryData pick_key(void)
{
	return keys[rn(N_KEYS)];
}

static ProtobufCBinaryData pick_value(struct store_mvcc_arena *a)
{
	if (chance(3)) {
		size_t n = 500 + (size_t)rn(4000);
		ProtobufCBinaryData b = {n, store_mvcc_arena_alloc(a, n)};
		memset(b.data, 'A' + rn(26), n);
		return b;
	}
	const char *v = vals[rn(8)];
	size_t n = strlen(v);
	if (!n && rn(2)) {
		v = "\0\0";
		n = 2;
	}
	ProtobufCBinaryData b = {n, store_mvcc_arena_alloc(a, n + 1)};
	if (n)
		memcpy(b.data, v, n);
	return b;
}

/* A range end for key: none (single key), "\0" (from key), a pool key, or
 * the key's prefix end. */
static ProtobufCBinaryData pick_end(struct store_mvcc_arena *a, ProtobufCBinaryData key)
{
	switch (rn(5)) {
	case 0:
		return (ProtobufCBinaryData){0, NULL};
	case 1:
		return (ProtobufCBinaryData){1, (uint8_t *)""};
	case 2: {
		ProtobufCBinaryData e = {key.len, store_mvcc_arena_alloc(a, key.len + 1)};
		memcpy(e.data, key.data, key.len);
		while (e.len && e.data[e.len - 1] == 0xff)
			e.len--;
		if (!e.len)
			return (ProtobufCBinaryData){1, (uint8_t *)""};
		e.data[e.len - 1]++;
		return e;
	}
	default:
		return pick_key();
	}
}

static int64_t n_leases_ids[] = {0, 1, 2, 3, 99};

/* ---- request generators ---- */

static struct store_mvcc_arena req_arena;

static void *ralloc(size_t n)
{
	void *p = store_mvcc_arena_alloc(&req_arena, n);
	memset(p, 0, n);
	return p;
}

static Etcdserverpb__PutRequest *gen_put(void)
{
	Etcdserverpb__PutRequest *p = ralloc(sizeof(*p));
	etcdserverpb__put_request__init(p);
	p->key = pick_key();
	p->value = pick_value(&req_arena);
	if (chance(15))
		p->lease = n_leases_ids[rn(5)];
	p->prev_kv = chance(30);
	if (chance(6)) {
		p->ignore_value = true;
		if (!chance(20))
			p->value.len = 0;
	}
	if (chance(6)) {
		p->ignore_lease = true;
		if (!chance(20))
			p->lease = 0;
	}
	if (chance(1))
		p->key.len = 0;
	return p;
}

static Etcdserverpb__DeleteRangeRequest *gen_del(void)
{
	Etcdserverpb__DeleteRangeRequest *d = ralloc(sizeof(*d));
	etcdserverpb__delete_range_request__init(d);
	d->key = pick_key();
	d->range_end = chance(50) ? (ProtobufCBinaryData){0, NULL} : pick_end(&req_arena, d->key);
	d->prev_kv = chance(40);
	return d;
}

static Etcdserverpb__RangeRequest *gen_range(int64_t cur, int64_t compact)
{
	Etcdserverpb__RangeRequest *r = ralloc(sizeof(*r));
	etcdserverpb__range_request__init(r);
	r->key = pick_key();
	if (chance(10))
		r->key = (ProtobufCBinaryData){1, (uint8_t *)""};
	r->range_end = pick_end(&req_arena, r->key);
	static const int64_t limits[] = {0, 0, 0, 1, 2, 3, 5, -1};
	r->limit = limits[rn(8)];
	switch (rn(8)) {
	case 0:
		r->revision = cur - rn(5);
		break;
	case 1:
		r->revision = compact + rn(3);
		break;
	case 2:
		r->revision = cur + 1;
		break;
	case 3:
		r->revision = -rn(3);
		break;
	default:
		r->revision = 0;
	}
	if (chance(40)) {
		r->sort_order = rn(3);
		r->sort_target = rn(5);
	}
	r->keys_only = chance(15);
	r->count_only = chance(10);
	if (chance(15))
		r->min_mod_revision = 1 + rn((int)cur + 1);
	if (chance(15))
		r->max_mod_revision = 1 + rn((int)cur + 1);
	if (chance(15))
		r->min_create_revision = 1 + rn((int)cur + 1);
	if (chance(15))
		r->max_create_revision = 1 + rn((int)cur + 1);
	return r;
}

static Etcdserverpb__Compare *gen_compare(int64_t cur)
{
	Etcdserverpb__Compare *c = ralloc(sizeof(*c));
	etcdserverpb__compare__init(c);
	c->key = pick_key();
	if (chance(20))
		c->range_end = pick_end(&req_arena, c->key);
	c->result = rn(4);
	c->target = rn(5);
	int u = chance(90) ? (int)c->target : rn(5);
	switch (u) {
	case 0:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
		c->version = rn(4);
		break;
	case 1:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		c->create_revision = rn((int)cur + 2);
		break;
	case 2:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		c->mod_revision = rn((int)cur + 2);
		break;
	case 3:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
		c->value = pick_value(&req_arena);
		break;
	default:
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
		c->lease = n_leases_ids[rn(5)];
		break;
	}
	return c;
}

static Etcdserverpb__TxnRequest *gen_txn(int depth, int64_t cur, int64_t compact);

static Etcdserverpb__RequestOp *gen_op(int depth, int64_t cur, int64_t compact)
{
	Etcdserverpb__RequestOp *op = ralloc(sizeof(*op));
	etcdserverpb__request_op__init(op);
	int k = rn(depth < 2 ? 10 : 9);
	if (k < 3) {
		op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		op->request_put = gen_put();
	} else if (k < 5) {
		op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op->request_delete_range = gen_del();
	} else if (k < 9) {
		op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
		op->request_range = gen_range(cur, compact);
	} else {
		op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
		op->request_txn = gen_txn(depth + 1, cur, compact);
	}
	if (chance(1))
		op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST__NOT_SET;
	return op;
}

static Etcdserverpb__TxnRequest *gen_txn(int depth, int64_t cur, int64_t compact)
{
	Etcdserverpb__TxnRequest *t = ralloc(sizeof(*t));
	etcdserverpb__txn_request__init(t);
	t->n_compare = (size_t)rn(4);
	t->compare = ralloc((t->n_compare + 1) * sizeof(*t->compare));
	for (size_t i = 0; i < t->n_compare; i++)
		t->compare[i] = gen_compare(cur);
	t->n_success = (size_t)rn(5);
	t->success = ralloc((t->n_success + 1) * sizeof(*t->success));
	for (size_t i = 0; i < t->n_success; i++)
		t->success[i] = gen_op(depth, cur, compact);
	t->n_failure = (size_t)rn(4);
	t->failure = ralloc((t->n_failure + 1) * sizeof(*t->failure));
	for (size_t i = 0; i < t->n_failure; i++)
		t->failure[i] = gen_op(depth, cur, compact);
	return t;
}

/* ---- comparing ---- */

static uint64_t seed;
static long step;

static void dump(const ProtobufCMessage *m, int ind);

static void dump_field(const ProtobufCFieldDescriptor *f, const void *p, int ind)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
		printf("%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
		printf("%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		printf("%s", *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_INT32:
		printf("%d", *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		printf("\"");
		for (size_t i = 0; i < b->len && i < 24; i++)
			printf(b->data[i] >= 32 && b->data[i] < 127 ? "%c" : "\\x%02x", b->data[i]);
		printf(b->len > 24 ? "...\"(%zu)" : "\"", b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(void *const *)p)
			dump(*(const ProtobufCMessage *const *)p, ind + 2);
		else
			printf("null");
		break;
	default:
		printf("?");
	}
}

static void dump(const ProtobufCMessage *m, int ind)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	printf("%s {\n", d->short_name);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *arr = *(const char *const *)base;
			size_t sz = f->type == PROTOBUF_C_TYPE_MESSAGE ? sizeof(void *)
			            : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
			                                               : 8;
			for (size_t j = 0; j < n; j++) {
				printf("%*s%s[%zu]: ", ind + 2, "", f->name, j);
				dump_field(f, arr + j * sz, ind);
				printf("\n");
			}
			continue;
		}
		printf("%*s%s: ", ind + 2, "", f->name);
		dump_field(f, base, ind);
		printf("\n");
	}
	printf("%*s}", ind, "");
}

static void fail(const char *what)
{
	printf("\nMISMATCH at step %ld (seed %" PRIu64 "): %s\n", step, seed, what);
	printf("replay: MVCC_DIFF_SEED=%" PRIu64 " MVCC_DIFF_OPS=%ld store_mvcc_diff_test\n", seed,
	       step + 1);
	exit(1);
}

static void same_msg(const char *what, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	bool same = la == lb && !memcmp(pa, pb, la);
	free(pa);
	free(pb);
	if (same)
		return;
	printf("store: ");
	dump(a, 0);
	printf("\nmodel: ");
	dump(b, 0);
	fail(what);
}

static void same_rc(const char *what, int a, int b)
{
	if (a == b)
		return;
	printf("store: %d (%s)\nmodel: %d (%s)\n", a, store_mvcc_strerror(a), b,
	       store_mvcc_strerror(b));
	fail(what);
}

/* ---- the run ---- */

static char *dir;
static struct store_mvcc *s;
static struct model *m;
static struct store_mvcc_arena resp_arena, feed_arena, model_arena;

static void compare_range(const Etcdserverpb__RangeRequest *r, const char *what)
{
	struct store_mvcc_read *rd;
	if (store_mvcc_read_begin(s, &rd))
		fail("read_begin");
	Etcdserverpb__RangeResponse *a = NULL, *b = NULL;
	int ra = store_mvcc_range(rd, r, &resp_arena, &a);
	int rb = model_range(m, r, &model_arena, &b);
	same_rc(what, ra, rb);
	if (!ra)
		same_msg(what, &a->base, &b->base);
	store_mvcc_read_end(rd);
}

static void compare_all(void)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = (ProtobufCBinaryData){1, (uint8_t *)""};
	r.range_end = (ProtobufCBinaryData){1, (uint8_t *)""};
	compare_range(&r, "whole key space");
}

static void compare_history(void)
{
	int64_t cur = model_rev(m), compact = model_compact_rev(m);
	int64_t lo = compact > 1 ? compact : 1;
	int64_t start = lo + rn((int)(cur - lo + 2));
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = (ProtobufCBinaryData){1, (uint8_t *)""};
	r.range_end = (ProtobufCBinaryData){1, (uint8_t *)""};
	r.revision = start <= cur ? start : cur;
	compare_range(&r, "key space at an old revision");

	struct store_mvcc_read *rd;
	if (store_mvcc_read_begin(s, &rd))
		fail("read_begin");
	int64_t hrev = chance(50) ? 0 : lo + rn((int)(cur - lo + 1));
	uint32_t ha = 0, hb = 0;
	int ra = store_mvcc_hash_kv(rd, hrev, &ha, NULL, NULL);
	int rb = model_hash_kv(m, hrev, &hb);
	same_rc("hash_kv rc", ra, rb);
	if (ha != hb) {
		printf("hash_kv(%" PRId64 "): store %08x model %08x\n", hrev, ha, hb);
		fail("hash_kv");
	}
	struct store_mvcc_events_query q = {.start_revision = start,
	                                    .prev_kv = true,
	                                    .max_events = chance(50) ? 0 : 1 + (size_t)rn(5)};
	Mvccpb__Event **mev;
	size_t mn;
	if (model_events(m, start, &model_arena, &mev, &mn))
		fail("model events");
	size_t got = 0;
	for (;;) {
		struct store_mvcc_events ev;
		int rc = store_mvcc_events(rd, &q, &resp_arena, &ev);
		same_rc("events rc", rc, 0);
		for (size_t i = 0; i < ev.n_events; i++, got++) {
			if (got >= mn)
				fail("store has more events");
			same_msg("history event", &ev.events[i]->base, &mev[got]->base);
		}
		if (!ev.more)
			break;
		if (!ev.n_events)
			fail("no progress");
		q.start_revision = ev.next_revision;
	}
	if (got != mn)
		fail("store has fewer events");
	store_mvcc_read_end(rd);
}

static void reopen(void)
{
	store_mvcc_close(s);
	s = th_open(dir);
	if (!s)
		fail("reopen");
}

static void snapshot_roundtrip(void)
{
	char snap[4096], rdir[4096];
	snprintf(snap, sizeof(snap), "%s.snap", dir);
	snprintf(rdir, sizeof(rdir), "%s.restored", dir);
	if (store_mvcc_snapshot_save(s, snap, NULL))
		fail("snapshot_save");
	th_rmrf(rdir);
	if (store_mvcc_restore(rdir, snap))
		fail("restore");
	struct store_mvcc *main_s = s;
	s = th_open(rdir);
	if (!s)
		fail("open restored");
	compare_all();
	store_mvcc_close(s);
	s = main_s;
	th_rmrf(rdir);
	unlink(snap);
}

/* One request on both sides. */
static void apply_one(struct store_mvcc_batch *b)
{
	int64_t cur = model_rev(m), compact = model_compact_rev(m);
	int k = rn(100);
	int ra, rb;
	if (k < 30) {
		Etcdserverpb__PutRequest *p = gen_put();
		Etcdserverpb__PutResponse *a = NULL, *x = NULL;
		ra = store_mvcc_put(b, p, &resp_arena, &a);
		rb = model_put(m, p, &model_arena, &x);
		same_rc("put", ra, rb);
		if (!ra)
			same_msg("put", &a->base, &x->base);
	} else if (k < 42) {
		Etcdserverpb__DeleteRangeRequest *d = gen_del();
		Etcdserverpb__DeleteRangeResponse *a = NULL, *x = NULL;
		ra = store_mvcc_delete_range(b, d, &resp_arena, &a);
		rb = model_delete_range(m, d, &model_arena, &x);
		same_rc("delete_range", ra, rb);
		if (!ra)
			same_msg("delete_range", &a->base, &x->base);
	} else if (k < 75) {
		Etcdserverpb__TxnRequest *t = gen_txn(0, cur, compact);
		Etcdserverpb__TxnResponse *a = NULL, *x = NULL;
		ra = store_mvcc_txn(b, t, &resp_arena, &a);
		rb = model_txn(m, t, &model_arena, &x);
		same_rc("txn", ra, rb);
		if (!ra)
			same_msg("txn", &a->base, &x->base);
	} else if (k < 85) {
		/* A txn of ranges only, against the state inside the batch. */
		Etcdserverpb__TxnRequest *t = ralloc(sizeof(*t));
		etcdserverpb__txn_request__init(t);
		t->n_success = 1 + (size_t)rn(3);
		t->success = ralloc((t->n_success + 1) * sizeof(*t->success));
		for (size_t i = 0; i < t->n_success; i++) {
			Etcdserverpb__RequestOp *op = ralloc(sizeof(*op));
			etcdserverpb__request_op__init(op);
			op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
			op->request_range = gen_range(cur, compact);
			t->success[i] = op;
		}
		Etcdserverpb__TxnResponse *a = NULL, *x = NULL;
		ra = store_mvcc_txn(b, t, &resp_arena, &a);
		rb = model_txn(m, t, &model_arena, &x);
		same_rc("range txn", ra, rb);
		if (!ra)
			same_msg("range txn", &a->base, &x->base);
	} else if (k < 92) {
		Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
		g.id = n_leases_ids[rn(4)];
		g.ttl = 60;
		Etcdserverpb__LeaseGrantResponse *gr;
		ra = store_mvcc_lease_grant(b, &g, 0, &resp_arena, &gr);
		rb = model_lease_grant(m, g.id);
		same_rc("lease_grant", ra, rb);
	} else {
		Etcdserverpb__LeaseRevokeRequest r = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
		r.id = n_leases_ids[rn(5)];
		Etcdserverpb__LeaseRevokeResponse *rr;
		ra = store_mvcc_lease_revoke(b, &r, &resp_arena, &rr);
		rb = model_lease_revoke(m, r.id);
		same_rc("lease_revoke", ra, rb);
		if (!ra && rr->header->revision != model_rev(m))
			fail("lease_revoke revision");
	}
}

static void one_step(void)
{
	store_mvcc_arena_reset(&req_arena);
	store_mvcc_arena_reset(&resp_arena);
	store_mvcc_arena_reset(&feed_arena);
	store_mvcc_arena_reset(&model_arena);
	int64_t before = model_rev(m);
	struct store_mvcc_batch *b;
	if (store_mvcc_batch_begin(s, STORE_MVCC_FEED_PREV_KV, &feed_arena, &b))
		fail("batch_begin");
	if (chance(3)) {
		/* A compaction, alone in its batch; sometimes at or below the
		 * compact revision, sometimes in the future. */
		int64_t span = model_rev(m) - model_compact_rev(m);
		int64_t rev = model_compact_rev(m) + rn((int)(span / 3) + 2);
		if (chance(10))
			rev = model_rev(m) + rn(2);
		Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
		c.revision = rev;
		Etcdserverpb__CompactionResponse *cr;
		same_rc("compact", store_mvcc_compact(b, &c, &resp_arena, &cr),
		        model_compact(m, rev));
	} else {
		int n = 1 + rn(4);
		for (int i = 0; i < n; i++)
			apply_one(b);
	}
	if (chance(50) && store_mvcc_compact_step(b, 1 + (size_t)rn(20)) < 0)
		fail("compact_step");
	struct store_mvcc_feed f;
	if (store_mvcc_batch_commit(b, &f))
		fail("commit");
	Mvccpb__Event **mev;
	size_t mn;
	if (model_events(m, before + 1, &model_arena, &mev, &mn))
		fail("model events");
	if (f.n_events != mn) {
		printf("feed: store %zu events, model %zu\n", f.n_events, mn);
		fail("feed size");
	}
	for (size_t i = 0; i < mn; i++)
		same_msg("feed event", &f.events[i]->base, &mev[i]->base);
	if (th_rev(s) != model_rev(m))
		fail("revision");
	compare_all();
	for (int i = rn(3); i > 0; i--)
		compare_range(gen_range(model_rev(m), model_compact_rev(m)), "range");
	if (step % 8 == 0)
		compare_history();
	if (chance(2))
		reopen();
	if (chance(1) && store_mvcc_defrag(s))
		fail("defrag");
	if (chance(1))
		snapshot_roundtrip();
}

int main(int argc, char **argv)
{
	const char *e;
	seed = argc > 1                         ? strtoull(argv[1], NULL, 0)
	       : (e = getenv("MVCC_DIFF_SEED")) ? strtoull(e, NULL, 0)
	                                        : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	long ops = argc > 2 ? atol(argv[2]) : (e = getenv("MVCC_DIFF_OPS")) ? atol(e) : 3000;
	printf("store_mvcc_diff_test: seed %" PRIu64 ", %ld steps\n", seed, ops);
	fflush(stdout);
	rng_state = seed;
	init_keys();
	store_mvcc_arena_init(&req_arena, 0);
	store_mvcc_arena_init(&resp_arena, 0);
	store_mvcc_arena_init(&feed_arena, 0);
	store_mvcc_arena_init(&model_arena, 0);
	dir = th_tmpdir("diff");
	s = th_open(dir);
	m = model_new();
	if (!s)
		fail("open");
	long requests = 0;
	for (step = 0; step < ops; step++) {
		one_step();
		requests++;
	}
	compare_history();
	printf("ok: %ld steps, revision %" PRId64 ", compact revision %" PRId64 "\n", ops,
	       model_rev(m), model_compact_rev(m));
	store_mvcc_close(s);
	model_free(m);
	*strrchr(dir, '/') = 0;
	th_rmrf(dir);
	free(dir);
	store_mvcc_arena_destroy(&req_arena);
	store_mvcc_arena_destroy(&resp_arena);
	store_mvcc_arena_destroy(&feed_arena);
	store_mvcc_arena_destroy(&model_arena);
	store_mvcc_arena_destroy(&th_arena);
	for (int i = 0; i < N_KEYS; i++)
		free(keys[i].data);
	(void)requests;
	return 0;
}
