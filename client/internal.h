/*
 * client/internal.h - libcairn's private structures, shared by the files of
 * client/ (never installed, never included from outside client/).
 *
 * The client has one "current" connection (struct cairn__conn over an
 * rpc_client) to one endpoint. Unary calls are "ops": a packed request
 * kept for retries, a deadline, a state. Ops wait in c->ops while the
 * connection comes up, go out once it is READY, and come back to the queue
 * when a retry is allowed. Connections that fail, close or receive GOAWAY
 * are retired: no new call goes to them, and they are closed once their
 * last call has ended.
 */
#ifndef CAIRN_CLIENT_INTERNAL_H
#define CAIRN_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/cairn.h"
#include "rpc/rpc.h"

#define CAIRN__RETRY_BACKOFF_MS 25 /* clientv3's rrBackoff */
#define CAIRN__MAX_ATTEMPTS     100

/* One method of the etcd API. */
struct cairn__method {
	const char *path;
	const ProtobufCMessageDescriptor *req, *resp;
	bool retry; /* clientv3 retries it on Unavailable */
	bool write; /* changes state: never retried once sent */
};

extern const struct cairn__method cairn__m_range, cairn__m_put, cairn__m_delete, cairn__m_txn,
    cairn__m_compact, cairn__m_lease_grant, cairn__m_lease_revoke, cairn__m_lease_ttl,
    cairn__m_lease_list, cairn__m_lease_keepalive, cairn__m_member_list, cairn__m_member_add,
    cairn__m_member_remove, cairn__m_member_update, cairn__m_member_promote, cairn__m_status,
    cairn__m_alarm, cairn__m_defragment, cairn__m_hash, cairn__m_hash_kv, cairn__m_move_leader,
    cairn__m_snapshot, cairn__m_authenticate, cairn__m_watch;

struct cairn__conn {
	struct cairn_client *c;
	struct rpc_client *rc;
	size_t ep;                /* endpoint index */
	bool ready;               /* SETTINGS received */
	bool retired;             /* no new calls; closed when its calls end */
	bool failed;              /* never became ready, or lost */
	int err;                  /* why it failed (negative errno) */
	struct cairn__conn *next; /* in c->retired */
};

enum cairn__op_kind {
	CAIRN__OP_UNARY,
	CAIRN__OP_STREAM_ONCE, /* one request, half-close, first reply (keep-alive once) */
	CAIRN__OP_SNAPSHOT,    /* server stream of chunks */
};

enum cairn__op_state {
	CAIRN__OP_WAITING, /* for a ready connection, or a backoff to pass */
	CAIRN__OP_SENT,
};

struct cairn__op {
	struct cairn__op *prev, *next; /* c->ops */
	struct cairn_client *c;
	const struct cairn__method *m;
	enum cairn__op_kind kind;
	enum cairn__op_state state;
	uint8_t *req;
	size_t req_len;
	uint64_t deadline; /* uv_now() ms; 0: none */
	uint64_t wake;     /* earliest next attempt (backoff) */
	uint32_t flags;    /* CAIRN_CALL_* */
	bool keep;         /* done() gets an owned response */
	cairn_done_fn done;
	void *arg;
	struct rpc_call *call;
	struct cairn__conn *conn;
	int attempts;
	bool got_data;           /* streams: something arrived, no retry */
	void *stream_resp;       /* STREAM_ONCE: the reply (owned) */
	cairn_chunk_fn on_chunk; /* SNAPSHOT */
	cairn_end_fn on_end;
	struct cairn_status st; /* last failure */
};

struct cairn__watch_hub;
struct cairn__ka_hub;

