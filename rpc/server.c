/*
 * rpc/server.c - the server object: options, listeners, shutdown, stats.
 *
 * Shutdown follows wire §1.6: stop listening, shutdown notice (GOAWAY
 * 2^31-1) to every HTTP/2 connection, then after the grace period a GOAWAY
 * with the last processed stream id and every open stream ended with the
 * caller's status; connections close when nghttp2 has nothing left to read
 * or write and their writes have drained, or after a further 2 s regardless.
 * The server is freed when its last uv handle has closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

#define FORCE_CLOSE_MS 2000

int rpc_server_new(uv_loop_t *loop, const struct rpc_server_options *opts, struct rpc_server **out)
{
	if (!loop || !out)
		return -EINVAL;
	struct rpc_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	if (opts)
		srv->opt = *opts;
	struct rpc_server_options *o = &srv->opt;
	if (!o->max_recv_msg)
		o->max_recv_msg = RPC_DEFAULT_MAX_RECV_MSG;
	if (o->max_recv_msg > UINT32_MAX)
		o->max_recv_msg = UINT32_MAX;
	if (!o->max_concurrent_streams)
		o->max_concurrent_streams = UINT32_MAX;
	if (!o->stream_window)
		o->stream_window = RPC_DEFAULT_STREAM_WINDOW;
	if (!o->conn_window)
		o->conn_window = RPC_DEFAULT_CONN_WINDOW;
	if (o->stream_window > INT32_MAX)
		o->stream_window = INT32_MAX;
	if (o->conn_window > INT32_MAX)
		o->conn_window = INT32_MAX;
	if (!o->send_high_water)
		o->send_high_water = RPC_DEFAULT_SEND_HIGH_WATER;
	if (!o->send_max)
		o->send_max = RPC_DEFAULT_SEND_MAX;
	if (!o->rst_burst)
		o->rst_burst = 10000;
	if (!o->rst_rate)
		o->rst_rate = 1000;
	if (o->max_depth <= 0)
		o->max_depth = RPC_DEFAULT_MAX_DEPTH;

	if (rpc__server_callbacks(&srv->cbs) || nghttp2_option_new(&srv->h2opt)) {
		if (srv->cbs)
			nghttp2_session_callbacks_del(srv->cbs);
		free(srv);
		return -ENOMEM;
	}
	/* gRPC uses no priorities: keep no closed streams around for them. */
	nghttp2_option_set_no_closed_streams(srv->h2opt, 1);
	/* nghttp2 would refuse ":authority: http://host:port", which grpc-go
	 * clients send (etcdctl --cluster) and etcd accepts; nghttp2 1.52 has
	 * no narrower switch, so rpc/ makes the same checks itself with the
	 * authority relaxed (reqcheck.c). */
	nghttp2_option_set_no_http_messaging(srv->h2opt, 1);
	nghttp2_option_set_stream_reset_rate_limit(srv->h2opt, o->rst_burst, o->rst_rate);
	rpc__arena_init(&srv->arena);
	rpc__flusher_init(loop, &srv->fl);
	rpc__timerq_init(loop, &srv->tq);
	uv_timer_init(loop, &srv->grace);
	srv->grace.data = srv;
	srv->handles = 3; /* flusher, timer heap, grace timer */
	*out = srv;
	return 0;
}

int rpc_server_register(struct rpc_server *srv, const struct rpc_method *m)
{
	return rpc__registry_add(&srv->reg, m);
}

void rpc_server_set_http1(struct rpc_server *srv, rpc_http1_fn fn, void *arg)
{
	srv->h1fn = fn;
	srv->h1arg = arg;
}

static void listener_closed(uv_handle_t *h)
{
	struct rpc__listener *l = h->data;
	struct rpc_server *srv = l->srv;
	free(l);
	srv->listeners_open--;
	rpc__server_maybe_done(srv);
}

static void on_connection(uv_stream_t *t, int status)
{
	struct rpc__listener *l = t->data;
	struct rpc_server *srv = l->srv;
	if (status < 0) {
		rpc__log(srv->opt.log, srv->opt.log_arg, 1, "rpc: accept: %s", uv_strerror(status));
		return;
	}
	if (srv->shutting)
		return;
	int rv = rpc__sconn_accept(srv, t);
	if (rv)
		rpc__log(srv->opt.log, srv->opt.log_arg, 1, "rpc: accept: %s", rpc_strerror(rv));
}

