/*
 * node_ready.c - the node loop's side of the Raft core: draining Readies in
 * the order raft/raft.h prescribes, tracking which Ready's persistence the
 * WAL has made durable, sending after-persist messages only then, handing
 * committed ranges to the apply thread, and taking its results back.
 *
 *   raft_ready() --messages--------------------------------> peers (now)
 *        |      --snapshot--> store_wal_compact + install job (apply thread)
 *        |      --hard state--> store_wal_save_hard_state (queued)
 *        |      --persist mark + after_persist--> persist ring (seq = WAL queued)
 *        |      --apply range--> apply thread (payloads copied from the WAL)
 *   WAL writer --notify--> wal_async: durable seq -> ring -> messages out,
 *                                     raft_persisted(newest mark)
 *   apply thread --apply_async--> before its commit: answers (early reply),
 *                                 the change feed
 *                                 after it: conf changes, physical
 *                                 compactions, applied index, raft_applied()
 *
 * Entry payloads reach the WAL when they enter the core's log (a proposal,
 * an accepted append), so a Ready's entries are already queued in the WAL;
 * only the core's own empty entries (a new leader's no-op) are stored here.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/node_internal.h"

void node__wal_store(struct node *n, uint64_t index, uint64_t term, uint8_t type, const void *data,
                     size_t len)
{
	/* Entries the core appended itself (a new leader's no-op) that no
	 * Ready has handed out yet: they are empty; store them first. */
	for (uint64_t i = store_wal_last_index(n->wal) + 1; i < index; i++) {
		uint64_t t;
		if (raft_term_at(n->raft, i, &t))
			break;
		struct store_wal_entry ce = {.index = i, .term = t, .type = RAFT_ENTRY_NORMAL};
		if (store_wal_append(n->wal, &ce, 1))
			break;
	}
	struct store_wal_entry e = {
	    .index = index, .term = term, .type = type, .data = data, .len = len};
	int rc = store_wal_append(n->wal, &e, 1);
	if (rc) {
		LOGE("cannot append to the WAL: stopping",
		     LF_U64("index", index) LF_STR("error", store_wal_strerror(rc)));
		node__request_stop(n, 1);
	}
}

static void wal_notify_cb(struct store_wal *w, void *data)
{
	(void)w;
	struct node *n = data;
	uv_async_send(&n->wal_async);
}

static struct persist_rec *persist_push(struct node *n)
{
	if (n->persist_n == n->persist_cap) {
		size_t cap = n->persist_cap ? n->persist_cap * 2 : 64;
		struct persist_rec *v = calloc(cap, sizeof *v);
		if (!v)
			return NULL;
		for (size_t i = 0; i < n->persist_n; i++)
			v[i] = n->persist[(n->persist_head + i) % n->persist_cap];
		/* Slots not in use keep their buffers too. */
		for (size_t i = n->persist_n; i < n->persist_cap; i++)
			v[i] = n->persist[(n->persist_head + i) % n->persist_cap];
		free(n->persist);
		n->persist = v;
		n->persist_head = 0;
		n->persist_cap = cap;
	}
	struct persist_rec *r = &n->persist[(n->persist_head + n->persist_n) % n->persist_cap];
	n->persist_n++;
	r->msgs.len = 0;
	return r;
}

static void send_encoded(struct node *n, const struct bytes *b)
{
	size_t off = 0;
	while (off + 12 <= b->len) {
		uint64_t to;
		uint32_t len;
		memcpy(&to, b->p + off, 8);
		memcpy(&len, b->p + off + 8, 4);
		off += 12;
		node__send_bytes(n, to, b->p + off, len);
		off += len;
	}
}

static void complete_persisted(struct node *n)
{
	struct raft_persist_mark last = {0};
	if (n->persist_n && n->persist[n->persist_head].seq > n->durable_seq) {
		/* The writer may have finished before its notify is seen. */
		struct store_wal_durable d;
		store_wal_durable(n->wal, &d);
		if (!d.error && d.seq > n->durable_seq)
			n->durable_seq = d.seq;
	}
	while (n->persist_n) {
		struct persist_rec *r = &n->persist[n->persist_head];
		if (r->seq > n->durable_seq)
			break;
		if (r->msgs.len)
			send_encoded(n, &r->msgs);
		if (r->mark.seq)
			last = r->mark;
		n->persist_head = (n->persist_head + 1) % n->persist_cap;
		n->persist_n--;
	}
	if (last.seq) {
		raft_persisted(n->raft, &last);
		node__schedule_ready(n);
	}
}

