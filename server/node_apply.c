/*
 * node_apply.c - the apply thread: committed Raft entries into the MVCC
 * store, many entries per LMDB transaction.
 *
 * The loop copies each committed range out of the WAL (WAL reads are for
 * its owner thread only) into a job; the thread takes every job queued,
 * applies them in one store_mvcc batch (the applied index committed with
 * them, so replay after a restart is a no-op per store/mvcc.h), hands the
 * results (arena responses) to the loop to answer the clients (early reply,
 * publish_early), runs a bounded physical-compaction step, commits, and
 * hands the batch back again with what the commit made visible (decoded
 * conf changes, the applied index), each time with uv_async_send. The
 * change feed goes with the early results (publish_early), or after the
 * commit if the early copy could not be made. The thread never proposes
 * (reference raft.md T4): the loop decides what follows from a result
 * (alarms, conf changes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/node_internal.h"

/* Entries per batch at most: bounds the latency of one commit. */
#define APPLY_MAX_BATCH_ENTRIES 20000

static struct apply_job *job_get(struct applier *ap)
{
	pthread_mutex_lock(&ap->mu);
	struct apply_job *j = ap->free_jobs;
	if (j)
		ap->free_jobs = j->next;
	pthread_mutex_unlock(&ap->mu);
	if (!j && !(j = calloc(1, sizeof *j)))
		return NULL;
	j->next = NULL;
	j->n_ents = 0;
	j->data.len = 0;
	free(j->path);
	j->path = NULL;
	return j;
}

static void job_queue(struct applier *ap, struct apply_job *j)
{
	pthread_mutex_lock(&ap->mu);
	if (ap->tail)
		ap->tail->next = j;
	else
		ap->head = j;
	ap->tail = j;
	pthread_cond_signal(&ap->cv);
	pthread_mutex_unlock(&ap->mu);
}

int applier_queue_range(struct node *n, uint64_t first, uint64_t last)
{
	struct applier *ap = &n->ap;
	struct apply_job *j = job_get(ap);
	if (!j)
		return -ENOMEM;
	j->kind = JOB_APPLY;
	struct store_wal_entry buf[256];
	uint64_t lo = first;
	while (lo <= last) {
		size_t cnt = 0;
		int rc = store_wal_entries(n->wal, lo, last + 1, 0, buf, 256, &cnt);
		if (rc || cnt == 0) {
			LOGE("cannot read committed entries from the WAL",
			     LF_U64("index", lo) LF_STR("error", store_wal_strerror(rc)));
			return rc ? rc : -EIO;
		}
		if (j->n_ents + cnt > j->cap_ents) {
			size_t cap = j->cap_ents ? j->cap_ents : 64;
			while (cap < j->n_ents + cnt)
				cap *= 2;
			struct apply_entry *e = realloc(j->ents, cap * sizeof *e);
			if (!e)
				return -ENOMEM;
			j->ents = e;
			j->cap_ents = cap;
		}
		for (size_t k = 0; k < cnt; k++) {
			if (bytes_reserve(&j->data, buf[k].len))
				return -ENOMEM;
			struct apply_entry *e = &j->ents[j->n_ents++];
			e->index = buf[k].index;
			e->term = buf[k].term;
			e->type = buf[k].type;
			e->len = (uint32_t)buf[k].len;
			e->off = j->data.len;
			if (buf[k].len)
				memcpy(j->data.p + j->data.len, buf[k].data, buf[k].len);
			j->data.len += buf[k].len;
		}
		lo += cnt;
	}
	job_queue(ap, j);
	return 0;
}

int applier_queue_install(struct node *n, const char *path, uint64_t index, uint64_t term)
{
	struct apply_job *j = job_get(&n->ap);
	if (!j)
		return -ENOMEM;
	j->kind = JOB_INSTALL;
	j->path = strdup(path);
	j->snap_index = index;
	j->snap_term = term;
	if (!j->path)
		return -ENOMEM;
	job_queue(&n->ap, j);
	return 0;
}