struct cairn_client {
	uv_loop_t *loop;
	uv_loop_t own_loop;
	bool own;
	bool closing;
	bool stop;
	char **eps; /* as given */
	size_t n_eps;
	size_t cur;                   /* endpoint for the next connection */
	struct cairn__conn *conn;     /* current, or NULL */
	struct cairn__conn *retired;  /* closing once idle */
	unsigned fail_streak;         /* consecutive connection failures */
	uint64_t reconnect_at;        /* no new connection before (uv_now ms) */
	struct cairn_status conn_err; /* last connection failure, for messages */
	struct cairn__op *ops;        /* every op not yet done */
	uv_timer_t timer;             /* deadlines, backoffs, reconnects */
	uint64_t timer_due;
	struct cairn_config cfg; /* copied; strings owned below */
	char *user_agent;
	char *token;
	struct cairn__watch_hub *wh;
	struct cairn__ka_hub *kh;
	unsigned depth; /* nesting of our callbacks into user code */
};

/* ---- client.c ---- */

/* Starts an op of any kind (request already packed into op->req). Takes
 * ownership of op. */
void cairn__op_start(struct cairn__op *op);
struct cairn__op *cairn__op_new(struct cairn_client *c, const struct cairn__method *m,
                                const ProtobufCMessage *req, const struct cairn_call_opts *o,
                                cairn_done_fn done, void *arg, int *err);
/* Generic unary call and its blocking form. */
int cairn__call(struct cairn_client *c, const struct cairn__method *m, const ProtobufCMessage *req,
                const struct cairn_call_opts *o, cairn_done_fn done, void *arg);
int cairn__call_sync(struct cairn_client *c, const struct cairn__method *m,
                     const ProtobufCMessage *req, const struct cairn_call_opts *o, void **resp,
                     struct cairn_status *st);
/* Runs a started op to completion on the private loop: the blocking
 * helper behind every *_sync. */
struct cairn__sync {
	bool done;
	struct cairn_status st;
	void *resp;
};
void cairn__sync_done(void *arg, const struct cairn_status *st, const void *resp);
/* The same for calls whose response is not owned (asynchronous ops): only
 * the status is kept. */
void cairn__sync_status(void *arg, const struct cairn_status *st, const void *resp);
int cairn__sync_wait(struct cairn_client *c, struct cairn__sync *w, void **resp,
                     struct cairn_status *st);

/* The current ready connection, or NULL (then one is being made, and
 * cairn__conn_ready_hook() of the hubs will be called when it is up). */
struct cairn__conn *cairn__conn_get(struct cairn_client *c);
/* A call on conn failed with Unavailable or lost its connection: move the
 * client to the next endpoint (once per connection). */
void cairn__conn_abandon(struct cairn_client *c, struct cairn__conn *conn);
/* Cancels a hub's stream (no watcher or keep-alive left) and releases its
 * connection; clears both pointers. */
void cairn__stream_drop(struct rpc_call **call, struct cairn__conn **conn);
/* Closes conn if it is retired and has no open calls. */
void cairn__conn_release(struct cairn__conn *conn);
/* Call metadata for c (token, hasleader); returns the count. */
size_t cairn__metadata(struct cairn_client *c, bool require_leader, struct rpc_metadata *md);
/* Fills st from a final call status. */
void cairn__status_set(struct cairn_status *st, int code, enum cairn_reason reason,
                       const char *endpoint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
const char *cairn__ep_name(struct cairn_client *c, size_t i);
uint64_t cairn__now(struct cairn_client *c);
/* Classifies an rpc/ failure message: the request never left us. */
bool cairn__unsent(int code, const char *message);
bool cairn__conn_lost_msg(const char *message);

/* ---- watch.c / lease.c: hooks called by the connection manager ---- */
void cairn__watch_conn_ready(struct cairn_client *c);
void cairn__watch_close_all(struct cairn_client *c);
void cairn__ka_conn_ready(struct cairn_client *c);
void cairn__ka_close_all(struct cairn_client *c);
bool cairn__ka_want_conn(struct cairn_client *c);
/* Open streams (watch, keep-alive) want a connection. */
bool cairn__streams_want_conn(struct cairn_client *c);

/* ---- util ---- */
void *cairn__memdup(const void *p, size_t n);
/* Deep copy of a protobuf message through pack/unpack (malloc'ed). */
ProtobufCMessage *cairn__msg_copy(const ProtobufCMessage *m);

#endif
