/*
 * rpc/rpc.h - gRPC over HTTP/2 on libuv + nghttp2: the whole contract of rpc/.
 *
 * rpc/ moves length-prefixed protobuf messages on gRPC streams, as a server
 * (cairnd's client port and peer port) and as a client (libcairn, cairnctl,
 * cairn-bench, the peer transport). It knows nothing of etcd: it carries
 * paths, metadata, messages and status codes. The wire rules it follows are in
 * shared/reference/grpc-wire.md (cited below as "wire §n").
 *
 * Threading. Every object here belongs to the uv_loop_t it was created on and
 * may be touched only from that loop's thread, inside any loop callback. Work
 * done on other threads comes back to the loop through a uv_async_t owned by
 * the caller, whose callback may then call rpc_stream_send()/_finish() etc.
 * Nothing here blocks; nothing here spawns threads.
 *
 * Flushing. No function here writes to a socket while called: they queue
 * frames and mark the connection dirty. rpc/ flushes after every read and,
 * through its own uv_prepare_t, before the loop next blocks. So a reply made
 * from a timer, a uv_async callback, or a handler of another connection goes
 * out in the same loop iteration, batched with everything else queued there,
 * in one uv_write per connection.
 *
 * Errors. Functions return 0 (or a documented non-negative value) on success
 * and a negative errno-style code on failure (the same space as libuv's
 * UV_E* codes on Unix); rpc_strerror() names them.
 *
 * Messages. Where a protobuf descriptor is given, rpc/ unpacks incoming
 * messages and hands callbacks a ProtobufCMessage; otherwise callbacks get the
 * raw payload bytes only. By default both the message and the bytes live in
 * reused buffers and are valid only until the callback returns; copy what you
 * keep, or set RPC_KEEP_MESSAGES to receive a message you own. Outgoing
 * messages are packed in place into the stream's out-buffer; the caller keeps
 * ownership of what it passes in.
 */
#ifndef CAIRN_RPC_RPC_H
#define CAIRN_RPC_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes (grpc/grpc doc/statuscodes.md)                               */
/* ------------------------------------------------------------------------ */

enum rpc_code {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16,
};

/* The code's name as grpc-go prints it ("OK", "Canceled", "Unavailable",
 * ...); "Code(N)" style names are not produced: unknown codes give "Unknown". */
const char *rpc_code_name(int code);

/* The text of a negative error code returned by a function of this header. */
const char *rpc_strerror(int err);

/* Message texts rpc/ itself produces, matching grpc-go where a peer may parse
 * them. */
#define RPC_MSG_DEADLINE_EXCEEDED "context deadline exceeded"

/* ------------------------------------------------------------------------ */
/* Limits and defaults                                                      */
/* ------------------------------------------------------------------------ */

/* etcd's gRPC receive limit: --max-request-bytes (1.5 MiB) + 512 KiB. */
#define RPC_DEFAULT_MAX_RECV_MSG    (2u * 1024 * 1024)
/* clientv3's send limit, our client's default. */
#define RPC_DEFAULT_MAX_SEND_MSG    (2u * 1024 * 1024)
/* SETTINGS_INITIAL_WINDOW_SIZE we advertise, and the connection window. */
#define RPC_DEFAULT_STREAM_WINDOW   (4u * 1024 * 1024)
#define RPC_DEFAULT_CONN_WINDOW     (16u * 1024 * 1024)
/* Per-stream out-buffer: above HIGH a send reports RPC_SEND_FULL; a send that
 * would take a non-empty buffer above MAX is refused with -ENOBUFS. */
#define RPC_DEFAULT_SEND_HIGH_WATER (256u * 1024)
#define RPC_DEFAULT_SEND_MAX        (64u * 1024 * 1024)
/* Request/response metadata (header list) cap, wire §1.1 item 3. */
#define RPC_MAX_HEADER_LIST         8192
/* Nesting bound applied before unpacking recursive message types. */
#define RPC_DEFAULT_MAX_DEPTH       100
/* Client keepalive: never more often than this (etcd polices pings). */
#define RPC_MIN_KEEPALIVE_MS        10000

