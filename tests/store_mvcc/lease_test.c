/*
 * tests/store_mvcc/lease_test.c - leases: grant rules, attach and detach,
 * revoke, TimeToLive and Leases, and the lessor's expiry queue.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define S 1000000000LL

static char *dir;
static struct store_mvcc *s;

static void setup(void)
{
	s = th_fixture_open("lease", &dir);
}

static void teardown(void)
{
	th_fixture_close(s, dir);
}

TestSuite(lease, .init = setup, .fini = teardown);

static Etcdserverpb__LeaseTimeToLiveResponse *ttl_of(int64_t id, int64_t now, bool keys)
{
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	req.id = id;
	req.keys = keys;
	Etcdserverpb__LeaseTimeToLiveResponse *r;
	cr_assert_eq(store_mvcc_lease_time_to_live(rd, &req, now, &th_arena, &r), 0);
	for (size_t i = 0; i < r->n_keys; i++)
		r->keys[i] = th_binn(r->keys[i].data, r->keys[i].len);
	store_mvcc_read_end(rd);
	return r;
}

Test(lease, grant_rules_are_etcds)
{
	int64_t ttl;
	cr_assert_eq(th_lease_grant(s, 1, 1, &ttl), 0);
	cr_assert_eq(ttl, 2, "raised to the minimum TTL");
	cr_assert_eq(th_lease_grant(s, 1, 10, &ttl), STORE_MVCC_ELEASE_EXISTS);
	cr_assert_eq(th_lease_grant(s, 2, 9000000001LL, &ttl), STORE_MVCC_ELEASE_TTL_TOO_LARGE);
	cr_assert_eq(th_lease_grant(s, 2, 9000000000LL, &ttl), 0);
	cr_assert_eq(th_lease_grant(s, 0, 10, &ttl), STORE_MVCC_ELEASE_NOT_FOUND);
	cr_assert_eq(th_rev(s), 1, "leases do not change the revision");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ELEASE_EXISTS),
	                 "etcdserver: lease already exists");
	cr_assert_str_eq(store_mvcc_strerror(STORE_MVCC_ELEASE_TTL_TOO_LARGE),
	                 "etcdserver: too large lease TTL");
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_ELEASE_EXISTS), 9);
	cr_assert_eq(store_mvcc_grpc_code(STORE_MVCC_ELEASE_TTL_TOO_LARGE), 11);
}

Test(lease, puts_attach_move_and_detach_keys)
{
	th_lease_grant(s, 10, 60, NULL);
	th_lease_grant(s, 20, 60, NULL);
	th_put_lease(s, "b", "1", 10);
	th_put_lease(s, "a", "1", 10);
	th_put_lease(s, "c", "1", 10);
	Etcdserverpb__LeaseTimeToLiveResponse *r = ttl_of(10, 0, true);
	cr_assert_eq(r->grantedttl, 60);
	cr_assert_eq(r->n_keys, 3);
	cr_assert(th_eq(r->keys[0], "a"));
	cr_assert(th_eq(r->keys[2], "c"));
	th_put_lease(s, "a", "2", 20); /* moves */
	th_put(s, "b", "2");           /* detaches */
	th_del(s, "c", NULL, NULL);    /* detaches */
	cr_assert_eq(ttl_of(10, 0, true)->n_keys, 0);
	r = ttl_of(20, 0, true);
	cr_assert_eq(r->n_keys, 1);
	cr_assert(th_eq(r->keys[0], "a"));
}

Test(lease, revoke_deletes_attached_keys_at_one_revision)
{
	th_lease_grant(s, 5, 60, NULL);
	th_put_lease(s, "z", "1", 5);
	th_put_lease(s, "m", "1", 5);
	th_put(s, "other", "1");
	int64_t before = th_rev(s);
	struct store_mvcc_arena feed;
	store_mvcc_arena_init(&feed, 0);
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, STORE_MVCC_FEED_PREV_KV, &feed, &b), 0);
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	req.id = 5;
	Etcdserverpb__LeaseRevokeResponse *resp;
	cr_assert_eq(store_mvcc_lease_revoke(b, &req, &th_arena, &resp), 0);
	struct store_mvcc_feed f;
	cr_assert_eq(store_mvcc_batch_commit(b, &f), 0);
	cr_assert_eq(resp->header->revision, before + 1);
	cr_assert_eq(th_rev(s), before + 1);
	cr_assert_eq(f.n_events, 2);
	cr_assert(th_eq(f.events[0]->kv->key, "m"), "deleted in key order");
	cr_assert(th_eq(f.events[1]->kv->key, "z"));
	cr_assert_eq(f.events[1]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
	cr_assert_eq(f.events[1]->kv->mod_revision, before + 1);
	cr_assert_not_null(f.events[1]->prev_kv);
	cr_assert_eq(f.events[1]->prev_kv->lease, 5);
	cr_assert_eq(th_get(s, "m", NULL, 0, NULL), -1);
	cr_assert_eq(th_get(s, "other", NULL, 0, NULL), 0);
	cr_assert_eq(ttl_of(5, 0, false)->ttl, -1, "an unknown lease answers TTL -1");
	cr_assert_eq(th_lease_revoke(s, 5), STORE_MVCC_ELEASE_NOT_FOUND);
	store_mvcc_arena_destroy(&feed);
}

