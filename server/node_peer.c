/*
 * node_peer.c - the peer transport on rpc/: the Peer service on the peer
 * port, and per remote member a client connection carrying one long-lived
 * Raft stream (reconnected with backoff) plus a second connection for
 * forwarded proposals, lease calls and Hello, so that Raft traffic never
 * queues behind them (reference raft.md T8). Snapshots travel on a third
 * connection of their own (node_snap.c).
 *
 * The fault hook (--experimental-fault-injection, tests only): a member told
 * to drop traffic of some members discards every Raft message, snapshot,
 * forwarded proposal and lease call to and from them; told to delay, it
 * holds its outgoing Raft messages that long. Switched at run time through
 * GET /cairn/fault on the client port (node_http.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/node_internal.h"

#define PEER_MAX_BUFFERED (32u * 1024 * 1024)
#define PEER_BACKOFF_MIN  50
#define PEER_BACKOFF_MAX  1000

/* ---- Fault hook --------------------------------------------------------------- */

bool node__fault_drops(struct node *n, uint64_t peer)
{
	for (size_t i = 0; i < n->fault.n_drop; i++)
		if (n->fault.drop[i] == peer)
			return true;
	return false;
}

static void query_param(const char *q, const char *key, char *out, size_t outlen)
{
	out[0] = '\0';
	size_t kl = strlen(key);
	const char *p = q;
	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t len = strcspn(v, "&");
			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			/* %2C is a comma */
			char *c;
			while ((c = strstr(out, "%2C")) || (c = strstr(out, "%2c"))) {
				*c = ',';
				memmove(c + 1, c + 3, strlen(c + 3) + 1);
			}
			return;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
}

int node__fault_http(struct node *n, const char *query, char *out, size_t outlen)
{
	char v[1024];
	query_param(query, "clear", v, sizeof v);
	if (v[0]) {
		free(n->fault.drop);
		n->fault.drop = NULL;
		n->fault.n_drop = 0;
		n->fault.delay_ms = 0;
		n->fault.commit_delay_ms = 0;
	}
	query_param(query, "drop", v, sizeof v);
	if (v[0]) {
		free(n->fault.drop);
		n->fault.drop = NULL;
		n->fault.n_drop = 0;
		struct strlist l = {0};
		strlist_split(&l, v);
		n->fault.drop = calloc(l.n ? l.n : 1, sizeof *n->fault.drop);
		for (size_t i = 0; n->fault.drop && i < l.n; i++)
			n->fault.drop[n->fault.n_drop++] = strtoull(l.v[i], NULL, 16);
		strlist_free(&l);
	}
	query_param(query, "delay_ms", v, sizeof v);
	if (v[0])
		n->fault.delay_ms = strtoull(v, NULL, 10);
	query_param(query, "commit_delay_ms", v, sizeof v);
	if (v[0])
		n->fault.commit_delay_ms = strtoull(v, NULL, 10);
	pthread_mutex_lock(&n->ap.mu);
	n->ap.commit_delay_ms = n->fault.commit_delay_ms;
	pthread_mutex_unlock(&n->ap.mu);
	size_t off = (size_t)snprintf(out, outlen, "{\"member\":\"%" PRIx64 "\",\"drop\":[", n->id);
	for (size_t i = 0; i < n->fault.n_drop && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s\"%" PRIx64 "\"", i ? "," : "",
		                        n->fault.drop[i]);
	if (off < outlen)
		snprintf(out + off, outlen - off,
		         "],\"delay_ms\":%" PRIu64 ",\"commit_delay_ms\":%" PRIu64 "}\n",
		         n->fault.delay_ms, n->fault.commit_delay_ms);
	LOGW("fault injection changed",
	     LF_U64("dropped-members", n->fault.n_drop) LF_U64("delay-ms", n->fault.delay_ms)
	         LF_U64("commit-delay-ms", n->fault.commit_delay_ms));
	return 0;
}

/* ---- Encoding --------------------------------------------------------------- */

static int enc_reserve(struct node *n, size_t cnt)
{
	if (cnt <= n->enc_cap)
		return 0;
	size_t cap = n->enc_cap ? n->enc_cap : 64;
	while (cap < cnt)
		cap *= 2;
	Cairnpeer__Entry *e = realloc(n->enc_ents, cap * sizeof *e);
	if (!e)
		return -1;
	n->enc_ents = e;
	Cairnpeer__Entry **p = realloc(n->enc_ptrs, cap * sizeof *p);
	if (!p)
		return -1;
	n->enc_ptrs = p;
	struct store_wal_entry *w = realloc(n->enc_wal, cap * sizeof *w);
	if (!w)
		return -1;
	n->enc_wal = w;
	n->enc_cap = cap;
	return 0;
}

