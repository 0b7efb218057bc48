/*
 * tests/rpc/rawh2.h - hand-made HTTP/2 for the robustness tests: a server on
 * its own thread and loop, and a blocking client socket that writes exactly
 * the frames a test builds (malformed ones included) and decodes what comes
 * back into per-stream outcomes.
 */
#ifndef CAIRN_TESTS_RPC_RAWH2_H
#define CAIRN_TESTS_RPC_RAWH2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h2build.h"
#include "rpc/rpc.h"

/* ---- a server on its own thread --------------------------------------- */

struct srvthread {
	uv_loop_t loop;
	struct rpc_server *srv;
	int port;
	uv_thread_t th;
	uv_async_t stop;
	uint64_t grace_ms;
	bool stopping;
	volatile bool done;
};
/* Creates the server; register methods on st->srv, then st_run(). */
void st_init(struct srvthread *st, const struct rpc_server_options *opts);
void st_run(struct srvthread *st);
/* Asks the server thread to shut down (graceful, with grace_ms). */
void st_shutdown(struct srvthread *st, uint64_t grace_ms);
/* Shuts the server down (if st_shutdown was not called), joins the
 * thread, checks the loop closed clean. */
void st_fini(struct srvthread *st);

/* ---- the client socket -------------------------------------------------- */

struct rawstream {
	int32_t id;
	int http_status;
	char content_type[64];
	int grpc_status; /* -1: none seen */
	char grpc_message[512];
	int header_blocks;
	bool end_stream;
	int64_t rst;       /* -1: none */
	size_t data_len;   /* bytes kept in data[] */
	size_t data_total; /* bytes received */
	uint8_t data[1 << 16];
};

struct rawconn {
	int fd;
	void *inflater;
	struct rawbuf in;
	struct rawstream *streams[16];
	int nstreams;
	bool goaway;
	int32_t goaway_last;
	uint32_t goaway_code;
	int goaways;
	bool eof;
	int pings_acked;
	int pings;           /* PINGs without ACK received */
	bool ack_pings;      /* answer them (server role) */
	bool skip_magic;     /* server role: the client preface comes first */
	uint64_t ping_ms[8]; /* when each PING arrived (uv_hrtime ms) */
	size_t bytes;
	struct rawbuf hdrblock;
	int32_t hdrstream;
	uint8_t hdrflags;
};

/* Connects to 127.0.0.1:port (blocking). */
void rc_open(struct rawconn *rc, int port);
/* Server role: listens on 127.0.0.1:0 (*port set); rc_accept takes one
 * connection, skips the client preface and writes SETTINGS. */
int rc_listen(int *port);
void rc_accept(struct rawconn *rc, int lfd);
void rc_send(struct rawconn *rc, const struct rawbuf *b);
void rc_send_raw(struct rawconn *rc, const void *p, size_t n);
/* Reads and decodes until the stream has ended (END_STREAM or RST), the
 * connection closed, or timeout_ms. Returns the stream's record (never
 * NULL). */
struct rawstream *rc_wait_stream(struct rawconn *rc, int32_t id, int timeout_ms);
/* Reads until EOF or timeout; returns true on EOF. */
bool rc_wait_eof(struct rawconn *rc, int timeout_ms);
/* Reads for up to timeout_ms without a goal. */
void rc_pump(struct rawconn *rc, int timeout_ms);
void rc_close(struct rawconn *rc);

#endif
