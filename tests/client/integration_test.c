/*
 * tests/client/integration_test.c - libcairn against a real three-member
 * cluster (etcd 3.4.23 or cairnd), driven by libcairn_integration.py.
 *
 * The driver starts the cluster and runs this program with
 * CAIRN_TEST_ENDPOINTS=ep1,ep2,ep3. The program asks the driver to kill
 * or restart members by writing "KILL <i>" / "START <i>" on stdout and
 * reading "OK" back on stdin. Every story below asserts what a user of
 * the library would observe; the first failed assertion ends the program
 * with a non-zero status and says where.
 *
 *   kv_*          every KV call and option, etcd's exact errors
 *   lease_*       grant, keep-alive (TTL/3 schedule), time-to-live, revoke
 *   watch_*       events, prev_kv, prefix, replay, progress, compaction
 *   cluster_*     member list, status, hashes, alarms, defrag, snapshot
 *   recipe_*      mutex contention, election campaign/proclaim/observe
 *   async_*       many calls in flight on the caller's loop
 *   deadline_*    deadlines, unreachable endpoints
 *   failover_*    kill -9 of the connected member during reads, writes,
 *                 a watch and a keep-alive
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cairn.h"

static char **eps;
static size_t n_eps;
static const char *story = "";

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "FAIL %s (%s:%d): %s: ", story, __FILE__, __LINE__, \
			        #cond);                                                     \
			fprintf(stderr, __VA_ARGS__);                                       \
			fprintf(stderr, "\n");                                              \
			exit(1);                                                            \
		}                                                                           \
	} while (0)
#define OK(rv, st) CHECK((rv) == 0, "rv %d: code %d %s", (rv), (st).code, (st).message)

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Asks the driver to do something to the cluster and waits for "OK". */
static void driver(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	char line[64];
	CHECK(fgets(line, sizeof line, stdin) && strncmp(line, "OK", 2) == 0, "driver said %s",
	      line);
}

static struct cairn_client *client_for(const char *const *e, size_t n)
{
	struct cairn_config cfg = {.endpoints = e, .n_endpoints = n, .require_leader = true};
	struct cairn_client *c;
	CHECK(cairn_client_new(NULL, &cfg, &c) == 0, "client");
	return c;
}

static struct cairn_client *client(void)
{
	return client_for((const char *const *)eps, n_eps);
}

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static int64_t put(struct cairn_client *c, const char *k, const char *v, int64_t lease)
{
	Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
	r.key = bin(k);
	r.value = bin(v);
	r.lease = lease;
	Etcdserverpb__PutResponse *resp;
	struct cairn_status st;
	OK(cairn_kv_put_sync(c, &r, NULL, &resp, &st), st);
	int64_t rev = resp->header->revision;
	cairn_response_free(resp);
	return rev;
}

static Etcdserverpb__RangeResponse *get(struct cairn_client *c, Etcdserverpb__RangeRequest *r)
{
	Etcdserverpb__RangeResponse *resp;
	struct cairn_status st;
	OK(cairn_kv_range_sync(c, r, NULL, &resp, &st), st);
	return resp;
}

static bool kv_is(const Mvccpb__KeyValue *kv, const char *k, const char *v)
{
	return kv->key.len == strlen(k) && memcmp(kv->key.data, k, kv->key.len) == 0 &&
	       kv->value.len == strlen(v) && memcmp(kv->value.data, v, kv->value.len) == 0;
}

/* A unique prefix per run, so reruns on one cluster do not collide. */
static char pfx[64];
static const char *K(const char *name)
{
	static char bufs[8][128];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, 128, "%s%s", pfx, name);
	return b;
}

/* ---- KV ------------------------------------------------------------------------------ */

static void kv_put_get_delete(void)
{
	story = "kv_put_get_delete";
	struct cairn_client *c = client();
	int64_t r1 = put(c, K("a"), "1", 0);
	int64_t r2 = put(c, K("b"), "2", 0);
	int64_t r3 = put(c, K("c"), "3", 0);
	CHECK(r2 == r1 + 1 && r3 == r2 + 1, "one revision per put: %" PRId64 " %" PRId64, r1, r3);

	uint8_t end[128];
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = bin(pfx);
	r.range_end.data = end;
	r.range_end.len = cairn_prefix_end(pfx, strlen(pfx), end);
	Etcdserverpb__RangeResponse *resp = get(c, &r);
	CHECK(resp->n_kvs == 3 && resp->count == 3, "prefix: %zu", resp->n_kvs);
	CHECK(kv_is(resp->kvs[0], K("a"), "1") && kv_is(resp->kvs[2], K("c"), "3"), "order");
	CHECK(resp->kvs[1]->create_revision == r2 && resp->kvs[1]->version == 1, "revisions");
	cairn_response_free(resp);

	/* limit, sort, keys_only, count_only, revision */
	r.limit = 2;
	r.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
	resp = get(c, &r);
	CHECK(resp->n_kvs == 2 && resp->more && resp->count == 3, "limit: %zu", resp->n_kvs);
	CHECK(kv_is(resp->kvs[0], K("c"), "3"), "descending");
	cairn_response_free(resp);
	r.limit = 0;
	r.sort_order = 0;
	r.keys_only = 1;
	resp = get(c, &r);
	CHECK(resp->n_kvs == 3 && resp->kvs[0]->value.len == 0, "keys only");
	cairn_response_free(resp);
	r.keys_only = 0;
	r.count_only = 1;
	resp = get(c, &r);
	CHECK(resp->n_kvs == 0 && resp->count == 3, "count only");
	cairn_response_free(resp);
	r.count_only = 0;
	r.revision = r1;
	resp = get(c, &r);
	CHECK(resp->n_kvs == 1 && resp->header->revision >= r3, "at revision %" PRId64, r1);
	cairn_response_free(resp);

	/* overwrite with prev_kv, then delete the range with prev_kvs */
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key = bin(K("a"));
	p.value = bin("1b");
	p.prev_kv = 1;
	Etcdserverpb__PutResponse *presp;
	struct cairn_status st;
	OK(cairn_kv_put_sync(c, &p, NULL, &presp, &st), st);
	CHECK(presp->prev_kv && kv_is(presp->prev_kv, K("a"), "1"), "prev_kv");
	cairn_response_free(presp);

	Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	d.key = bin(pfx);
	d.range_end.data = end;
	d.range_end.len = cairn_prefix_end(pfx, strlen(pfx), end);
	d.prev_kv = 1;
	Etcdserverpb__DeleteRangeResponse *dresp;
	OK(cairn_kv_delete_sync(c, &d, NULL, &dresp, &st), st);
	CHECK(dresp->deleted == 3 && dresp->n_prev_kvs == 3, "deleted %" PRId64, dresp->deleted);
	cairn_response_free(dresp);
	cairn_client_close(c);
}