static void wal_async_cb(uv_async_t *a)
{
	struct node *n = a->data;
	if (!n->wal)
		return;
	struct store_wal_durable d;
	store_wal_durable(n->wal, &d);
	if (d.error) {
		LOGE("WAL write failed: stopping", LF_STR("error", store_wal_strerror(d.error)));
		node__request_stop(n, 1);
		return;
	}
	if (d.seq > n->durable_seq)
		n->durable_seq = d.seq;
	complete_persisted(n);
	node__process_ready(n);
}

static void on_soft_state(struct node *n, const struct raft_soft_state *ss)
{
	bool was_leader = n->role == RAFT_LEADER;
	uint64_t old_leader = n->leader;
	n->role = ss->role;
	n->term = ss->term;
	if (ss->leader != old_leader) {
		n->leader = ss->leader;
		if (ss->leader)
			n->m.leader_changes++;
		if (ss->leader)
			LOGI("raft leader changed",
			     LF_HEX("local-member-id", n->id) LF_HEX("leader", ss->leader)
			         LF_U64("term", ss->term));
		else
			LOGI("raft lost leader",
			     LF_HEX("local-member-id", n->id) LF_HEX("lost-leader", old_leader)
			         LF_U64("term", ss->term));
		if (n->leader_fn)
			n->leader_fn(n->leader_arg, ss->leader);
		node__reads_leader_changed(n);
	}
	bool is_leader = ss->role == RAFT_LEADER;
	if (is_leader != was_leader)
		node__leadership_changed(n, was_leader, is_leader);
}

/* The core's own entries (a new leader's no-op) are empty and never went
 * through a proposal: store them before any message names them. */
static void store_core_entries(struct node *n, const struct raft_ready *rd)
{
	uint64_t last = store_wal_last_index(n->wal);
	for (size_t k = 0; k < rd->n_entries; k++) {
		uint64_t idx = rd->entries_first + k;
		if (idx <= last)
			continue;
		if (rd->entries[k].size != 0) {
			LOGE("Ready names an entry the WAL does not hold", LF_U64("index", idx));
			node__request_stop(n, 1);
			return;
		}
		node__wal_store(n, idx, rd->entries[k].term, rd->entries[k].type, NULL, 0);
		last = idx;
	}
}

void node__process_ready(struct node *n)
{
	if (!n->raft || !n->wal)
		return;
	node__run_done_queue(n);
	while (raft_has_ready(n->raft)) {
		struct raft_ready rd;
		raft_ready(n->raft, &rd);
		/* The log first: nothing may propose (a callback of a leader
		 * change, a retried proposal) before the core's own entries of
		 * this Ready are in the WAL, or the next index would leave a gap. */
		if (rd.snapshot)
			node__install_ready(n, rd.snapshot);
		if (rd.n_entries)
			store_core_entries(n, &rd);
		if (rd.soft_state_changed)
			on_soft_state(n, &rd.soft_state);
		for (size_t i = 0; i < rd.n_messages; i++)
			node__send(n, &rd.messages[i]);
		/* Like etcd's MustSync: a change of the commit index alone is not
		 * worth a sync (raft.md C1: the commit index may restart lower;
		 * recovery starts from the store's applied index anyway). It is
		 * written with the next term or vote change. */
		if (rd.hard_state_changed && (rd.hard_state.term != n->saved_hs.term ||
		                              rd.hard_state.vote != n->saved_hs.vote)) {
			struct store_wal_hard_state hs = {.term = rd.hard_state.term,
			                                  .vote = rd.hard_state.vote,
			                                  .commit = rd.hard_state.commit};
			if (node__trace_raft())
				LOGD("save hard state",
				     LF_U64("term", hs.term) LF_HEX("vote", hs.vote)
				         LF_U64("commit", hs.commit));
			n->saved_hs = rd.hard_state;
			int rc = store_wal_save_hard_state(n->wal, &hs);
			if (rc) {
				LOGE("cannot save the hard state: stopping",
				     LF_STR("error", store_wal_strerror(rc)));
				node__request_stop(n, 1);
				return;
			}
		}
		if (rd.hard_state_changed && rd.hard_state.commit > n->commit) {
			n->m.proposals_committed += rd.hard_state.commit - n->commit;
			n->commit = rd.hard_state.commit;
		}
		if (rd.persist.seq || rd.n_after_persist) {
			struct persist_rec *r = persist_push(n);
			if (!r) {
				LOGE("out of memory", LF_END);
				node__request_stop(n, 1);
				return;
			}
			r->mark = rd.persist;
			r->seq = store_wal_queued(n->wal);
			for (size_t i = 0; i < rd.n_after_persist; i++) {
				const struct raft_message *m = &rd.after_persist[i];
				if (bytes_reserve(&r->msgs, 12))
					continue;
				size_t hdr = r->msgs.len;
				r->msgs.len += 12;
				if (node__encode_message(n, m, &r->msgs)) {
					r->msgs.len = hdr;
					continue;
				}
				uint64_t to = m->to;
				uint32_t len = (uint32_t)(r->msgs.len - hdr - 12);
				memcpy(r->msgs.p + hdr, &to, 8);
				memcpy(r->msgs.p + hdr + 8, &len, 4);
			}
		}
		if (rd.apply_first <= rd.apply_last) {
			if (applier_queue_range(n, rd.apply_first, rd.apply_last)) {
				LOGE("cannot queue entries for the apply thread: stopping", LF_END);
				node__request_stop(n, 1);
				return;
			}
			n->queued_apply = rd.apply_last;
		}
		if (rd.n_reads)
			node__on_read_states(n, rd.reads, rd.n_reads);
	}
	complete_persisted(n);
	node__run_done_queue(n);
	/* Proposals that waited for a leader go out now, outside the Ready
	 * loop; their Ready comes on the next pass. */
	if (n->retry && n->leader && n->retry_now) {
		n->retry_now = false;
		extern void node__retry_proposals(struct node * n);
		node__retry_proposals(n);
	}
}