Test(lease, leases_lists_every_lease)
{
	th_lease_grant(s, 3, 60, NULL);
	th_lease_grant(s, 1, 30, NULL);
	th_lease_grant(s, -4, 90, NULL);
	struct store_mvcc_read *rd;
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	Etcdserverpb__LeaseLeasesResponse *r;
	cr_assert_eq(store_mvcc_lease_leases(rd, &th_arena, &r), 0);
	cr_assert_eq(r->n_leases, 3);
	cr_assert_eq(r->leases[0]->id, -4);
	cr_assert_eq(r->leases[1]->id, 1);
	cr_assert_eq(r->leases[2]->id, 3);
	store_mvcc_read_end(rd);
	/* The primary lists by expiry. */
	store_mvcc_lease_promote(s, 0, 0);
	cr_assert_eq(store_mvcc_read_begin(s, &rd), 0);
	cr_assert_eq(store_mvcc_lease_leases(rd, &th_arena, &r), 0);
	cr_assert_eq(r->leases[0]->id, 1);
	cr_assert_eq(r->leases[1]->id, 3);
	cr_assert_eq(r->leases[2]->id, -4);
	store_mvcc_read_end(rd);
}

Test(lease, only_the_primary_expires_leases)
{
	th_lease_grant(s, 1, 10, NULL);
	th_lease_grant(s, 2, 20, NULL);
	int64_t ids[8];
	cr_assert_eq(store_mvcc_lease_expired(s, 1000 * S, ids, 8), 0);
	cr_assert_eq(ttl_of(1, 0, false)->ttl, 9223372036LL, "an etcd follower's forever");
	int64_t ttl;
	cr_assert_eq(store_mvcc_lease_renew(s, 1, 0, &ttl), STORE_MVCC_ENOT_PRIMARY);

	store_mvcc_lease_promote(s, 100 * S, 2 * S); /* expiries: 112 s, 122 s */
	cr_assert(store_mvcc_lease_is_primary(s));
	cr_assert_eq(ttl_of(1, 100 * S, false)->ttl, 12);
	cr_assert_eq(ttl_of(1, 101 * S + 1, false)->ttl, 10, "remaining seconds truncate");
	cr_assert_eq(store_mvcc_lease_expired(s, 111 * S, ids, 8), 0);
	cr_assert_eq(store_mvcc_lease_expired(s, 112 * S, ids, 8), 1);
	cr_assert_eq(ids[0], 1);
	cr_assert_eq(store_mvcc_lease_expired(s, 113 * S, ids, 8), 0, "not again while revoking");
	cr_assert_eq(store_mvcc_lease_renew(s, 1, 113 * S, &ttl), STORE_MVCC_ELEASE_EXPIRED);
	cr_assert_eq(store_mvcc_lease_expired(s, 115 * S, ids, 8), 1, "again after 3 s");
	cr_assert_eq(store_mvcc_lease_renew(s, 2, 115 * S, &ttl), 0);
	cr_assert_eq(ttl, 20);
	cr_assert_eq(store_mvcc_lease_expired(s, 130 * S, ids, 8), 1, "lease 2 renewed to 135 s");
	cr_assert_eq(store_mvcc_lease_renew(s, 99, 0, &ttl), STORE_MVCC_ELEASE_NOT_FOUND);
	th_lease_revoke(s, 1);
	cr_assert_eq(store_mvcc_lease_expired(s, 134 * S, ids, 8), 0);
	cr_assert_eq(store_mvcc_lease_expired(s, 135 * S, ids, 8), 1);
	cr_assert_eq(ids[0], 2);
	store_mvcc_lease_demote(s);
	cr_assert_eq(store_mvcc_lease_expired(s, 1000 * S, ids, 8), 0);
}