/* Fills pm from m; entry payloads point into the WAL (valid until the next
 * mutating WAL call: pack before that). */
static int fill_message(struct node *n, const struct raft_message *m, Cairnpeer__RaftMessage *pm,
                        Cairnpeer__SnapshotMeta *sm)
{
	cairnpeer__raft_message__init(pm);
	pm->type = m->type;
	pm->from = m->from;
	pm->to = m->to;
	pm->term = m->term;
	pm->log_term = m->log_term;
	pm->index = m->index;
	pm->commit = m->commit;
	pm->reject = m->reject;
	pm->transfer = m->transfer;
	pm->reject_hint = m->reject_hint;
	pm->context = m->context;
	if (m->n_entries) {
		if (enc_reserve(n, m->n_entries))
			return -ENOMEM;
		size_t got = 0;
		while (got < m->n_entries) {
			size_t cnt = 0;
			uint64_t lo = m->index + 1 + got;
			int rc = store_wal_entries(n->wal, lo, m->index + 1 + m->n_entries, 0,
			                           n->enc_wal + got, m->n_entries - got, &cnt);
			if (rc || !cnt) {
				LOGW("append names entries the WAL no longer holds",
				     LF_U64("index", lo) LF_STR("error", store_wal_strerror(rc)));
				return rc ? rc : -EIO;
			}
			got += cnt;
		}
		for (size_t k = 0; k < m->n_entries; k++) {
			Cairnpeer__Entry *e = &n->enc_ents[k];
			cairnpeer__entry__init(e);
			e->term = n->enc_wal[k].term;
			e->type = n->enc_wal[k].type;
			e->data.len = n->enc_wal[k].len;
			e->data.data = (uint8_t *)n->enc_wal[k].data;
			n->enc_ptrs[k] = e;
		}
		pm->n_entries = m->n_entries;
		pm->entries = n->enc_ptrs;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		cairnpeer__snapshot_meta__init(sm);
		sm->index = m->snapshot.index;
		sm->term = m->snapshot.term;
		sm->n_voters = m->snapshot.conf.n_voters;
		sm->voters = (uint64_t *)m->snapshot.conf.voters;
		sm->n_learners = m->snapshot.conf.n_learners;
		sm->learners = (uint64_t *)m->snapshot.conf.learners;
		pm->snapshot = sm;
	}
	return 0;
}

int node__encode_message(struct node *n, const struct raft_message *m, struct bytes *out)
{
	Cairnpeer__RaftMessage pm;
	Cairnpeer__SnapshotMeta sm;
	int rc = fill_message(n, m, &pm, &sm);
	if (rc)
		return rc;
	size_t size = cairnpeer__raft_message__get_packed_size(&pm);
	if (bytes_reserve(out, size))
		return -ENOMEM;
	cairnpeer__raft_message__pack(&pm, out->p + out->len);
	out->len += size;
	return 0;
}

/* ---- Peers and their connections ------------------------------------------ */

struct peer *node__peer_get(struct node *n, uint64_t id)
{
	for (size_t i = 0; i < n->n_peers; i++)
		if (n->peers[i]->id == id)
			return n->peers[i];
	return NULL;
}

void node__url_to_addr(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	snprintf(out, outlen, "%s", p);
	char *slash = strchr(out, '/');
	if (slash)
		*slash = '\0';
}

static void peer_connect(struct peer *p);

static void retry_timer_cb(uv_timer_t *t)
{
	struct peer *p = t->data;
	peer_connect(p);
}

static void raft_call_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct peer *p = arg;
	struct node *n = p->n;
	p->raft_call = NULL;
	p->active_since = 0;
	if (message && strstr(message, "cairn: member removed")) {
		LOGW("the member has been permanently removed from the cluster",
		     LF_HEX("local-member-id", n->id) LF_HEX("removed-by", p->id));
		n->removed = true;
		node__request_stop(n, 0);
		return;
	}
	if (message && strstr(message, "cluster ID mismatch"))
		LOGE("peer belongs to another cluster",
		     LF_HEX("remote-peer-id", p->id) LF_STR("error", message));
	else
		LOGD("peer stream ended", LF_HEX("remote-peer-id", p->id) LF_I64("code", code)
		                              LF_STR("message", message ? message : ""));
	if (p->raft_c) {
		struct rpc_client *c = p->raft_c;
		p->raft_c = NULL;
		rpc_client_close(c);
	}
	if (n->raft)
		raft_report_unreachable(n->raft, p->id);
	if (p->closing || n->stopping)
		return;
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : PEER_BACKOFF_MIN;
	if (p->backoff_ms > PEER_BACKOFF_MAX)
		p->backoff_ms = PEER_BACKOFF_MAX;
	/* Try the member's other URLs in turn. */
	if (p->urls.n > 1)
		p->url_idx = (p->url_idx + 1) % p->urls.n;
	uv_timer_start(&p->retry_timer, retry_timer_cb, p->backoff_ms, 0);
}

