/*
 * rpc/http1.c - plain HTTP/1.1 requests on the gRPC port.
 *
 * etcd answers /metrics, /health and /version on its client port next to
 * gRPC. A connection that does not open with the HTTP/2 preface lands here:
 * we read one request head (up to 8 KiB), hand method and target to the
 * server's handler, and send its answer with Content-Length and
 * "Connection: close", then close once the write has drained. Bodies,
 * pipelining and keep-alive are not supported; curl, Prometheus and
 * load-balancer health checks need none of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define H1_MAX_HEAD 8192

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static void respond(struct rpc__sconn *sc, bool head, int status, const char *ct, const void *body,
                    size_t len)
{
	struct rpc__conn *c = &sc->c;
	if (c->closing)
		return;
	char hdr[512];
	int n = snprintf(hdr, sizeof hdr,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, reason(status), ct ? ct : "text/plain; charset=utf-8", len);
	sc->h1_done = true;
	if (n < 0 || (size_t)n >= sizeof hdr || rpc__conn_write_raw(c, hdr, (size_t)n) ||
	    (!head && len && rpc__conn_write_raw(c, body, len))) {
		rpc__conn_close(c);
		return;
	}
	c->drain_close = true;
	rpc__conn_mark_dirty(c);
}

static void simple(struct rpc__sconn *sc, int status, const char *text)
{
	respond(sc, false, status, NULL, text, strlen(text));
}

static bool token(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] >= 0x7f)
			return false;
	return true;
}

void rpc__http1_input(struct rpc__sconn *sc, const uint8_t *p, size_t n)
{
	struct rpc_server *srv = sc->srv;
	if (sc->h1_done || sc->h1reply)
		return; /* one request per connection; the rest is ignored */
	size_t old = rpc__buf_size(&sc->h1in);
	size_t room = old < H1_MAX_HEAD + 4 ? H1_MAX_HEAD + 4 - old : 0;
	if (rpc__buf_append(&sc->h1in, p, RPC_MIN(n, room))) {
		rpc__conn_close(&sc->c);
		return;
	}
	char *buf = (char *)rpc__buf_head(&sc->h1in);
	size_t len = rpc__buf_size(&sc->h1in);
	char *end = NULL;
	for (size_t i = old >= 3 ? old - 3 : 0; i + 4 <= len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i;
			break;
		}
	}
	if (!end) {
		if (len > H1_MAX_HEAD)
			simple(sc, 431, "request header fields too large\n");
		return;
	}
	*end = '\0';
	/* Request line: METHOD SP target SP HTTP/1.x */
	char *line_end = strstr(buf, "\r\n");
	if (line_end)
		*line_end = '\0';
	char *sp1 = strchr(buf, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || !token(buf, (size_t)(sp1 - buf)) || sp2 == sp1 + 1 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		simple(sc, 400, "bad request\n");
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	char *target = sp1 + 1;
	/* The path is copied so that the query can be cut off it. */
	char path[H1_MAX_HEAD + 1];
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : strlen(target);
	memcpy(path, target, plen);
	path[plen] = '\0';
	struct rpc_http1_request req = {
	    .method = buf,
	    .target = target,
	    .path = path,
	    .query = q ? q + 1 : "",
	    .peer = sc->c.peer,
	};
	struct rpc_http1_reply *reply = calloc(1, sizeof *reply);
	if (!reply) {
		rpc__conn_close(&sc->c);
		return;
	}
	reply->conn = sc;
	reply->head = strcmp(buf, "HEAD") == 0;
	sc->h1reply = reply;
	if (srv->h1fn)
		srv->h1fn(srv->h1arg, &req, reply);
	else
		rpc_http1_respond(reply, 404, NULL, "404 page not found\n", 19);
}

void rpc_http1_respond(struct rpc_http1_reply *reply, int status, const char *content_type,
                       const void *body, size_t len)
{
	if (!reply)
		return;
	struct rpc__sconn *sc = reply->conn;
	bool head = reply->head;
	free(reply);
	if (!sc)
		return;
	sc->h1reply = NULL;
	respond(sc, head, status, content_type, body, len);
}

void rpc__http1_detach(struct rpc__sconn *sc)
{
	if (sc->h1reply) {
		sc->h1reply->conn = NULL;
		sc->h1reply = NULL;
	}
}