static void kv_errors(void)
{
	story = "kv_errors";
	struct cairn_client *c = client();
	struct cairn_status st;
	char text[600];
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key = bin(K("missing"));
	p.ignore_value = 1;
	Etcdserverpb__PutResponse *presp;
	CHECK(cairn_kv_put_sync(c, &p, NULL, &presp, &st) == CAIRN_ESTATUS, "ignore_value");
	CHECK(st.code == CAIRN_INVALID_ARGUMENT && !strcmp(st.message, "etcdserver: key not found"),
	      "%d %s", st.code, st.message);
	CHECK(!strcmp(cairn_status_text(&st, text, sizeof text), "etcdserver: key not found"),
	      "text %s", text);
	CHECK(st.attempts == 1 && !st.indeterminate, "a server answer is determinate");

	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = bin(K("x"));
	r.revision = 1000000000;
	Etcdserverpb__RangeResponse *resp;
	CHECK(cairn_kv_range_sync(c, &r, NULL, &resp, &st) == CAIRN_ESTATUS, "future");
	CHECK(st.code == CAIRN_OUT_OF_RANGE &&
	          !strcmp(st.message, "etcdserver: mvcc: required revision is a future revision"),
	      "%d %s", st.code, st.message);

	Etcdserverpb__RangeRequest e = ETCDSERVERPB__RANGE_REQUEST__INIT;
	CHECK(cairn_kv_range_sync(c, &e, NULL, &resp, &st) == CAIRN_ESTATUS, "empty key");
	CHECK(st.code == CAIRN_INVALID_ARGUMENT &&
	          !strcmp(st.message, "etcdserver: key is not provided"),
	      "%d %s", st.code, st.message);

	p.ignore_value = 0;
	p.lease = 0x1234abcd;
	CHECK(cairn_kv_put_sync(c, &p, NULL, &presp, &st) == CAIRN_ESTATUS, "bad lease");
	CHECK(st.code == CAIRN_NOT_FOUND &&
	          !strcmp(st.message, "etcdserver: requested lease not found"),
	      "%d %s", st.code, st.message);
	cairn_client_close(c);
}

static void kv_txn_and_compact(void)
{
	story = "kv_txn_and_compact";
	struct cairn_client *c = client();
	struct cairn_status st;
	int64_t rev = put(c, K("t"), "v1", 0);

	/* if mod(t) == rev then put t=v2, get t else get t */
	struct cairn_txn *t = cairn_txn_new();
	CHECK(cairn_txn_compare_int(t, CAIRN_CMP_MOD, CAIRN_CMP_EQUAL, K("t"), strlen(K("t")),
	                            rev) == 0,
	      "cmp");
	CHECK(cairn_txn_put(t, CAIRN_TXN_THEN, K("t"), strlen(K("t")), "v2", 2, 0) == 0, "put");
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = bin(K("t"));
	cairn_txn_range(t, CAIRN_TXN_THEN, &r);
	cairn_txn_range(t, CAIRN_TXN_ELSE, &r);
	Etcdserverpb__TxnResponse *resp;
	OK(cairn_kv_txn_sync(c, cairn_txn_request(t), NULL, &resp, &st), st);
	CHECK(resp->succeeded && resp->n_responses == 2, "then branch");
	CHECK(kv_is(resp->responses[1]->response_range->kvs[0], K("t"), "v2"), "sees own put");
	int64_t rev2 = resp->header->revision;
	cairn_response_free(resp);
	/* the same txn again: the compare fails now */
	OK(cairn_kv_txn_sync(c, cairn_txn_request(t), NULL, &resp, &st), st);
	CHECK(!resp->succeeded && resp->n_responses == 1, "else branch");
	cairn_response_free(resp);
	cairn_txn_free(t);

	/* value compare and a nested txn */
	struct cairn_txn *inner = cairn_txn_new();
	cairn_txn_put(inner, CAIRN_TXN_THEN, K("nested"), strlen(K("nested")), "n", 1, 0);
	t = cairn_txn_new();
	cairn_txn_compare_value(t, CAIRN_CMP_EQUAL, K("t"), strlen(K("t")), "v2", 2);
	cairn_txn_txn(t, CAIRN_TXN_THEN, inner);
	OK(cairn_kv_txn_sync(c, cairn_txn_request(t), NULL, &resp, &st), st);
	CHECK(resp->succeeded && resp->responses[0]->response_txn &&
	          resp->responses[0]->response_txn->succeeded,
	      "nested");
	cairn_response_free(resp);
	cairn_txn_free(t);
	cairn_txn_free(inner);

	/* compaction: old revisions become unreadable, with etcd's error */
	Etcdserverpb__CompactionRequest cr = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	cr.revision = rev2;
	cr.physical = 1;
	Etcdserverpb__CompactionResponse *cresp;
	OK(cairn_kv_compact_sync(c, &cr, NULL, &cresp, &st), st);
	cairn_response_free(cresp);
	r.revision = rev;
	Etcdserverpb__RangeResponse *rresp;
	CHECK(cairn_kv_range_sync(c, &r, NULL, &rresp, &st) == CAIRN_ESTATUS, "compacted");
	CHECK(st.code == CAIRN_OUT_OF_RANGE &&
	          !strcmp(st.message, "etcdserver: mvcc: required revision has been compacted"),
	      "%s", st.message);
	cairn_client_close(c);
}