/* Flags for struct rpc_method.flags and struct rpc_call_options.flags. */
enum {
	/* Unpack incoming messages with protobuf-c's default (malloc) allocator
	 * and give them to the callback, which then owns them and frees them
	 * with protobuf_c_message_free_unpacked(msg, NULL). The bytes argument
	 * stays callback-scoped. */
	RPC_KEEP_MESSAGES = 1u << 0,
};

/* Return value of the send functions when the message was queued but the
 * out-buffer is now above its high-water mark: stop sending and wait for the
 * on_writable callback. */
#define RPC_SEND_FULL 1

/* Log hook (optional). level: 0 error, 1 warning, 2 info, 3 debug. */
typedef void (*rpc_log_fn)(void *log_arg, int level, const char *message);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

struct rpc_server; /* listeners, connections, method table; loop-owned */
struct rpc_stream; /* the server side of one call (unary or streaming) */

/*
 * What rpc/ answers by itself, before any handler runs (Trailers-Only):
 *   unknown :path               UNIMPLEMENTED "unknown service S" /
 *                               "unknown method M for service S"
 *   content-type not gRPC       :status 415, INTERNAL
 *   :method not POST            :status 405, INTERNAL
 *   grpc-timeout malformed      INTERNAL "transport: malformed grpc-timeout: V"
 *   metadata over 8 KiB         RESOURCE_EXHAUSTED
 * Malformed requests (RFC 9113 §8.1.1: missing or repeated pseudo-headers,
 * invalid field names or values, connection-specific fields, te other than
 * "trailers", a body that contradicts content-length, ...) get
 * RST_STREAM(PROTOCOL_ERROR): nghttp2's HTTP messaging rules, checked by
 * rpc/ except that :authority (or host) may be any field value, such as the
 * "http://host:port" grpc-go sends for etcdctl's --cluster commands, as
 * grpc-go servers accept. A connection that breaks the HTTP/2 protocol gets
 * GOAWAY and is closed. None of this disturbs other streams or connections.
 */

/* Every field is optional: zero means the default in brackets. */
struct rpc_server_options {
	size_t max_recv_msg;             /* [RPC_DEFAULT_MAX_RECV_MSG] */
	uint32_t max_concurrent_streams; /* [2^32-1, as etcd] */
	uint32_t stream_window;          /* [RPC_DEFAULT_STREAM_WINDOW], < 2^31 */
	uint32_t conn_window;            /* [RPC_DEFAULT_CONN_WINDOW], < 2^31 */
	size_t send_high_water;          /* [RPC_DEFAULT_SEND_HIGH_WATER] */
	size_t send_max;                 /* [RPC_DEFAULT_SEND_MAX] */
	/* Received RST_STREAM token bucket (wire §2 item 12): burst, refill/s.
	 * nghttp2's own defaults (1000, 33) are hit by cancel-heavy load. */
	uint32_t rst_burst; /* [10000] */
	uint32_t rst_rate;  /* [1000] */
	int max_depth;      /* [RPC_DEFAULT_MAX_DEPTH] */
	rpc_log_fn log;     /* [none] */
	void *log_arg;
};

enum rpc_kind {
	RPC_UNARY,            /* one request, one response */
	RPC_SERVER_STREAMING, /* one request, N responses */
	RPC_BIDI,             /* N requests, N responses (also client-streaming) */
};

/*
 * A method handler. Callbacks for one stream are made in this order:
 * on_message*, on_half_close?, and then at most one on_cancel; on_writable
 * may come between them. No callback is made after the handler finishes the
 * stream (rpc_stream_finish) or after on_cancel returns.
 */
struct rpc_method {
	/* "/<package>.<Service>/<Method>", case-sensitive; copied. */
	const char *path;
	enum rpc_kind kind;
	/* Request type, or NULL to receive raw bytes only (msg is NULL). */
	const ProtobufCMessageDescriptor *request;
	uint32_t flags; /* RPC_KEEP_MESSAGES */

