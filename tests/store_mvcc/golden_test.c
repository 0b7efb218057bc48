/*
 * tests/store_mvcc/golden_test.c - the store answers what a real etcd
 * 3.4.23 answered (golden/etcd-3.4.23.golden, recorded by
 * golden/gen_golden.py): the same writes at the same revisions, then the
 * same ranges - key order included, so ties in sorts come out in etcd's
 * order - and the same HashKV values after puts, txns, deletes, a lease
 * revoke and compactions.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/store_mvcc/golden"
#endif

static char *dir;
static struct store_mvcc *s;

static void setup(void)
{
	s = th_fixture_open("golden", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(golden, .init = setup, .fini = teardown);

static ProtobufCBinaryData unhex(const char *h)
{
	if (!strcmp(h, "-"))
		return (ProtobufCBinaryData){0, NULL};
	size_t n = strlen(h) / 2;
	ProtobufCBinaryData b = {n, store_mvcc_arena_alloc(&th_arena, n + 1)};
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		b.data[i] = (uint8_t)v;
	}
	return b;
}

static char *hex(ProtobufCBinaryData b, char *out)
{
	for (size_t i = 0; i < b.len; i++)
		sprintf(out + 2 * i, "%02x", b.data[i]);
	out[2 * b.len] = 0;
	return out;
}

/* Splits a line into words (in place). */
static int words(char *line, char **w, int max)
{
	int n = 0;
	for (char *t = strtok(line, " \n"); t && n < max; t = strtok(NULL, " \n"))
		w[n++] = t;
	return n;
}

static int apply_put(ProtobufCBinaryData k, ProtobufCBinaryData v, int64_t lease)
{
	Etcdserverpb__PutRequest *p = th_put_req(NULL, NULL);
	p->key = k;
	p->value = v;
	p->lease = lease;
	return th_put_req_do(s, p, NULL);
}

static void check_range(char **w, int n, int line)
{
	cr_assert_eq(n, 17, "line %d: malformed", line);
	Etcdserverpb__RangeRequest *r = th_range_req(NULL, NULL);
	r->key = unhex(w[1]);
	r->range_end = unhex(w[2]);
	r->revision = atoll(w[3]);
	r->limit = atoll(w[4]);
	r->sort_order = atoi(w[5]);
	r->sort_target = atoi(w[6]);
	r->keys_only = atoi(w[7]);
	r->count_only = atoi(w[8]);
	r->min_mod_revision = atoll(w[9]);
	r->max_mod_revision = atoll(w[10]);
	r->min_create_revision = atoll(w[11]);
	r->max_create_revision = atoll(w[12]);
	Etcdserverpb__RangeResponse *resp;
	int rc = th_range(s, r, &resp);
	cr_assert_eq(rc, 0, "line %d: %s", line, store_mvcc_strerror(rc));
	cr_assert_eq(resp->count, atoll(w[14]), "line %d: count", line);
	cr_assert_eq(resp->more, atoi(w[15]), "line %d: more", line);
	char *got = malloc(resp->n_kvs * 64 + 2), kb[256];
	got[0] = 0;
	for (size_t i = 0; i < resp->n_kvs; i++) {
		if (i)
			strcat(got, ",");
		strcat(got, hex(resp->kvs[i]->key, kb));
	}
	if (!resp->n_kvs)
		strcpy(got, "-");
	cr_assert_str_eq(got, w[16], "line %d: keys (order %s, target %s, limit %s)", line, w[5],
	                 w[6], w[4]);
	free(got);
}

Test(golden, the_store_answers_what_etcd_answered)
{
	const char *path = GOLDEN_DIR "/etcd-3.4.23.golden";
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	size_t cap = 1 << 20;
	char *line = malloc(cap);
	int lineno = 0, ranges = 0, hashes = 0;
	while (fgets(line, (int)cap, f)) {
		lineno++;
		if (line[0] == '#')
			continue;
		th_reset();
		char *w[64];
		int n = words(line, w, 64);
		int rc = 0;
		switch (w[0][0]) {
		case 'P':
			rc = apply_put(unhex(w[1]), unhex(w[2]), 0);
			break;
		case 'T': {
			Etcdserverpb__RequestOp **ops = calloc((size_t)n, sizeof(*ops));
			for (int i = 1; i + 1 < n; i += 2) {
				ops[i / 2] = th_op_put(NULL, NULL);
				ops[i / 2]->request_put->key = unhex(w[i]);
				ops[i / 2]->request_put->value = unhex(w[i + 1]);
			}
			rc = th_txn_do(s, th_txn(NULL, ops, NULL), NULL);
			free(ops);
			break;
		}
		case 'D': {
			Etcdserverpb__DeleteRangeRequest *d = th_del_req(NULL, NULL);
			d->key = unhex(w[1]);
			d->range_end = unhex(w[2]);
			Etcdserverpb__DeleteRangeResponse *resp;
			struct store_mvcc_batch *b;
			cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
			rc = store_mvcc_delete_range(b, d, &th_arena, &resp);
			cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
			break;
		}
		case 'L': {
			int64_t id = atoll(w[1]);
			rc = th_lease_grant(s, id, atoll(w[2]), NULL);
			for (int i = 3; i < n && !rc; i++)
				rc = apply_put(unhex(w[i]),
				               (ProtobufCBinaryData){1, (uint8_t *)"L"}, id);
			break;
		}
		case 'V':
			rc = th_lease_revoke(s, atoll(w[1]));
			break;
		case 'C':
			rc = th_compact_all(s, atoll(w[1]));
			break;
		case 'R':
			check_range(w, n, lineno);
			ranges++;
			break;
		case 'H': {
			struct store_mvcc_read *rd;
			cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
			uint32_t h;
			int64_t compact;
			rc = store_mvcc_hash_kv(rd, atoll(w[1]), &h, &compact, NULL);
			store_mvcc_read_end(rd);
			cr_assert_eq(rc, 0, "line %d: %s", lineno, store_mvcc_strerror(rc));
			cr_assert_eq(h, (uint32_t)strtoul(w[3], NULL, 10), "line %d: HashKV(%s)",
			             lineno, w[1]);
			cr_assert_eq(compact, atoll(w[4]), "line %d: compact revision", lineno);
			hashes++;
			break;
		}
		default:
			cr_assert_fail("line %d: unknown operation %s", lineno, w[0]);
		}
		cr_assert_eq(rc, 0, "line %d: %s", lineno, store_mvcc_strerror(rc));
	}
	fclose(f);
	free(line);
	cr_assert_gt(ranges, 900);
	cr_assert_gt(hashes, 10);
}
