/*
 * node_wait.c - requests waiting on the node: proposals (node_propose),
 * linearizable reads (node_read_index), and the bookkeeping every other
 * asynchronous node call shares: IDs, deadlines, cancellation, callbacks
 * made exactly once and never from inside the call that registered them.
 *
 * A proposal's fate (reference raft.md T5): refused before it reaches the
 * log -> a definite error; once proposed (locally or by the leader for a
 * follower), the wait completes when the entry with its request ID is
 * applied on this member. If another entry is applied at its index, or
 * the deadline passes, the answer is "request timed out" (outcome unknown
 * from the client's point of view; the leader-changed variant when a
 * leader change happened meanwhile), as etcd answers.
 *
 * Linearizable reads (raft.md C12): reads queue until the round in flight
 * (if any) is answered; one raft_read_index() round then serves all of
 * them; each completes once the applied index reaches the round's index.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/node_internal.h"

/* ---- Lists ------------------------------------------------------------------ */

static void wl_push(struct node_wait **head, struct node_wait *w)
{
	w->list = head;
	w->in_list = true;
	w->next = NULL;
	if (!*head) {
		*head = w;
		w->prev = w;
	} else {
		struct node_wait *t = (*head)->prev;
		t->next = w;
		w->prev = t;
		(*head)->prev = w;
	}
}

static void wl_unlink(struct node_wait *w)
{
	if (!w->in_list)
		return;
	struct node_wait **head = w->list;
	if (*head == w) {
		*head = w->next;
		if (*head)
			(*head)->prev = w->prev;
	} else {
		w->prev->next = w->next;
		if (w->next)
			w->next->prev = w->prev;
		else
			(*head)->prev = w->prev;
	}
	w->in_list = false;
	w->list = NULL;
	w->next = w->prev = NULL;
}

static void plist_unlink(struct node *n, struct node_wait *w)
{
	if (!w->in_plist)
		return;
	if (w->pprev)
		w->pprev->pnext = w->pnext;
	else
		n->plist_head = w->pnext;
	if (w->pnext)
		w->pnext->pprev = w->pprev;
	else
		n->plist_tail = w->pprev;
	w->pnext = w->pprev = NULL;
	w->in_plist = false;
}

/* Proposals with a known index, kept in index order (appends are the
 * common case: the leader's proposals come in order). */
static void plist_insert(struct node *n, struct node_wait *w)
{
	plist_unlink(n, w);
	struct node_wait *after = n->plist_tail;
	while (after && after->index > w->index)
		after = after->pprev;
	w->pprev = after;
	w->pnext = after ? after->pnext : n->plist_head;
	if (w->pnext)
		w->pnext->pprev = w;
	else
		n->plist_tail = w;
	if (after)
		after->pnext = w;
	else
		n->plist_head = w;
	w->in_plist = true;
}

/* ---- Deadline heap ------------------------------------------------------- */

static void heap_swap(struct node *n, size_t a, size_t b)
{
	struct node_wait *t = n->heap[a];
	n->heap[a] = n->heap[b];
	n->heap[b] = t;
	n->heap[a]->heap_idx = a;
	n->heap[b]->heap_idx = b;
}

static void heap_up(struct node *n, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (n->heap[p]->deadline <= n->heap[i]->deadline)
			break;
		heap_swap(n, p, i);
		i = p;
	}
}

static void heap_down(struct node *n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n->heap_n && n->heap[l]->deadline < n->heap[m]->deadline)
			m = l;
		if (r < n->heap_n && n->heap[r]->deadline < n->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(n, i, m);
		i = m;
	}
}

static int heap_push(struct node *n, struct node_wait *w)
{
	if (n->heap_n == n->heap_cap) {
		size_t cap = n->heap_cap ? n->heap_cap * 2 : 256;
		struct node_wait **h = realloc(n->heap, cap * sizeof *h);
		if (!h)
			return -1;
		n->heap = h;
		n->heap_cap = cap;
	}
	w->heap_idx = n->heap_n;
	n->heap[n->heap_n++] = w;
	heap_up(n, w->heap_idx);
	return 0;
}

static void heap_remove(struct node *n, struct node_wait *w)
{
	size_t i = w->heap_idx;
	if (i == SIZE_MAX)
		return;
	w->heap_idx = SIZE_MAX;
	n->heap_n--;
	if (i == n->heap_n)
		return;
	n->heap[i] = n->heap[n->heap_n];
	n->heap[i]->heap_idx = i;
	heap_up(n, i);
	heap_down(n, n->heap[i]->heap_idx);
}

