/*
 * main.c - cairnd: etcd 3.4's flags in, a cairn member out. Wires the node
 * (server/node_run.h) to the etcd services (server/api.h) on the client
 * port, HTTP/1.1 (/metrics, /health, /version) on the client port and the
 * metrics URLs, and stops gracefully on SIGTERM/SIGINT: a leader hands over
 * leadership, the services stop, the servers drain, the WAL is flushed and
 * the stores closed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"
#include "server/api.h"
#include "server/config.h"
#include "server/log.h"
#include "server/node_run.h"

extern char **environ;
void node__http(void *arg, const struct rpc_http1_request *req, struct rpc_http1_reply *reply);
void node_http_set_api(struct node *n, struct api *a);

static struct {
	uv_loop_t *loop;
	struct cairn_config cfg;
	struct node *node;
	struct api *api;
	struct rpc_server *client_srv;
	struct rpc_server **metrics_srv;
	size_t n_metrics;
	uv_signal_t sigterm, sigint;
	int exit_code;
	int servers_open;
	bool stopping;
} d;

static void rpc_log(void *arg, int level, const char *message)
{
	(void)arg;
	int l = level == 0   ? CAIRN_LOG_ERROR
	        : level == 1 ? CAIRN_LOG_WARN
	        : level == 2 ? CAIRN_LOG_INFO
	                     : CAIRN_LOG_DEBUG;
	CAIRN_LOG_(l, "rpc", LF_STR("detail", message));
}

static void all_closed(void)
{
	node_close(d.node);
	if (d.api)
		api_destroy(d.api);
	d.api = NULL;
	uv_close((uv_handle_t *)&d.sigterm, NULL);
	uv_close((uv_handle_t *)&d.sigint, NULL);
}

static void server_done(struct rpc_server *srv, void *arg)
{
	(void)srv;
	(void)arg;
	if (--d.servers_open == 0)
		all_closed();
}

static void node_stopped(struct node *n, void *arg)
{
	(void)n;
	(void)arg;
	if (d.api)
		api_stop(d.api);
	d.servers_open = 1 + (int)d.n_metrics;
	rpc_server_shutdown(d.client_srv, 200, RPC_UNAVAILABLE, "etcdserver: server stopped",
	                    server_done, NULL);
	for (size_t i = 0; i < d.n_metrics; i++)
		rpc_server_shutdown(d.metrics_srv[i], 0, RPC_UNAVAILABLE,
		                    "etcdserver: server stopped", server_done, NULL);
}

static void begin_stop(int code)
{
	if (d.stopping)
		return;
	d.stopping = true;
	d.exit_code = code;
	node_begin_stop(d.node, node_stopped, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	LOGI("received signal; shutting down",
	     LF_STR("signal", signum == SIGTERM ? "TERM" : "INT"));
	begin_stop(0);
}

static void on_stop_request(struct node *n, int code)
{
	(void)n;
	begin_stop(code);
}

int main(int argc, char **argv)
{
	char err[1024], notes[4096];
	config_init(&d.cfg);
	if (config_parse(&d.cfg, argc, argv, environ, err, sizeof err, notes, sizeof notes)) {
		fprintf(stderr, "%s\n%s", err, config_usage());
		return 2;
	}
	if (d.cfg.show_help) {
		fputs(config_usage(), stdout);
		return 0;
	}
	if (d.cfg.show_version) {
		printf("cairnd Version: %s\netcd API Version: %s\nGit SHA: not provided\n",
		       CAIRN_VERSION, CAIRN_CLUSTER_VERSION);
		return 0;
	}
	cairn_log_set_level(d.cfg.log_level);
	for (char *line = strtok(notes, "\n"); line; line = strtok(NULL, "\n"))
		LOGW(line, LF_END);
	if (config_validate(&d.cfg, err, sizeof err)) {
		LOGE("invalid configuration", LF_STR("error", err));
		fprintf(stderr, "cairnd: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	LOGI("starting cairnd", LF_STR("version", CAIRN_VERSION) LF_STR("name", d.cfg.name)
	                            LF_STR("data-dir", d.cfg.data_dir)
	                                LF_STR("initial-cluster", d.cfg.initial_cluster));
	d.loop = uv_default_loop();
	int rc = node_create(d.loop, &d.cfg, &d.node);
	if (rc) {
		LOGE("cannot start the member",
		     LF_STR("error", strerror(rc < 0 && rc > -4096 ? -rc : EINVAL)));
		return 1;
	}
	struct rpc_server_options so;
	memset(&so, 0, sizeof so);
	so.max_recv_msg = d.cfg.max_request_bytes + 512 * 1024;
	so.log = rpc_log;
	if ((rc = rpc_server_new(d.loop, &so, &d.client_srv))) {
		LOGE("cannot create the client server", LF_STR("error", rpc_strerror(rc)));
		return 1;
	}
	struct api_options ao = {.max_request_bytes = d.cfg.max_request_bytes,
	                         .election_timeout_ms = d.cfg.election_ms,
	                         .progress_notify_ms = d.cfg.progress_notify_ms};
	if ((rc = api_create(d.node, d.client_srv, &ao, &d.api))) {
		LOGE("cannot register the etcd services", LF_I64("error", rc));
		return 1;
	}
	node_http_set_api(d.node, d.api);
	rpc_server_set_http1(d.client_srv, node__http, d.node);
	for (size_t i = 0; i < d.cfg.listen_client_urls.n; i++) {
		rc = rpc_server_listen(d.client_srv, d.cfg.listen_client_urls.v[i], NULL);
		if (rc) {
			LOGE("cannot listen for clients",
			     LF_STR("address", d.cfg.listen_client_urls.v[i])
			         LF_STR("error", rpc_strerror(rc)));
			return 1;
		}
		LOGI("serving client traffic", LF_STR("address", d.cfg.listen_client_urls.v[i]));
	}
	d.metrics_srv = calloc(d.cfg.listen_metrics_urls.n + 1, sizeof *d.metrics_srv);
	for (size_t i = 0; i < d.cfg.listen_metrics_urls.n; i++) {
		struct rpc_server *ms;
		if (rpc_server_new(d.loop, &so, &ms) ||
		    rpc_server_listen(ms, d.cfg.listen_metrics_urls.v[i], NULL)) {
			LOGE("cannot listen for metrics",
			     LF_STR("address", d.cfg.listen_metrics_urls.v[i]));
			return 1;
		}
		rpc_server_set_http1(ms, node__http, d.node);
		d.metrics_srv[d.n_metrics++] = ms;
	}
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	node_set_stop_request(d.node, on_stop_request);
	node_start(d.node);
	uv_run(d.loop, UV_RUN_DEFAULT);
	free(d.metrics_srv);
	config_free(&d.cfg);
	LOGI("cairnd exited", LF_I64("code", d.exit_code));
	return d.exit_code;
}