/* ---- leases ---------------------------------------------------------------------------- */

struct ka_rec {
	int replies;
	int64_t ttl;
	struct cairn_status end;
	bool ended;
};

static void ka_fn(struct cairn_keepalive *ka, void *arg, const struct cairn_status *st, int64_t ttl)
{
	(void)ka;
	struct ka_rec *r = arg;
	if (st->code == CAIRN_OK) {
		r->replies++;
		r->ttl = ttl;
	} else {
		r->ended = true;
		r->end = *st;
	}
}

static void lease_lifecycle(void)
{
	story = "lease_lifecycle";
	struct cairn_client *c = client();
	struct cairn_status st;
	Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	g.ttl = 3;
	Etcdserverpb__LeaseGrantResponse *gr;
	OK(cairn_lease_grant_sync(c, &g, NULL, &gr, &st), st);
	int64_t id = gr->id;
	CHECK(id > 0 && gr->ttl == 3, "granted %" PRId64, gr->ttl);
	cairn_response_free(gr);
	put(c, K("leased"), "v", id);

	/* keep it alive past its TTL: replies come every TTL/3 */
	struct ka_rec rec = {0};
	struct cairn_keepalive *ka;
	CHECK(cairn_lease_keepalive(c, id, ka_fn, &rec, &ka) == 0, "keepalive");
	bool never = false;
	cairn_client_run_until(c, &never, 4500);
	CHECK(rec.replies >= 3 && rec.ttl == 3 && !rec.ended, "%d replies", rec.replies);

	Etcdserverpb__LeaseTimeToLiveRequest tr = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	tr.id = id;
	tr.keys = 1;
	Etcdserverpb__LeaseTimeToLiveResponse *ttl;
	OK(cairn_lease_ttl_sync(c, &tr, NULL, &ttl, &st), st);
	CHECK(ttl->grantedttl == 3 && ttl->ttl > 0 && ttl->n_keys == 1, "ttl %" PRId64, ttl->ttl);
	cairn_response_free(ttl);

	Etcdserverpb__LeaseLeasesRequest lr = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
	Etcdserverpb__LeaseLeasesResponse *list;
	OK(cairn_lease_list_sync(c, &lr, NULL, &list, &st), st);
	bool found = false;
	for (size_t i = 0; i < list->n_leases; i++)
		found |= list->leases[i]->id == id;
	CHECK(found, "listed");
	cairn_response_free(list);

	Etcdserverpb__LeaseKeepAliveResponse *once;
	OK(cairn_lease_keepalive_once_sync(c, id, NULL, &once, &st), st);
	CHECK(once->id == id && once->ttl == 3, "once");
	cairn_response_free(once);

	/* revoke: the keep-alive learns the lease is gone, keys go */
	Etcdserverpb__LeaseRevokeRequest rr = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	rr.id = id;
	Etcdserverpb__LeaseRevokeResponse *rresp;
	OK(cairn_lease_revoke_sync(c, &rr, NULL, &rresp, &st), st);
	cairn_response_free(rresp);
	cairn_client_run_until(c, &rec.ended, 5000);
	CHECK(rec.ended && rec.end.code == CAIRN_NOT_FOUND &&
	          !strcmp(rec.end.message, "etcdserver: requested lease not found"),
	      "ended %d %s", rec.end.code, rec.end.message);
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = bin(K("leased"));
	Etcdserverpb__RangeResponse *resp = get(c, &r);
	CHECK(resp->n_kvs == 0, "key revoked with its lease");
	cairn_response_free(resp);
	CHECK(cairn_lease_revoke_sync(c, &rr, NULL, &rresp, &st) == CAIRN_ESTATUS &&
	          st.code == CAIRN_NOT_FOUND,
	      "revoke twice: %d", st.code);
	CHECK(cairn_lease_keepalive_once_sync(c, id, NULL, &once, &st) == CAIRN_ESTATUS &&
	          st.code == CAIRN_NOT_FOUND,
	      "once on a revoked lease: %d", st.code);
	cairn_client_close(c);
}

/* ---- watch ---------------------------------------------------------------------------------- */

struct wrec {
	int64_t revs[4096];
	char keys[4096][64];
	int types[4096];
	bool has_prev[4096];
	size_t n;
	int progress;
	bool ended;
	struct cairn_status end;
	int64_t canceled_compact;
	bool created;
};

static void w_fn(struct cairn_watcher *w, void *arg, const Etcdserverpb__WatchResponse *r)
{
	(void)w;
	struct wrec *x = arg;
	if (r->created)
		x->created = true;
	if (r->canceled)
		x->canceled_compact = r->compact_revision;
	if (!r->n_events && !r->created && !r->canceled)
		x->progress++;
	for (size_t i = 0; i < r->n_events && x->n < 4096; i++) {
		const Mvccpb__Event *e = r->events[i];
		x->revs[x->n] = e->kv->mod_revision;
		snprintf(x->keys[x->n], 64, "%.*s", (int)e->kv->key.len, e->kv->key.data);
		x->types[x->n] = e->type;
		x->has_prev[x->n] = e->prev_kv != NULL;
		x->n++;
	}
}