static struct apply_out *out_get(struct applier *ap)
{
	pthread_mutex_lock(&ap->mu);
	struct apply_out *o = ap->free_outs;
	if (o)
		ap->free_outs = o->next;
	pthread_mutex_unlock(&ap->mu);
	if (!o) {
		o = calloc(1, sizeof *o);
		if (!o)
			return NULL;
		store_mvcc_arena_init(&o->arena, 0);
		store_mvcc_arena_init(&o->feed_arena, 0);
	}
	o->next = NULL;
	o->n_res = 0;
	o->first = o->last = 0;
	o->fatal = 0;
	o->installed = false;
	o->install_applied = 0;
	o->early_next = NULL;
	o->n_early = 0;
	o->early_rev = 0;
	o->feed_early = false;
	memset(&o->feed, 0, sizeof o->feed);
	return o;
}

static struct apply_result *res_push(struct apply_out *o)
{
	if (o->n_res == o->cap_res) {
		size_t cap = o->cap_res ? o->cap_res * 2 : 64;
		struct apply_result *r = realloc(o->res, cap * sizeof *r);
		if (!r)
			return NULL;
		o->res = r;
		o->cap_res = cap;
	}
	struct apply_result *r = &o->res[o->n_res++];
	memset(r, 0, sizeof *r);
	return r;
}

static bool is_etcd_error(int rc)
{
	return rc <= -4201 && rc > -4250;
}