static void deadline_timer_cb(uv_timer_t *t);

static void arm_deadline_timer(struct node *n)
{
	if (!n->heap_n) {
		uv_timer_stop(&n->deadline_timer);
		return;
	}
	uint64_t now = uv_now(n->loop);
	uint64_t d = n->heap[0]->deadline;
	uv_timer_start(&n->deadline_timer, deadline_timer_cb, d > now ? d - now : 0, 0);
}

/* ---- Wait lifecycle --------------------------------------------------------- */

uint64_t node__request_timeout_ms(struct node *n)
{
	/* etcd: 5 s + 2 x election timeout (etcdserver/config.go ReqTimeout). */
	return 5000 + 2 * (uint64_t)n->cfg->election_ms;
}

struct node_wait *wait_new(struct node *n, int kind, uint64_t timeout_ms, void *arg)
{
	struct node_wait *w = n->free_waits;
	struct bytes keep = {0};
	if (w) {
		n->free_waits = w->next;
		keep = w->fwd;
	} else if (!(w = malloc(sizeof *w))) {
		return NULL;
	}
	memset(w, 0, sizeof *w);
	w->fwd = keep;
	w->fwd.len = 0;
	w->n = n;
	w->kind = (uint8_t)kind;
	w->arg = arg;
	w->heap_idx = SIZE_MAX;
	w->wid = ++n->next_wid;
	w->leader_changes = n->m.leader_changes;
	uint64_t t = node__request_timeout_ms(n);
	if (timeout_ms && timeout_ms < t)
		t = timeout_ms;
	w->deadline = uv_now(n->loop) + t;
	if (u64map_put(&n->waits, w->wid, w) || heap_push(n, w)) {
		u64map_del(&n->waits, w->wid);
		free(w->fwd.p);
		free(w);
		return NULL;
	}
	if (w->heap_idx == 0)
		arm_deadline_timer(n);
	return w;
}

void wait_finish(struct node_wait *w)
{
	struct node *n = w->n;
	u64map_del(&n->waits, w->wid);
	if (w->req_id)
		u64map_del(&n->proposals, w->req_id);
	bool first = w->heap_idx == 0;
	heap_remove(n, w);
	if (first)
		arm_deadline_timer(n);
	wl_unlink(w);
	plist_unlink(n, w);
	free(w->snap_path);
	w->snap_path = NULL;
	w->next = n->free_waits;
	n->free_waits = w;
}

/* Calls the wait's callback with an error (or 0 and no payload). */
static void wait_call_err(struct node_wait *w, int err)
{
	if (w->internal) {
		if (err)
			LOGD("internal request failed", LF_STR("error", node_strerror(err)));
		return;
	}
	switch (w->kind) {
	case WAIT_PROPOSE: {
		struct node_result res = {.err = err, .resp = NULL};
		if (w->cb.result)
			w->cb.result(w->arg, err, &res);
		break;
	}
	case WAIT_READ:
	case WAIT_MOVE_LEADER:
	case WAIT_DEFRAG:
		if (w->cb.done)
			w->cb.done(w->arg, err);
		break;
	case WAIT_RENEW:
		if (w->cb.ttl)
			w->cb.ttl(w->arg, err, err ? 0 : w->lease_id);
		break;
	case WAIT_TTL:
		if (w->cb.ttl_resp)
			w->cb.ttl_resp(w->arg, err, NULL);
		break;
	case WAIT_MEMBER:
		if (w->cb.members)
			w->cb.members(w->arg, err, NULL, NULL, 0);
		break;
	case WAIT_SNAPSHOT:
		if (w->cb.snap)
			w->cb.snap(w->arg, err, NULL, 0);
		break;
	}
}

void wait_fail_later(struct node_wait *w, int err)
{
	struct node *n = w->n;
	wl_unlink(w);
	plist_unlink(n, w);
	w->err = err;
	w->queued_done = true;
	wl_push(&n->done_head, w);
	node__schedule_ready(n);
}

/* A wait taken off the done queue (or found there by its deadline): a
 * passed barrier goes on with its continuation, anything else is answered
 * with its error. */
