/*
 * bench/cairn-bench/workloads.c - put, range, txn-put, mixed and
 * lease-keepalive (watch-latency is in watch.c).
 *
 * As etcd's benchmark (tools/benchmark/cmd/, v3.4): put writes key
 * number i mod --key-space-size with --sequential-keys, else a random one;
 * txn-put puts --txn-ops keys (i*ops + j) mod key-space in one Txn; range
 * reads KEY [END] again and again; mixed chooses a read with probability
 * rw/(1+rw), as txn-mixed does, but sends plain Range and Put calls.
 */
#include "workloads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.pb-c.h"
#include "tmpl.h"

struct kv_state {
	const struct bench_opts *o;
	struct tmpl put, txn, range;
	bool range_patch; /* mixed without KEY: a random single key per read */
	uint64_t seq;     /* requests generated, etcd's i */
	uint8_t *val;
	double read_p;
	/* lease-keepalive */
	int grants_left, revokes_left;
};

void workload_rand_bytes(uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(bench_rand() >> 56);
}

static void on_unary(struct rpc_call *call, void *arg, int code, const char *message,
                     const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	struct bench_client *c = arg;
	bench_complete(c->b, c, code, message);
}

static struct rpc_call_options *unary_opts(struct bench *b, struct bench_client *c)
{
	if (!c->call.on_reply) {
		c->call.on_reply = on_unary;
		c->call.arg = c;
		c->call.timeout_ms = (uint64_t)b->o->request_timeout / 1000000;
	}
	return &c->call;
}

static uint64_t next_key(struct kv_state *s)
{
	uint64_t space = (uint64_t)s->o->key_space_size;
	uint64_t i = s->seq++;
	return s->o->seq_keys ? i % space : bench_rand() % space;
}

static struct kv_state *kv_new(struct bench_workload *wl, const struct bench_opts *o,
                               const char *op)
{
	struct kv_state *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = o;
	wl->op = op;
	wl->state = s;
	if (o->val_size > 0) {
		s->val = malloc((size_t)o->val_size);
		if (!s->val)
			return NULL;
		workload_rand_bytes(s->val, (size_t)o->val_size);
	}
	return s;
}

/* ---- put ------------------------------------------------------------------- */

static int put_issue(struct bench *b, struct bench_client *c)
{
	struct kv_state *s = b->wl->state;
	tmpl_set_key(&s->put, 0, next_key(s));
	return rpc_call_unary_bytes(c->conn->rc, PATH_PUT, s->put.buf, s->put.len, unary_opts(b, c),
	                            NULL);
}

int workload_put(struct bench_workload *wl, const struct bench_opts *o)
{
	struct kv_state *s = kv_new(wl, o, "put");
	if (!s || tmpl_put(&s->put, (size_t)o->key_size, s->val, (size_t)o->val_size, 0))
		return -1;
	wl->issue = put_issue;
	return 0;
}

/* ---- range ----------------------------------------------------------------- */

static int range_issue(struct bench *b, struct bench_client *c)
{
	struct kv_state *s = b->wl->state;
	return rpc_call_unary_bytes(c->conn->rc, PATH_RANGE, s->range.buf, s->range.len,
	                            unary_opts(b, c), NULL);
}

int workload_range(struct bench_workload *wl, const struct bench_opts *o)
{
	struct kv_state *s = kv_new(wl, o, "range");
	const char *end = o->end ? o->end : "";
	if (!s || tmpl_range(&s->range, (const uint8_t *)o->key, strlen(o->key),
	                     (const uint8_t *)end, strlen(end), o->limit, o->consistency[0] == 's'))
		return -1;
	wl->issue = range_issue;
	return 0;
}

/* ---- txn-put --------------------------------------------------------------- */

static int txn_issue(struct bench *b, struct bench_client *c)
{
	struct kv_state *s = b->wl->state;
	uint64_t i = s->seq++, ops = s->txn.n_keys, space = (uint64_t)s->o->key_space_size;
	for (uint64_t j = 0; j < ops; j++)
		tmpl_set_key(&s->txn, j, (i * ops + j) % space);
	return rpc_call_unary_bytes(c->conn->rc, PATH_TXN, s->txn.buf, s->txn.len, unary_opts(b, c),
	                            NULL);
}