	/*
	 * A request message. UNARY and SERVER_STREAMING: called exactly once,
	 * after the client half-closed, with the single request; a request with
	 * zero or several messages is answered INTERNAL by rpc/ and never reaches
	 * the handler. BIDI: called for every message as it completes.
	 * rpc/ itself ends a stream whose message is bad, before the handler
	 * sees that message: too large (RESOURCE_EXHAUSTED "grpc: received
	 * message larger than max (N vs. M)"), compressed (INTERNAL or
	 * UNIMPLEMENTED), unparsable or nested too deep (INTERNAL "grpc: error
	 * unmarshalling request"). Required.
	 */
	void (*on_message)(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
	                   size_t len);
	/* BIDI only: the client half-closed (END_STREAM, possibly on an empty
	 * DATA frame). The stream stays open for sending until finished.
	 * Optional. */
	void (*on_half_close)(struct rpc_stream *s);
	/*
	 * The stream is gone before the handler finished it: code is
	 * RPC_CANCELLED (client RST_STREAM), RPC_DEADLINE_EXCEEDED (grpc-timeout
	 * expired; rpc/ has sent RST_STREAM(CANCEL)), RPC_UNAVAILABLE
	 * (connection lost, or server shutdown), or the status rpc/ sent for a
	 * bad message (see on_message) on a stream the handler had already
	 * seen. Never called for a stream the handler has not seen, nor after it
	 * finished the stream. Forget the pointer: it is invalid once this
	 * returns, and send/finish on it from inside this callback are no-ops
	 * returning -ECANCELED. Optional, but any handler that keeps a stream
	 * pointer beyond a callback (async replies, watches) needs it.
	 */
	void (*on_cancel)(struct rpc_stream *s, int code);
	/* The out-buffer fell to half the high-water mark after a send returned
	 * RPC_SEND_FULL. Optional. */
	void (*on_writable)(struct rpc_stream *s);
	void *data; /* method-wide user pointer: rpc_stream_method_data() */
};

/* Creates a server on loop. Returns 0, -EINVAL or -ENOMEM. */
int rpc_server_new(uv_loop_t *loop, const struct rpc_server_options *opts, struct rpc_server **out);

/* Adds a method. The struct is copied (the path too). Returns 0, -EEXIST if
 * the path is registered, -EINVAL, -ENOMEM. Register before listening or at
 * any time later; streams already open keep their method. */
int rpc_server_register(struct rpc_server *srv, const struct rpc_method *m);

/*
 * Listens on "host:port" ("127.0.0.1:2379", "[::1]:0", "0.0.0.0:2379",
 * "localhost:2379"; an "http://" prefix and a trailing "/" are accepted). Port
 * 0 picks a free port; *port_out (optional) receives the bound port. May be
 * called several times for several addresses. Returns 0 or a negative libuv
 * error (-EADDRINUSE, -EINVAL for an unparsable address, ...).
 */
int rpc_server_listen(struct rpc_server *srv, const char *host_port, int *port_out);

/*
 * HTTP/1.1 on the same port. A connection whose first bytes are not the
 * HTTP/2 client preface is read as HTTP/1.1: each request's method and target
 * go to the handler set here (none set: 404). The handler answers with
 * rpc_http1_respond(), at once or later from any loop callback; the reply
 * handle stays valid until then even if the client has gone (the answer is
 * then dropped). Exactly one respond per request is required, or the reply
 * leaks. Responses carry Content-Length and "Connection: close"; rpc/ then
 * closes the connection. Request bodies are not read; header blocks over
 * 8 KiB get 431, a malformed request line 400.
 */
struct rpc_http1_request {
	const char *method; /* "GET", "HEAD", ... */
	const char *target; /* as sent: "/metrics?x=1" */
	const char *path;   /* target without the query: "/metrics" */
	const char *query;  /* after '?', or "" */
	const char *peer;   /* "127.0.0.1:50432" */
};
struct rpc_http1_reply;
typedef void (*rpc_http1_fn)(void *arg, const struct rpc_http1_request *req,
                             struct rpc_http1_reply *reply);