static void w_end(struct cairn_watcher *w, void *arg, const struct cairn_status *st)
{
	(void)w;
	struct wrec *x = arg;
	x->ended = true;
	x->end = *st;
}

static void run_for(struct cairn_client *c, uint64_t ms)
{
	bool never = false;
	cairn_client_run_until(c, &never, ms);
}

static void watch_stories(void)
{
	story = "watch_events";
	struct cairn_client *c = client();
	struct cairn_client *w = client();
	struct cairn_status st;
	static struct wrec a, b, h;
	memset(&a, 0, sizeof a);
	struct cairn_watch_options o = {.key = K("w/"),
	                                .key_len = strlen(K("w/")),
	                                .prefix = true,
	                                .prev_kv = true,
	                                .created_notify = true};
	struct cairn_watcher *wa;
	CHECK(cairn_watch(w, &o, w_fn, w_end, &a, &wa) == 0, "watch");
	cairn_client_run_until(w, &a.created, 5000);
	CHECK(a.created, "created");
	int64_t r1 = put(c, K("w/1"), "a", 0);
	put(c, K("w/1"), "b", 0);
	Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	d.key = bin(K("w/1"));
	Etcdserverpb__DeleteRangeResponse *dr;
	OK(cairn_kv_delete_sync(c, &d, NULL, &dr, &st), st);
	cairn_response_free(dr);
	put(c, K("other"), "x", 0); /* outside the prefix */
	int64_t r4 = put(c, K("w/2"), "c", 0);
	for (int i = 0; i < 50 && a.n < 4; i++)
		run_for(w, 100);
	CHECK(a.n == 4, "4 events, got %zu", a.n);
	CHECK(a.revs[0] == r1 && a.revs[3] == r4, "revisions");
	CHECK(a.types[2] == MVCCPB__EVENT__EVENT_TYPE__DELETE, "delete");
	CHECK(!a.has_prev[0] && a.has_prev[1] && a.has_prev[2], "prev_kv on non-create events");

	story = "watch_progress";
	CHECK(cairn_watch_progress(w) == 0, "progress request");
	for (int i = 0; i < 30 && a.progress == 0; i++)
		run_for(w, 100);
	CHECK(a.progress >= 1, "progress response");

	story = "watch_replay";
	memset(&b, 0, sizeof b);
	struct cairn_watch_options ob = {
	    .key = K("w/1"), .key_len = strlen(K("w/1")), .start_revision = r1};
	struct cairn_watcher *wb;
	CHECK(cairn_watch(w, &ob, w_fn, w_end, &b, &wb) == 0, "watch");
	for (int i = 0; i < 50 && b.n < 3; i++)
		run_for(w, 100);
	CHECK(b.n == 3 && b.revs[0] == r1, "replayed %zu", b.n);
	cairn_watch_cancel(wb);

	story = "watch_compacted";
	Etcdserverpb__CompactionRequest cr = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	cr.revision = r4;
	Etcdserverpb__CompactionResponse *cresp;
	OK(cairn_kv_compact_sync(c, &cr, NULL, &cresp, &st), st);
	cairn_response_free(cresp);
	memset(&h, 0, sizeof h);
	struct cairn_watch_options oh = {
	    .key = K("w/1"), .key_len = strlen(K("w/1")), .start_revision = r1};
	CHECK(cairn_watch(w, &oh, w_fn, w_end, &h, NULL) == 0, "watch");
	cairn_client_run_until(w, &h.ended, 5000);
	CHECK(h.ended && h.canceled_compact > 0 && h.end.code == CAIRN_OUT_OF_RANGE &&
	          !strcmp(h.end.message, "etcdserver: mvcc: required revision has been compacted"),
	      "%d %s", h.end.code, h.end.message);

	story = "watch_cancel";
	cairn_watch_cancel(wa);
	size_t before = a.n;
	put(c, K("w/3"), "z", 0);
	run_for(w, 500);
	CHECK(a.n == before, "no events after cancel");
	cairn_client_close(w);
	cairn_client_close(c);
}

/* ---- cluster and maintenance ---------------------------------------------------------- */

struct snapsz {
	uint64_t n;
	bool done;
	struct cairn_status st;
};

static int snap_chunk(void *arg, const uint8_t *d, size_t len, uint64_t rem)
{
	(void)d;
	(void)rem;
	((struct snapsz *)arg)->n += len;
	return 0;
}

static void snap_end(void *arg, const struct cairn_status *st)
{
	struct snapsz *s = arg;
	s->done = true;
	s->st = *st;
}