static void raft_client_state(struct rpc_client *c, enum rpc_client_state state, int err, void *arg)
{
	(void)c;
	(void)err;
	struct peer *p = arg;
	if (state == RPC_CLIENT_READY) {
		p->active_since = uv_now(p->n->loop);
		p->backoff_ms = 0;
		LOGI("peer became active", LF_HEX("peer-id", p->id) LF_STR("address", p->addr));
	}
}

static void ack_ignore(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                       const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)arg;
	(void)msg;
	(void)bytes;
	(void)len;
}

static void peer_connect(struct peer *p)
{
	struct node *n = p->n;
	if (p->raft_c || p->closing || n->stopping || !p->urls.n)
		return;
	node__url_to_addr(p->urls.v[p->url_idx % p->urls.n], p->addr, sizeof p->addr);
	struct rpc_client_options o;
	memset(&o, 0, sizeof o);
	o.connect_timeout_ms = 2000;
	o.on_state = raft_client_state;
	o.arg = p;
	if (rpc_client_connect(n->loop, p->addr, &o, &p->raft_c)) {
		p->raft_c = NULL;
		uv_timer_start(&p->retry_timer, retry_timer_cb, PEER_BACKOFF_MAX, 0);
		return;
	}
	char cid[20], from[20], to[20];
	snprintf(cid, sizeof cid, "%" PRIx64, n->cluster_id);
	snprintf(from, sizeof from, "%" PRIx64, n->id);
	snprintf(to, sizeof to, "%" PRIx64, p->id);
	struct rpc_metadata md[3] = {
	    {"cairn-cluster-id", cid}, {"cairn-from", from}, {"cairn-to", to}};
	struct rpc_call_options co;
	memset(&co, 0, sizeof co);
	co.metadata = md;
	co.n_metadata = 3;
	co.arg = p;
	co.on_message = ack_ignore;
	co.on_end = raft_call_end;
	if (rpc_call_start(p->raft_c, "/cairnpeer.Peer/Raft", &co, &p->raft_call)) {
		p->raft_call = NULL;
		rpc_client_close(p->raft_c);
		p->raft_c = NULL;
		uv_timer_start(&p->retry_timer, retry_timer_cb, PEER_BACKOFF_MAX, 0);
	}
}

struct peer *node__peer_ensure(struct node *n, uint64_t id, char *const *urls, size_t n_urls)
{
	if (id == n->id)
		return NULL;
	struct peer *p = node__peer_get(n, id);
	if (p) {
		if (n_urls) {
			/* New URLs (member update): reconnect on the next failure. */
			bool same = p->urls.n == n_urls;
			for (size_t i = 0; same && i < n_urls; i++)
				same = !strcmp(p->urls.v[i], urls[i]);
			if (!same) {
				strlist_free(&p->urls);
				for (size_t i = 0; i < n_urls; i++)
					strlist_split(&p->urls, urls[i]);
				p->url_idx = 0;
			}
		}
		return p;
	}
	p = calloc(1, sizeof *p);
	struct peer **v = realloc(n->peers, (n->n_peers + 1) * sizeof *v);
	if (!p || !v) {
		free(p);
		free(v);
		return NULL;
	}
	n->peers = v;
	p->n = n;
	p->id = id;
	for (size_t i = 0; i < n_urls; i++)
		strlist_split(&p->urls, urls[i]);
	uv_timer_init(n->loop, &p->retry_timer);
	p->retry_timer.data = p;
	p->timer_init = true;
	n->peers[n->n_peers++] = p;
	peer_connect(p);
	return p;
}

static void peer_timer_closed(uv_handle_t *h)
{
	struct peer *p = h->data;
	strlist_free(&p->urls);
	free(p);
}

