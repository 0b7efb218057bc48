/*
 * WatchResponse bytes assembled from parts (server/watch_encode.h) are a
 * valid message that unpacks to what was meant, byte-identical to
 * protobuf-c's own packing; fragmenting splits as etcd's sendFragments.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "rpc.pb-c.h"
#include "server/watch_encode.h"

static size_t pack_kv(uint8_t *out, const char *key, const char *val, int64_t mod)
{
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
	kv.key.data = (uint8_t *)key;
	kv.key.len = strlen(key);
	kv.value.data = (uint8_t *)val;
	kv.value.len = val ? strlen(val) : 0;
	kv.mod_revision = mod;
	kv.create_revision = val ? 2 : 0;
	kv.version = val ? 1 : 0;
	return mvccpb__key_value__pack(&kv, out);
}

Test(watch_encode, assembled_response_equals_protobuf_c_packing)
{
	uint8_t kv1[64], kv2[64], prev[64], hdr[64];
	size_t l1 = pack_kv(kv1, "a", "1", 5);
	size_t l2 = pack_kv(kv2, "b", NULL, 5);
	size_t lp = pack_kv(prev, "b", "old", 4);
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	h.cluster_id = 0x1234567890abcdefull;
	h.member_id = 42;
	h.revision = 5;
	h.raft_term = 3;
	size_t lh = etcdserverpb__response_header__pack(&h, hdr);

	struct watch_enc_event e[2] = {
	    {.kv = kv1, .kv_len = l1},
	    {.kv = kv2, .kv_len = l2, .prev = prev, .prev_len = lp, .is_delete = true},
	};
	for (int with_prev = 0; with_prev < 2; with_prev++) {
		for (int64_t id = -1; id <= 300; id += 150) {
			uint8_t buf[512];
			size_t n = watch_enc_head(buf, hdr, lh, id, false);
			cr_assert_eq(n, watch_enc_head_size(lh, id, false));
			for (int i = 0; i < 2; i++) {
				size_t k = watch_enc_event(buf + n, &e[i], with_prev);
				cr_assert_eq(k, watch_enc_event_size(&e[i], with_prev));
				n += k;
			}
			/* the same message through protobuf-c */
			Mvccpb__KeyValue *k1 = mvccpb__key_value__unpack(NULL, l1, kv1);
			Mvccpb__KeyValue *k2 = mvccpb__key_value__unpack(NULL, l2, kv2);
			Mvccpb__KeyValue *kp = mvccpb__key_value__unpack(NULL, lp, prev);
			Mvccpb__Event ev1 = MVCCPB__EVENT__INIT, ev2 = MVCCPB__EVENT__INIT;
			ev1.kv = k1;
			ev2.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
			ev2.kv = k2;
			ev2.prev_kv = with_prev ? kp : NULL;
			Mvccpb__Event *evs[2] = {&ev1, &ev2};
			Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
			r.header = &h;
			r.watch_id = id;
			r.n_events = 2;
			r.events = evs;
			uint8_t want[512];
			size_t wn = etcdserverpb__watch_response__pack(&r, want);
			cr_assert_eq(n, wn, "id %lld prev %d", (long long)id, with_prev);
			cr_assert_eq(memcmp(buf, want, n), 0);
			mvccpb__key_value__free_unpacked(k1, NULL);
			mvccpb__key_value__free_unpacked(k2, NULL);
			mvccpb__key_value__free_unpacked(kp, NULL);
		}
	}
}

Test(watch_encode, fragment_flag_unpacks)
{
	uint8_t hdr[8] = {0x18, 0x07}; /* revision 7 */
	uint8_t buf[64];
	size_t n = watch_enc_head(buf, hdr, 2, 3, true);
	Etcdserverpb__WatchResponse *r = etcdserverpb__watch_response__unpack(NULL, n, buf);
	cr_assert_not_null(r);
	cr_assert(r->fragment);
	cr_assert_eq(r->watch_id, 3);
	cr_assert_eq(r->header->revision, 7);
	etcdserverpb__watch_response__free_unpacked(r, NULL);
}

Test(watch_encode, large_values_get_multibyte_lengths)
{
	size_t big = 300000;
	uint8_t *kv = malloc(big);
	memset(kv, 'x', big);
	struct watch_enc_event e = {.kv = kv, .kv_len = big};
	uint8_t *out = malloc(big + 32);
	size_t n = watch_enc_event(out, &e, false);
	cr_assert_eq(n, watch_enc_event_size(&e, false));
	cr_assert_eq(out[0], (11 << 3) | 2);
	free(out);
	free(kv);
}

/* etcd's sendFragments: no split under the limit or with one event; else
 * parts stay below the limit (each has at least one event). */
Test(watch_encode, fragments_follow_etcd)
{
	size_t sizes[5] = {400, 400, 400, 400, 400};
	cr_assert_not(watch_frag_needed(999, 5, 1000));
	cr_assert_not(watch_frag_needed(5000, 1, 1000));
	cr_assert(watch_frag_needed(1000, 2, 1000));
	/* head 100, limit 1000: 100+400+400 = 900 < 1000, +400 = 1300 -> cut */
	cr_assert_eq(watch_frag_next(sizes, 5, 0, 100, 1000), 2);
	cr_assert_eq(watch_frag_next(sizes, 5, 2, 100, 1000), 2);
	cr_assert_eq(watch_frag_next(sizes, 5, 4, 100, 1000), 1);
	/* a single event over the limit still forms a part */
	size_t huge[3] = {5000, 10, 10};
	cr_assert_eq(watch_frag_next(huge, 3, 0, 100, 1000), 1);
	cr_assert_eq(watch_frag_next(huge, 3, 1, 100, 1000), 2);
	/* reaching the limit exactly cuts (>=) */
	size_t exact[2] = {450, 450};
	cr_assert_eq(watch_frag_next(exact, 2, 0, 100, 1000), 1);
}
