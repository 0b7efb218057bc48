/*
 * tests/store_mvcc/thread_test.c - readers on other threads while the
 * writer commits batches and the store defragments: every read context is
 * a consistent snapshot, revisions never go back, nobody blocks or crashes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define KEYS 10

static char *dir;
static struct store_mvcc *s;
static atomic_bool stop;
static atomic_long reads, bad;

static void setup(void)
{
	s = th_fixture_open("threads", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(threads, .init = setup, .fini = teardown);

static void *reader(void *arg)
{
	(void)arg;
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	int64_t last_rev = 0;
	while (!atomic_load(&stop)) {
		struct store_mvcc_read *rd;
		if (store_mvcc_read_begin(s, &rd)) {
			atomic_fetch_add(&bad, 1);
			break;
		}
		Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
		r.key = (ProtobufCBinaryData){2, (uint8_t *)"k/"};
		r.range_end = (ProtobufCBinaryData){2, (uint8_t *)"k0"};
		Etcdserverpb__RangeResponse *resp;
		int rc = store_mvcc_range(rd, &r, &a, &resp);
		/* One batch writes every key with the same value: a snapshot
		 * sees all of them equal, or none at all. */
		bool ok = rc == 0 && (resp->n_kvs == 0 || resp->n_kvs == KEYS);
		for (size_t i = 1; ok && i < resp->n_kvs; i++)
			ok = resp->kvs[i]->value.len == resp->kvs[0]->value.len &&
			     !memcmp(resp->kvs[i]->value.data, resp->kvs[0]->value.data,
			             resp->kvs[0]->value.len);
		int64_t rev = store_mvcc_read_revision(rd);
		ok = ok && rev >= last_rev;
		last_rev = rev;
		if (!ok)
			atomic_fetch_add(&bad, 1);
		store_mvcc_read_end(rd);
		store_mvcc_arena_reset(&a);
		atomic_fetch_add(&reads, 1);
	}
	store_mvcc_arena_destroy(&a);
	return NULL;
}

Test(threads, readers_see_whole_batches_while_writing_and_defragmenting)
{
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, reader, NULL), 0);
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	for (int batch = 1; batch <= 300; batch++) {
		struct store_mvcc_batch *b;
		cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
		cr_assert_eq(store_mvcc_batch_entry(b, (uint64_t)batch, 1), 0);
		char v[16];
		snprintf(v, sizeof(v), "%d", batch);
		for (int k = 0; k < KEYS; k++) {
			char key[8];
			snprintf(key, sizeof(key), "k/%d", k);
			Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
			p.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
			p.value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
			Etcdserverpb__PutResponse *resp;
			cr_assert_eq(store_mvcc_put(b, &p, &a, &resp), 0);
		}
		if (batch % 100 == 50) {
			Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
			c.revision = batch * KEYS - 5;
			Etcdserverpb__CompactionResponse *cr;
			cr_assert_eq(store_mvcc_compact(b, &c, &a, &cr), 0);
		}
		cr_assert_geq(store_mvcc_compact_step(b, 50), 0);
		cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
		store_mvcc_arena_reset(&a);
		if (batch % 60 == 0)
			cr_assert_eq(store_mvcc_defrag(s), 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	store_mvcc_arena_destroy(&a);
	cr_assert_eq(atomic_load(&bad), 0, "%ld inconsistent reads", atomic_load(&bad));
	cr_assert_gt(atomic_load(&reads), 100);
	struct store_mvcc_state st;
	store_mvcc_state(s, &st);
	cr_assert_eq(st.generation, 6);
	cr_assert_eq(st.revision, 1 + 300 * KEYS);
}