int workload_txn_put(struct bench_workload *wl, const struct bench_opts *o)
{
	struct kv_state *s = kv_new(wl, o, "txn-put");
	if (!s || tmpl_txn_put(&s->txn, (size_t)o->txn_ops, (size_t)o->key_size, s->val,
	                       (size_t)o->val_size))
		return -1;
	wl->issue = txn_issue;
	return 0;
}

/* ---- mixed ----------------------------------------------------------------- */

static int mixed_issue(struct bench *b, struct bench_client *c)
{
	struct kv_state *s = b->wl->state;
	/* 53 random bits give a uniform double in [0, 1). */
	double u = (double)(bench_rand() >> 11) / 9007199254740992.0;
	if (u < s->read_p) {
		c->sub = &b->read;
		if (s->range_patch)
			tmpl_set_key(&s->range, 0, bench_rand() % (uint64_t)s->o->key_space_size);
		return rpc_call_unary_bytes(c->conn->rc, PATH_RANGE, s->range.buf, s->range.len,
		                            unary_opts(b, c), NULL);
	}
	c->sub = &b->write;
	uint64_t i = s->seq++;
	tmpl_set_key(&s->put, 0, i % (uint64_t)s->o->key_space_size);
	return rpc_call_unary_bytes(c->conn->rc, PATH_PUT, s->put.buf, s->put.len, unary_opts(b, c),
	                            NULL);
}

static int mixed_setup(struct bench *b)
{
	b->rep.sub[0] = &b->read;
	b->rep.sub[1] = &b->write;
	b->rep.n_sub = 2;
	return 0;
}

int workload_mixed(struct bench_workload *wl, const struct bench_opts *o)
{
	struct kv_state *s = kv_new(wl, o, "mixed");
	if (!s || tmpl_put(&s->put, (size_t)o->key_size, s->val, (size_t)o->val_size, 0))
		return -1;
	bool ser = o->consistency[0] == 's';
	int rv;
	if (o->key) {
		const char *end = o->end ? o->end : "";
		rv = tmpl_range(&s->range, (const uint8_t *)o->key, strlen(o->key),
		                (const uint8_t *)end, strlen(end), o->limit, ser);
	} else {
		uint8_t *key = calloc(1, (size_t)o->key_size);
		rv = key ? tmpl_range(&s->range, key, (size_t)o->key_size, NULL, 0, o->limit, ser)
		         : -1;
		free(key);
		s->range_patch = true;
	}
	if (rv)
		return -1;
	s->read_p = o->rw_ratio / (1 + o->rw_ratio);
	wl->setup = mixed_setup;
	wl->issue = mixed_issue;
	return 0;
}

/* ---- lease-keepalive --------------------------------------------------------- */

/*
 * Each client grants itself a lease (--ttl, 100 s by default, as etcd's
 * benchmark) and keeps one LeaseKeepAlive stream open; a request is one
 * keep-alive message and its answer on that stream. (etcd's benchmark calls
 * KeepAliveOnce, which opens a stream per request; a long-lived stream is
 * what clients do to keep leases alive, and it measures the server rather
 * than stream setup.) An answer with TTL <= 0 means the lease is gone and
 * is counted as NotFound.
 */

static void ka_message(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                       const uint8_t *bytes, size_t len)
{
	struct bench_client *c = arg;
	const Etcdserverpb__LeaseKeepAliveResponse *r =
	    (const Etcdserverpb__LeaseKeepAliveResponse *)msg;
	if (r && r->ttl > 0)
		bench_complete(c->b, c, RPC_OK, NULL);
	else
		bench_complete(c->b, c, RPC_NOT_FOUND, "lease keepalive answered TTL 0");
}

static void ka_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	struct bench_client *c = arg;
	c->stream = NULL;
	if (c->b->finished)
		return;
	bench_retire(c->b, c);
	if (code == RPC_OK) {
		code = RPC_UNAVAILABLE;
		message = "keepalive stream ended";
	}
	if (c->busy)
		bench_complete(c->b, c, code, message);
	else
		bench_record_error(c->b, code, message);
}