static void peer_free(struct peer *p)
{
	p->closing = true;
	node__snap_cancel(p);
	if (p->raft_call) {
		struct rpc_call *c = p->raft_call;
		p->raft_call = NULL;
		rpc_call_cancel(c);
	}
	if (p->raft_c) {
		struct rpc_client *c = p->raft_c;
		p->raft_c = NULL;
		rpc_client_close(c);
	}
	if (p->aux_c) {
		struct rpc_client *c = p->aux_c;
		p->aux_c = NULL;
		rpc_client_close(c);
	}
	uv_timer_stop(&p->retry_timer);
	uv_close((uv_handle_t *)&p->retry_timer, peer_timer_closed);
}

void node__peer_remove(struct node *n, uint64_t id)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		if (n->peers[i]->id != id)
			continue;
		struct peer *p = n->peers[i];
		n->peers[i] = n->peers[--n->n_peers];
		peer_free(p);
		return;
	}
}

void node__peers_close(struct node *n)
{
	while (n->n_peers) {
		struct peer *p = n->peers[--n->n_peers];
		peer_free(p);
	}
	free(n->peers);
	n->peers = NULL;
}

bool node__peer_active_since(struct node *n, uint64_t id, uint64_t since)
{
	if (id == n->id)
		return true;
	struct peer *p = node__peer_get(n, id);
	if (!p || !p->active_since || node__fault_drops(n, id))
		return false;
	return p->active_since <= since;
}

struct rpc_client *node__peer_aux(struct node *n, uint64_t id)
{
	struct peer *p = node__peer_get(n, id);
	if (!p || !p->urls.n || node__fault_drops(n, id))
		return NULL;
	if (p->aux_c) {
		enum rpc_client_state st = rpc_client_state(p->aux_c);
		if (st == RPC_CLIENT_FAILED || st == RPC_CLIENT_CLOSED ||
		    st == RPC_CLIENT_DRAINING) {
			struct rpc_client *c = p->aux_c;
			p->aux_c = NULL;
			rpc_client_close(c);
		}
	}
	if (!p->aux_c) {
		char addr[300];
		node__url_to_addr(p->urls.v[p->url_idx % p->urls.n], addr, sizeof addr);
		struct rpc_client_options o;
		memset(&o, 0, sizeof o);
		o.connect_timeout_ms = 2000;
		if (rpc_client_connect(n->loop, addr, &o, &p->aux_c))
			p->aux_c = NULL;
	}
	return p->aux_c;
}

/* ---- Sending ------------------------------------------------------------------ */

struct delayed {
	struct delayed *next;
	uint64_t due;
	uint64_t to;
	struct bytes b;
};

static struct delayed *delayed_head;
static uv_timer_t delay_timer;
static bool delay_timer_init;
static struct node *delay_node;

static void send_now_bytes(struct node *n, uint64_t to, const uint8_t *data, size_t len);

static void delay_timer_cb(uv_timer_t *t)
{
	(void)t;
	uint64_t now = uv_now(delay_node->loop);
	while (delayed_head && delayed_head->due <= now) {
		struct delayed *d = delayed_head;
		delayed_head = d->next;
		if (!delay_node->stopping)
			send_now_bytes(delay_node, d->to, d->b.p, d->b.len);
		bytes_free(&d->b);
		free(d);
	}
	if (delayed_head)
		uv_timer_start(&delay_timer, delay_timer_cb, delayed_head->due - now, 0);
}

static void delay_bytes(struct node *n, uint64_t to, const uint8_t *data, size_t len)
{
	struct delayed *d = calloc(1, sizeof *d);
	if (!d || bytes_reserve(&d->b, len)) {
		free(d);
		return;
	}
	memcpy(d->b.p, data, len);
	d->b.len = len;
	d->to = to;
	d->due = uv_now(n->loop) + n->fault.delay_ms;
	struct delayed **pp = &delayed_head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	if (!delay_timer_init) {
		uv_timer_init(n->loop, &delay_timer);
		uv_unref((uv_handle_t *)&delay_timer);
		delay_timer_init = true;
	}
	delay_node = n;
	if (delayed_head == d)
		uv_timer_start(&delay_timer, delay_timer_cb, n->fault.delay_ms, 0);
}

static struct rpc_call *peer_stream(struct node *n, uint64_t to)
{
	struct peer *p = node__peer_get(n, to);
	if (!p) {
		if (n->raft)
			raft_report_unreachable(n->raft, to);
		return NULL;
	}
	if (!p->raft_call) {
		if (!uv_is_active((uv_handle_t *)&p->retry_timer))
			peer_connect(p);
		if (!p->raft_call) {
			if (n->raft)
				raft_report_unreachable(n->raft, to);
			return NULL;
		}
	}
	if (rpc_call_buffered(p->raft_call) > PEER_MAX_BUFFERED) {
		if (n->raft)
			raft_report_unreachable(n->raft, to);
		return NULL;
	}
	return p->raft_call;
}