static void cluster_and_maintenance(void)
{
	story = "cluster_member_list";
	struct cairn_client *c = client();
	struct cairn_status st;
	Etcdserverpb__MemberListRequest mr = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	Etcdserverpb__MemberListResponse *ml;
	OK(cairn_member_list_sync(c, &mr, NULL, &ml, &st), st);
	CHECK(ml->n_members == n_eps, "%zu members", ml->n_members);
	cairn_response_free(ml);

	story = "maint_status_hash";
	uint32_t hashes[8] = {0};
	for (size_t i = 0; i < n_eps; i++) {
		struct cairn_client *one = client_for((const char *const *)&eps[i], 1);
		Etcdserverpb__StatusRequest sr = ETCDSERVERPB__STATUS_REQUEST__INIT;
		Etcdserverpb__StatusResponse *s;
		OK(cairn_maint_status_sync(one, &sr, NULL, &s, &st), st);
		CHECK(s->leader != 0 && s->raftterm > 0 && s->version && *s->version, "status");
		cairn_response_free(s);
		Etcdserverpb__HashKVRequest hr = ETCDSERVERPB__HASH_KVREQUEST__INIT;
		Etcdserverpb__HashKVResponse *h;
		OK(cairn_maint_hash_kv_sync(one, &hr, NULL, &h, &st), st);
		hashes[i] = h->hash;
		cairn_response_free(h);
		Etcdserverpb__DefragmentRequest dr = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
		Etcdserverpb__DefragmentResponse *dresp;
		OK(cairn_maint_defragment_sync(one, &dr, NULL, &dresp, &st), st);
		cairn_response_free(dresp);
		cairn_client_close(one);
	}
	/* HashKV at the current revision may differ while a member catches
	 * up; equal hashes are what a settled cluster shows */
	say("  hashkv: %u %u %u", hashes[0], hashes[1], hashes[2]);

	story = "maint_alarm";
	Etcdserverpb__AlarmRequest ar = ETCDSERVERPB__ALARM_REQUEST__INIT;
	Etcdserverpb__AlarmResponse *alarms;
	OK(cairn_maint_alarm_sync(c, &ar, NULL, &alarms, &st), st);
	CHECK(alarms->n_alarms == 0, "no alarms");
	cairn_response_free(alarms);

	story = "maint_snapshot";
	struct cairn_client *one = client_for((const char *const *)&eps[0], 1);
	struct snapsz s = {0};
	CHECK(cairn_maint_snapshot(one, snap_chunk, snap_end, &s) == 0, "snapshot");
	cairn_client_run_until(one, &s.done, 30000);
	CHECK(s.done && s.st.code == CAIRN_OK && s.n % 512 == 32, "%" PRIu64 " bytes, %s", s.n,
	      s.st.message);
	char path[] = "/tmp/cairn-snap-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	uint64_t size;
	OK(cairn_maint_snapshot_save(one, path, &size, &st), st);
	CHECK(size % 512 == 32, "saved %" PRIu64, size);
	unlink(path);
	cairn_client_close(one);
	cairn_client_close(c);
}

/* ---- recipes -------------------------------------------------------------------------------- */

struct flag {
	bool done;
	struct cairn_status st;
};

static void flag_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct flag *f = arg;
	f->done = true;
	f->st = *st;
}

static void timer_noop(uv_timer_t *t)
{
	(void)t;
}

static void recipe_mutex(void)
{
	story = "recipe_mutex";
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cairn_config cfg = {.endpoints = (const char *const *)eps, .n_endpoints = n_eps};
	struct cairn_client *c1, *c2;
	CHECK(cairn_client_new(&loop, &cfg, &c1) == 0 && cairn_client_new(&loop, &cfg, &c2) == 0,
	      "clients");
	struct cairn_session *s1, *s2;
	struct flag f1 = {0}, f2 = {0};
	CHECK(cairn_session_new(c1, 10, flag_done, &f1, NULL, NULL, &s1) == 0, "session");
	CHECK(cairn_session_new(c2, 10, flag_done, &f2, NULL, NULL, &s2) == 0, "session");
	while (!f1.done || !f2.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(f1.st.code == 0 && f2.st.code == 0, "sessions up");
	struct cairn_mutex *m1, *m2;
	cairn_mutex_new(s1, K("lock"), &m1);
	cairn_mutex_new(s2, K("lock"), &m2);
	struct flag l1 = {0}, l2 = {0}, u1 = {0};
	CHECK(cairn_mutex_lock(m1, NULL, flag_done, &l1) == 0, "lock 1");
	while (!l1.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(l1.st.code == 0, "first holder: %s", l1.st.message);
	CHECK(cairn_mutex_lock(m2, NULL, flag_done, &l2) == 0, "lock 2");
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, timer_noop, 1000, 0);
	while (uv_is_active((uv_handle_t *)&t))
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(!l2.done, "second waits while the first holds");
	CHECK(cairn_mutex_revision(m1) > 0 &&
	          !strncmp(cairn_mutex_key(m1), K("lock/"), strlen(K("lock/"))),
	      "key %s", cairn_mutex_key(m1));
	CHECK(cairn_mutex_unlock(m1, flag_done, &u1) == 0, "unlock");
	while (!l2.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(l2.st.code == 0 && cairn_mutex_revision(m2) > cairn_mutex_revision(m1),
	      "second acquires after the first unlocks");
	struct flag u2 = {0};
	cairn_mutex_unlock(m2, flag_done, &u2);
	while (!u1.done || !u2.done)
		uv_run(&loop, UV_RUN_ONCE);
	cairn_mutex_free(m1);
	cairn_mutex_free(m2);
	cairn_session_close(s1, true);
	cairn_session_close(s2, true);
	uv_close((uv_handle_t *)&t, NULL);
	cairn_client_close(c1);
	cairn_client_close(c2);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "everything released");
}

struct leaders {
	char vals[16][32];
	int n;
};

static void leader_fn(struct cairn_observer *ob, void *arg, const Mvccpb__KeyValue *kv)
{
	(void)ob;
	struct leaders *l = arg;
	if (l->n < 16)
		snprintf(l->vals[l->n++], 32, "%.*s", (int)kv->value.len, kv->value.data);
}

static void recipe_election(void)
{
	story = "recipe_election";
	struct cairn_client *c = client();
	struct cairn_status st;
	struct cairn_session *s1, *s2;
	OK(cairn_session_new_sync(c, 10, &s1, &st), st);
	OK(cairn_session_new_sync(c, 10, &s2, &st), st);
	static struct leaders seen;
	struct cairn_observer *ob;
	CHECK(cairn_election_observe(c, K("elect"), leader_fn, NULL, &seen, &ob) == 0, "observe");
	struct cairn_election *e1, *e2;
	cairn_election_new(s1, K("elect"), &e1);
	cairn_election_new(s2, K("elect"), &e2);
	OK(cairn_election_campaign_sync(e1, "one", 3, NULL, &st), st);
	struct flag f = {0};
	CHECK(cairn_election_campaign(e2, "two", 3, NULL, flag_done, &f) == 0, "campaign 2");
	run_for(c, 700);
	CHECK(!f.done, "second candidate waits");
	struct flag p = {0};
	CHECK(cairn_election_proclaim(e1, "one-b", 5, flag_done, &p) == 0, "proclaim");
	cairn_client_run_until(c, &p.done, 5000);
	CHECK(p.st.code == 0, "proclaimed");
	struct flag l = {0};
	CHECK(cairn_election_leader(c, K("elect"), NULL, flag_done, &l) == 0, "leader");
	cairn_client_run_until(c, &l.done, 5000);
	CHECK(l.st.code == 0, "leader known");
	OK(cairn_election_resign_sync(e1, &st), st);
	cairn_client_run_until(c, &f.done, 5000);
	CHECK(f.done && f.st.code == 0, "second leads after the first resigns");
	run_for(c, 500);
	CHECK(seen.n >= 3 && !strcmp(seen.vals[0], "one") && !strcmp(seen.vals[1], "one-b") &&
	          !strcmp(seen.vals[seen.n - 1], "two"),
	      "observed %d: %s %s", seen.n, seen.vals[0], seen.vals[seen.n ? seen.n - 1 : 0]);
	cairn_election_observe_stop(ob);
	OK(cairn_election_resign_sync(e2, &st), st);
	cairn_election_free(e1);
	cairn_election_free(e2);
	cairn_session_close(s1, true);
	cairn_session_close(s2, true);
	cairn_client_close(c);
}

/* ---- asynchronous calls and deadlines --------------------------------------------------- */

struct counter {
	int ok, failed, pending;
};

static void count_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct counter *n = arg;
	if (st->code == CAIRN_OK)
		n->ok++;
	else
		n->failed++;
	n->pending--;
}