void rpc_server_set_http1(struct rpc_server *srv, rpc_http1_fn fn, void *arg);
/* Sends status (200, 404, 503, ...) with the body (copied; omitted for
 * HEAD), and frees the reply. content_type NULL: "text/plain; charset=utf-8". */
void rpc_http1_respond(struct rpc_http1_reply *reply, int status, const char *content_type,
                       const void *body, size_t len);

/*
 * Graceful shutdown (wire §1.6): stops listening, sends every HTTP/2
 * connection a shutdown notice (GOAWAY 2^31-1), and after grace_ms (1000 is
 * typical) a GOAWAY with the last processed stream id; then every stream
 * still open is ended with code and message (e.g. RPC_UNAVAILABLE,
 * "etcdserver: server stopped"), its handler getting on_cancel(RPC_UNAVAILABLE)
 * first. Connections close once their writes drain (at most 2 s more). When
 * every handle is closed, done (optional) is called and the server is freed:
 * do not touch srv after done has been called. Calling it twice is a no-op.
 * A server that never listened is freed the same way.
 */
typedef void (*rpc_server_done_fn)(struct rpc_server *srv, void *arg);
void rpc_server_shutdown(struct rpc_server *srv, uint64_t grace_ms, int code, const char *message,
                         rpc_server_done_fn done, void *arg);

/* Counters, for /metrics. */
struct rpc_server_stats {
	uint64_t conns_open, conns_total, http1_total;
	uint64_t streams_open, streams_total;
	uint64_t bytes_in, bytes_out;
};
void rpc_server_stats(const struct rpc_server *srv, struct rpc_server_stats *out);

/* ---- the server side of a call ---------------------------------------- */

/*
 * Lifetime of a struct rpc_stream, as the handler sees it. The pointer is
 * valid from the first on_message until either
 *   - the handler calls rpc_stream_finish() (valid until that returns), or
 *   - rpc/ calls on_cancel() (valid until that returns),
 * whichever comes first; exactly one of the two happens. A handler that
 * answers later (after a Raft commit, from a timer, from a uv_async callback)
 * keeps the pointer and must drop it in on_cancel. rpc/ frees its memory on
 * its own schedule (after the trailers are out); no free call exists.
 */

/* Queues one message, packed in place into the out-buffer. Returns 0 (queued),
 * RPC_SEND_FULL (queued, now above the high-water mark: pause until
 * on_writable), -ENOBUFS (not queued: the buffer is non-empty and would pass
 * send_max), -EPIPE (already finished), -ECANCELED (inside on_cancel, or
 * the connection is going away and on_cancel is about to come). */
int rpc_stream_send(struct rpc_stream *s, const ProtobufCMessage *msg);
/* The same for a message already packed by the caller (payload only; rpc/
 * writes the 5-byte prefix). data is copied. */
int rpc_stream_send_bytes(struct rpc_stream *s, const void *data, size_t len);
/* Bytes queued on this stream and not yet taken by HTTP/2 framing (flow
 * control or a slow socket keeps them here). */
size_t rpc_stream_buffered(const struct rpc_stream *s);

/*
 * Ends the call with a status. message (may be NULL) is percent-encoded into
 * grpc-message. If nothing was sent yet the answer is Trailers-Only (one
 * HEADERS frame); otherwise queued messages go out first, then trailers. If
 * the client is still sending, RST_STREAM(NO_ERROR) follows the trailers.
 * The stream pointer is invalid once this returns. Returns 0, -EPIPE (already
 * finished) or -ECANCELED (inside on_cancel).
 */
int rpc_stream_finish(struct rpc_stream *s, int code, const char *message);
/* rpc_stream_send(msg) then rpc_stream_finish(RPC_OK, NULL): a unary reply. */
int rpc_stream_reply(struct rpc_stream *s, const ProtobufCMessage *msg);

