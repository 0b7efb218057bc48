/*
 * rpc/internal.h - declarations shared by the files of rpc/, never included
 * from outside the folder.
 *
 * The pieces, one file each:
 *   buf.c         growable byte buffer with a read offset (out-buffers, writes)
 *   arena.c       bump allocator for protobuf-c unpacking, reset per message
 *   pbcheck.c     nesting-depth bound for recursive message types, unpack
 *   framing.c     5-byte prefix codec and the incremental deframer
 *   status.c      code names, percent-encoding, errno text
 *   deadline.c    grpc-timeout codec and the timer heap (one uv_timer per owner)
 *   metadata.c    per-stream header storage and lookup
 *   reqcheck.c    is a request well-formed HTTP/2 (nghttp2's HTTP messaging
 *                 rules, checked by rpc/ with any :authority accepted)
 *   conn.c        what both sides share: TCP handle, write path, dirty list
 *   registry.c    the server's path -> method table
 *   conn_server.c server connections: accept, preface detection, nghttp2
 *                 callbacks, teardown
 *   stream.c      the server side of a call: send, finish, data provider
 *   server.c      listeners, options, shutdown, stats
 *   http1.c       HTTP/1.1 requests on the gRPC port
 *   conn_client.c the client: connect, nghttp2 callbacks, keepalive
 *   call.c        the client side of a call
 *
 * Object lifetimes. Connection teardown and frees never happen while any
 * function of ours is on the stack for that connection: entry points (read,
 * write and timer callbacks, the flusher) bracket their work with
 * conn_enter/conn_leave, and a close requested inside is carried out by the
 * outermost leave. Streams and calls are freed only once both the user has
 * let go of them (finish/cancel/end) and nghttp2 has closed them (or the
 * session is gone), so no nghttp2 callback ever sees a freed pointer.
 */
#ifndef CAIRN_RPC_INTERNAL_H
#define CAIRN_RPC_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdbool.h>

#include "rpc/rpc.h"

#define RPC_UNUSED    __attribute__((unused))
#define RPC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RPC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- buf.c -------------------------------------------------------------- */

/* Bytes [off, len) of data are live; appends go at len. */
struct rpc__buf {
	uint8_t *data;
	size_t off, len, cap;
};

static inline size_t rpc__buf_size(const struct rpc__buf *b)
{
	return b->len - b->off;
}
static inline uint8_t *rpc__buf_head(const struct rpc__buf *b)
{
	return b->data + b->off;
}
/* Makes room for n more bytes at the tail; returns 0 or -ENOMEM. */
int rpc__buf_reserve(struct rpc__buf *b, size_t n);
int rpc__buf_append(struct rpc__buf *b, const void *p, size_t n);
void rpc__buf_consume(struct rpc__buf *b, size_t n);
void rpc__buf_reset(struct rpc__buf *b);
/* Drops the storage if it grew beyond keep bytes (for pooled objects). */
void rpc__buf_trim(struct rpc__buf *b, size_t keep);
void rpc__buf_free(struct rpc__buf *b);

/* ---- arena.c ------------------------------------------------------------ */

struct rpc__arena {
	ProtobufCAllocator pa; /* points back at this arena */
	uint8_t *chunk;
	size_t used, cap;
	void **big; /* separately malloc'd blocks, freed on reset */
	size_t nbig, capbig;
	bool in_use;
};
void rpc__arena_init(struct rpc__arena *a);
void rpc__arena_reset(struct rpc__arena *a);
void rpc__arena_free(struct rpc__arena *a);

/* ---- pbcheck.c ---------------------------------------------------------- */

/* Whether a message type can contain itself (TxnRequest through RequestOp). */
bool rpc__pb_is_recursive(const ProtobufCMessageDescriptor *d);
/* Walks the wire bytes and refuses nesting deeper than max_depth. */
bool rpc__pb_depth_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                      int max_depth);

/*
 * Unpacks one received message for a callback. With keep, protobuf-c's
 * malloc allocator is used and the caller owns the result; otherwise the arena
 * is used (if free; nested use falls back to malloc and *release is set so
 * the caller frees after the callback). Returns NULL on malformed input.
 */