static void wait_run_done(struct node_wait *w)
{
	if (w->then && !w->err) {
		void (*then)(struct node_wait *) = w->then;
		w->then = NULL;
		w->queued_done = false;
		then(w);
		return;
	}
	if (w->kind == WAIT_PROPOSE && w->err)
		w->n->m.proposals_failed++;
	wait_call_err(w, w->err);
	wait_finish(w);
}

void node__run_done_queue(struct node *n)
{
	while (n->done_head) {
		struct node_wait *w = n->done_head;
		wl_unlink(w);
		wait_run_done(w);
	}
}

void node_wait_cancel(struct node_wait *w)
{
	if (!w)
		return;
	wait_finish(w);
}

static void deadline_timer_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	uint64_t now = uv_now(n->loop);
	while (n->heap_n && n->heap[0]->deadline <= now) {
		struct node_wait *w = n->heap[0];
		if (w->queued_done) {
			/* Decided already: answered as the done queue would. */
			wl_unlink(w);
			wait_run_done(w);
			continue;
		}
		int err = NODE_ETIMEOUT;
		if (w->kind == WAIT_PROPOSE || w->kind == WAIT_MEMBER) {
			n->m.proposals_failed++;
			if (w->in_list && w->list == &n->retry && !w->index)
				err = NODE_EDEADLINE; /* never reached a leader */
			else if (w->leader_changes != n->m.leader_changes)
				err = NODE_ETIMEOUT_LEADER;
		}
		wait_call_err(w, err);
		wait_finish(w);
	}
	arm_deadline_timer(n);
}

void node__waits_init(struct node *n)
{
	uv_timer_init(n->loop, &n->deadline_timer);
	n->deadline_timer.data = n;
	uint64_t ms = (uint64_t)uv_now(n->loop);
	n->req_prefix = (uint64_t)(uint16_t)n->id << 48;
	n->req_suffix = (ms & ((1ull << 40) - 1)) << 8;
}

void node__waits_close(struct node *n)
{
	/* Everything still waiting learns the server stopped. */
	while (n->heap_n) {
		struct node_wait *w = n->heap[0];
		wait_call_err(w, NODE_ESTOPPED);
		wait_finish(w);
	}
	uv_timer_stop(&n->deadline_timer);
	while (n->free_waits) {
		struct node_wait *w = n->free_waits;
		n->free_waits = w->next;
		bytes_free(&w->fwd);
		free(w);
	}
	u64map_free(&n->waits);
	u64map_free(&n->proposals);
	free(n->heap);
	n->heap = NULL;
	n->heap_n = n->heap_cap = 0;
}

uint64_t node__next_req_id(struct node *n)
{
	/* etcd's idutil.Generator: member ID's low 16 bits, then a 40-bit
	 * millisecond timestamp and an 8-bit counter, incremented. */
	n->req_suffix++;
	return n->req_prefix | (n->req_suffix & ((1ull << 48) - 1));
}

int64_t node_lease_id(struct node *n)
{
	return (int64_t)(node__next_req_id(n) & ((1ull << 63) - 1));
}

/* ---- Proposals --------------------------------------------------------------- */

/* Raft refusals of a proposal, as etcd reports them. Retryable ones give 1. */
int node__raft_err(int rc)
{
	switch (rc) {
	case RAFT_ENOTLEADER:
	case RAFT_ETRANSFER:
	case RAFT_ECONFPENDING:
	case RAFT_ENOTREADY:
		return 1;
	case RAFT_ENOLEADER:
		return NODE_ENOLEADER;
	case RAFT_EOVERLOAD:
		return NODE_ETOO_MANY_REQUESTS;
	case RAFT_EINVAL:
		return NODE_EREQUEST_TOO_LARGE;
	case RAFT_ENOTVOTER:
		return NODE_EBAD_TRANSFEREE;
	default:
		return NODE_ETIMEOUT;
	}
}

/* A conf change the core finds invalid against its configuration, as
 * etcd's ValidateConfigurationChange words it. */
int node__conf_raft_err(int rc, const struct raft_conf_change *cc)
{
	if (rc != RAFT_EINVAL)
		return node__raft_err(rc);
	switch (cc->type) {
	case RAFT_CONF_ADD_VOTER:
	case RAFT_CONF_ADD_LEARNER:
		return STORE_MVCC_EMEMBER_EXISTS;
	case RAFT_CONF_PROMOTE_LEARNER:
		return STORE_MVCC_EMEMBER_NOT_LEARNER;
	default:
		return STORE_MVCC_EMEMBER_NOT_FOUND;
	}
}