static void async_many(void)
{
	story = "async_many";
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cairn_config cfg = {.endpoints = (const char *const *)eps, .n_endpoints = n_eps};
	struct cairn_client *c;
	CHECK(cairn_client_new(&loop, &cfg, &c) == 0, "client");
	struct counter n = {0};
	char key[160];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "%sasync/%03d", pfx, i);
		Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
		r.key = bin(key);
		r.value = bin("v");
		CHECK(cairn_kv_put(c, &r, NULL, count_done, &n) == 0, "start");
		n.pending++;
	}
	while (n.pending > 0)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(n.ok == 500 && n.failed == 0, "%d ok %d failed", n.ok, n.failed);
	cairn_client_close(c);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "released");
}

static void deadlines(void)
{
	story = "deadline_unreachable";
	const char *dead[] = {"127.0.0.1:1"};
	struct cairn_config cfg = {.endpoints = dead, .n_endpoints = 1, .call_timeout_ms = 800};
	struct cairn_client *c;
	CHECK(cairn_client_new(NULL, &cfg, &c) == 0, "client");
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key = bin("x");
	Etcdserverpb__RangeResponse *resp;
	struct cairn_status st;
	char text[600];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK(cairn_kv_range_sync(c, &r, NULL, &resp, &st) == CAIRN_ESTATUS, "fails");
	clock_gettime(CLOCK_MONOTONIC, &b);
	double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	CHECK(st.code == CAIRN_DEADLINE_EXCEEDED && st.reason == CAIRN_REASON_NO_CONNECTION &&
	          st.attempts == 0,
	      "%d %d %s", st.code, st.reason, st.message);
	CHECK(strstr(st.message, "127.0.0.1:1") != NULL, "says which endpoint: %s", st.message);
	CHECK(!strcmp(cairn_status_text(&st, text, sizeof text), "context deadline exceeded"), "%s",
	      text);
	CHECK(took > 0.7 && took < 3.0, "took %.2fs", took);
	cairn_client_close(c);

	story = "deadline_short";
	c = client();
	struct cairn_call_opts o = {.timeout_ms = 1};
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key = bin(K("slow"));
	Etcdserverpb__PutResponse *presp;
	int rv = cairn_kv_put_sync(c, &p, &o, &presp, &st);
	/* The client's own deadline usually wins; but the server also honours
	 * grpc-timeout, and etcd answers a proposal whose context expired with
	 * Unavailable "etcdserver: request timed out" (parseProposeCtxErr), which
	 * can reach us first. Both are the outcome-unknown answer; anything else
	 * is wrong. */
	CHECK(rv == 0 || st.code == CAIRN_DEADLINE_EXCEEDED ||
	          (st.code == CAIRN_UNAVAILABLE &&
	           !strcmp(st.message, "etcdserver: request timed out")),
	      "1 ms: %d %s", st.code, st.message);
	if (rv == 0)
		cairn_response_free(presp);

	story = "failover_dead_first_endpoint";
	const char *mixed[] = {"127.0.0.1:1", eps[0]};
	struct cairn_config cfg2 = {.endpoints = mixed, .n_endpoints = 2};
	struct cairn_client *c2;
	CHECK(cairn_client_new(NULL, &cfg2, &c2) == 0, "client");
	put(c2, K("via-second"), "v", 0);
	CHECK(!strcmp(cairn_client_endpoint(c2), eps[0]), "moved to %s", cairn_client_endpoint(c2));
	cairn_client_close(c2);
	cairn_client_close(c);
}