static void send_now_bytes(struct node *n, uint64_t to, const uint8_t *data, size_t len)
{
	if (node__fault_drops(n, to))
		return;
	struct rpc_call *c = peer_stream(n, to);
	if (c && rpc_call_send_bytes(c, data, len) < 0 && n->raft)
		raft_report_unreachable(n->raft, to);
}

void node__send_bytes(struct node *n, uint64_t to, const uint8_t *data, size_t len)
{
	if (node__trace_raft())
		LOGD("send after persist", LF_HEX("to", to) LF_U64("bytes", len));
	if (node__fault_drops(n, to))
		return;
	if (n->fault.delay_ms) {
		delay_bytes(n, to, data, len);
		return;
	}
	send_now_bytes(n, to, data, len);
}

void node__send(struct node *n, const struct raft_message *m)
{
	if (node__trace_raft())
		LOGD("send", LF_STR("type", raft_message_type_name(m->type)) LF_HEX("to", m->to)
		                 LF_U64("index", m->index) LF_U64("entries", m->n_entries)
		                     LF_BOOL("reject", m->reject));
	if (m->type == RAFT_MSG_SNAPSHOT) {
		node__snap_send(n, m);
		return;
	}
	if (node__fault_drops(n, m->to))
		return;
	if (n->fault.delay_ms) {
		struct bytes b = {0};
		if (node__encode_message(n, m, &b) == 0)
			delay_bytes(n, m->to, b.p, b.len);
		bytes_free(&b);
		return;
	}
	struct rpc_call *c = peer_stream(n, m->to);
	if (!c)
		return;
	Cairnpeer__RaftMessage pm;
	Cairnpeer__SnapshotMeta sm;
	if (fill_message(n, m, &pm, &sm))
		return;
	if (rpc_call_send(c, &pm.base) < 0 && n->raft)
		raft_report_unreachable(n->raft, m->to);
}

/* ---- The Peer service ---------------------------------------------------------- */

static uint64_t md_hex(const struct rpc_stream *s, const char *key)
{
	const char *v = rpc_stream_metadata(s, key);
	return v ? strtoull(v, NULL, 16) : 0;
}

static struct raft_entry *rx_ents;
static size_t rx_cap;
static struct store_wal_entry *rx_wal;

static void raft_on_message(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                            size_t len)
{
	(void)bytes;
	(void)len;
	struct node *n = rpc_stream_method_data(s);
	const Cairnpeer__RaftMessage *pm = (const Cairnpeer__RaftMessage *)msg;
	if (!n->raft || n->stopping)
		return;
	if (!rpc_stream_data(s)) {
		uint64_t cid = md_hex(s, "cairn-cluster-id");
		if (cid != n->cluster_id) {
			LOGE("request cluster ID mismatch",
			     LF_HEX("local-member-id", n->id)
			         LF_HEX("local-cluster-id", n->cluster_id)
			             LF_HEX("remote-cluster-id", cid));
			rpc_stream_finish(s, RPC_FAILED_PRECONDITION, "cairn: cluster ID mismatch");
			return;
		}
		uint64_t from = md_hex(s, "cairn-from");
		struct store_mvcc_read *rd;
		if (store_mvcc_read_begin(n->mvcc, &rd) == 0) {
			bool removed = store_mvcc_member_removed(rd, from);
			store_mvcc_read_end(rd);
			if (removed) {
				LOGW("rejected stream from a removed member",
				     LF_HEX("remote-peer-id", from));
				rpc_stream_finish(s, RPC_FAILED_PRECONDITION,
				                  "cairn: member removed");
				return;
			}
		}
		rpc_stream_set_data(s, n);
	}
	if (node__fault_drops(n, pm->from))
		return;
	if (pm->n_entries > rx_cap) {
		size_t cap = rx_cap ? rx_cap : 64;
		while (cap < pm->n_entries)
			cap *= 2;
		struct raft_entry *e = realloc(rx_ents, cap * sizeof *e);
		if (!e)
			return;
		rx_ents = e;
		struct store_wal_entry *w = realloc(rx_wal, cap * sizeof *w);
		if (!w)
			return;
		rx_wal = w;
		rx_cap = cap;
	}
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = (uint8_t)pm->type;
	m.from = pm->from;
	m.to = pm->to;
	m.term = pm->term;
	m.log_term = pm->log_term;
	m.index = pm->index;
	m.commit = pm->commit;
	m.reject = pm->reject;
	m.transfer = pm->transfer;
	m.reject_hint = pm->reject_hint;
	m.context = pm->context;
	for (size_t k = 0; k < pm->n_entries; k++) {
		rx_ents[k].term = pm->entries[k]->term;
		rx_ents[k].type = (uint8_t)pm->entries[k]->type;
		rx_ents[k].size = (uint32_t)pm->entries[k]->data.len;
		rx_ents[k].data = pm->entries[k]->data.data;
	}
	m.entries = rx_ents;
	m.n_entries = pm->n_entries;
	if (m.type == RAFT_MSG_SNAPSHOT)
		return; /* snapshots come on their own call */
	struct raft_accept acc;
	memset(&acc, 0, sizeof acc);
	if (node__trace_raft() ||
	    (m.type != RAFT_MSG_HEARTBEAT && m.type != RAFT_MSG_HEARTBEAT_RESPONSE))
		LOGD("recv", LF_STR("type", raft_message_type_name(m.type)) LF_HEX("from", m.from)
		                 LF_U64("term", m.term) LF_U64("index", m.index)
		                     LF_U64("log-term", m.log_term) LF_U64("entries", m.n_entries)
		                         LF_BOOL("reject", m.reject) LF_U64("hint", m.reject_hint));
	int src = raft_step(n->raft, &m, m.type == RAFT_MSG_APPEND ? &acc : NULL);
	if (src) {
		LOGD("raft_step refused a message", LF_STR("error", raft_strerror(src)));
		return;
	}
	if (m.type == RAFT_MSG_APPEND && acc.count) {
		for (size_t k = 0; k < acc.count; k++) {
			const struct raft_entry *e = &rx_ents[acc.first + k];
			rx_wal[k].index = acc.index + k;
			rx_wal[k].term = e->term;
			rx_wal[k].type = e->type;
			rx_wal[k].data = e->data;
			rx_wal[k].len = e->size;
		}
		int rc = store_wal_append(n->wal, rx_wal, acc.count);
		if (rc) {
			LOGE("cannot append accepted entries to the WAL: stopping",
			     LF_U64("index", acc.index) LF_STR("error", store_wal_strerror(rc)));
			node__request_stop(n, 1);
			return;
		}
	}
	node__schedule_ready(n);
}