/* Request metadata: the value of key (lowercase, e.g. "token", "hasleader"),
 * or NULL. Values of "-bin" keys are returned as sent (base64). Valid while
 * the stream is. */
const char *rpc_stream_metadata(const struct rpc_stream *s, const char *key);
/* Iterates metadata: i from 0; returns 0 and sets *key, *value, or -ENOENT
 * past the end. Pseudo-headers are not included. */
int rpc_stream_metadata_at(const struct rpc_stream *s, size_t i, const char **key,
                           const char **value);
const char *rpc_stream_path(const struct rpc_stream *s);
/* The deadline from grpc-timeout in the loop's clock (uv_now()), or 0. */
uint64_t rpc_stream_deadline(const struct rpc_stream *s);
/* "127.0.0.1:50432" of the client, for logs. */
const char *rpc_stream_peer(const struct rpc_stream *s);
int32_t rpc_stream_id(const struct rpc_stream *s);
void *rpc_stream_method_data(const struct rpc_stream *s);
void rpc_stream_set_data(struct rpc_stream *s, void *data);
void *rpc_stream_data(const struct rpc_stream *s);
/* 1 once the client half-closed, else 0. */
int rpc_stream_half_closed(const struct rpc_stream *s);

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

struct rpc_client; /* one HTTP/2 connection to one host:port */
struct rpc_call;   /* the client side of one call */

enum rpc_client_state {
	RPC_CLIENT_CONNECTING, /* resolving, connecting, waiting for SETTINGS */
	RPC_CLIENT_READY,      /* the server's SETTINGS arrived */
	RPC_CLIENT_DRAINING,   /* GOAWAY received, or stream ids nearly used up
	                          (2^30 calls): open calls finish, no new ones */
	RPC_CLIENT_FAILED,     /* never became ready (err says why) */
	RPC_CLIENT_CLOSED,     /* was ready; the connection is gone */
};

typedef void (*rpc_client_state_fn)(struct rpc_client *c, enum rpc_client_state state, int err,
                                    void *arg);

struct rpc_client_options {
	size_t max_recv_msg;         /* [2^31-1, as clientv3] */
	size_t max_send_msg;         /* [RPC_DEFAULT_MAX_SEND_MSG] */
	uint32_t stream_window;      /* [RPC_DEFAULT_STREAM_WINDOW] */
	uint32_t conn_window;        /* [RPC_DEFAULT_CONN_WINDOW] */
	size_t send_high_water;      /* [RPC_DEFAULT_SEND_HIGH_WATER] */
	size_t send_max;             /* [RPC_DEFAULT_SEND_MAX] */
	uint64_t connect_timeout_ms; /* [20000]: until READY */
	/* PING after this long without reads, only while calls are open;
	 * clamped up to RPC_MIN_KEEPALIVE_MS. [0: no keepalive] */
	uint64_t keepalive_ms;
	uint64_t keepalive_timeout_ms; /* [20000]: no ACK by then: UNAVAILABLE */
	const char *authority;         /* [host:port as given] */
	const char *user_agent;        /* ["cairn-rpc/0.1"] */
	int max_depth;                 /* [RPC_DEFAULT_MAX_DEPTH] */
	rpc_client_state_fn on_state;  /* optional */
	void *arg;                     /* for on_state */
	rpc_log_fn log;
	void *log_arg;
};

/*
 * Starts connecting to "host:port" (an "http://" prefix is accepted; TLS is
 * not supported). Names are resolved asynchronously and one address is
 * tried, the first IPv4 one if any. Calls may be started at once; they go
 * out when the connection is up (until the server's SETTINGS arrive nghttp2
 * lets 100 streams out and queues the rest). One client is one connection
 * attempt: it does not reconnect. If it fails or is lost, every open call
 * ends UNAVAILABLE ("rpc: connection to H:P failed: ..." / "... closed" /
 * "... lost: keepalive ping not acknowledged"), on_state reports FAILED or
 * CLOSED, and the owner creates a new client.
 * Returns 0, -EINVAL (bad address), -ENOMEM.
 */