int node__propose_local(struct node *n, const uint8_t *data, size_t len, bool conf,
                        const struct raft_conf_change *cc, uint64_t *index, uint64_t *term)
{
	int rc = conf ? raft_propose_conf_change(n->raft, cc, (uint32_t)len, index, term)
	              : raft_propose(n->raft, (uint32_t)len, index, term);
	if (rc)
		return rc;
	node__wal_store(n, *index, *term, conf ? RAFT_ENTRY_CONF_CHANGE : RAFT_ENTRY_NORMAL, data,
	                len);
	node__schedule_ready(n);
	return 0;
}

static int decode_conf_change(const uint8_t *data, size_t len, struct raft_conf_change *cc)
{
	Cairnpb__ConfChange *c = cairnpb__conf_change__unpack(NULL, len, data);
	if (!c)
		return -1;
	memset(cc, 0, sizeof *cc);
	cc->type = (uint8_t)c->type;
	cc->node_id = c->node_id;
	cairnpb__conf_change__free_unpacked(c, NULL);
	return 0;
}

/* Keeps a copy of the packed entry in the wait (for retries and for
 * forwarding). Returns nonzero if the wait failed (out of memory). */
static int keep_entry(struct node_wait *w, const uint8_t *data, size_t len)
{
	if (w->fwd.p == data)
		return 0;
	w->fwd.len = 0;
	if (bytes_reserve(&w->fwd, len)) {
		wait_fail_later(w, -ENOMEM);
		return -1;
	}
	memcpy(w->fwd.p, data, len);
	w->fwd.len = len;
	return 0;
}

/* Places w's entry: proposes it here (leader) or hands it to the leader. */
static void submit(struct node_wait *w, const uint8_t *data, size_t len)
{
	struct node *n = w->n;
	if (n->stopping) {
		wait_fail_later(w, NODE_ESTOPPED);
		return;
	}
	if (n->role == RAFT_LEADER) {
		struct raft_conf_change cc;
		if (w->conf) {
			if (decode_conf_change(data, len, &cc)) {
				wait_fail_later(w, NODE_EINVALID_URLS);
				return;
			}
			int chk = node__member_checks_leader(n, &cc);
			if (chk) {
				wait_fail_later(w, chk);
				return;
			}
		}
		uint64_t index, term;
		int rc = node__propose_local(n, data, len, w->conf, &cc, &index, &term);
		if (rc == 0) {
			w->index = index;
			w->term = term;
			plist_insert(n, w);
			return;
		}
		int err = w->conf ? node__conf_raft_err(rc, &cc) : node__raft_err(rc);
		if (err != 1) {
			wait_fail_later(w, err);
			return;
		}
		/* Transient (transfer, pending conf change): try again. */
		if (keep_entry(w, data, len))
			return;
		wl_push(&n->retry, w);
		return;
	}
	if (keep_entry(w, data, len))
		return;
	if (!n->leader) {
		wl_push(&n->retry, w);
		return;
	}
	node__forward_proposal(w);
}

/* Called every tick: proposals waiting for a leader or for the end of a
 * transfer go out again. */
static void retry_proposals(struct node *n)
{
	if (!n->retry || !n->leader)
		return;
	size_t cnt = 0;
	for (struct node_wait *w = n->retry; w; w = w->next)
		cnt++;
	while (cnt-- && n->retry) {
		struct node_wait *w = n->retry;
		wl_unlink(w);
		submit(w, w->fwd.p, w->fwd.len);
	}
}

void node__retry_later(struct node_wait *w);
void node__retry_later(struct node_wait *w)
{
	wl_unlink(w);
	wl_push(&w->n->retry, w);
}

void node__retry_tick(struct node *n);
void node__retry_tick(struct node *n)
{
	retry_proposals(n);
	/* A read round unanswered for an election timeout is asked again. */
	if (n->round.ctx && uv_now(n->loop) - n->round.started > n->cfg->election_ms) {
		struct node_wait *h = n->round.head;
		n->round.head = NULL;
		n->round.ctx = 0;
		while (h) {
			struct node_wait *w = h;
			h = w->next;
			w->in_list = false;
			w->next = w->prev = NULL;
			wl_push(&n->reads_pending, w);
		}
	}
	if (!n->round.ctx && n->reads_pending) {
		extern void node__start_read_round(struct node * n);
		node__start_read_round(n);
	}
}