/* ---- failover ----------------------------------------------------------------------------------
 */

static void failover_kill_connected(void)
{
	story = "failover_kill_connected";
	struct cairn_client *c = client();
	struct cairn_client *wc = client();
	CHECK(cairn_client_set_endpoint(c, 0) == 0 && cairn_client_set_endpoint(wc, 0) == 0, "pin");
	struct cairn_status st;
	static struct wrec ev;
	memset(&ev, 0, sizeof ev);
	struct cairn_watch_options o = {
	    .key = K("f/"), .key_len = strlen(K("f/")), .prefix = true, .created_notify = true};
	CHECK(cairn_watch(wc, &o, w_fn, w_end, &ev, NULL) == 0, "watch");
	cairn_client_run_until(wc, &ev.created, 5000);
	CHECK(ev.created, "watching");
	Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	g.ttl = 6;
	Etcdserverpb__LeaseGrantResponse *gr;
	OK(cairn_lease_grant_sync(wc, &g, NULL, &gr, &st), st);
	int64_t lease = gr->id;
	cairn_response_free(gr);
	struct ka_rec ka = {0};
	CHECK(cairn_lease_keepalive(wc, lease, ka_fn, &ka, NULL) == 0, "keepalive");

	int64_t acked[400];
	int nacked = 0, indeterminate = 0, reads_ok = 0, reads_failed = 0, writes_failed = 0;
	char key[160];
	for (int i = 0; i < 200; i++) {
		if (i == 60) {
			say("  kill -9 member 0 (%s)", eps[0]);
			driver("KILL 0");
		}
		snprintf(key, sizeof key, "%sf/%03d", pfx, i);
		Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
		p.key = bin(key);
		p.value = bin("v");
		Etcdserverpb__PutResponse *presp;
		struct cairn_call_opts opt = {.timeout_ms = 8000};
		if (cairn_kv_put_sync(c, &p, &opt, &presp, &st) == 0) {
			acked[nacked++] = presp->header->revision;
			cairn_response_free(presp);
		} else {
			/* a write that failed must say so, and say whether it may
			 * have been applied */
			CHECK(st.code == CAIRN_UNAVAILABLE || st.code == CAIRN_DEADLINE_EXCEEDED,
			      "write %d: %d %s", i, st.code, st.message);
			writes_failed++;
			indeterminate += st.indeterminate;
			say("  write %d failed: %s (%s)%s", i, st.message, st.endpoint,
			    st.indeterminate ? " indeterminate" : "");
		}
		Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
		r.key = bin(key);
		Etcdserverpb__RangeResponse *rresp;
		if (cairn_kv_range_sync(c, &r, &opt, &rresp, &st) == 0) {
			reads_ok++;
			cairn_response_free(rresp);
		} else {
			reads_failed++;
			say("  read %d failed: %d %s", i, st.code, st.message);
		}
		run_for(wc, 5);
	}
	CHECK(strcmp(cairn_client_endpoint(c), eps[0]) != 0, "moved off the dead member");
	CHECK(reads_failed == 0, "%d reads failed: reads are retried on another endpoint",
	      reads_failed);
	CHECK(nacked >= 190, "%d writes acknowledged", nacked);
	say("  %d writes acknowledged, %d failed (%d indeterminate), %d reads ok", nacked,
	    writes_failed, indeterminate, reads_ok);

	/* The watch resumed elsewhere: every acknowledged write exactly once,
	 * revisions strictly increasing (nothing missed, nothing repeated). */
	int64_t last = acked[nacked - 1];
	for (int i = 0; i < 100 && (ev.n == 0 || ev.revs[ev.n - 1] < last); i++)
		run_for(wc, 100);
	for (size_t i = 1; i < ev.n; i++)
		CHECK(ev.revs[i] > ev.revs[i - 1], "event %zu: revision %" PRId64 " after %" PRId64,
		      i, ev.revs[i], ev.revs[i - 1]);
	size_t j = 0;
	for (int i = 0; i < nacked; i++) {
		while (j < ev.n && ev.revs[j] < acked[i])
			j++;
		CHECK(j < ev.n && ev.revs[j] == acked[i], "acknowledged revision %" PRId64 " seen",
		      acked[i]);
	}
	CHECK(!ev.ended, "the watcher is still running");
	CHECK(ka.replies > 0 && !ka.ended, "the keep-alive survived (%d replies)", ka.replies);
	Etcdserverpb__LeaseTimeToLiveRequest tr = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	tr.id = lease;
	Etcdserverpb__LeaseTimeToLiveResponse *ttl;
	OK(cairn_lease_ttl_sync(wc, &tr, NULL, &ttl, &st), st);
	CHECK(ttl->ttl > 0, "lease alive after failover: ttl %" PRId64, ttl->ttl);
	cairn_response_free(ttl);
	say("  watch saw %zu events; lease kept alive (%d replies)", ev.n, ka.replies);
	driver("START 0");
	cairn_client_close(wc);
	cairn_client_close(c);
}

/* Writes whose connection dies while they are out are reported (as
 * Unavailable, indeterminate unless provably unsent), never as success,
 * and not retried by the library; later writes go through the other
 * endpoint. */
struct stream {
	struct cairn_client *c;
	int started, ok, failed, indeterminate, pending;
	bool stop;
	char msgs[4][200];
	int nmsgs;
};

static void stream_put(struct stream *s);