struct rpc__unpacked {
	ProtobufCMessage *msg;
	bool arena;   /* reset the arena after the callback */
	bool release; /* free_unpacked after the callback */
};
int rpc__unpack(struct rpc__arena *a, const ProtobufCMessageDescriptor *d, bool recursive,
                int max_depth, bool keep, const uint8_t *p, size_t len, struct rpc__unpacked *u);
void rpc__unpacked_done(struct rpc__arena *a, struct rpc__unpacked *u);

/* ---- framing.c ---------------------------------------------------------- */

/* Packs msg (or copies bytes) as one framed message at the tail of b. */
int rpc__frame_msg(struct rpc__buf *b, const ProtobufCMessage *msg);
int rpc__frame_bytes(struct rpc__buf *b, const void *p, size_t len);

/* ---- status.c ----------------------------------------------------------- */

/* Percent-encodes into a fresh malloc'd string (NULL message: ""). */
char *rpc__encode_message(const char *msg);
/* Decodes into a fresh malloc'd string. */
char *rpc__decode_message(const char *p, size_t len);
/* Formats into a malloc'd string. */
char *rpc__strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps an RST_STREAM error code to a status (wire §1.6, grpcio's table). */
int rpc__code_from_rst(uint32_t error_code);
/* Maps an HTTP :status of a non-gRPC answer to a status (wire §1.5). */
int rpc__code_from_http(int http_status);
void rpc__log(rpc_log_fn fn, void *arg, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- deadline.c: the timer heap ---------------------------------------- */

struct rpc__tnode {
	uint64_t when; /* uv_now() time */
	size_t idx;    /* position in the heap + 1; 0 = not queued */
	void (*fn)(struct rpc__tnode *n);
};
struct rpc__timerq {
	uv_timer_t timer;
	struct rpc__tnode **h;
	size_t n, cap;
	uint64_t armed; /* when the uv timer is due, or 0 */
};
int rpc__timerq_init(uv_loop_t *loop, struct rpc__timerq *q);
/* Queues (or re-queues) n to fire at when. -ENOMEM only. */
int rpc__timerq_add(struct rpc__timerq *q, struct rpc__tnode *n, uint64_t when);
void rpc__timerq_del(struct rpc__timerq *q, struct rpc__tnode *n);
/* uv_close()s the timer; cb gets the uv handle. The heap is freed. */
void rpc__timerq_close(struct rpc__timerq *q, uv_close_cb cb);

/* ---- reqcheck.c --------------------------------------------------------- */

/* What a request's header fields and DATA showed so far; zeroed at the
 * start of the request. */
struct rpc__reqcheck {
	unsigned flags; /* pseudo-headers seen, and what the end checks need */
	bool regular;   /* a regular field came: no pseudo-header after it */
	bool has_length;
	uint64_t length;   /* content-length */
	uint64_t received; /* DATA payload bytes */
};

/* One field of the request's header block, or of the client's trailers.
 * Returns 0, or -1: the request is malformed. */
int rpc__reqcheck_field(struct rpc__reqcheck *rc, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, bool trailer);
/* The request's header block is complete: 0, or -1 (a pseudo-header is
 * missing, or :path does not fit :scheme). */
int rpc__reqcheck_headers_end(const struct rpc__reqcheck *rc);
/* n bytes of DATA payload arrived; end: the stream's input ended. Returns 0,
 * or -1 if they break content-length. */
int rpc__reqcheck_data(struct rpc__reqcheck *rc, size_t n, bool end);

/* ---- metadata.c --------------------------------------------------------- */

/* Received header fields kept as "name\0value\0" pairs in one buffer. */
struct rpc__md {
	char *data;
	size_t len, cap;
	size_t total; /* RFC 7541 size: name + value + 32 per field, for the cap */
	uint16_t n;
	bool overflow; /* the list passed RPC_MAX_HEADER_LIST */
};
/* Adds a field; marks overflow instead of storing past the cap. */
int rpc__md_add(struct rpc__md *m, const uint8_t *name, size_t nlen, const uint8_t *value,
                size_t vlen);
const char *rpc__md_get(const struct rpc__md *m, const char *key);
int rpc__md_at(const struct rpc__md *m, size_t i, const char **key, const char **value);
void rpc__md_reset(struct rpc__md *m);
void rpc__md_free(struct rpc__md *m);
/* True if value is a gRPC content-type: "application/grpc" alone or followed
 * by '+' or ';'. */
bool rpc__is_grpc_content_type(const uint8_t *v, size_t len);
/* Metadata keys we send must be lowercase token characters. */
bool rpc__md_key_ok(const char *key);

/* ---- conn.c ------------------------------------------------------------- */

struct rpc__conn;

/* One per server and per client: the dirty list, the flusher (uv_prepare),
 * the read buffer shared by all its connections (nghttp2 keeps no pointer
 * into input after mem_recv returns). */
struct rpc__flusher {
	uv_prepare_t prep;
	struct rpc__conn *dirty;
	bool started;
	uint8_t *rbuf;
	size_t rbuf_cap;
};

struct rpc__conn_ops {
	/* Tears down protocol state: end streams/calls, nghttp2_session_del.
	 * Called once, with the conn not busy. */
	void (*teardown)(struct rpc__conn *c);
	/* Called once the TCP handle is closed: free the owner struct. */
	void (*freed)(struct rpc__conn *c);
	/* Called after each flush, outside nghttp2, to deliver on_writable. */
	void (*after_flush)(struct rpc__conn *c);
};

struct rpc__wreq {
	uv_write_t req;
	struct rpc__conn *c;
	struct rpc__buf b;
	struct rpc__wreq *next; /* free list */
};

struct rpc__conn {
	uv_tcp_t tcp;
	nghttp2_session *h2;
	const struct rpc__conn_ops *ops;
	struct rpc__flusher *fl;
	struct rpc__conn *dirty_next;
	struct rpc__wreq *cur;   /* being filled */
	struct rpc__wreq *spare; /* free list (at most 2) */
	unsigned writes;         /* uv_writes in flight */
	int busy;
	bool dirty;
	bool connected;     /* the TCP connection is up (client) */
	bool close_pending; /* close requested while busy */
	bool closing;       /* teardown done, uv_close called */
	bool drain_close;   /* close once nghttp2 and writes are idle */
	bool eof;           /* the peer closed its side */
	uint64_t bytes_in, bytes_out;
	char peer[64];
};

void rpc__flusher_init(uv_loop_t *loop, struct rpc__flusher *fl);
void rpc__flusher_close(struct rpc__flusher *fl, uv_close_cb cb);
void rpc__conn_init(struct rpc__conn *c, struct rpc__flusher *fl, const struct rpc__conn_ops *ops);
void rpc__conn_enter(struct rpc__conn *c);
void rpc__conn_leave(struct rpc__conn *c);
void rpc__conn_mark_dirty(struct rpc__conn *c);
/* Pulls frames from nghttp2 and writes them; closes the conn on fatal errors
 * and when it has nothing left to do. Must not be called from inside nghttp2. */
void rpc__conn_flush(struct rpc__conn *c);
/* Appends raw bytes (HTTP/1.1) to the write path. */
int rpc__conn_write_raw(struct rpc__conn *c, const void *p, size_t n);
/* Writes what is buffered with one uv_write. */
void rpc__conn_write_out(struct rpc__conn *c);
/* Feeds received bytes to nghttp2; returns 0 or a negative nghttp2 error. */
int rpc__conn_recv(struct rpc__conn *c, const uint8_t *p, size_t n);
/* Requests a close; carried out at once or by the outermost conn_leave. */
void rpc__conn_close(struct rpc__conn *c);
void rpc__conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void rpc__format_peer(const struct sockaddr *sa, char *out, size_t cap);
/* Splits "[http://]host:port[/]" into host and port. */
int rpc__parse_host_port(const char *in, char *host, size_t host_cap, int *port);

/* ---- registry.c --------------------------------------------------------- */

struct rpc__method {
	struct rpc_method m; /* path points at path[] */
	bool recursive;
	char path[];
};
struct rpc__registry {
	struct rpc__method **slots;
	size_t cap, n;
};
int rpc__registry_add(struct rpc__registry *r, const struct rpc_method *m);
const struct rpc__method *rpc__registry_find(const struct rpc__registry *r, const char *path,
                                             size_t len);
/* Whether any method's path begins "/<service>/". */
bool rpc__registry_has_service(const struct rpc__registry *r, const char *svc, size_t len);
void rpc__registry_free(struct rpc__registry *r);

/* ---- server ------------------------------------------------------------- */

struct rpc__listener {
	uv_tcp_t tcp;
	struct rpc_server *srv;
	struct rpc__listener *next;
};

enum {
	SCONN_DETECT,
	SCONN_H2,
	SCONN_HTTP1
};

struct rpc__sconn {
	struct rpc__conn c; /* first */
	struct rpc_server *srv;
	struct rpc__sconn *prev, *next;
	struct rpc_stream *streams;  /* open streams, doubly linked */
	struct rpc_stream *writable; /* streams owed on_writable */
	int mode;
	uint8_t detect[24];
	size_t detect_len;
	/* HTTP/1.1 */
	struct rpc__buf h1in;
	struct rpc_http1_reply *h1reply; /* the request being answered */
	bool h1_done;                    /* response queued */
	struct rpc__tnode linger;        /* force-close timer */
	bool goaway_sent;
};

struct rpc_stream {
	struct rpc__sconn *conn;
	struct rpc_stream *prev, *next, *wnext;
	struct rpc_stream *pool_next;
	const struct rpc__method *m;
	int32_t id;
	struct rpc__md md;
	const char *path;    /* into md */
	struct rpc__buf out; /* framed responses not yet taken by nghttp2 */
	struct rpc__buf req; /* UNARY/SERVER_STREAMING: the request */
	struct rpc_deframer in;
	unsigned nreq;
	uint64_t deadline;
	struct rpc__tnode tn;
	void *data;
	/* request validation, filled while headers arrive */
	struct rpc__reqcheck chk;
	bool malformed; /* input is ignored; reset with PROTOCOL_ERROR */
	bool reset;     /* that RST_STREAM is submitted */
	bool bad_method, ct_ok, bad_timeout;
	/* state */
	bool routed;    /* headers accepted, method found */
	bool seen;      /* the handler has seen it (on_message/on_half_close) */
	bool user_done; /* the handler let go (finish, on_cancel) or never had it */
	bool in_cancel; /* inside on_cancel */
	bool responded; /* response HEADERS submitted (with a data provider) */
	bool finished;  /* trailers due once out drains */
	bool deferred;  /* the data provider returned DEFERRED */
	bool half_closed;
	bool h2_closed;
	bool full;    /* a send returned RPC_SEND_FULL */
	bool wqueued; /* on conn->writable */
	int code;
	char *message; /* percent-encoded, for the trailers */
};

struct rpc_http1_reply {
	struct rpc__sconn *conn; /* NULL once the connection is gone */
	bool head;
};

struct rpc_server {
	uv_loop_t *loop;
	struct rpc_server_options opt;
	struct rpc__flusher fl;
	struct rpc__timerq tq;
	uv_timer_t grace;
	struct rpc__registry reg;
	struct rpc__listener *listeners;
	struct rpc__sconn *conns;
	struct rpc_stream *pool;
	size_t pool_n;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *h2opt;
	struct rpc__arena arena;
	rpc_http1_fn h1fn;
	void *h1arg;
	struct rpc_server_stats stats;
	/* shutdown */
	bool shutting, stopping; /* notice sent; GOAWAY + streams ended */
	int stop_code;
	char *stop_msg;
	rpc_server_done_fn done;
	void *done_arg;
	int handles;        /* flusher, timer heap, grace timer */
	int listeners_open; /* listener handles not yet closed */
	bool closing_handles;
};

/* conn_server.c */
int rpc__sconn_accept(struct rpc_server *srv, uv_stream_t *listener);
int rpc__server_callbacks(nghttp2_session_callbacks **out);
void rpc__sconn_goaway(struct rpc__sconn *sc);
void rpc__sconn_notice(struct rpc__sconn *sc);
void rpc__server_maybe_done(struct rpc_server *srv);

/* stream.c */
struct rpc_stream *rpc__stream_new(struct rpc__sconn *sc, int32_t id);
void rpc__stream_release(struct rpc_stream *s);
void rpc__stream_pool_free(struct rpc_server *srv);
/* Trailers-Only answer from rpc/ itself (no handler involved). */
void rpc__stream_reject(struct rpc_stream *s, int http_status, int code, const char *msg);
/* Ends a stream the handler may have seen: on_cancel first (if seen), then
 * trailers with code/msg. */
void rpc__stream_abort(struct rpc_stream *s, int cancel_code, int code, const char *msg);
/* The stream is gone at the HTTP/2 level (RST, close, session end). */
void rpc__stream_gone(struct rpc_stream *s, int cancel_code);
void rpc__stream_deliver(struct rpc_stream *s, const uint8_t *p, size_t len);
void rpc__stream_end_of_input(struct rpc_stream *s);
ssize_t rpc__stream_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user);
void rpc__stream_writable(struct rpc__sconn *sc);
int rpc__deframe_cb(void *arg, uint8_t flags, const uint8_t *msg, size_t len);

/* http1.c */
void rpc__http1_input(struct rpc__sconn *sc, const uint8_t *p, size_t n);
void rpc__http1_detach(struct rpc__sconn *sc);

/* ---- client ------------------------------------------------------------- */

struct rpc__desc_cache {
	const ProtobufCMessageDescriptor *d;
	bool recursive;
};

struct rpc_call {
	struct rpc_client *cl;
	struct rpc_call *prev, *next, *wnext, *pool_next;
	int32_t id;
	struct rpc_call_options o; /* metadata pointers cleared */
	bool recursive;
	struct rpc__buf out;
	struct rpc_deframer in;
	struct rpc__buf resp; /* unary: the response */
	unsigned nresp;
	struct rpc__tnode tn;
	int http_status;
	bool unary;
	bool ct_ok;
	bool got_headers;
	bool has_status;
	bool send_closed; /* close_send called */
	bool deferred;
	bool ended;     /* the user has been told (or cancelled) */
	bool user_done; /* the user let go */
	bool h2_closed;
	bool full, wqueued;
	bool unpack_failed;
	int code;
	char *message; /* decoded grpc-message */
};

struct rpc_client {
	struct rpc__conn c; /* first */
	uv_loop_t *loop;
	struct rpc_client_options opt;
	char *authority, *user_agent;
	char host[256];
	int port;
	struct rpc__flusher fl;
	struct rpc__timerq tq;
	struct rpc__tnode ctimer;  /* connect timeout */
	struct rpc__tnode katimer; /* keepalive */
	uv_getaddrinfo_t gai;
	uv_connect_t creq;
	bool resolving, connecting;
	enum rpc_client_state state;
	int err;
	struct rpc_call *calls;
	struct rpc_call *writable;
	size_t ncalls;
	struct rpc_call *pool;
	size_t pool_n;
	struct rpc__arena arena;
	struct rpc__desc_cache dcache[16];
	uint64_t last_read;
	uint64_t ping_sent; /* 0: none outstanding */
	bool user_closed;
	bool freed_tcp; /* the TCP handle was never initialised */
	int handles;
};

/* call.c */
struct rpc_call *rpc__call_new(struct rpc_client *cl);
void rpc__call_release(struct rpc_call *call);
void rpc__call_pool_free(struct rpc_client *cl);
/* Completes the call with a status (callbacks, then user_done). */
void rpc__call_end(struct rpc_call *call, int code, const char *message);
void rpc__call_deliver(struct rpc_call *call, const uint8_t *p, size_t len);
ssize_t rpc__call_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user);
void rpc__call_writable(struct rpc_client *cl);
bool rpc__client_recursive(struct rpc_client *cl, const ProtobufCMessageDescriptor *d);
/* Stream ids above this make the client DRAINING (2^31 - 1 is the last). */
#define RPC__STREAM_ID_DRAIN ((uint32_t)INT32_MAX - 2000)
/* Moves a READY (or CONNECTING) client to DRAINING and tells on_state. */
void rpc__client_draining(struct rpc_client *cl);
/* Starts the keepalive timer if it is configured and not running. */
void rpc__client_keepalive_arm(struct rpc_client *cl);

/* Shared by both sides: nghttp2 read-length callback allowing big frames. */
ssize_t rpc__read_length_cb(nghttp2_session *h2, uint8_t frame_type, int32_t stream_id,
                            int32_t session_remote_window_size, int32_t stream_remote_window_size,
                            uint32_t remote_max_frame_size, void *user);

#endif
