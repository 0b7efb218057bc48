/*
 * node_http.c - HTTP/1.1 on the client port (and --listen-metrics-urls):
 * /metrics (Prometheus text: etcd's core figures plus the services'),
 * /health (etcd's JSON), /version, and with --experimental-fault-injection
 * the test hook:
 *
 *   GET /cairn/fault?drop=<member ids in hex, comma-separated>&delay_ms=N
 *   GET /cairn/fault?commit_delay_ms=N
 *   GET /cairn/fault?clear=1
 *
 * which makes this member drop (or delay) all peer traffic to and from the
 * named members until cleared (tests/lib/cluster.py partition()), or makes
 * its apply thread wait N ms between answering a batch's writes and
 * committing it to LMDB (the window the read barriers of node.h cover,
 * tests/integration/read_barriers_test.py).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "server/config.h"
#include "server/log.h"
#include "server/node_internal.h"
#include "server/node_run.h"

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			return -1;
		if (*buf && *len + (size_t)k < *cap) {
			*len += (size_t)k;
			return 0;
		}
		size_t ncap = *cap ? *cap * 2 : 8192;
		while (ncap < *len + (size_t)k + 1)
			ncap *= 2;
		char *p = realloc(*buf, ncap);
		if (!p)
			return -1;
		*buf = p;
		*cap = ncap;
	}
}

static void histogram(char **b, size_t *l, size_t *c, const char *name, const char *help,
                      const uint64_t *buckets, size_t nb, uint64_t count, double sum)
{
	appendf(b, l, c, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	double bound = 0.001;
	for (size_t i = 0; i + 1 < nb; i++) {
		cum += buckets[i];
		appendf(b, l, c, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bound, cum);
		bound *= 2;
	}
	appendf(b, l, c, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9f\n%s_count %" PRIu64 "\n",
	        name, count, name, sum, name, count);
}

static void counter(char **b, size_t *l, size_t *c, const char *type, const char *name,
                    const char *help, double v)
{
	appendf(b, l, c, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

int node_metrics(struct node *n, char **b, size_t *l, size_t *c)
{
	counter(b, l, c, "gauge", "etcd_server_has_leader",
	        "Whether or not a leader exists. 1 is existence, 0 is not.", n->leader ? 1 : 0);
	counter(b, l, c, "gauge", "etcd_server_is_leader",
	        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
	        n->role == RAFT_LEADER);
	counter(b, l, c, "gauge", "etcd_server_is_learner",
	        "Whether or not this member is a learner. 1 if is, 0 otherwise.", n->is_learner);
	counter(b, l, c, "counter", "etcd_server_leader_changes_seen_total",
	        "The number of leader changes seen.", (double)n->m.leader_changes);
	counter(b, l, c, "gauge", "etcd_server_proposals_committed_total",
	        "The total number of consensus proposals committed.", (double)n->commit);
	counter(b, l, c, "gauge", "etcd_server_proposals_applied_total",
	        "The total number of consensus proposals applied.", (double)n->applied);
	counter(b, l, c, "gauge", "etcd_server_proposals_pending",
	        "The current number of pending proposals to commit.", (double)n->proposals.n);
	counter(b, l, c, "counter", "etcd_server_proposals_failed_total",
	        "The total number of failed proposals seen.", (double)n->m.proposals_failed);
	counter(b, l, c, "gauge", "etcd_server_id", "Server or member ID in hexadecimal format.",
	        1);
	counter(b, l, c, "counter", "etcd_network_snapshot_send_success",
	        "Total number of successful snapshot sends", (double)n->m.snapshots_sent);
	counter(b, l, c, "counter", "etcd_network_snapshot_receive_success",
	        "Total number of successful snapshot receives", (double)n->m.snapshots_received);
	counter(b, l, c, "counter", "etcd_debugging_snap_save_total", "Number of snapshots taken",
	        (double)n->m.snapshots_taken);
	if (n->wal) {
		struct store_wal_metrics wm;
		store_wal_metrics(n->wal, &wm);
		histogram(b, l, c, "etcd_disk_wal_fsync_duration_seconds",
		          "The latency distributions of fsync called by WAL.", wm.sync_buckets,
		          STORE_WAL_SYNC_BUCKETS, wm.syncs, (double)wm.sync_ns_sum / 1e9);
		counter(b, l, c, "counter", "cairn_wal_entries_written_total",
		        "Entries written to the WAL.", (double)wm.entries_written);
		counter(b, l, c, "counter", "cairn_wal_bytes_written_total",
		        "Bytes written to the WAL.", (double)wm.bytes_written);
	}
	uint64_t buckets[15];
	uint64_t cnt;
	double sum;
	pthread_mutex_lock(&n->ap.mu);
	memcpy(buckets, n->ap.commit_buckets, sizeof buckets);
	cnt = n->ap.commit_count;
	sum = n->ap.commit_sum;
	pthread_mutex_unlock(&n->ap.mu);
	histogram(b, l, c, "etcd_disk_backend_commit_duration_seconds",
	          "The latency distributions of commit called by backend.", buckets, 15, cnt, sum);
	if (n->mvcc) {
		struct store_mvcc_state st;
		store_mvcc_state(n->mvcc, &st);
		counter(b, l, c, "gauge", "etcd_mvcc_db_total_size_in_bytes",
		        "Total size of the underlying database physically allocated in bytes.",
		        (double)st.db_size);
		counter(b, l, c, "gauge", "etcd_debugging_mvcc_current_revision",
		        "The current revision of store.", (double)st.revision);
		counter(b, l, c, "gauge", "etcd_debugging_mvcc_compact_revision",
		        "The revision of the last compaction in store.",
		        (double)st.compact_revision);
		counter(b, l, c, "gauge", "etcd_server_quota_backend_bytes",
		        "Current backend storage quota size in bytes.", (double)st.quota);
	}
	appendf(b, l, c,
	        "# HELP etcd_server_version Which version is running. 1 for 'server_version' label "
	        "with current version.\n# TYPE etcd_server_version gauge\n"
	        "etcd_server_version{server_version=\"%s\"} 1\n",
	        CAIRN_VERSION);
	return 0;
}

struct http_ctx {
	struct node *n;
	struct api *api;
};

static struct http_ctx http_ctx;

void node_http_set_api(struct node *n, struct api *a);
void node_http_set_api(struct node *n, struct api *a)
{
	http_ctx.n = n;
	http_ctx.api = a;
}

void node__http(void *arg, const struct rpc_http1_request *req, struct rpc_http1_reply *reply)
{
	struct node *n = arg;
	if (!strcmp(req->path, "/metrics")) {
		char *b = NULL;
		size_t l = 0, c = 0;
		node_metrics(n, &b, &l, &c);
		if (http_ctx.api && http_ctx.n == n)
			api_metrics(http_ctx.api, &b, &l, &c);
		rpc_http1_respond(reply, 200, "text/plain; version=0.0.4; charset=utf-8", b, l);
		free(b);
		return;
	}
	if (!strcmp(req->path, "/health")) {
		/* etcd 3.4's body and type, byte for byte; the reason goes to
		 * the log only. */
		const char *reason;
		bool ok = node_healthy(n, &reason);
		const char *body = ok ? "{\"health\":\"true\"}" : "{\"health\":\"false\"}";
		if (!ok)
			LOGW("/health error", LF_STR("reason", reason));
		rpc_http1_respond(reply, ok ? 200 : 503, "text/plain; charset=utf-8", body,
		                  strlen(body));
		return;
	}
	if (!strcmp(req->path, "/version")) {
		const char *body = "{\"etcdserver\":\"" CAIRN_VERSION
		                   "\",\"etcdcluster\":\"" CAIRN_CLUSTER_VERSION "\"}";
		rpc_http1_respond(reply, 200, "application/json", body, strlen(body));
		return;
	}
	if (!strcmp(req->path, "/cairn/fault") && n->cfg->fault_injection) {
		char body[2048];
		node__fault_http(n, req->query, body, sizeof body);
		rpc_http1_respond(reply, 200, "application/json", body, strlen(body));
		return;
	}
	const char *nf = "404 page not found\n";
	rpc_http1_respond(reply, 404, NULL, nf, strlen(nf));
}