static int64_t request_cost(const Cairnpb__InternalRequest *req)
{
	switch (req->request_case) {
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_PUT:
		return store_mvcc_cost_put(req->put);
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_TXN:
		return store_mvcc_cost_txn(req->txn);
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_GRANT:
		return STORE_MVCC_COST_LEASE_GRANT;
	default:
		return 0;
	}
}

static void propose_nospace_alarm(struct node *n)
{
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	if (st.nospace)
		return;
	Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
	a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
	a.memberid = n->id;
	a.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
	Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
	r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM;
	r.alarm = &a;
	LOGW("database space exceeded: activating NOSPACE alarm",
	     LF_I64("quota-size-bytes", st.quota) LF_I64("db-size", st.db_size));
	node__propose_internal(n, &r);
}

static struct node_wait *propose_packed(struct node *n, struct node_wait *w, bool conf,
                                        const uint8_t *data, size_t len)
{
	if (u64map_put(&n->proposals, w->req_id, w)) {
		wait_fail_later(w, -ENOMEM);
		return w;
	}
	w->conf = conf;
	submit(w, data, len);
	return w;
}

static int propose_checks(struct node *n)
{
	if (n->stopping)
		return NODE_ESTOPPED;
	/* No leader: etcd 3.4 waits for one until the request timeout
	 * ("request timed out"), so the wait goes to the retry list. */
	if (n->commit > n->applied + 5000)
		return NODE_ETOO_MANY_REQUESTS;
	return 0;
}

struct node_wait *node_propose(struct node *n, const Cairnpb__InternalRequest *req,
                               uint64_t timeout_ms, node_result_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_PROPOSE, timeout_ms, arg);
	if (!w)
		return NULL;
	w->cb.result = done;
	int err = propose_checks(n);
	if (err) {
		wait_fail_later(w, err);
		return w;
	}
	Cairnpb__InternalRequest copy = *req;
	copy.id = node__next_req_id(n);
	w->req_id = copy.id;
	size_t size = cairnpb__internal_request__get_packed_size(&copy);
	if (size > n->cfg->max_request_bytes) {
		wait_fail_later(w, NODE_EREQUEST_TOO_LARGE);
		return w;
	}
	int64_t cost = request_cost(req);
	if (cost > 0 && !store_mvcc_quota_available(n->mvcc, cost)) {
		propose_nospace_alarm(n);
		wait_fail_later(w, STORE_MVCC_ENOSPACE);
		return w;
	}
	if (req->request_case == CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION && req->compaction &&
	    req->compaction->physical) {
		w->physical = true;
	}
	n->prop_buf.len = 0;
	if (bytes_reserve(&n->prop_buf, size)) {
		wait_fail_later(w, -ENOMEM);
		return w;
	}
	cairnpb__internal_request__pack(&copy, n->prop_buf.p);
	return propose_packed(n, w, false, n->prop_buf.p, size);
}

/* A proposal of the node's own (lease revokes, alarms, attributes): no
 * caller waits; failures are logged. */
void node__propose_internal(struct node *n, const Cairnpb__InternalRequest *req)
{
	struct node_wait *w = node_propose(n, req, 0, NULL, NULL);
	if (w)
		w->internal = true;
}

/* Conf changes (node_member.c) go through here with a packed ConfChange. */
struct node_wait *node__propose_conf(struct node *n, Cairnpb__ConfChange *cc, node_members_fn done,
                                     void *arg);
struct node_wait *node__propose_conf(struct node *n, Cairnpb__ConfChange *cc, node_members_fn done,
                                     void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_MEMBER, 0, arg);
	if (!w)
		return NULL;
	w->cb.members = done;
	int err = propose_checks(n);
	if (err) {
		wait_fail_later(w, err);
		return w;
	}
	cc->id = node__next_req_id(n);
	w->req_id = cc->id;
	w->member_id = cc->node_id;
	size_t size = cairnpb__conf_change__get_packed_size(cc);
	n->prop_buf.len = 0;
	if (bytes_reserve(&n->prop_buf, size)) {
		wait_fail_later(w, -ENOMEM);
		return w;
	}
	cairnpb__conf_change__pack(cc, n->prop_buf.p);
	return propose_packed(n, w, true, n->prop_buf.p, size);
}

/* The leader answered a forwarded proposal. */
void node__forward_result(struct node *n, uint64_t wid, int rpc_code, bool never_sent,
                          const Cairnpeer__ProposeResponse *resp);