/* Applies one InternalRequest. Returns 0, or a storage error (fatal). */
static int apply_request(struct store_mvcc_batch *b, struct apply_out *o, struct apply_result *r,
                         const Cairnpb__InternalRequest *req)
{
	struct store_mvcc_arena *a = &o->arena;
	r->kind = RES_REQUEST;
	r->req_id = req->id;
	r->req_case = req->request_case;
	int rc = 0;
	switch (req->request_case) {
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_PUT: {
		Etcdserverpb__PutResponse *resp = NULL;
		rc = store_mvcc_put(b, req->put, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_DELETE_RANGE: {
		Etcdserverpb__DeleteRangeResponse *resp = NULL;
		rc = store_mvcc_delete_range(b, req->delete_range, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_TXN: {
		Etcdserverpb__TxnResponse *resp = NULL;
		rc = store_mvcc_txn(b, req->txn, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION: {
		Etcdserverpb__CompactionResponse *resp = NULL;
		rc = store_mvcc_compact(b, req->compaction, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		r->compact_rev = req->compaction->revision;
		r->physical = req->compaction->physical;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_GRANT: {
		Etcdserverpb__LeaseGrantResponse *resp = NULL;
		rc = store_mvcc_lease_grant(b, req->lease_grant, node_mono_ns(), a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_REVOKE: {
		Etcdserverpb__LeaseRevokeResponse *resp = NULL;
		rc = store_mvcc_lease_revoke(b, req->lease_revoke, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_CHECKPOINT: {
		Etcdserverpb__LeaseCheckpointResponse *resp = NULL;
		rc =
		    store_mvcc_lease_checkpoint(b, req->lease_checkpoint, node_mono_ns(), a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM: {
		Etcdserverpb__AlarmResponse *resp = NULL;
		rc = store_mvcc_alarm(b, req->alarm, a, &resp);
		r->resp = resp ? &resp->base : NULL;
		break;
	}
	case CAIRNPB__INTERNAL_REQUEST__REQUEST_MEMBER_ATTRIBUTES: {
		const Cairnpb__MemberAttributes *m = req->member_attributes;
		rc = store_mvcc_member_set_attributes(b, m->id, m->name, m->client_urls,
		                                      m->n_client_urls);
		break;
	}
	default:
		/* An empty request: the node's own no-op (node_member.c). */
		return 0;
	}
	if (rc == 0 || is_etcd_error(rc)) {
		r->err = rc;
		return 0;
	}
	if (rc == STORE_MVCC_EAPPLIED) {
		r->kind = RES_NOOP;
		return 0;
	}
	return rc;
}

static int apply_conf(struct store_mvcc_batch *b, struct apply_out *o, struct apply_result *r,
                      const Cairnpb__ConfChange *c, bool skipped)
{
	(void)o;
	r->kind = RES_CONF;
	r->req_id = c->id;
	r->cc.type = (uint8_t)c->type;
	r->cc.node_id = c->node_id;
	r->member = c->member;
	if (skipped) {
		r->cc_apply = true;
		return 0;
	}
	int rc = 0;
	switch (c->type) {
	case RAFT_CONF_ADD_VOTER:
	case RAFT_CONF_ADD_LEARNER:
		if (!c->member) {
			rc = STORE_MVCC_EMEMBER_NOT_FOUND;
			break;
		}
		c->member->islearner = c->type == RAFT_CONF_ADD_LEARNER;
		c->member->id = c->node_id;
		rc = store_mvcc_member_add(b, c->member);
		break;
	case RAFT_CONF_PROMOTE_LEARNER:
		rc = store_mvcc_member_promote(b, c->node_id);
		break;
	case RAFT_CONF_REMOVE_NODE:
		rc = store_mvcc_member_remove(b, c->node_id);
		break;
	case RAFT_CONF_UPDATE_NODE:
		rc = store_mvcc_member_update(b, c->node_id, c->member ? c->member->peerurls : NULL,
		                              c->member ? c->member->n_peerurls : 0);
		break;
	default:
		rc = STORE_MVCC_EMEMBER_NOT_FOUND;
	}
	if (rc == 0) {
		r->cc_apply = true;
		return 0;
	}
	if (is_etcd_error(rc)) {
		r->err = rc;
		return 0;
	}
	if (rc == STORE_MVCC_EAPPLIED) {
		r->cc_apply = true;
		return 0;
	}
	return rc;
}

static void record_commit(struct applier *ap, uint64_t ns)
{
	double s = (double)ns / 1e9;
	size_t k = 0;
	uint64_t bound = 1000000; /* 1 ms */
	while (k < 14 && ns > bound) {
		bound *= 2;
		k++;
	}
	pthread_mutex_lock(&ap->mu);
	ap->commit_buckets[k]++;
	ap->commit_count++;
	ap->commit_sum += s;
	pthread_mutex_unlock(&ap->mu);
}

/*
 * Early reply: the batch's results go to the loop now, before the commit
 * and its fdatasync, so the clients waiting for them are answered while the
 * data pages reach the disk. Each entry is committed (durable on a quorum
 * of WALs) and its result is a function of the log up to it: a crash before
 * the commit below replays the entries from the WAL, with the same results.
 * The change feed goes with them (watchers hear of a write no later than
 * its writer, as on etcd), by the same argument: the events are a function
 * of the log. What the commit makes visible (read contexts, the lessor, the
 * applied index) is still handed over only with the committed out; the
 * barriers in node.h keep reads on this member from missing an answered
 * write or a delivered event meanwhile. From here on neither thread writes
 * o->res, o->arena, o->feed or o->feed_arena until the loop has taken the
 * committed out.
 */
static void publish_early(struct applier *ap, struct store_mvcc_batch *b, struct apply_out *o,
                          bool feed)
{
	if (!o->n_res)
		return;
	o->n_early = o->n_res;
	o->early_rev = store_mvcc_batch_revision(b);
	/* Without memory for it, the feed waits for the commit instead. */
	o->feed_early = feed && store_mvcc_batch_feed(b, &o->feed) == 0;
	pthread_mutex_lock(&ap->mu);
	if (ap->early_tail)
		ap->early_tail->early_next = o;
	else
		ap->early_head = o;
	ap->early_tail = o;
	uint64_t delay = ap->commit_delay_ms;
	pthread_mutex_unlock(&ap->mu);
	uv_async_send(&ap->async);
	if (delay) {
		/* Fault injection (tests): widen the window between the answers
		 * and the commit that makes them visible. */
		struct timespec ts = {.tv_sec = (time_t)(delay / 1000),
		                      .tv_nsec = (long)(delay % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
}

static void apply_jobs(struct applier *ap, struct apply_job *jobs, struct apply_out *o, bool feed)
{
	struct node *n = ap->n;
	struct store_mvcc_batch *b = NULL;
	unsigned flags = feed ? (STORE_MVCC_FEED | STORE_MVCC_FEED_PREV_KV) : 0;
	int rc = store_mvcc_batch_begin(n->mvcc, flags, &o->feed_arena, &b);
	if (rc) {
		o->fatal = rc;
		return;
	}
	ProtobufCAllocator alloc = store_mvcc_arena_allocator(&o->arena);
	for (struct apply_job *j = jobs; j; j = j->next) {
		for (size_t i = 0; i < j->n_ents; i++) {
			const struct apply_entry *e = &j->ents[i];
			rc = store_mvcc_batch_entry(b, e->index, e->term);
			if (rc < 0)
				goto fail;
			bool skipped = rc == 1;
			if (!o->first)
				o->first = e->index;
			o->last = e->index;
			struct apply_result *r = res_push(o);
			if (!r) {
				rc = -ENOMEM;
				goto fail;
			}
			r->index = e->index;
			r->term = e->term;
			if (e->len == 0)
				continue;
			const uint8_t *data = j->data.p + e->off;
			if (e->type == RAFT_ENTRY_CONF_CHANGE) {
				Cairnpb__ConfChange *c =
				    cairnpb__conf_change__unpack(&alloc, e->len, data);
				if (!c) {
					LOGE("undecodable conf change entry",
					     LF_U64("index", e->index));
					continue;
				}
				rc = apply_conf(b, o, r, c, skipped);
				if (rc)
					goto fail;
				continue;
			}
			if (skipped)
				continue;
			Cairnpb__InternalRequest *req =
			    cairnpb__internal_request__unpack(&alloc, e->len, data);
			if (!req) {
				LOGE("undecodable entry", LF_U64("index", e->index));
				continue;
			}
			rc = apply_request(b, o, r, req);
			if (rc)
				goto fail;
		}
	}
	publish_early(ap, b, o, feed);
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	ap->compacting = false;
	if (st.compacted_revision < st.compact_revision) {
		rc = store_mvcc_compact_step(b, 0);
		if (rc < 0)
			goto fail;
		ap->compacting = rc == 1;
	}
	int64_t t0 = node_mono_ns();
	rc = store_mvcc_batch_commit(b, o->feed_early ? NULL : &o->feed);
	b = NULL;
	record_commit(ap, (uint64_t)(node_mono_ns() - t0));
	if (rc)
		goto fail;
	/* A compaction committed in this batch leaves physical work. */
	store_mvcc_state(n->mvcc, &st);
	if (st.compacted_revision < st.compact_revision)
		ap->compacting = true;
	return;
fail:
	if (b)
		store_mvcc_batch_abort(b);
	o->fatal = rc ? rc : -EIO;
	if (!o->feed_early)
		memset(&o->feed, 0, sizeof o->feed);
}

static void *apply_main(void *arg)
{
	struct applier *ap = arg;
	struct node *n = ap->n;
	pthread_mutex_lock(&ap->mu);
	for (;;) {
		while (!ap->head && !ap->compacting)
			pthread_cond_wait(&ap->cv, &ap->mu);
		struct apply_job *jobs = NULL, **tailp = &jobs;
		bool stop = false, install = false;
		size_t ents = 0;
		while (ap->head) {
			struct apply_job *j = ap->head;
			if (j->kind == JOB_STOP) {
				stop = !jobs;
				break;
			}
			if (j->kind == JOB_INSTALL) {
				if (!jobs) {
					install = true;
					ap->head = j->next;
					if (!ap->head)
						ap->tail = NULL;
					j->next = NULL;
					jobs = j;
				}
				break;
			}
			if (jobs && ents + j->n_ents > APPLY_MAX_BATCH_ENTRIES)
				break;
			ap->head = j->next;
			if (!ap->head)
				ap->tail = NULL;
			j->next = NULL;
			*tailp = j;
			tailp = &j->next;
			ents += j->n_ents;
		}
		if (stop)
			break;
		bool feed = ap->feed;
		pthread_mutex_unlock(&ap->mu);

		struct apply_out *o = out_get(ap);
		if (!o) {
			pthread_mutex_lock(&ap->mu);
			continue;
		}
		if (install) {
			int rc = store_mvcc_install(n->mvcc, jobs->path);
			if (rc) {
				LOGE("cannot install the snapshot",
				     LF_STR("path", jobs->path)
				         LF_STR("error", store_mvcc_strerror(rc)));
				o->fatal = rc;
			} else {
				struct store_mvcc_state st;
				store_mvcc_state(n->mvcc, &st);
				o->installed = true;
				o->install_applied = st.applied_index;
				ap->compacting = st.compacted_revision < st.compact_revision;
			}
		} else {
			apply_jobs(ap, jobs, o, feed);
		}

		pthread_mutex_lock(&ap->mu);
		while (jobs) {
			struct apply_job *j = jobs;
			jobs = j->next;
			j->next = ap->free_jobs;
			ap->free_jobs = j;
		}
		if (ap->done_tail)
			ap->done_tail->next = o;
		else
			ap->done_head = o;
		ap->done_tail = o;
		if (o->fatal)
			ap->compacting = false;
		uv_async_send(&ap->async);
		if (o->fatal) {
			/* Stop applying: the log still holds the entries. */
			while (!ap->head || ap->head->kind != JOB_STOP)
				pthread_cond_wait(&ap->cv, &ap->mu);
			break;
		}
	}
	pthread_mutex_unlock(&ap->mu);
	return NULL;
}

static void apply_async_cb(uv_async_t *a)
{
	struct applier *ap = a->data;
	struct node *n = ap->n;
	for (;;) {
		/* An out is queued early before it is queued done, and the early
		 * queue is emptied in the same critical section that takes the
		 * next done out: its early results are always handled first. */
		pthread_mutex_lock(&ap->mu);
		struct apply_out *early = ap->early_head;
		ap->early_head = ap->early_tail = NULL;
		struct apply_out *o = ap->done_head;
		if (o) {
			ap->done_head = o->next;
			if (!ap->done_head)
				ap->done_tail = NULL;
		}
		pthread_mutex_unlock(&ap->mu);
		while (early) {
			struct apply_out *e = early;
			early = e->early_next;
			node__on_apply_early(n, e);
		}
		if (!o) {
			pthread_mutex_lock(&ap->mu);
			bool more = ap->early_head || ap->done_head;
			pthread_mutex_unlock(&ap->mu);
			if (!more)
				break;
			continue;
		}
		node__on_apply_out(n, o);
		store_mvcc_arena_reset(&o->arena);
		store_mvcc_arena_reset(&o->feed_arena);
		pthread_mutex_lock(&ap->mu);
		o->next = ap->free_outs;
		ap->free_outs = o;
		pthread_mutex_unlock(&ap->mu);
	}
}

int applier_start(struct node *n)
{
	struct applier *ap = &n->ap;
	ap->n = n;
	pthread_mutex_init(&ap->mu, NULL);
	pthread_cond_init(&ap->cv, NULL);
	uv_async_init(n->loop, &ap->async, apply_async_cb);
	ap->async.data = ap;
	struct store_mvcc_state st;
	store_mvcc_state(n->mvcc, &st);
	ap->compacting = st.compacted_revision < st.compact_revision;
	if (pthread_create(&ap->thread, NULL, apply_main, ap))
		return -errno;
	ap->started = true;
	return 0;
}

void applier_stop(struct node *n)
{
	struct applier *ap = &n->ap;
	if (!ap->started)
		return;
	struct apply_job *j = job_get(ap);
	if (j) {
		j->kind = JOB_STOP;
		job_queue(ap, j);
	}
	pthread_join(ap->thread, NULL);
	ap->started = false;
	/* Results not yet taken by the loop are dropped: the entries are
	 * in the WAL and the store is consistent at its last commit. */
	struct apply_out *lists[2] = {ap->done_head, ap->free_outs};
	for (int k = 0; k < 2; k++) {
		while (lists[k]) {
			struct apply_out *o = lists[k];
			lists[k] = o->next;
			store_mvcc_arena_destroy(&o->arena);
			store_mvcc_arena_destroy(&o->feed_arena);
			free(o->res);
			free(o);
		}
	}
	ap->done_head = ap->done_tail = ap->free_outs = NULL;
	ap->early_head = ap->early_tail = NULL; /* every one is on a list above */
	n->feed_pending = n->feed_pending_tail = NULL;
	struct apply_job *jl[2] = {ap->head, ap->free_jobs};
	for (int k = 0; k < 2; k++) {
		while (jl[k]) {
			struct apply_job *x = jl[k];
			jl[k] = x->next;
			free(x->ents);
			bytes_free(&x->data);
			free(x->path);
			free(x);
		}
	}
	ap->head = ap->tail = ap->free_jobs = NULL;
}