static void raft_on_half_close(struct rpc_stream *s)
{
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void reply_propose(struct rpc_stream *s, int err, uint64_t index, uint64_t term)
{
	Cairnpeer__ProposeResponse r = CAIRNPEER__PROPOSE_RESPONSE__INIT;
	if (err) {
		r.code = (uint32_t)node_grpc_code(err);
		r.message = (char *)node_strerror(err);
	}
	r.index = index;
	r.term = term;
	rpc_stream_reply(s, &r.base);
}

static void propose_on_message(struct rpc_stream *s, const ProtobufCMessage *msg,
                               const uint8_t *bytes, size_t len)
{
	(void)bytes;
	(void)len;
	struct node *n = rpc_stream_method_data(s);
	const Cairnpeer__ProposeRequest *req = (const Cairnpeer__ProposeRequest *)msg;
	if (n->stopping) {
		reply_propose(s, NODE_ESTOPPED, 0, 0);
		return;
	}
	if (n->role != RAFT_LEADER || !n->raft) {
		reply_propose(s, NODE_ENOTLEADER, 0, 0);
		return;
	}
	if (n->commit > n->applied + 5000) {
		reply_propose(s, NODE_ETOO_MANY_REQUESTS, 0, 0);
		return;
	}
	struct raft_conf_change cc;
	memset(&cc, 0, sizeof cc);
	if (req->conf_change) {
		Cairnpb__ConfChange *c =
		    cairnpb__conf_change__unpack(NULL, req->entry.len, req->entry.data);
		if (!c) {
			rpc_stream_finish(s, RPC_INVALID_ARGUMENT, "cairn: bad conf change");
			return;
		}
		cc.type = (uint8_t)c->type;
		cc.node_id = c->node_id;
		cairnpb__conf_change__free_unpacked(c, NULL);
		int chk = node__member_checks_leader(n, &cc);
		if (chk) {
			reply_propose(s, chk, 0, 0);
			return;
		}
	}
	uint64_t index = 0, term = 0;
	int rc = node__propose_local(n, req->entry.data, req->entry.len, req->conf_change, &cc,
	                             &index, &term);
	if (rc) {
		int err = req->conf_change ? node__conf_raft_err(rc, &cc) : node__raft_err(rc);
		reply_propose(s, err == 1 ? NODE_ELEADER_CHANGED : err, 0, 0);
		return;
	}
	reply_propose(s, 0, index, term);
}

static void hello_on_message(struct rpc_stream *s, const ProtobufCMessage *msg,
                             const uint8_t *bytes, size_t len)
{
	(void)msg;
	(void)bytes;
	(void)len;
	struct node *n = rpc_stream_method_data(s);
	Cairnpeer__HelloResponse r = CAIRNPEER__HELLO_RESPONSE__INIT;
	r.cluster_id = n->cluster_id;
	r.member_id = n->id;
	r.name = n->name;
	r.n_client_urls = n->cfg->advertise_client_urls.n;
	r.client_urls = n->cfg->advertise_client_urls.v;
	struct store_mvcc_arena a;
	store_mvcc_arena_init(&a, 0);
	struct store_mvcc_read *rd = NULL;
	Etcdserverpb__Member **members = NULL;
	size_t nm = 0;
	if (store_mvcc_read_begin(n->mvcc, &rd) == 0)
		store_mvcc_members(rd, &a, &members, &nm);
	r.members = members;
	r.n_members = nm;
	rpc_stream_reply(s, &r.base);
	if (rd)
		store_mvcc_read_end(rd);
	store_mvcc_arena_destroy(&a);
}

/* Lease calls forwarded by followers: node_lease.c answers them. */
void node__lease_keepalive_rpc(struct rpc_stream *s, const ProtobufCMessage *msg,
                               const uint8_t *bytes, size_t len);
void node__lease_ttl_rpc(struct rpc_stream *s, const ProtobufCMessage *msg, const uint8_t *bytes,
                         size_t len);
void node__lease_peer_cancel(struct rpc_stream *s, int code);

int node__peer_server_start(struct node *n)
{
	struct rpc_server_options so;
	memset(&so, 0, sizeof so);
	/* Appends may carry up to 1 MiB of entries plus one oversized entry. */
	so.max_recv_msg = 64u * 1024 * 1024;
	int rc = rpc_server_new(n->loop, &so, &n->peer_srv);
	if (rc)
		return rc;
	struct rpc_method methods[] = {
	    {.path = "/cairnpeer.Peer/Raft",
	     .kind = RPC_BIDI,
	     .request = &cairnpeer__raft_message__descriptor,
	     .on_message = raft_on_message,
	     .on_half_close = raft_on_half_close,
	     .data = n},
	    {.path = "/cairnpeer.Peer/Propose",
	     .kind = RPC_UNARY,
	     .request = &cairnpeer__propose_request__descriptor,
	     .on_message = propose_on_message,
	     .data = n},
	    {.path = "/cairnpeer.Peer/Hello",
	     .kind = RPC_UNARY,
	     .request = &cairnpeer__hello_request__descriptor,
	     .on_message = hello_on_message,
	     .data = n},
	    {.path = "/cairnpeer.Peer/LeaseKeepAlive",
	     .kind = RPC_UNARY,
	     .request = &etcdserverpb__lease_keep_alive_request__descriptor,
	     .on_message = node__lease_keepalive_rpc,
	     .on_cancel = node__lease_peer_cancel,
	     .data = n},
	    {.path = "/cairnpeer.Peer/LeaseTimeToLive",
	     .kind = RPC_UNARY,
	     .request = &etcdserverpb__lease_time_to_live_request__descriptor,
	     .on_message = node__lease_ttl_rpc,
	     .on_cancel = node__lease_peer_cancel,
	     .data = n},
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if ((rc = rpc_server_register(n->peer_srv, &methods[i])))
			return rc;
	if ((rc = node__snap_recv_register(n, n->peer_srv)))
		return rc;
	for (size_t i = 0; i < n->cfg->listen_peer_urls.n; i++) {
		rc = rpc_server_listen(n->peer_srv, n->cfg->listen_peer_urls.v[i], NULL);
		if (rc) {
			LOGE("cannot listen for peers",
			     LF_STR("address", n->cfg->listen_peer_urls.v[i])
			         LF_STR("error", rpc_strerror(rc)));
			return rc;
		}
	}
	return 0;
}

/* ---- Forwarding a proposal to the leader ---------------------------------- */

struct fwd_ctx {
	struct node *n;
	uint64_t wid;
	struct rpc_client *c;
};

void node__forward_result(struct node *n, uint64_t wid, int rpc_code, bool never_sent,
                          const Cairnpeer__ProposeResponse *resp);

static void forward_reply(struct rpc_call *call, void *arg, int code, const char *message,
                          const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)message;
	(void)bytes;
	(void)len;
	struct fwd_ctx *f = arg;
	bool never_sent = code != RPC_OK && rpc_client_state(f->c) == RPC_CLIENT_FAILED;
	node__forward_result(f->n, f->wid, code, never_sent,
	                     (const Cairnpeer__ProposeResponse *)resp);
	free(f);
}

void node__forward_proposal(struct node_wait *w)
{
	struct node *n = w->n;
	struct rpc_client *c = node__peer_aux(n, n->leader);
	if (!c) {
		/* No way to the leader now (partitioned, unknown URL): the
		 * retry list tries again at the next tick. */
		extern void node__retry_later(struct node_wait * w);
		node__retry_later(w);
		return;
	}
	struct fwd_ctx *f = malloc(sizeof *f);
	if (!f) {
		wait_fail_later(w, -ENOMEM);
		return;
	}
	f->n = n;
	f->wid = w->wid;
	f->c = c;
	Cairnpeer__ProposeRequest req = CAIRNPEER__PROPOSE_REQUEST__INIT;
	req.entry.data = w->fwd.p;
	req.entry.len = w->fwd.len;
	req.conf_change = w->conf;
	struct rpc_call_options o;
	memset(&o, 0, sizeof o);
	o.response = &cairnpeer__propose_response__descriptor;
	uint64_t now = uv_now(n->loop);
	o.timeout_ms = w->deadline > now ? w->deadline - now : 1;
	o.arg = f;
	o.on_reply = forward_reply;
	w->forwarded = true;
	if (rpc_call_unary(c, "/cairnpeer.Peer/Propose", &req.base, &o, NULL)) {
		free(f);
		w->forwarded = false;
		extern void node__retry_later(struct node_wait * w);
		node__retry_later(w);
	}
}

/* ---- Hello (joining an existing cluster) ------------------------------------ */

struct hello_ctx {
	bool done;
	int code;
	Cairnpeer__HelloResponse *resp;
};

static void hello_reply(struct rpc_call *call, void *arg, int code, const char *message,
                        const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)message;
	(void)resp;
	struct hello_ctx *h = arg;
	h->done = true;
	h->code = code;
	if (code == RPC_OK)
		h->resp = cairnpeer__hello_response__unpack(NULL, len, bytes);
}

