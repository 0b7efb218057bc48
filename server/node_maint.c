/*
 * node_maint.c - maintenance: MoveLeader (raft_transfer_leadership, done
 * once the target leads), Defragment and Snapshot on libuv's worker pool so
 * the loop never waits on the disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"
#include "server/node_internal.h"

void wait_set_deadline(struct node_wait *w, uint64_t deadline);

/* ---- MoveLeader ---------------------------------------------------------------- */

struct move_ctx {
	struct node *n;
	uint64_t wid;
	uv_timer_t t;
};

static void move_closed(uv_handle_t *h)
{
	free(h->data);
}

static void move_poll(uv_timer_t *t)
{
	struct move_ctx *c = t->data;
	struct node *n = c->n;
	struct node_wait *w = u64map_get(&n->waits, c->wid);
	if (w && !w->queued_done && n->leader != w->target && n->role == RAFT_LEADER &&
	    !n->stopping) {
		struct raft_status st;
		raft_status_get(n->raft, &st);
		if (st.transferee == w->target)
			return; /* still transferring */
	}
	if (w && !w->queued_done) {
		int err = n->leader == w->target ? 0 : NODE_ETIMEOUT;
		if (w->cb.done)
			w->cb.done(w->arg, err);
		wait_finish(w);
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, move_closed);
}

struct node_wait *node_move_leader(struct node *n, uint64_t target, node_done_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_MOVE_LEADER, 0, arg);
	if (!w)
		return NULL;
	w->cb.done = done;
	w->target = target;
	if (n->role != RAFT_LEADER) {
		wait_fail_later(w, NODE_ENOTLEADER);
		return w;
	}
	struct raft_conf c;
	raft_conf_get(n->raft, &c);
	bool voter = false;
	for (size_t i = 0; i < c.n_voters; i++)
		voter |= c.voters[i] == target;
	if (!voter || target == n->id) {
		wait_fail_later(w, target == n->id ? 0 : NODE_EBAD_TRANSFEREE);
		return w;
	}
	int rc = raft_transfer_leadership(n->raft, target);
	if (rc) {
		wait_fail_later(w, rc == RAFT_ENOTLEADER ? NODE_ENOTLEADER : NODE_EBAD_TRANSFEREE);
		return w;
	}
	LOGI("leadership transfer requested", LF_HEX("transferee", target));
	node__schedule_ready(n);
	struct move_ctx *mc = malloc(sizeof *mc);
	if (!mc)
		return w; /* the deadline answers */
	mc->n = n;
	mc->wid = w->wid;
	uv_timer_init(n->loop, &mc->t);
	mc->t.data = mc;
	uv_timer_start(&mc->t, move_poll, 20, 20);
	return w;
}

/* ---- Defragment ----------------------------------------------------------------- */

struct work_ctx {
	struct node *n;
	uint64_t wid;
	uv_work_t work;
	int rc;
	char path[4096];
	uint64_t size;
};

static void defrag_work(uv_work_t *w)
{
	struct work_ctx *c = w->data;
	c->rc = store_mvcc_defrag(c->n->mvcc);
}

static void defrag_after(uv_work_t *w, int status)
{
	struct work_ctx *c = w->data;
	struct node_wait *wt = u64map_get(&c->n->waits, c->wid);
	int rc = status ? status : c->rc;
	if (rc)
		LOGW("defragment failed", LF_STR("error", store_mvcc_strerror(rc)));
	else
		LOGI("defragmented the store", LF_END);
	if (wt && !wt->queued_done) {
		if (wt->cb.done)
			wt->cb.done(wt->arg, rc);
		wait_finish(wt);
	}
	free(c);
}

struct node_wait *node_defragment(struct node *n, node_done_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_DEFRAG, 0, arg);
	if (!w)
		return NULL;
	w->cb.done = done;
	/* A large store takes longer than a request timeout to copy. */
	wait_set_deadline(w, uv_now(n->loop) + 10ull * 60 * 1000);
	struct work_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		wait_fail_later(w, -ENOMEM);
		return w;
	}
	c->n = n;
	c->wid = w->wid;
	c->work.data = c;
	if (uv_queue_work(n->loop, &c->work, defrag_work, defrag_after)) {
		free(c);
		wait_fail_later(w, -EAGAIN);
	}
	return w;
}

/* ---- Snapshot ------------------------------------------------------------------- */

static void snap_work(uv_work_t *w)
{
	struct work_ctx *c = w->data;
	c->rc = store_mvcc_snapshot_save(c->n->mvcc, c->path, &c->size);
}

static void snap_after(uv_work_t *w, int status)
{
	struct work_ctx *c = w->data;
	struct node_wait *wt = u64map_get(&c->n->waits, c->wid);
	int rc = status ? status : c->rc;
	if (wt && !wt->queued_done) {
		if (wt->cb.snap)
			wt->cb.snap(wt->arg, rc, rc ? NULL : c->path, rc ? 0 : c->size);
		wait_finish(wt);
	} else if (!rc) {
		unlink(c->path); /* nobody to stream it */
	}
	free(c);
}

/* Every write this member answered is visible (NODE_BARRIER_ANSWERED): as
 * etcd's Snapshot, which commits its backend's batch first. */
static void snap_start(struct node_wait *w)
{
	struct node *n = w->n;
	struct work_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		wait_fail_later(w, -ENOMEM);
		return;
	}
	static uint64_t seq;
	c->n = n;
	c->wid = w->wid;
	snprintf(c->path, sizeof c->path, "%s/client-%d-%" PRIu64 ".db", n->snap_dir, (int)getpid(),
	         ++seq);
	c->work.data = c;
	if (uv_queue_work(n->loop, &c->work, snap_work, snap_after)) {
		free(c);
		wait_fail_later(w, -EAGAIN);
	}
}

struct node_wait *node_snapshot(struct node *n, node_snapshot_fn done, void *arg)
{
	struct node_wait *w = wait_new(n, WAIT_SNAPSHOT, 0, arg);
	if (!w)
		return NULL;
	w->cb.snap = done;
	wait_set_deadline(w, uv_now(n->loop) + 10ull * 60 * 1000);
	node__wait_applied(w, node__barrier_index(n, NODE_BARRIER_ANSWERED), snap_start);
	return w;
}