static void ready_idle_cb(uv_idle_t *h)
{
	struct node *n = h->data;
	n->ready_pending = false;
	uv_idle_stop(h);
	node__process_ready(n);
}

void node__schedule_ready(struct node *n)
{
	if (n->ready_pending || n->stopping == 2)
		return;
	n->ready_pending = true;
	uv_idle_start(&n->ready_idle, ready_idle_cb);
}

int node__ready_init(struct node *n)
{
	uv_idle_init(n->loop, &n->ready_idle);
	n->ready_idle.data = n;
	uv_async_init(n->loop, &n->wal_async, wal_async_cb);
	n->wal_async.data = n;
	return 0;
}

void node__ready_close(struct node *n)
{
	for (size_t i = 0; i < n->persist_cap; i++)
		bytes_free(&n->persist[i].msgs);
	free(n->persist);
	n->persist = NULL;
	n->persist_cap = n->persist_n = 0;
}

/* The WAL's notify callback, for store_wal_open(). */
void node__wal_options(struct node *n, struct store_wal_options *o);
void node__wal_options(struct node *n, struct store_wal_options *o)
{
	o->notify_cb = wal_notify_cb;
	o->notify_data = n;
}

/* ---- Results of the apply thread -------------------------------------- */

static void complete_physical(struct node *n)
{
	if (!n->physical_waits)
		return;
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	struct node_wait *w = n->physical_waits;
	while (w) {
		struct node_wait *next = w->next;
		if (st.compacted_revision >= w->compact_rev) {
			/* Answer like a plain compaction: the store's response. */
			Etcdserverpb__CompactionResponse resp =
			    ETCDSERVERPB__COMPACTION_RESPONSE__INIT;
			Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
			h.revision = st.revision;
			resp.header = &h;
			extern void node__wl_unlink(struct node_wait * w);
			node__wl_unlink(w);
			wait_complete_proposal(w, 0, &resp.base);
		}
		w = next;
	}
}

/* A request's result is in: counts it, raises the NOSPACE alarm it asks
 * for, and returns the proposal waiting for it here (NULL if none is, or
 * it is decided already). */
static struct node_wait *result_wait(struct node *n, const struct apply_result *r)
{
	n->m.proposals_applied++;
	struct node_wait *w = u64map_get(&n->proposals, r->req_id);
	if (!w || w->queued_done)
		return NULL;
	if (r->err == STORE_MVCC_ENOSPACE) {
		extern void node__nospace(struct node * n);
		node__nospace(n);
	}
	return w;
}

