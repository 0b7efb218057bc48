/*
 * node_member.c - cluster membership as Raft configuration changes, with
 * etcd 3.4's checks (etcdserver/server.go mayAddMember, mayRemoveMember,
 * mayPromoteMember; membership/cluster.go IsReadyTo*): with
 * --strict-reconfig-check (the default) a voter is added or removed only
 * if enough started members remain and every voter has been connected for
 * 5 s; a learner is promoted only when its match index reaches 90 % of the
 * leader's (checked on the leader). A member publishes its name and client
 * URLs once it runs (MemberAttributes); a member that applies its own
 * removal stops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/node_internal.h"

#define HEALTH_INTERVAL_MS 5000

struct node_wait *node__propose_conf(struct node *n, Cairnpb__ConfChange *cc, node_members_fn done,
                                     void *arg);

struct members_view {
	struct store_mvcc_arena a;
	struct store_mvcc_read *rd;
	Etcdserverpb__Member **ms;
	size_t n;
};

static int view_open(struct node *n, struct members_view *v)
{
	memset(v, 0, sizeof *v);
	store_mvcc_arena_init(&v->a, 0);
	int rc = store_mvcc_read_begin(n->mvcc, &v->rd);
	if (rc)
		return rc;
	return store_mvcc_members(v->rd, &v->a, &v->ms, &v->n);
}

static void view_close(struct members_view *v)
{
	if (v->rd)
		store_mvcc_read_end(v->rd);
	store_mvcc_arena_destroy(&v->a);
}

static bool started(const Etcdserverpb__Member *m)
{
	return m->name && m->name[0];
}

static int check_urls(char *const *urls, size_t n)
{
	if (!n)
		return NODE_EINVALID_URLS;
	for (size_t i = 0; i < n; i++) {
		struct cairn_url u;
		char err[256];
		if (cairn_url_parse(urls[i], &u, err, sizeof err))
			return NODE_EINVALID_URLS;
	}
	return 0;
}

/* isConnectedFullySince(now - 5 s) over the voters. */
static int connected_voters(struct node *n, const struct members_view *v, size_t *nvoters)
{
	uint64_t now = uv_now(n->loop);
	uint64_t since = now > HEALTH_INTERVAL_MS ? now - HEALTH_INTERVAL_MS : 0;
	int cnt = 0;
	*nvoters = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (v->ms[i]->islearner)
			continue;
		(*nvoters)++;
		if (node__peer_active_since(n, v->ms[i]->id, since))
			cnt++;
	}
	return cnt;
}

/* A refused change answers through the done queue, never synchronously. */
static struct node_wait *propose_or_fail(struct node *n, int err, Cairnpb__ConfChange *cc,
                                         node_members_fn done, void *arg)
{
	if (!err)
		return node__propose_conf(n, cc, done, arg);
	struct node_wait *w = wait_new(n, WAIT_MEMBER, 0, arg);
	if (w) {
		w->cb.members = done;
		wait_fail_later(w, err);
	}
	return w;
}

struct node_wait *node_member_add(struct node *n, char *const *peer_urls, size_t n_urls,
                                  bool is_learner, node_members_fn done, void *arg)
{
	int err = check_urls(peer_urls, n_urls);
	struct members_view v;
	if (!err && n->cfg->strict_reconfig_check && view_open(n, &v) == 0) {
		if (!is_learner) {
			/* IsReadyToAddVotingMember */
			size_t nmembers = 1, nstarted = 0;
			for (size_t i = 0; i < v.n; i++) {
				if (v.ms[i]->islearner)
					continue;
				nmembers++;
				if (started(v.ms[i]))
					nstarted++;
			}
			if (!(nstarted == 1 && nmembers == 2) && nstarted < nmembers / 2 + 1)
				err = NODE_ENOT_ENOUGH_STARTED;
		}
		size_t nv;
		if (!err && (size_t)connected_voters(n, &v, &nv) != nv)
			err = NODE_EUNHEALTHY;
		view_close(&v);
	}
	Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
	m.id =
	    cairn_member_id(peer_urls, n_urls, n->cfg->initial_cluster_token, (int64_t)time(NULL));
	m.peerurls = (char **)peer_urls;
	m.n_peerurls = n_urls;
	m.islearner = is_learner;
	Cairnpb__ConfChange cc = CAIRNPB__CONF_CHANGE__INIT;
	cc.type = is_learner ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_ADD_VOTER;
	cc.node_id = m.id;
	cc.member = &m;
	return propose_or_fail(n, err, &cc, done, arg);
}