void node__forward_result(struct node *n, uint64_t wid, int rpc_code, bool never_sent,
                          const Cairnpeer__ProposeResponse *resp)
{
	struct node_wait *w = u64map_get(&n->waits, wid);
	if (!w || w->queued_done)
		return;
	w->forwarded = false;
	if (rpc_code != RPC_OK) {
		/* Not delivered for sure: try again. Otherwise the outcome is
		 * unknown: keep waiting for the entry (or the deadline). */
		if (never_sent)
			wl_push(&n->retry, w);
		return;
	}
	if (resp->code == 0) {
		w->index = resp->index;
		w->term = resp->term;
		if (resp->index <= n->applied && n->applied) {
			/* Applied already without our ID: lost to a leader change. */
			wait_fail_later(w, NODE_ETIMEOUT_LEADER);
			return;
		}
		plist_insert(n, w);
		return;
	}
	extern int node__error_from_message(const char *msg);
	int err = node__error_from_message(resp->message);
	if (err == NODE_ENOTLEADER || err == NODE_ELEADER_CHANGED) {
		wl_push(&n->retry, w);
		return;
	}
	wait_fail_later(w, err ? err : NODE_ETIMEOUT);
}

void wait_complete_proposal(struct node_wait *w, int err, const ProtobufCMessage *resp)
{
	struct node *n = w->n;
	if (w->internal) {
		if (err)
			LOGW("internal proposal failed", LF_STR("error", node_strerror(err)));
	} else if (w->cb.result) {
		struct node_result res = {.err = err,
		                          .resp = err && err != STORE_MVCC_ENOSPACE ? NULL : resp};
		w->cb.result(w->arg, err, &res);
	}
	(void)n;
	wait_finish(w);
}

/* Entries up to applied are applied: proposals placed at or below it that
 * no apply result matched were overwritten (a leader change). */
void node__proposals_applied(struct node *n, uint64_t applied)
{
	while (n->plist_head && n->plist_head->index <= applied) {
		struct node_wait *w = n->plist_head;
		plist_unlink(n, w);
		n->m.proposals_failed++;
		wait_call_err(w, NODE_ETIMEOUT_LEADER);
		wait_finish(w);
	}
}

/* ---- Linearizable reads ---------------------------------------------------- */

void node__start_read_round(struct node *n);
void node__start_read_round(struct node *n)
{
	if (n->round.ctx || !n->reads_pending || !n->leader || n->stopping)
		return;
	uint64_t ctx = ++n->next_read_ctx;
	if (raft_read_index(n->raft, ctx) != 0)
		return;
	n->round.ctx = ctx;
	n->round.started = uv_now(n->loop);
	while (n->reads_pending) {
		struct node_wait *w = n->reads_pending;
		wl_unlink(w);
		w->read_ctx = ctx;
		wl_push(&n->round.head, w);
	}
	node__schedule_ready(n);
}

struct node_wait *node_read_index(struct node *n, uint64_t timeout_ms, node_done_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_READ, timeout_ms, arg);
	if (!w)
		return NULL;
	w->cb.done = done;
	if (n->stopping) {
		wait_fail_later(w, NODE_ESTOPPED);
		return w;
	}
	wl_push(&n->reads_pending, w);
	node__start_read_round(n);
	return w;
}

void node__on_read_states(struct node *n, const struct raft_read_state *rs, size_t n_rs)
{
	for (size_t i = 0; i < n_rs; i++) {
		if (rs[i].context != n->round.ctx || !n->round.ctx)
			continue;
		struct node_wait *h = n->round.head;
		n->round.head = NULL;
		n->round.ctx = 0;
		while (h) {
			struct node_wait *w = h;
			h = w->next;
			w->in_list = false;
			w->list = NULL;
			w->next = w->prev = NULL;
			if (rs[i].index == 0) {
				/* Leadership lost meanwhile: ask again. */
				wl_push(&n->reads_pending, w);
				continue;
			}
			w->read_index = rs[i].index;
			if (n->applied >= w->read_index) {
				wl_push(&n->done_head, w);
				w->queued_done = true;
				w->err = 0;
			} else {
				wl_push(&n->reads_waiting, w);
			}
		}
	}
	if (n->done_head)
		node__schedule_ready(n);
	/* Reads that queued during the round start the next one. A failed
	 * round is retried at the next tick, not in a tight loop. */
	if (!n->round.ctx && n->reads_pending && n->role == RAFT_LEADER)
		node__start_read_round(n);
}