/*
 * A batch's results before its LMDB commit (node_apply.c, publish_early):
 * the waiting requests are answered now, and the feed goes to the watchers
 * (node.h). Everything the commit makes visible waits for
 * node__on_apply_out: conf changes (their
 * answer lists the members from the store), physical compactions (answered
 * when the removal is committed), raft_applied() and the applied index the
 * reads and barriers use. answered_index records what a read on this
 * member must wait for (NODE_BARRIER_ANSWERED).
 */
void node__on_apply_early(struct node *n, struct apply_out *out)
{
	bool answered = false;
	for (size_t i = 0; i < out->n_early; i++) {
		struct apply_result *r = &out->res[i];
		if (r->kind == RES_REQUEST && r->compact_rev > 0 && !r->err) {
			/* Whoever proposed it, reads here and watches below it
			 * must see it (node_compaction_pending). */
			if (r->compact_rev > n->early_compact_rev)
				n->early_compact_rev = r->compact_rev;
			if (r->index > n->answered_index)
				n->answered_index = r->index;
		}
		if (r->kind != RES_REQUEST || r->physical)
			continue;
		r->answered = true;
		struct node_wait *w = result_wait(n, r);
		if (!w)
			continue;
		if (r->index > n->answered_index)
			n->answered_index = r->index;
		answered = true;
		wait_complete_proposal(w, r->err, r->resp);
	}
	/* A fed revision counts as answered too: a watch from "now" starts
	 * after it. */
	if ((answered || out->feed_early) && out->early_rev > n->answered_rev)
		n->answered_rev = out->early_rev;
	if (!out->feed_early)
		return;
	/* The feed of the batch, before its commit (node.h); if a watcher may
	 * have been sent one of its revisions, reads here wait for the commit. */
	out->feed_next = NULL;
	if (n->feed_pending_tail)
		n->feed_pending_tail->feed_next = out;
	else
		n->feed_pending = out;
	n->feed_pending_tail = out;
	if (out->feed.n_events && n->feed_fn && n->feed_fn(n->feed_arg, &out->feed) &&
	    out->last > n->answered_index)
		n->answered_index = out->last;
}

/* The loop takes out back: its early feed is no longer pending. Outs come
 * back in the order they were published. */
static void feed_pending_done(struct node *n, struct apply_out *out)
{
	if (!out->feed_early || n->feed_pending != out)
		return;
	n->feed_pending = out->feed_next;
	if (!n->feed_pending)
		n->feed_pending_tail = NULL;
	out->feed_next = NULL;
}

const struct store_mvcc_feed *node_feed_pending(struct node *n, size_t i)
{
	struct apply_out *o = n->feed_pending;
	while (o && i--)
		o = o->feed_next;
	return o ? &o->feed : NULL;
}

void node__on_apply_out(struct node *n, struct apply_out *out)
{
	feed_pending_done(n, out);
	if (out->fatal) {
		LOGE("applying committed entries failed: stopping",
		     LF_STR("error", store_mvcc_strerror(out->fatal)));
		node__request_stop(n, 1);
		return;
	}
	if (out->installed) {
		n->installing = false;
		if (out->install_applied > n->applied)
			n->applied = out->install_applied;
		LOGI("applied snapshot", LF_U64("applied-index", out->install_applied));
		node__members_changed(n);
	}
	if (!out->feed_early && out->feed.n_events && n->feed_fn)
		n->feed_fn(n->feed_arg, &out->feed);
	for (size_t i = 0; i < out->n_res; i++) {
		struct apply_result *r = &out->res[i];
		if (r->kind == RES_CONF) {
			node__apply_conf_result(n, r);
			continue;
		}
		if (r->kind != RES_REQUEST || r->answered)
			continue;
		struct node_wait *w = result_wait(n, r);
		if (!w)
			continue;
		if (w->physical && !r->err && r->compact_rev > 0) {
			struct store_mvcc_state st;
			store_mvcc_state(n->mvcc, &st);
			if (st.compacted_revision < r->compact_rev) {
				w->compact_rev = r->compact_rev;
				extern void node__wl_push_physical(struct node * n,
				                                   struct node_wait * w);
				node__wl_push_physical(n, w);
				continue;
			}
		}
		wait_complete_proposal(w, r->err, r->resp);
	}
	if (out->last) {
		if (n->raft)
			raft_applied(n->raft, out->last);
		if (out->last > n->applied)
			n->applied = out->last;
	}
	node__proposals_applied(n, n->applied);
	node__reads_applied(n);
	complete_physical(n);
	node__maybe_snapshot(n);
	if (!n->published)
		node__publish(n);
	node__schedule_ready(n);
}