struct node_wait *node_member_remove(struct node *n, uint64_t id, node_members_fn done, void *arg)
{
	int err = 0;
	struct members_view v;
	if (view_open(n, &v) == 0) {
		const Etcdserverpb__Member *target = NULL;
		for (size_t i = 0; i < v.n; i++)
			if (v.ms[i]->id == id)
				target = v.ms[i];
		if (!target)
			err = STORE_MVCC_EMEMBER_NOT_FOUND;
		else if (n->cfg->strict_reconfig_check && !target->islearner) {
			/* IsReadyToRemoveVotingMember */
			size_t nmembers = 0, nstarted = 0;
			for (size_t i = 0; i < v.n; i++) {
				if (v.ms[i]->islearner || v.ms[i]->id == id)
					continue;
				nmembers++;
				if (started(v.ms[i]))
					nstarted++;
			}
			if (nstarted < nmembers / 2 + 1)
				err = NODE_ENOT_ENOUGH_STARTED;
			/* A member that is down is safe to remove; otherwise
			 * the voters left must keep a quorum connected. */
			bool down = id != n->id && !node__peer_active_since(n, id, UINT64_MAX);
			size_t nv;
			int active = connected_voters(n, &v, &nv);
			if (!err && !down && (size_t)(active - 1) < 1 + (nv - 1) / 2)
				err = NODE_EUNHEALTHY;
		}
		view_close(&v);
	}
	Cairnpb__ConfChange cc = CAIRNPB__CONF_CHANGE__INIT;
	cc.type = RAFT_CONF_REMOVE_NODE;
	cc.node_id = id;
	return propose_or_fail(n, err, &cc, done, arg);
}

struct node_wait *node_member_update(struct node *n, uint64_t id, char *const *peer_urls,
                                     size_t n_urls, node_members_fn done, void *arg)
{
	int err = check_urls(peer_urls, n_urls);
	struct members_view v;
	if (!err && view_open(n, &v) == 0) {
		bool found = false;
		for (size_t i = 0; i < v.n; i++)
			found |= v.ms[i]->id == id;
		if (!found)
			err = STORE_MVCC_EMEMBER_NOT_FOUND;
		view_close(&v);
	}
	Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
	m.id = id;
	m.peerurls = (char **)peer_urls;
	m.n_peerurls = n_urls;
	Cairnpb__ConfChange cc = CAIRNPB__CONF_CHANGE__INIT;
	cc.type = RAFT_CONF_UPDATE_NODE;
	cc.node_id = id;
	cc.member = &m;
	return propose_or_fail(n, err, &cc, done, arg);
}

struct node_wait *node_member_promote(struct node *n, uint64_t id, node_members_fn done, void *arg)
{
	int err = 0;
	struct members_view v;
	if (view_open(n, &v) == 0) {
		const Etcdserverpb__Member *target = NULL;
		for (size_t i = 0; i < v.n; i++)
			if (v.ms[i]->id == id)
				target = v.ms[i];
		if (!target)
			err = STORE_MVCC_EMEMBER_NOT_FOUND;
		else if (!target->islearner)
			err = STORE_MVCC_EMEMBER_NOT_LEARNER;
		view_close(&v);
	}
	Cairnpb__ConfChange cc = CAIRNPB__CONF_CHANGE__INIT;
	cc.type = RAFT_CONF_PROMOTE_LEARNER;
	cc.node_id = id;
	return propose_or_fail(n, err, &cc, done, arg);
}

/* On the leader, before proposing: the learner must be in sync (etcd's
 * isLearnerReady: match >= 90 % of the leader's). */
int node__member_checks_leader(struct node *n, const struct raft_conf_change *cc)
{
	if (cc->type != RAFT_CONF_PROMOTE_LEARNER)
		return 0;
	struct raft_progress me, pr;
	if (raft_progress_get(n->raft, n->id, &me))
		return NODE_ENOTLEADER;
	if (raft_progress_get(n->raft, cc->node_id, &pr))
		return STORE_MVCC_EMEMBER_NOT_FOUND;
	if (!pr.learner)
		return STORE_MVCC_EMEMBER_NOT_LEARNER;
	if ((double)pr.match < (double)me.match * 0.9)
		return NODE_ELEARNER_NOT_READY;
	return 0;
}