int rpc_client_connect(uv_loop_t *loop, const char *host_port,
                       const struct rpc_client_options *opts, struct rpc_client **out);

/*
 * Closes the connection and releases the client. Every open call's on_end or
 * on_reply is called with RPC_CANCELLED, "rpc: client closed" before this
 * returns; on_state is not called again. The memory is freed later, once
 * libuv has closed the socket; the pointer is invalid at once. Safe from
 * inside any callback of this client.
 */
void rpc_client_close(struct rpc_client *c);
enum rpc_client_state rpc_client_state(const struct rpc_client *c);
/* Calls started and not yet ended. */
size_t rpc_client_open_calls(const struct rpc_client *c);

struct rpc_metadata {
	const char *key; /* lowercase; "-bin" keys need base64 values */
	const char *value;
};

struct rpc_call_options {
	/* Response type, or NULL for raw bytes only (msg NULL in callbacks). */
	const ProtobufCMessageDescriptor *response;
	uint32_t flags;                      /* RPC_KEEP_MESSAGES */
	uint64_t timeout_ms;                 /* 0: no deadline; else grpc-timeout + a timer */
	const struct rpc_metadata *metadata; /* copied at start */
	size_t n_metadata;
	void *arg; /* passed to every callback below */

	/*
	 * Unary-response calls (rpc_call_unary*): on_reply is called exactly
	 * once with the final status and, when code is RPC_OK, the response
	 * (bytes/len always set for OK; resp set when a descriptor was given).
	 * A response with zero or several messages is INTERNAL.
	 */
	void (*on_reply)(struct rpc_call *call, void *arg, int code, const char *message,
	                 const ProtobufCMessage *resp, const uint8_t *bytes, size_t len);

	/* Streaming calls (rpc_call_start): each response message. */
	void (*on_message)(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
	                   const uint8_t *bytes, size_t len);
	/* Streaming calls: the final status, exactly once. */
	void (*on_end)(struct rpc_call *call, void *arg, int code, const char *message);
	/* The out-buffer fell to half the high-water mark after RPC_SEND_FULL. */
	void (*on_writable)(struct rpc_call *call, void *arg);
};

/*
 * Lifetime of a struct rpc_call: valid from start until either on_end /
 * on_reply returns, or rpc_call_cancel() returns; exactly one of the two
 * happens. The final status comes from the server's trailers; otherwise:
 *   deadline          DEADLINE_EXCEEDED "context deadline exceeded" (RST CANCEL sent)
 *   connection lost   UNAVAILABLE
 *   RST_STREAM        mapped as grpcio does (wire §1.6)
 *   no grpc-status    UNKNOWN; no trailers at all: INTERNAL
 *   non-gRPC answer   from :status (wire §1.5)
 *   message too large RESOURCE_EXHAUSTED "grpc: received message larger than
 *                     max (N vs. M)" (RST CANCEL sent)
 * Callbacks never run inside the start/send functions themselves.
 */

/* Starts a streaming call (server-streaming or bidi): headers are queued at
 * once; send messages with rpc_call_send*, half-close with
 * rpc_call_close_send. on_end is required. Returns 0, -ENOTCONN (client
 * failed, closed or draining), -EINVAL, -ENOMEM. */
int rpc_call_start(struct rpc_client *c, const char *path, const struct rpc_call_options *o,
                   struct rpc_call **out);
/* Unary: one request (packed at once; the caller keeps req), half-closed;
 * o->on_reply required. out may be NULL if the caller never cancels.
 * -EMSGSIZE if the request is over max_send_msg. */
int rpc_call_unary(struct rpc_client *c, const char *path, const ProtobufCMessage *req,
                   const struct rpc_call_options *o, struct rpc_call **out);
int rpc_call_unary_bytes(struct rpc_client *c, const char *path, const void *req, size_t len,
                         const struct rpc_call_options *o, struct rpc_call **out);

/* As rpc_stream_send*: 0, RPC_SEND_FULL, -ENOBUFS, -EMSGSIZE (over
 * max_send_msg), -EPIPE (after close_send or end). */