static void stream_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct stream *s = arg;
	s->pending--;
	if (st->code == CAIRN_OK) {
		s->ok++;
	} else {
		CHECK(st->code == CAIRN_UNAVAILABLE || st->code == CAIRN_DEADLINE_EXCEEDED,
		      "failure %d %s", st->code, st->message);
		s->failed++;
		s->indeterminate += st->indeterminate;
		bool known = false;
		for (int i = 0; i < s->nmsgs; i++)
			known |= !strcmp(s->msgs[i], st->message);
		if (!known && s->nmsgs < 4)
			snprintf(s->msgs[s->nmsgs++], sizeof s->msgs[0], "%.150s", st->message);
	}
	if (!s->stop)
		stream_put(s);
}

static void stream_put(struct stream *s)
{
	char key[160];
	snprintf(key, sizeof key, "%sinflight/%05d", pfx, s->started++);
	Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
	r.key = bin(key);
	r.value = bin("v");
	struct cairn_call_opts o = {.timeout_ms = 10000};
	CHECK(cairn_kv_put(s->c, &r, &o, stream_done, s) == 0, "start");
	s->pending++;
}

static void stop_cb(uv_timer_t *t)
{
	((struct stream *)t->data)->stop = true;
}

static void failover_write_in_flight(void)
{
	story = "failover_write_in_flight";
	uv_loop_t loop;
	uv_loop_init(&loop);
	const char *two[] = {eps[1], eps[2]};
	struct cairn_config cfg = {.endpoints = two, .n_endpoints = 2};
	struct stream s = {0};
	CHECK(cairn_client_new(&loop, &cfg, &s.c) == 0, "client");
	/* 50 puts always in flight for 3 s; member 1 dies after 500 ms */
	for (int i = 0; i < 50; i++)
		stream_put(&s);
	driver("KILL_AFTER 1 500");
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	t.data = &s;
	uv_timer_start(&t, stop_cb, 3000, 0);
	while (!s.stop || s.pending > 0)
		uv_run(&loop, UV_RUN_ONCE);
	say("  %d writes: %d acknowledged, %d failed (%d indeterminate)", s.started, s.ok, s.failed,
	    s.indeterminate);
	for (int i = 0; i < s.nmsgs; i++)
		say("  failure: %s", s.msgs[i]);
	CHECK(s.ok + s.failed == s.started, "every write reported");
	/* those in flight on the dead connection, and those the survivors
	 * refuse while they elect a new leader */
	CHECK(s.failed <= s.started / 4, "%d failed", s.failed);
	CHECK(s.indeterminate == s.failed, "a write lost with its connection is indeterminate");
	CHECK(s.ok > s.started / 2, "writes went on through the other endpoint");
	uv_close((uv_handle_t *)&t, NULL);
	driver("START 1");
	cairn_client_close(s.c);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0, "released");
}

/*
 * A keep-alive right after a successful grant must find the lease, on every
 * member (etcd: 0 of 300). cairnd answered TTL 0 ("requested lease not
 * found") to about 1 in 10 when the keep-alive reached a member whose
 * lessor had not applied the grant yet; it is last so that the stories
 * above run either way.
 */
static void lease_keepalive_after_grant(void)
{
	story = "lease_keepalive_after_grant";
	int lost = 0, total = 0;
	for (size_t ep = 0; ep < n_eps; ep++) {
		struct cairn_client *c = client_for((const char *const *)&eps[ep], 1);
		for (int i = 0; i < 50; i++) {
			struct cairn_status st;
			Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
			g.ttl = 10;
			Etcdserverpb__LeaseGrantResponse *gr;
			OK(cairn_lease_grant_sync(c, &g, NULL, &gr, &st), st);
			Etcdserverpb__LeaseKeepAliveResponse *k;
			total++;
			if (cairn_lease_keepalive_once_sync(c, gr->id, NULL, &k, &st) == 0)
				cairn_response_free(k);
			else
				lost++;
			Etcdserverpb__LeaseRevokeRequest r =
			    ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
			r.id = gr->id;
			Etcdserverpb__LeaseRevokeResponse *rr;
			if (cairn_lease_revoke_sync(c, &r, NULL, &rr, &st) == 0)
				cairn_response_free(rr);
			cairn_response_free(gr);
		}
		cairn_client_close(c);
	}
	CHECK(lost == 0, "%d of %d keep-alives right after a grant: lease not found", lost, total);
}

int main(int argc, char **argv)
{
	const char *e = getenv("CAIRN_TEST_ENDPOINTS");
	if (!e) {
		fprintf(stderr, "CAIRN_TEST_ENDPOINTS not set (run libcairn_integration.py)\n");
		return 2;
	}
	char *copy = strdup(e);
	for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
		eps = realloc(eps, (n_eps + 1) * sizeof *eps);
		eps[n_eps++] = t;
	}
	snprintf(pfx, sizeof pfx, "itest-%ld-", (long)getpid());
	const char *only = argc > 1 ? argv[1] : NULL;
	struct {
		const char *name;
		void (*fn)(void);
	} all[] = {
	    {"kv", kv_put_get_delete},
	    {"kv", kv_errors},
	    {"kv", kv_txn_and_compact},
	    {"lease", lease_lifecycle},
	    {"watch", watch_stories},
	    {"cluster", cluster_and_maintenance},
	    {"recipe", recipe_mutex},
	    {"recipe", recipe_election},
	    {"async", async_many},
	    {"deadline", deadlines},
	    {"failover", failover_kill_connected},
	    {"failover", failover_write_in_flight},
	    {"lease", lease_keepalive_after_grant},
	};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (only && strcmp(only, all[i].name) != 0)
			continue;
		all[i].fn();
		say("ok   %s", story);
	}
	free(eps);
	free(copy);
	return 0;
}