int rpc_server_listen(struct rpc_server *srv, const char *host_port, int *port_out)
{
	char host[256], port[8];
	int portn;
	if (srv->shutting)
		return -EINVAL;
	if (rpc__parse_host_port(host_port, host, sizeof host, &portn))
		return -EINVAL;
	snprintf(port, sizeof port, "%d", portn);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	uv_getaddrinfo_t req;
	int rv = uv_getaddrinfo(srv->loop, &req, NULL, host, port, &hints);
	if (rv)
		return rv;
	struct rpc__listener *l = calloc(1, sizeof *l);
	if (!l) {
		uv_freeaddrinfo(req.addrinfo);
		return -ENOMEM;
	}
	l->srv = srv;
	uv_tcp_init(srv->loop, &l->tcp);
	l->tcp.data = l;
	srv->listeners_open++;
	rv = uv_tcp_bind(&l->tcp, req.addrinfo->ai_addr, 0);
	uv_freeaddrinfo(req.addrinfo);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (rv) {
		uv_close((uv_handle_t *)&l->tcp, listener_closed);
		return rv;
	}
	if (port_out) {
		struct sockaddr_storage ss;
		int len = sizeof ss;
		*port_out = 0;
		if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
			*port_out =
			    ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			                                   : ((struct sockaddr_in *)&ss)->sin_port);
	}
	l->next = srv->listeners;
	srv->listeners = l;
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct rpc_server *srv = h->data;
	if (--srv->handles > 0)
		return;
	if (srv->done)
		srv->done(srv, srv->done_arg);
	rpc__stream_pool_free(srv);
	rpc__registry_free(&srv->reg);
	rpc__arena_free(&srv->arena);
	nghttp2_session_callbacks_del(srv->cbs);
	nghttp2_option_del(srv->h2opt);
	free(srv->stop_msg);
	free(srv);
}

void rpc__server_maybe_done(struct rpc_server *srv)
{
	/* The three loop handles go last: connections use them until freed. */
	if (!srv->stopping || srv->conns || srv->listeners_open || srv->closing_handles)
		return;
	srv->closing_handles = true;
	uv_timer_stop(&srv->grace);
	srv->fl.prep.data = srv;
	rpc__flusher_close(&srv->fl, handle_closed);
	rpc__timerq_close(&srv->tq, handle_closed);
	srv->tq.timer.data = srv;
	uv_close((uv_handle_t *)&srv->grace, handle_closed);
}

static void force_cb(uv_timer_t *t)
{
	struct rpc_server *srv = t->data;
	for (struct rpc__sconn *sc = srv->conns, *next; sc; sc = next) {
		next = sc->next;
		rpc__http1_detach(sc);
		rpc__conn_close(&sc->c);
	}
}

static void stop_cb(uv_timer_t *t)
{
	struct rpc_server *srv = t->data;
	srv->stopping = true;
	for (struct rpc__sconn *sc = srv->conns, *next; sc; sc = next) {
		next = sc->next;
		rpc__sconn_goaway(sc);
	}
	uv_timer_start(&srv->grace, force_cb, FORCE_CLOSE_MS, 0);
	rpc__server_maybe_done(srv);
}

void rpc_server_shutdown(struct rpc_server *srv, uint64_t grace_ms, int code, const char *message,
                         rpc_server_done_fn done, void *arg)
{
	if (srv->shutting)
		return;
	srv->shutting = true;
	srv->done = done;
	srv->done_arg = arg;
	srv->stop_code = code;
	srv->stop_msg = strdup(message ? message : "");
	while (srv->listeners) {
		struct rpc__listener *l = srv->listeners;
		srv->listeners = l->next;
		uv_close((uv_handle_t *)&l->tcp, listener_closed);
	}
	for (struct rpc__sconn *sc = srv->conns, *next; sc; sc = next) {
		next = sc->next;
		if (sc->mode == SCONN_H2)
			rpc__sconn_notice(sc);
		else if (sc->mode == SCONN_DETECT)
			rpc__conn_close(&sc->c);
	}
	uv_timer_start(&srv->grace, stop_cb, grace_ms, 0);
}

void rpc_server_stats(const struct rpc_server *srv, struct rpc_server_stats *out)
{
	*out = srv->stats;
	for (const struct rpc__sconn *sc = srv->conns; sc; sc = sc->next) {
		if (sc->c.closing)
			continue;
		out->bytes_in += sc->c.bytes_in;
		out->bytes_out += sc->c.bytes_out;
	}
}