/* A conf-change entry was applied (node_ready.c, in log order). */
void node__apply_conf_result(struct node *n, const struct apply_result *r)
{
	if (r->cc_apply && n->raft) {
		int rc = raft_conf_change_apply(n->raft, r->index, &r->cc);
		if (rc && rc != RAFT_EINVAL)
			LOGW("raft_conf_change_apply failed",
			     LF_U64("index", r->index) LF_STR("error", raft_strerror(rc)));
	}
	if (r->cc_apply) {
		static const char *names[] = {"add voter", "add learner", "promote learner",
		                              "remove", "update"};
		LOGI("applied membership change",
		     LF_STR("change", r->cc.type < 5 ? names[r->cc.type] : "?")
		         LF_HEX("member-id", r->cc.node_id) LF_U64("index", r->index));
		if (r->cc.type == RAFT_CONF_REMOVE_NODE) {
			if (r->cc.node_id == n->id) {
				LOGW("the member has been permanently removed from the cluster",
				     LF_HEX("local-member-id", n->id));
				n->removed = true;
				node__request_stop(n, 0);
			} else {
				node__peer_remove(n, r->cc.node_id);
			}
		} else if (r->member && r->member->n_peerurls) {
			node__peer_ensure(n, r->cc.node_id, r->member->peerurls,
			                  r->member->n_peerurls);
		}
		if (r->cc.node_id == n->id && r->cc.type == RAFT_CONF_PROMOTE_LEARNER)
			n->is_learner = false;
		if (r->cc.node_id == n->id && r->cc.type == RAFT_CONF_ADD_LEARNER)
			n->is_learner = true;
	}
	struct node_wait *w = r->req_id ? u64map_get(&n->proposals, r->req_id) : NULL;
	if (!w || w->queued_done)
		return;
	if (r->err) {
		n->m.proposals_failed++;
		if (w->cb.members)
			w->cb.members(w->arg, r->err, NULL, NULL, 0);
		wait_finish(w);
		return;
	}
	struct members_view v;
	int rc = view_open(n, &v);
	const Etcdserverpb__Member *added = NULL;
	for (size_t i = 0; !rc && i < v.n; i++)
		if (v.ms[i]->id == w->member_id)
			added = v.ms[i];
	if (w->cb.members)
		w->cb.members(
		    w->arg, rc,
		    (r->cc.type == RAFT_CONF_ADD_VOTER || r->cc.type == RAFT_CONF_ADD_LEARNER)
		        ? added
		        : NULL,
		    rc ? NULL : v.ms, rc ? 0 : v.n);
	view_close(&v);
	wait_finish(w);
}

/* ---- Publishing this member's attributes --------------------------------------- */

static void publish_done(void *arg, int err, const struct node_result *res)
{
	(void)res;
	struct node *n = arg;
	n->publish_wid = 0;
	if (!err) {
		n->published = true;
		LOGI("published local member to cluster through raft",
		     LF_HEX("local-member-id", n->id) LF_STR("name", n->name));
	}
}

void node__publish(struct node *n)
{
	if (n->published || n->publish_wid || !n->leader || n->stopping)
		return;
	/* Already published with these values (a restart)? */
	struct members_view v;
	bool known = false, same = false;
	if (view_open(n, &v) == 0) {
		for (size_t i = 0; i < v.n; i++) {
			const Etcdserverpb__Member *m = v.ms[i];
			if (m->id != n->id)
				continue;
			known = true;
			same = m->name && !strcmp(m->name, n->name) &&
			       m->n_clienturls == n->cfg->advertise_client_urls.n;
			for (size_t k = 0; same && k < m->n_clienturls; k++)
				same =
				    !strcmp(m->clienturls[k], n->cfg->advertise_client_urls.v[k]);
		}
	}
	view_close(&v);
	if (!known)
		return; /* not yet in the applied configuration (joining) */
	if (same) {
		n->published = true;
		return;
	}
	Cairnpb__MemberAttributes ma = CAIRNPB__MEMBER_ATTRIBUTES__INIT;
	ma.id = n->id;
	ma.name = n->name;
	ma.client_urls = n->cfg->advertise_client_urls.v;
	ma.n_client_urls = n->cfg->advertise_client_urls.n;
	Cairnpb__InternalRequest r = CAIRNPB__INTERNAL_REQUEST__INIT;
	r.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_MEMBER_ATTRIBUTES;
	r.member_attributes = &ma;
	struct node_wait *w = node_propose(n, &r, 0, publish_done, n);
	if (w)
		n->publish_wid = w->wid;
}