void node__reads_applied(struct node *n)
{
	/* The passed ones move to a list of their own first: a callback may
	 * add waits to reads_waiting or cancel others (wl_unlink finds them
	 * on either list). */
	struct node_wait *ready = NULL;
	struct node_wait *w = n->reads_waiting;
	while (w) {
		struct node_wait *next = w->next;
		if (w->read_index <= n->applied) {
			wl_unlink(w);
			wl_push(&ready, w);
		}
		w = next;
	}
	while (ready) {
		w = ready;
		wl_unlink(w);
		if (w->then) {
			void (*then)(struct node_wait *) = w->then;
			w->then = NULL;
			then(w);
		} else {
			w->cb.done(w->arg, 0);
			wait_finish(w);
		}
	}
}

/* ---- Barriers (node.h) ----------------------------------------------------- */

uint64_t node__barrier_index(struct node *n, enum node_barrier b)
{
	return b == NODE_BARRIER_COMMITTED ? n->commit : n->answered_index;
}

bool node_barrier_passed(struct node *n, enum node_barrier b)
{
	return n->applied >= node__barrier_index(n, b);
}

void node__wait_applied(struct node_wait *w, uint64_t index, void (*then)(struct node_wait *w))
{
	struct node *n = w->n;
	w->then = then;
	w->read_index = index;
	if (n->stopping) {
		wait_fail_later(w, NODE_ESTOPPED);
		return;
	}
	if (n->applied >= index) {
		/* From the done queue: never from inside the caller's call. */
		wait_fail_later(w, 0);
		return;
	}
	/* The apply thread has every entry up to n->commit queued (or has
	 * handed back its early results, answered_index <= commit): a commit
	 * that raises n->applied to index is on its way, unless the node
	 * stops (the wait then fails with NODE_ESTOPPED) or the deadline
	 * passes first. */
	wl_push(&n->reads_waiting, w);
}

struct node_wait *node_barrier_wait(struct node *n, enum node_barrier b, uint64_t timeout_ms,
                                    node_done_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_READ, timeout_ms, arg);
	if (!w)
		return NULL;
	w->cb.done = done;
	node__wait_applied(w, node__barrier_index(n, b), NULL);
	return w;
}

bool node_compaction_pending(struct node *n)
{
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	return n->early_compact_rev > 0 && n->early_compact_rev > st.compact_revision;
}

int64_t node_current_revision(struct node *n)
{
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	return st.revision > n->answered_rev ? st.revision : n->answered_rev;
}

void node__reads_leader_changed(struct node *n)
{
	/* The round in flight may never be answered: ask the new leader. */
	struct node_wait *h = n->round.head;
	n->round.head = NULL;
	n->round.ctx = 0;
	while (h) {
		struct node_wait *w = h;
		h = w->next;
		w->in_list = false;
		w->list = NULL;
		w->next = w->prev = NULL;
		wl_push(&n->reads_pending, w);
	}
	/* Waiting proposals go out after this Ready (node_ready.c). */
	n->retry_now = true;
	node__schedule_ready(n);
	node__start_read_round(n);
}

void node__retry_proposals(struct node *n);
void node__retry_proposals(struct node *n)
{
	retry_proposals(n);
}

/* ---- Helpers for node_ready.c ------------------------------------------- */

void node__wl_unlink(struct node_wait *w);
void node__wl_unlink(struct node_wait *w)
{
	wl_unlink(w);
}

void node__wl_push_physical(struct node *n, struct node_wait *w);
void node__wl_push_physical(struct node *n, struct node_wait *w)
{
	plist_unlink(n, w);
	wl_push(&n->physical_waits, w);
}

void node__nospace(struct node *n);
void node__nospace(struct node *n)
{
	propose_nospace_alarm(n);
}

void node__wait_ttl_later(struct node_wait *w, int64_t ttl);
void node__wait_ttl_later(struct node_wait *w, int64_t ttl)
{
	w->lease_id = ttl;
	wait_fail_later(w, 0);
}

void wait_set_deadline(struct node_wait *w, uint64_t deadline);
void wait_set_deadline(struct node_wait *w, uint64_t deadline)
{
	struct node *n = w->n;
	heap_remove(n, w);
	w->deadline = deadline;
	heap_push(n, w);
	arm_deadline_timer(n);
}