int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg);
int rpc_call_send_bytes(struct rpc_call *call, const void *data, size_t len);
size_t rpc_call_buffered(const struct rpc_call *call);
/* Half-close: END_STREAM after the queued messages. Returns 0 or -EPIPE. */
int rpc_call_close_send(struct rpc_call *call);
/* Abandons the call: RST_STREAM(CANCEL); no callback follows, and the
 * pointer is invalid on return. Safe from inside this call's callbacks. */
void rpc_call_cancel(struct rpc_call *call);

/* ------------------------------------------------------------------------ */
/* Codecs (used by the above; public for tests, tools and fuzzers)           */
/* ------------------------------------------------------------------------ */

/*
 * grpc-message percent-encoding (wire §1.3 item 3): bytes outside 0x20-0x7E,
 * and '%', become "%XX" (uppercase hex). Writes at most cap-1 bytes and a NUL
 * (if cap > 0); returns the full encoded length, as snprintf does.
 */
size_t rpc_percent_encode(char *dst, size_t cap, const char *src, size_t len);
/* Lenient decoding: a '%' not followed by two hex digits is kept as is.
 * Same return convention; the decoded length is never more than len. */
size_t rpc_percent_decode(char *dst, size_t cap, const char *src, size_t len);

/*
 * grpc-timeout (wire §1.1 item 1): digits then one of H M S m u n. Converts
 * to milliseconds, rounding sub-millisecond values up (so "1n" is 1 ms and
 * never 0), saturating at UINT64_MAX instead of overflowing. The spec's
 * 8-digit bound is not enforced. Returns 0, or -EINVAL for an empty value,
 * no digits, a bad unit or trailing bytes.
 */
int rpc_timeout_parse(const char *s, size_t len, uint64_t *ms);
/* Writes ms as the shortest exact form in at most 8 digits ("250m", "5S",
 * "2M"), coarsening (rounding up) only when ms needs more than 8 digits.
 * Returns the length (without the NUL); out must hold RPC_TIMEOUT_BUFSZ. */
#define RPC_TIMEOUT_BUFSZ 16
size_t rpc_timeout_format(uint64_t ms, char *out);

/* The 5-byte message prefix: flag byte (1 = compressed) and big-endian
 * length. */
#define RPC_FRAME_HEADER 5
void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint8_t flags, uint32_t len);

/*
 * Incremental message reassembly over a byte stream split anywhere (wire
 * §1.2). Complete messages go to the callback: straight from the input when
 * a message lies whole in one chunk, else from an internal buffer grown to
 * the message size. A length prefix over max is refused as soon as its 5
 * bytes are in, before any payload is buffered.
 */
typedef int (*rpc_deframer_fn)(void *arg, uint8_t flags, const uint8_t *msg, size_t len);
struct rpc_deframer {
	/* private */
	uint8_t hdr[RPC_FRAME_HEADER];
	uint8_t hdr_len;
	uint8_t flags;
	uint32_t want; /* payload length of the message in progress */
	uint8_t *buf;
	size_t len, cap;
	size_t max;
	/* public, read after RPC_DEFRAME_TOO_LARGE: the announced length */
	uint32_t too_large;
};
#define RPC_DEFRAME_TOO_LARGE (-90001)
void rpc_deframer_init(struct rpc_deframer *d, size_t max);
void rpc_deframer_free(struct rpc_deframer *d);
/* Feeds bytes. Returns 0, RPC_DEFRAME_TOO_LARGE (the stream is unusable
 * afterwards), or the first nonzero value a callback returned (feeding stops
 * there: the rest of data is dropped). */
int rpc_deframer_feed(struct rpc_deframer *d, const uint8_t *data, size_t len, rpc_deframer_fn fn,
                      void *arg);
/* 1 if bytes of an incomplete message are held (a call ending now would be
 * truncated), else 0. */
int rpc_deframer_partial(const struct rpc_deframer *d);

#ifdef __cplusplus
}
#endif

#endif