Test(lease, a_lease_granted_on_the_primary_expires_from_its_grant)
{
	store_mvcc_lease_promote(s, 0, 0);
	Etcdserverpb__LeaseGrantRequest r = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	r.id = 9;
	r.ttl = 5;
	Etcdserverpb__LeaseGrantResponse *resp;
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_lease_grant(b, &r, 50 * S, &th_arena, &resp), 0);
	int64_t ids[2];
	cr_assert_eq(store_mvcc_lease_expired(s, 60 * S, ids, 2), 0, "not before the commit");
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	cr_assert_eq(store_mvcc_lease_expired(s, 54 * S, ids, 2), 0);
	cr_assert_eq(store_mvcc_lease_expired(s, 55 * S, ids, 2), 1);
}

Test(lease, checkpoints_persist_the_remaining_ttl)
{
	th_lease_grant(s, 1, 600, NULL);
	store_mvcc_lease_promote(s, 0, 0);
	Etcdserverpb__LeaseCheckpoint out[4];
	cr_assert_eq(store_mvcc_lease_checkpoints(s, 0, 300 * S, out, 4), 0, "first: scheduled");
	cr_assert_eq(store_mvcc_lease_checkpoints(s, 300 * S, 300 * S, out, 4), 1);
	cr_assert_eq(out[0].id, 1);
	cr_assert_eq(out[0].remaining_ttl, 300);
	Etcdserverpb__LeaseCheckpoint cp = ETCDSERVERPB__LEASE_CHECKPOINT__INIT;
	cp.id = 1;
	cp.remaining_ttl = 300;
	Etcdserverpb__LeaseCheckpoint *cps[] = {&cp};
	Etcdserverpb__LeaseCheckpointRequest req = ETCDSERVERPB__LEASE_CHECKPOINT_REQUEST__INIT;
	req.n_checkpoints = 1;
	req.checkpoints = cps;
	Etcdserverpb__LeaseCheckpointResponse *resp;
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	cr_assert_eq(store_mvcc_lease_checkpoint(b, &req, 300 * S, &th_arena, &resp), 0);
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	/* A new leader extends from the checkpointed remaining TTL. */
	store_mvcc_lease_demote(s);
	store_mvcc_lease_promote(s, 1000 * S, 0);
	cr_assert_eq(ttl_of(1, 1000 * S, false)->ttl, 300);
	int64_t ttl;
	cr_assert_eq(store_mvcc_lease_renew(s, 1, 1000 * S, &ttl), 1,
	             "renewing asks for a checkpoint clearing the remaining TTL");
	cr_assert_eq(ttl_of(1, 1000 * S, false)->ttl, 600);
	/* The checkpoint survives a restart. */
	store_mvcc_close(s);
	s = th_open(dir);
	store_mvcc_lease_promote(s, 0, 0);
	cr_assert_eq(ttl_of(1, 0, false)->ttl, 300);
}

Test(lease, many_leases_promoted_at_once_are_spread_out)
{
	struct store_mvcc_batch *b;
	cr_assert_eq(store_mvcc_batch_begin(s, 0, NULL, &b), 0);
	for (int i = 1; i <= 2000; i++) {
		Etcdserverpb__LeaseGrantRequest r = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
		r.id = i;
		r.ttl = 10;
		Etcdserverpb__LeaseGrantResponse *resp;
		cr_assert_eq(store_mvcc_lease_grant(b, &r, 0, &th_arena, &resp), 0);
	}
	cr_assert_eq(store_mvcc_batch_commit(b, NULL), 0);
	store_mvcc_lease_promote(s, 0, 0);
	int64_t *ids = malloc(4000 * sizeof(*ids));
	size_t n = store_mvcc_lease_expired(s, 10 * S, ids, 4000);
	cr_assert_eq(n, 750, "3/4 of etcd's 1000/s revoke rate per second, got %zu", n);
	cr_assert_eq(store_mvcc_lease_expired(s, 11 * S, ids, 4000), 0);
	n = store_mvcc_lease_expired(s, 12 * S, ids, 4000);
	cr_assert_eq(n, 750, "the next 750 a second later, got %zu", n);
	free(ids);
}

Test(lease, the_lessor_is_rebuilt_on_open)
{
	th_lease_grant(s, 77, 30, NULL);
	th_put_lease(s, "k", "v", 77);
	store_mvcc_close(s);
	s = th_open(dir);
	store_mvcc_lease_promote(s, 0, 0);
	int64_t ids[2];
	cr_assert_eq(store_mvcc_lease_expired(s, 30 * S, ids, 2), 1);
	cr_assert_eq(ids[0], 77);
	cr_assert_eq(ttl_of(77, 0, true)->n_keys, 1);
	cr_assert_eq(th_lease_revoke(s, 77), 0);
	cr_assert_eq(th_get(s, "k", NULL, 0, NULL), -1);
}