static int ka_issue(struct bench *b, struct bench_client *c)
{
	if (!c->stream)
		return -EPIPE;
	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	req.id = c->lease;
	uint8_t buf[16];
	size_t n = etcdserverpb__lease_keep_alive_request__pack(&req, buf);
	int rv = rpc_call_send_bytes(c->stream, buf, n);
	return rv < 0 ? rv : 0;
}

static void grant_reply(struct rpc_call *call, void *arg, int code, const char *message,
                        const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	struct bench_client *c = arg;
	struct kv_state *s = c->b->wl->state;
	const Etcdserverpb__LeaseGrantResponse *r = (const Etcdserverpb__LeaseGrantResponse *)resp;
	if (code == RPC_OK && r && r->id)
		c->lease = r->id;
	else if (!c->b->aborted)
		bench_abort(c->b, "lease grant: %s: %s", rpc_code_name(code),
		            code == RPC_OK ? (r ? r->error : "no lease") : message);
	s->grants_left--;
}

static int ka_setup(struct bench *b)
{
	struct kv_state *s = b->wl->state;
	/* Grant every lease at once (pipelined on the connections). */
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	req.ttl = s->o->lease_ttl;
	for (unsigned i = 0; i < b->n_clients; i++) {
		struct bench_client *c = &b->clients[i];
		struct rpc_call_options o = {.response =
		                                 &etcdserverpb__lease_grant_response__descriptor,
		                             .on_reply = grant_reply,
		                             .arg = c,
		                             .timeout_ms = 30000};
		if (rpc_call_unary(c->conn->rc, PATH_GRANT, &req.base, &o, NULL)) {
			fprintf(stderr, "cairn-bench: lease grant: cannot start the call\n");
			return -1;
		}
		s->grants_left++;
	}
	while (s->grants_left > 0 && !b->aborted)
		uv_run(b->loop, UV_RUN_ONCE);
	if (b->aborted)
		return -1;
	for (unsigned i = 0; i < b->n_clients; i++) {
		struct bench_client *c = &b->clients[i];
		struct rpc_call_options o = {
		    .response = &etcdserverpb__lease_keep_alive_response__descriptor,
		    .on_message = ka_message,
		    .on_end = ka_end,
		    .arg = c};
		if (rpc_call_start(c->conn->rc, PATH_KEEPALIVE, &o, &c->stream)) {
			fprintf(stderr, "cairn-bench: lease keepalive: cannot open a stream\n");
			return -1;
		}
	}
	return 0;
}

static void revoke_reply(struct rpc_call *call, void *arg, int code, const char *message,
                         const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(*(int *)arg)--;
}

static void ka_teardown(struct bench *b)
{
	/* Leave the cluster as found: revoke the leases (best effort). */
	int left = 0;
	for (unsigned i = 0; i < b->n_clients; i++) {
		struct bench_client *c = &b->clients[i];
		if (c->stream)
			rpc_call_cancel(c->stream);
		c->stream = NULL;
		if (!c->lease || !c->conn->ready)
			continue;
		Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
		req.id = c->lease;
		struct rpc_call_options o = {
		    .on_reply = revoke_reply, .arg = &left, .timeout_ms = 5000};
		if (rpc_call_unary(c->conn->rc, PATH_REVOKE, &req.base, &o, NULL) == 0)
			left++;
	}
	while (left > 0)
		uv_run(b->loop, UV_RUN_ONCE);
}

int workload_lease_keepalive(struct bench_workload *wl, const struct bench_opts *o)
{
	struct kv_state *s = kv_new(wl, o, "lease-keepalive");
	if (!s)
		return -1;
	wl->setup = ka_setup;
	wl->issue = ka_issue;
	wl->teardown = ka_teardown;
	return 0;
}

void workload_free(struct bench_workload *wl)
{
	if (wl->free_state) {
		wl->free_state(wl->state);
		return;
	}
	struct kv_state *s = wl->state;
	if (!s)
		return;
	tmpl_free(&s->put);
	tmpl_free(&s->txn);
	tmpl_free(&s->range);
	free(s->val);
	free(s);
	wl->state = NULL;
}