static void hello_timer_cb(uv_timer_t *t)
{
	struct hello_ctx *h = t->data;
	h->done = true;
}

int node__hello(const struct cairn_config *cfg, uv_loop_t *loop, Cairnpeer__HelloResponse **out)
{
	struct initial_cluster ic;
	char err[512];
	*out = NULL;
	if (initial_cluster_parse(cfg->initial_cluster, cfg->initial_cluster_token, &ic, err,
	                          sizeof err))
		return -EINVAL;
	for (int attempt = 0; attempt < 20 && !*out; attempt++) {
		for (size_t i = 0; i < ic.n && !*out; i++) {
			if (!strcmp(ic.v[i].name, cfg->name))
				continue;
			for (size_t u = 0; u < ic.v[i].peer_urls.n && !*out; u++) {
				char addr[300];
				node__url_to_addr(ic.v[i].peer_urls.v[u], addr, sizeof addr);
				struct rpc_client *c;
				struct rpc_client_options o;
				memset(&o, 0, sizeof o);
				o.connect_timeout_ms = 1000;
				if (rpc_client_connect(loop, addr, &o, &c))
					continue;
				struct hello_ctx h = {0};
				Cairnpeer__HelloRequest req = CAIRNPEER__HELLO_REQUEST__INIT;
				struct rpc_call_options co;
				memset(&co, 0, sizeof co);
				co.timeout_ms = 2000;
				co.arg = &h;
				co.on_reply = hello_reply;
				uv_timer_t t;
				uv_timer_init(loop, &t);
				t.data = &h;
				uv_timer_start(&t, hello_timer_cb, 3000, 0);
				if (rpc_call_unary(c, "/cairnpeer.Peer/Hello", &req.base, &co,
				                   NULL) == 0)
					while (!h.done)
						uv_run(loop, UV_RUN_ONCE);
				uv_timer_stop(&t);
				uv_close((uv_handle_t *)&t, NULL);
				rpc_client_close(c);
				uv_run(loop, UV_RUN_NOWAIT);
				if (h.resp)
					*out = h.resp;
			}
		}
		if (!*out) {
			LOGW("waiting for the cluster's members to answer Hello",
			     LF_U64("attempt", attempt + 1));
			uv_sleep(500);
		}
	}
	initial_cluster_free(&ic);
	return *out ? 0 : -ETIMEDOUT;
}

void node__retry_later(struct node_wait *w);
