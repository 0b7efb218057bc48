/*
 * server/lease_api_keepalive.c - etcdserverpb.Lease/LeaseKeepAlive, the
 * bidirectional stream of lease renewals.
 *
 * As etcd's v3rpc/lease.go: requests are handled one at a time in arrival
 * order; each reply carries a header filled before the renewal (so its
 * revision never runs ahead of the keep-alive), the lease ID and its
 * granted TTL, or TTL 0 for an unknown or expired lease (no error). Other
 * renewal failures (no leader, timeout) end the stream with their error.
 * A client half-close ends the stream with OK once every request received
 * has been answered: python3-etcd3's Lease.refresh() sends one request,
 * half-closes, and reads until the trailers.
 *
 * Requests that arrive while one is in flight wait in a small FIFO; a
 * client that floods requests without reading replies is cut off when the
 * FIFO passes KEEPALIVE_QUEUE_MAX, so memory stays bounded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_internal.h"

#define KEEPALIVE_QUEUE_MAX 4096

struct api_keepalive {
	struct api *a;
	struct rpc_stream *s;
	struct node_wait *w;
	int64_t cur; /* the lease being renewed */
	Etcdserverpb__ResponseHeader hdr;
	int64_t *q; /* FIFO ring of lease IDs waiting */
	size_t q_head, q_len, q_cap;
	bool half_closed, hasleader;
	struct api_keepalive *next, *prev;
};

static void ka_free(struct api_keepalive *ka)
{
	struct api *a = ka->a;
	node_wait_cancel(ka->w);
	if (ka->prev)
		ka->prev->next = ka->next;
	else
		a->keepalives = ka->next;
	if (ka->next)
		ka->next->prev = ka->prev;
	a->n_keepalives--;
	free(ka->q);
	free(ka);
}

static void ka_end(struct api_keepalive *ka, int code, const char *msg)
{
	struct rpc_stream *s = ka->s;
	rpc_stream_set_data(s, NULL);
	api_finish(ka->a, s, API_LEASE_KEEPALIVE, code, msg);
	ka_free(ka);
}

static void ka_fail(struct api_keepalive *ka, int err)
{
	int code;
	const char *msg;
	api_status_of(err, &code, &msg);
	ka_end(ka, code, msg);
}

static void renewed(void *arg, int err, int64_t ttl);

static void start_next(struct api_keepalive *ka)
{
	if (ka->q_len == 0) {
		if (ka->half_closed)
			ka_end(ka, RPC_OK, NULL);
		return;
	}
	ka->cur = ka->q[ka->q_head];
	ka->q_head = (ka->q_head + 1) % ka->q_cap;
	ka->q_len--;
	etcdserverpb__response_header__init(&ka->hdr);
	node_fill_header(ka->a->n, &ka->hdr, 0);
	ka->w = node_lease_renew(ka->a->n, ka->cur, renewed, ka);
	if (!ka->w)
		ka_fail(ka, -ENOMEM);
}

static void renewed(void *arg, int err, int64_t ttl)
{
	struct api_keepalive *ka = arg;
	ka->w = NULL;
	if (err == STORE_MVCC_ELEASE_NOT_FOUND) {
		err = 0;
		ttl = 0;
	}
	if (err) {
		ka_fail(ka, err);
		return;
	}
	Etcdserverpb__LeaseKeepAliveResponse r = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	r.header = &ka->hdr;
	r.id = ka->cur;
	r.ttl = ttl < 0 ? 0 : ttl;
	int rc = rpc_stream_send(ka->s, &r.base);
	if (rc < 0) {
		ka_end(ka, RPC_RESOURCE_EXHAUSTED, "cairn: keep-alive replies not read");
		return;
	}
	start_next(ka);
}

static int push(struct api_keepalive *ka, int64_t id)
{
	if (ka->q_len == ka->q_cap) {
		if (ka->q_cap >= KEEPALIVE_QUEUE_MAX)
			return -ENOBUFS;
		size_t cap = ka->q_cap ? ka->q_cap * 2 : 4;
		int64_t *q = malloc(cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < ka->q_len; i++)
			q[i] = ka->q[(ka->q_head + i) % ka->q_cap];
		free(ka->q);
		ka->q = q;
		ka->q_cap = cap;
		ka->q_head = 0;
	}
	ka->q[(ka->q_head + ka->q_len) % ka->q_cap] = id;
	ka->q_len++;
	return 0;
}

void api_keepalive_on_message(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b,
                              size_t n)
{
	struct api *a = api_ref(s)->a;
	struct api_keepalive *ka = rpc_stream_data(s);
	if (!ka) {
		if (!api_precheck(a, s, API_LEASE_KEEPALIVE, false))
			return;
		ka = calloc(1, sizeof *ka);
		if (!ka) {
			api_fail(a, s, API_LEASE_KEEPALIVE, -ENOMEM);
			return;
		}
		ka->a = a;
		ka->s = s;
		const char *hl = rpc_stream_metadata(s, "hasleader");
		ka->hasleader = hl && strcmp(hl, "true") == 0;
		ka->next = a->keepalives;
		if (ka->next)
			ka->next->prev = ka;
		a->keepalives = ka;
		a->n_keepalives++;
		rpc_stream_set_data(s, ka);
	}
	const Etcdserverpb__LeaseKeepAliveRequest *req =
	    (const Etcdserverpb__LeaseKeepAliveRequest *)m;
	int rc = push(ka, req->id);
	if (rc) {
		ka_end(ka, RPC_RESOURCE_EXHAUSTED, "cairn: too many keep-alive requests in flight");
		return;
	}
	if (!ka->w)
		start_next(ka);
}

void api_keepalive_on_half_close(struct rpc_stream *s)
{
	struct api *a = api_ref(s)->a;
	struct api_keepalive *ka = rpc_stream_data(s);
	if (!ka) {
		/* No request at all: etcd's loop sees EOF and returns OK. */
		api_finish(a, s, API_LEASE_KEEPALIVE, RPC_OK, NULL);
		return;
	}
	ka->half_closed = true;
	if (!ka->w && ka->q_len == 0)
		ka_end(ka, RPC_OK, NULL);
}

void api_keepalive_on_cancel(struct rpc_stream *s, int code)
{
	struct api *a = api_ref(s)->a;
	api_count_cancel(a, API_LEASE_KEEPALIVE, code);
	struct api_keepalive *ka = rpc_stream_data(s);
	if (ka)
		ka_free(ka);
}

void api_keepalive_end_all(struct api *a, bool only_hasleader, int code, const char *msg)
{
	struct api_keepalive *ka = a->keepalives;
	while (ka) {
		struct api_keepalive *next = ka->next;
		if (!only_hasleader || ka->hasleader)
			ka_end(ka, code, msg);
		ka = next;
	}
}
