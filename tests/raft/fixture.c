/*
 * tests/raft/fixture.c - the hand-driven cluster behind the scenario tests.
 *
 * See fixture.h for the commands. The host logic mirrors the simulator's
 * (tests/sim/host.c) without randomness: payloads are short strings, the
 * network is one FIFO queue, and a disk writes at once unless held.
 */
#include "tests/raft/fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX 9

struct fentry {
	uint64_t term;
	uint8_t type;
	char *data;
};

struct flog {
	uint64_t base;
	uint64_t base_term;
	struct fentry *v;
	size_t n;
	size_t cap;
};

struct fsnap {
	uint64_t index;
	uint64_t term;
	uint64_t voters[FX_MAX];
	size_t nv;
	uint64_t learners[FX_MAX];
	size_t nl;
	char *applied;
};

struct fmsg {
	struct raft_message m;
	struct raft_entry *ents;
	struct fsnap *snap;
};

struct fjob {
	struct raft_persist_mark mark;
	bool hs_changed;
	struct raft_hard_state hs;
	bool has_snap;
	struct fsnap snap;
	uint64_t first;
	struct fentry *ents;
	size_t n;
	struct fmsg *after;
	size_t n_after;
};

struct fnode {
	uint64_t id;
	bool exists;
	bool alive;
	struct raft *r;
	struct flog cache;
	struct flog disk;
	struct raft_hard_state hs;
	struct fsnap snap;
	bool held;
	struct fjob *jobs;
	size_t n_jobs;
	char *applied;
	uint64_t applied_index;
	struct fsnap rx;
	bool has_rx;
	uint8_t role;
};

struct fx {
	struct fnode nodes[FX_MAX + 1];
	struct raft_config cfg;
	struct fmsg *net;
	size_t n_net;
	size_t cap_net;
	bool isolated[FX_MAX + 1];
	char *out;
	size_t out_len;
	size_t out_cap;
	char *took;
	bool failed;
};

/* ---- Small helpers -------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xrealloc(NULL, n);
	memcpy(d, s, n);
	return d;
}

static void out(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct fx *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (f->out_len + (size_t)n + 1 > f->out_cap) {
		f->out_cap = (f->out_len + (size_t)n + 1) * 2;
		f->out = xrealloc(f->out, f->out_cap);
	}
	va_start(ap, fmt);
	vsnprintf(f->out + f->out_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	f->out_len += (size_t)n;
}

static int fail(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct fx *f, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	out(f, "ERROR: %s\n", buf);
	f->failed = true;
	return -1;
}

static void append_word(char **s, const char *w)
{
	size_t a = *s ? strlen(*s) : 0, b = strlen(w);
	*s = xrealloc(*s, a + b + 2);
	if (a)
		(*s)[a++] = ' ';
	memcpy(*s + a, w, b + 1);
}

/* ---- Host logs ------------------------------------------------------------ */

static uint64_t flog_last(const struct flog *l)
{
	return l->base + l->n;
}

static struct fentry *flog_at(struct flog *l, uint64_t i)
{
	return i <= l->base || i > flog_last(l) ? NULL : &l->v[i - l->base - 1];
}

static void flog_truncate(struct flog *l, uint64_t from)
{
	while (l->n && flog_last(l) >= from) {
		free(l->v[l->n - 1].data);
		l->n--;
	}
}

static void flog_append(struct flog *l, uint64_t term, uint8_t type, const char *data)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].term = term;
	l->v[l->n].type = type;
	l->v[l->n].data = xstrdup(data);
	l->n++;
}

static void flog_compact(struct flog *l, uint64_t upto)
{
	if (upto <= l->base)
		return;
	if (upto > flog_last(l)) {
		flog_truncate(l, 0);
		l->base = upto;
		return;
	}
	size_t drop = (size_t)(upto - l->base);
	l->base_term = l->v[drop - 1].term;
	for (size_t i = 0; i < drop; i++)
		free(l->v[i].data);
	memmove(l->v, l->v + drop, (l->n - drop) * sizeof *l->v);
	l->n -= drop;
	l->base = upto;
}

static void flog_free(struct flog *l)
{
	flog_truncate(l, 0);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static void flog_copy(struct flog *d, struct flog *s)
{
	flog_free(d);
	d->base = s->base;
	d->base_term = s->base_term;
	for (size_t i = 0; i < s->n; i++)
		flog_append(d, s->v[i].term, s->v[i].type, s->v[i].data);
}

static void flog_install(struct flog *l, const struct fsnap *s)
{
	struct fentry *e = flog_at(l, s->index);
	if (e && e->term == s->term) {
		flog_compact(l, s->index);
	} else {
		flog_truncate(l, 0);
		l->base = s->index;
		l->base_term = s->term;
	}
}

static void fsnap_copy(struct fsnap *d, const struct fsnap *s)
{
	free(d->applied);
	*d = *s;
	d->applied = s->applied ? xstrdup(s->applied) : NULL;
}

/* ---- Messages ------------------------------------------------------------- */

static void fmsg_free(struct fmsg *m)
{
	for (size_t k = 0; k < m->m.n_entries; k++)
		free((void *)m->ents[k].data);
	free(m->ents);
	if (m->snap) {
		free(m->snap->applied);
		free(m->snap);
	}
}

static void fmsg_build(struct fx *f, struct fnode *n, const struct raft_message *m, struct fmsg *o)
{
	memset(o, 0, sizeof *o);
	o->m = *m;
	if (m->n_entries) {
		o->ents = xrealloc(NULL, m->n_entries * sizeof *o->ents);
		for (size_t k = 0; k < m->n_entries; k++) {
			struct fentry *e = flog_at(&n->cache, m->index + 1 + k);
			o->ents[k] = m->entries[k];
			o->ents[k].data = xstrdup(e ? e->data : "?");
			if (!e || e->term != m->entries[k].term)
				fail(f, "node %llu: append names an entry its log lacks",
				     (unsigned long long)n->id);
		}
		o->m.entries = o->ents;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		o->snap = xrealloc(NULL, sizeof *o->snap);
		memset(o->snap, 0, sizeof *o->snap);
		fsnap_copy(o->snap, &n->snap);
		o->m.snapshot.conf.voters = o->snap->voters;
		o->m.snapshot.conf.learners = o->snap->learners;
	}
}

static void net_push(struct fx *f, struct fmsg *m)
{
	if (f->n_net == f->cap_net) {
		f->cap_net = f->cap_net ? f->cap_net * 2 : 64;
		f->net = xrealloc(f->net, f->cap_net * sizeof *f->net);
	}
	f->net[f->n_net++] = *m;
}

static const char *short_type(int t)
{
	return raft_message_type_name(t);
}

static void print_msg(struct fx *f, const struct raft_message *m)
{
	out(f, "%llu->%llu %s term=%llu", (unsigned long long)m->from, (unsigned long long)m->to,
	    short_type(m->type), (unsigned long long)m->term);
	switch (m->type) {
	case RAFT_MSG_APPEND:
		out(f, " prev=%llu/%llu commit=%llu", (unsigned long long)m->log_term,
		    (unsigned long long)m->index, (unsigned long long)m->commit);
		if (m->n_entries) {
			out(f, " [");
			for (size_t k = 0; k < m->n_entries; k++)
				out(f, "%s%llu/%llu%s%s", k ? " " : "",
				    (unsigned long long)m->entries[k].term,
				    (unsigned long long)(m->index + 1 + k),
				    *(const char *)m->entries[k].data ? ":" : "",
				    (const char *)m->entries[k].data);
			out(f, "]");
		}
		break;
	case RAFT_MSG_APPEND_RESPONSE:
		out(f, " index=%llu", (unsigned long long)m->index);
		if (m->reject)
			out(f, " REJECT hint=%llu/%llu", (unsigned long long)m->log_term,
			    (unsigned long long)m->reject_hint);
		break;
	case RAFT_MSG_HEARTBEAT:
		out(f, " commit=%llu ctx=%llu", (unsigned long long)m->commit,
		    (unsigned long long)m->context);
		break;
	case RAFT_MSG_HEARTBEAT_RESPONSE:
		out(f, " ctx=%llu", (unsigned long long)m->context);
		break;
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PRE_VOTE:
		out(f, " last=%llu/%llu%s", (unsigned long long)m->log_term,
		    (unsigned long long)m->index, m->transfer ? " transfer" : "");
		break;
	case RAFT_MSG_VOTE_RESPONSE:
	case RAFT_MSG_PRE_VOTE_RESPONSE:
		out(f, "%s", m->reject ? " REJECT" : " granted");
		break;
	case RAFT_MSG_SNAPSHOT:
		out(f, " snapshot=%llu/%llu", (unsigned long long)m->snapshot.term,
		    (unsigned long long)m->snapshot.index);
		break;
	case RAFT_MSG_READ_INDEX:
		out(f, " ctx=%llu", (unsigned long long)m->context);
		break;
	case RAFT_MSG_READ_INDEX_RESPONSE:
		out(f, " ctx=%llu index=%llu%s", (unsigned long long)m->context,
		    (unsigned long long)m->index, m->reject ? " REJECT" : "");
		break;
	default:
		break;
	}
	out(f, "\n");
}

/* ---- Nodes ---------------------------------------------------------------- */

static struct fnode *node(struct fx *f, uint64_t id)
{
	if (id < 1 || id > FX_MAX || !f->nodes[id].exists)
		return NULL;
	return &f->nodes[id];
}

static int boot(struct fx *f, struct fnode *n)
{
	flog_copy(&n->cache, &n->disk);
	free(n->applied);
	n->applied = n->snap.applied ? xstrdup(n->snap.applied) : NULL;
	n->applied_index = n->snap.index;
	n->has_rx = false;
	struct raft_entry *ents = xrealloc(NULL, (n->disk.n + 1) * sizeof *ents);
	for (size_t k = 0; k < n->disk.n; k++) {
		ents[k].term = n->disk.v[k].term;
		ents[k].type = n->disk.v[k].type;
		ents[k].size = (uint32_t)strlen(n->disk.v[k].data);
		ents[k].data = NULL;
	}
	struct raft_boot b;
	memset(&b, 0, sizeof b);
	b.hard_state = n->hs;
	b.snapshot.index = n->snap.index;
	b.snapshot.term = n->snap.term;
	b.snapshot.conf.voters = n->snap.voters;
	b.snapshot.conf.n_voters = n->snap.nv;
	b.snapshot.conf.learners = n->snap.learners;
	b.snapshot.conf.n_learners = n->snap.nl;
	b.log_index = n->disk.base;
	b.log_term = n->disk.base_term;
	b.entries = ents;
	b.n_entries = n->disk.n;
	b.applied = n->snap.index;
	b.conf = b.snapshot.conf;
	struct raft_config cfg = f->cfg;
	cfg.id = n->id;
	cfg.seed = n->id;
	int rc = raft_create(&n->r, &cfg, &b);
	free(ents);
	if (rc)
		return fail(f, "raft_create(%llu): %s", (unsigned long long)n->id,
		            raft_strerror(rc));
	n->alive = true;
	n->role = RAFT_FOLLOWER;
	return 0;
}

static void job_free(struct fjob *j)
{
	for (size_t k = 0; k < j->n; k++)
		free(j->ents[k].data);
	free(j->ents);
	for (size_t k = 0; k < j->n_after; k++)
		fmsg_free(&j->after[k]);
	free(j->after);
	free(j->snap.applied);
}

static void crash(struct fnode *n)
{
	if (!n->alive)
		return;
	raft_destroy(n->r);
	n->r = NULL;
	n->alive = false;
	for (size_t k = 0; k < n->n_jobs; k++)
		job_free(&n->jobs[k]);
	n->n_jobs = 0;
	flog_free(&n->cache);
}

static void complete_job(struct fx *f, struct fnode *n, struct fjob *j)
{
	if (j->has_snap) {
		fsnap_copy(&n->snap, &j->snap);
		flog_install(&n->disk, &j->snap);
	}
	if (j->first) {
		flog_truncate(&n->disk, j->first);
		for (size_t k = 0; k < j->n; k++)
			flog_append(&n->disk, j->ents[k].term, j->ents[k].type, j->ents[k].data);
	}
	if (j->hs_changed)
		n->hs = j->hs;
	for (size_t k = 0; k < j->n_after; k++)
		net_push(f, &j->after[k]);
	j->n_after = 0;
	if (j->mark.seq) {
		int rc = raft_persisted(n->r, &j->mark);
		if (rc)
			fail(f, "raft_persisted(%llu): %s", (unsigned long long)n->id,
			     raft_strerror(rc));
	}
	job_free(j);
}

static void apply(struct fx *f, struct fnode *n, uint64_t idx)
{
	struct fentry *e = flog_at(&n->cache, idx);
	if (!e) {
		fail(f, "node %llu: apply %llu not in log", (unsigned long long)n->id,
		     (unsigned long long)idx);
		return;
	}
	n->applied_index = idx;
	if (e->type == RAFT_ENTRY_CONF_CHANGE) {
		struct raft_conf_change cc = {0};
		unsigned t = 0;
		unsigned long long id = 0;
		sscanf(e->data, "cc%u:%llu", &t, &id);
		cc.type = (uint8_t)t;
		cc.node_id = id;
		int rc = raft_conf_change_apply(n->r, idx, &cc);
		out(f, "%llu applies conf change %s at %llu%s%s\n", (unsigned long long)n->id,
		    e->data, (unsigned long long)idx, rc ? ": " : "", rc ? raft_strerror(rc) : "");
	}
	append_word(&n->applied, *e->data ? e->data : "-");
}

static void process(struct fx *f, struct fnode *n)
{
	while (n->alive && raft_has_ready(n->r)) {
		struct raft_ready rd;
		raft_ready(n->r, &rd);
		if (rd.soft_state_changed && rd.soft_state.role != n->role) {
			out(f, "%llu becomes %s at term %llu\n", (unsigned long long)n->id,
			    raft_role_name((enum raft_role)rd.soft_state.role),
			    (unsigned long long)rd.soft_state.term);
			n->role = rd.soft_state.role;
		}
		for (size_t k = 0; k < rd.n_entries; k++)
			if (rd.entries_first + k > flog_last(&n->cache))
				flog_append(&n->cache, rd.entries[k].term, rd.entries[k].type, "");
		for (size_t k = 0; k < rd.n_messages; k++) {
			struct fmsg m;
			fmsg_build(f, n, &rd.messages[k], &m);
			net_push(f, &m);
		}
		if (rd.snapshot) {
			if (!n->has_rx || n->rx.index != rd.snapshot->index) {
				fail(f, "node %llu: installs a snapshot it did not receive",
				     (unsigned long long)n->id);
				return;
			}
			free(n->applied);
			n->applied = n->rx.applied ? xstrdup(n->rx.applied) : NULL;
			n->applied_index = n->rx.index;
			flog_install(&n->cache, &n->rx);
			out(f, "%llu installs snapshot %llu/%llu\n", (unsigned long long)n->id,
			    (unsigned long long)n->rx.term, (unsigned long long)n->rx.index);
		}
		if (rd.persist.seq || rd.n_after_persist) {
			n->jobs = xrealloc(n->jobs, (n->n_jobs + 1) * sizeof *n->jobs);
			struct fjob *j = &n->jobs[n->n_jobs];
			memset(j, 0, sizeof *j);
			j->mark = rd.persist;
			j->hs_changed = rd.hard_state_changed;
			j->hs = rd.hard_state;
			if (rd.snapshot) {
				j->has_snap = true;
				fsnap_copy(&j->snap, &n->rx);
			}
			j->first = rd.entries_first;
			j->n = rd.n_entries;
			j->ents = xrealloc(NULL, (rd.n_entries + 1) * sizeof *j->ents);
			for (size_t k = 0; k < rd.n_entries; k++) {
				struct fentry *e = flog_at(&n->cache, rd.entries_first + k);
				j->ents[k].term = e->term;
				j->ents[k].type = e->type;
				j->ents[k].data = xstrdup(e->data);
			}
			j->n_after = rd.n_after_persist;
			j->after = xrealloc(NULL, (rd.n_after_persist + 1) * sizeof *j->after);
			for (size_t k = 0; k < rd.n_after_persist; k++)
				fmsg_build(f, n, &rd.after_persist[k], &j->after[k]);
			n->n_jobs++;
			if (!n->held) {
				struct fjob done = n->jobs[--n->n_jobs];
				complete_job(f, n, &done);
			}
		}
		if (rd.snapshot)
			n->has_rx = false;
		for (uint64_t i = rd.apply_first; i <= rd.apply_last; i++)
			apply(f, n, i);
		if (rd.apply_last >= rd.apply_first)
			raft_applied(n->r, rd.apply_last);
		for (size_t k = 0; k < rd.n_reads; k++)
			out(f, "%llu read ctx=%llu index=%llu%s\n", (unsigned long long)n->id,
			    (unsigned long long)rd.reads[k].context,
			    (unsigned long long)rd.reads[k].index,
			    rd.reads[k].index ? "" : " (failed)");
	}
}

static void process_all(struct fx *f)
{
	for (uint64_t id = 1; id <= FX_MAX; id++)
		if (f->nodes[id].exists && f->nodes[id].alive)
			process(f, &f->nodes[id]);
}

static void deliver(struct fx *f, struct fmsg *m)
{
	struct fnode *to = node(f, m->m.to);
	bool cut = f->isolated[m->m.from] || f->isolated[m->m.to];
	if (!to || !to->alive || cut) {
		fmsg_free(m);
		return;
	}
	print_msg(f, &m->m);
	if (m->m.type == RAFT_MSG_SNAPSHOT) {
		fsnap_copy(&to->rx, m->snap);
		to->has_rx = true;
	}
	struct raft_accept acc;
	int rc = raft_step(to->r, &m->m, &acc);
	if (rc)
		out(f, "  step error: %s\n", raft_strerror(rc));
	if (m->m.type == RAFT_MSG_APPEND && acc.count) {
		flog_truncate(&to->cache, acc.index);
		for (size_t k = 0; k < acc.count; k++) {
			const struct raft_entry *e = &m->m.entries[acc.first + k];
			flog_append(&to->cache, e->term, e->type, e->data);
		}
	}
	if (m->m.type == RAFT_MSG_SNAPSHOT) {
		struct fnode *from = node(f, m->m.from);
		if (from && from->alive)
			raft_snapshot_sent(from->r, m->m.to, true);
	}
	fmsg_free(m);
	process(f, to);
}

/* ---- Commands ------------------------------------------------------------- */

struct args {
	char *v[16];
	int n;
};

static void split(char *line, struct args *a)
{
	a->n = 0;
	for (char *t = strtok(line, " \t"); t && a->n < 16; t = strtok(NULL, " \t"))
		a->v[a->n++] = t;
}

static bool kv(const char *arg, const char *key, unsigned long long *val)
{
	size_t k = strlen(key);
	if (strncmp(arg, key, k) != 0 || arg[k] != '=')
		return false;
	*val = strtoull(arg + k + 1, NULL, 10);
	return true;
}

static int msg_type(const char *name)
{
	for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++)
		if (!strcmp(name, raft_message_type_name(t)))
			return t;
	return -1;
}

static struct fnode *need(struct fx *f, struct args *a, int i)
{
	if (i >= a->n) {
		fail(f, "%s: missing node id", a->v[0]);
		return NULL;
	}
	struct fnode *n = node(f, strtoull(a->v[i], NULL, 10));
	if (!n || !n->alive) {
		fail(f, "%s: no live node %s", a->v[0], a->v[i]);
		return NULL;
	}
	return n;
}

static void print_status(struct fx *f, struct fnode *n)
{
	if (!n->alive) {
		out(f, "%llu: down\n", (unsigned long long)n->id);
		return;
	}
	struct raft_status st;
	raft_status_get(n->r, &st);
	out(f, "%llu: %s term=%llu vote=%llu leader=%llu commit=%llu applied=%llu last=%llu/%llu\n",
	    (unsigned long long)n->id, raft_role_name((enum raft_role)st.role),
	    (unsigned long long)st.term, (unsigned long long)st.vote, (unsigned long long)st.leader,
	    (unsigned long long)st.commit, (unsigned long long)st.applied,
	    (unsigned long long)st.last_term, (unsigned long long)st.last_index);
}

static int cmd_cluster(struct fx *f, struct args *a)
{
	if (a->n < 2)
		return fail(f, "cluster N");
	unsigned long long n = strtoull(a->v[1], NULL, 10), v;
	if (n < 1 || n > FX_MAX)
		return fail(f, "cluster: 1..%d nodes", FX_MAX);
	raft_config_init(&f->cfg, 1);
	f->cfg.max_inflight_bytes = 0;
	for (int i = 2; i < a->n; i++) {
		if (kv(a->v[i], "pre_vote", &v))
			f->cfg.pre_vote = v;
		else if (kv(a->v[i], "check_quorum", &v))
			f->cfg.check_quorum = v;
		else if (kv(a->v[i], "lease", &v))
			f->cfg.read_mode = v ? RAFT_READ_LEASE : RAFT_READ_SAFE;
		else if (kv(a->v[i], "election", &v))
			f->cfg.election_ticks = (unsigned)v;
		else if (kv(a->v[i], "heartbeat", &v))
			f->cfg.heartbeat_ticks = (unsigned)v;
		else if (kv(a->v[i], "max_msg", &v))
			f->cfg.max_msg_bytes = v;
		else if (kv(a->v[i], "inflight", &v))
			f->cfg.max_inflight_msgs = (unsigned)v;
		else if (kv(a->v[i], "uncommitted", &v))
			f->cfg.max_uncommitted_bytes = v;
		else
			return fail(f, "cluster: unknown option %s", a->v[i]);
	}
	for (uint64_t id = 1; id <= n; id++) {
		struct fnode *nd = &f->nodes[id];
		nd->exists = true;
		nd->id = id;
		for (uint64_t k = 1; k <= n; k++)
			nd->snap.voters[nd->snap.nv++] = k;
		if (boot(f, nd))
			return -1;
	}
	return 0;
}

static int cmd_deliver(struct fx *f, struct args *a, bool drop)
{
	unsigned long long from = 0, to = 0, max = ~0ull, v;
	int type = -1;
	for (int i = 1; i < a->n; i++) {
		if (kv(a->v[i], "from", &v))
			from = v;
		else if (kv(a->v[i], "to", &v))
			to = v;
		else if (kv(a->v[i], "n", &v))
			max = v;
		else if (!strncmp(a->v[i], "type=", 5) && (type = msg_type(a->v[i] + 5)) >= 0)
			continue;
		else
			return fail(f, "%s: bad argument %s", a->v[0], a->v[i]);
	}
	/* Take the matching messages out first: delivering queues more. */
	struct fmsg *take = xrealloc(NULL, (f->n_net + 1) * sizeof *take);
	size_t nt = 0, keep = 0;
	for (size_t i = 0; i < f->n_net; i++) {
		struct fmsg *m = &f->net[i];
		bool match = (!from || m->m.from == from) && (!to || m->m.to == to) &&
		             (type < 0 || m->m.type == type) && nt < max;
		if (match)
			take[nt++] = *m;
		else
			f->net[keep++] = *m;
	}
	f->n_net = keep;
	for (size_t i = 0; i < nt; i++) {
		if (drop) {
			out(f, "dropped ");
			print_msg(f, &take[i].m);
			fmsg_free(&take[i]);
		} else {
			deliver(f, &take[i]);
		}
	}
	free(take);
	return 0;
}

static int cmd_stabilize(struct fx *f)
{
	for (int round = 0; round < 1000; round++) {
		process_all(f);
		if (f->n_net == 0)
			return 0;
		struct args a = {.v = {"deliver"}, .n = 1};
		cmd_deliver(f, &a, false);
	}
	return fail(f, "stabilize: no quiescence after 1000 rounds");
}

static int cmd_conf(struct fx *f, struct args *a)
{
	struct fnode *n = need(f, a, 1);
	if (!n)
		return -1;
	if (a->n < 4)
		return fail(f, "conf ID TYPE NODE");
	static const char *const types[] = {"add-voter", "add-learner", "promote", "remove",
	                                    "update"};
	int t = -1;
	for (int k = 0; k < 5; k++)
		if (!strcmp(a->v[2], types[k]))
			t = k;
	if (t < 0)
		return fail(f, "conf: unknown change %s", a->v[2]);
	unsigned long long id = strtoull(a->v[3], NULL, 10);
	char data[64];
	snprintf(data, sizeof data, "cc%d:%llu", t, id);
	struct raft_conf_change cc = {.type = (uint8_t)t, .node_id = id};
	uint64_t index, term;
	int rc = raft_propose_conf_change(n->r, &cc, (uint32_t)strlen(data), &index, &term);
	if (rc) {
		out(f, "conf %s %llu: %s\n", a->v[2], id, raft_strerror(rc));
		return 0;
	}
	flog_append(&n->cache, term, RAFT_ENTRY_CONF_CHANGE, data);
	out(f, "conf %s %llu at %llu/%llu\n", a->v[2], id, (unsigned long long)term,
	    (unsigned long long)index);
	process(f, n);
	return 0;
}

static int cmd_snapshot(struct fx *f, struct fnode *n)
{
	struct fentry *e = flog_at(&n->cache, n->applied_index);
	uint64_t term = e ? e->term : n->cache.base_term;
	struct raft_conf c;
	raft_conf_get(n->r, &c);
	struct fsnap s = {.index = n->applied_index, .term = term};
	s.nv = c.n_voters;
	s.nl = c.n_learners;
	for (size_t k = 0; k < c.n_voters; k++)
		s.voters[k] = c.voters[k];
	for (size_t k = 0; k < c.n_learners; k++)
		s.learners[k] = c.learners[k];
	s.applied = n->applied;
	struct raft_snapshot_meta meta = {.index = s.index, .term = term, .conf = c};
	int rc = raft_snapshot_available(n->r, &meta);
	if (rc)
		return fail(f, "snapshot: %s", raft_strerror(rc));
	fsnap_copy(&n->snap, &s);
	out(f, "%llu snapshot at %llu/%llu\n", (unsigned long long)n->id, (unsigned long long)term,
	    (unsigned long long)s.index);
	return 0;
}

static int expect(struct fx *f, struct args *a)
{
	struct fnode *n = need(f, a, 1);
	if (!n || a->n < 3)
		return fail(f, "%s ID VALUE", a->v[0]);
	struct raft_status st;
	raft_status_get(n->r, &st);
	if (!strcmp(a->v[0], "expect-role")) {
		const char *role = raft_role_name((enum raft_role)st.role);
		if (strcmp(role, a->v[2]))
			return fail(f, "node %s is %s, expected %s", a->v[1], role, a->v[2]);
		return 0;
	}
	unsigned long long want = strtoull(a->v[2], NULL, 10);
	uint64_t got = !strcmp(a->v[0], "expect-term") ? st.term : st.commit;
	if (got != want)
		return fail(f, "%s %s: got %llu, want %llu", a->v[0], a->v[1],
		            (unsigned long long)got, want);
	return 0;
}

static int exec_args(struct fx *f, struct args *a)
{
	const char *c = a->v[0];
	struct fnode *n;
	unsigned long long v;
	if (!strcmp(c, "cluster"))
		return cmd_cluster(f, a);
	if (!strcmp(c, "add-node")) {
		v = a->n > 1 ? strtoull(a->v[1], NULL, 10) : 0;
		if (v < 1 || v > FX_MAX || f->nodes[v].exists)
			return fail(f, "add-node: bad id");
		f->nodes[v].exists = true;
		f->nodes[v].id = v;
		return boot(f, &f->nodes[v]);
	}
	if (!strcmp(c, "tick") || !strcmp(c, "elapse")) {
		if (!(n = need(f, a, 1)))
			return -1;
		unsigned k = a->n > 2 ? (unsigned)atoi(a->v[2]) : 1;
		if (!strcmp(c, "elapse"))
			k = 2 * f->cfg.election_ticks;
		for (unsigned i = 0; i < k; i++) {
			raft_tick(n->r);
			process(f, n);
			if (!strcmp(c, "elapse") && n->role != RAFT_FOLLOWER)
				break;
		}
		return 0;
	}
	if (!strcmp(c, "campaign")) {
		if (!(n = need(f, a, 1)))
			return -1;
		int rc = raft_campaign(n->r);
		if (rc)
			out(f, "campaign: %s\n", raft_strerror(rc));
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "propose")) {
		if (!(n = need(f, a, 1)))
			return -1;
		const char *data = a->n > 2 ? a->v[2] : "x";
		uint64_t index, term;
		int rc = raft_propose(n->r, (uint32_t)strlen(data), &index, &term);
		if (rc) {
			out(f, "propose %s: %s\n", data, raft_strerror(rc));
			return 0;
		}
		flog_append(&n->cache, term, RAFT_ENTRY_NORMAL, data);
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "conf"))
		return cmd_conf(f, a);
	if (!strcmp(c, "read")) {
		if (!(n = need(f, a, 1)) || a->n < 3)
			return fail(f, "read ID CTX...");
		/* Several contexts are queued before the next Ready. */
		for (int i = 2; i < a->n; i++) {
			int rc = raft_read_index(n->r, strtoull(a->v[i], NULL, 10));
			if (rc)
				out(f, "read %s: %s\n", a->v[i], raft_strerror(rc));
		}
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "transfer")) {
		if (!(n = need(f, a, 1)) || a->n < 3)
			return fail(f, "transfer ID TARGET");
		int rc = raft_transfer_leadership(n->r, strtoull(a->v[2], NULL, 10));
		if (rc)
			out(f, "transfer: %s\n", raft_strerror(rc));
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "snapshot")) {
		if (!(n = need(f, a, 1)))
			return -1;
		return cmd_snapshot(f, n);
	}
	if (!strcmp(c, "compact")) {
		if (!(n = need(f, a, 1)) || a->n < 3)
			return fail(f, "compact ID INDEX");
		v = strtoull(a->v[2], NULL, 10);
		int rc = raft_compact(n->r, v);
		if (rc)
			return fail(f, "compact: %s", raft_strerror(rc));
		flog_compact(&n->cache, v);
		flog_compact(&n->disk, v);
		return 0;
	}
	if (!strcmp(c, "deliver") || !strcmp(c, "drop"))
		return cmd_deliver(f, a, c[1] == 'r');
	if (!strcmp(c, "stabilize"))
		return cmd_stabilize(f);
	if (!strcmp(c, "isolate")) {
		v = a->n > 1 ? strtoull(a->v[1], NULL, 10) : 0;
		if (v < 1 || v > FX_MAX)
			return fail(f, "isolate ID");
		f->isolated[v] = true;
		return 0;
	}
	if (!strcmp(c, "heal")) {
		memset(f->isolated, 0, sizeof f->isolated);
		return 0;
	}
	if (!strcmp(c, "hold-disk")) {
		if (!(n = need(f, a, 1)))
			return -1;
		n->held = true;
		return 0;
	}
	if (!strcmp(c, "release-disk")) {
		if (!(n = need(f, a, 1)))
			return -1;
		size_t k = a->n > 2 ? (size_t)atoi(a->v[2]) : n->n_jobs;
		if (k > n->n_jobs)
			k = n->n_jobs;
		for (size_t i = 0; i < k; i++)
			complete_job(f, n, &n->jobs[i]);
		memmove(n->jobs, n->jobs + k, (n->n_jobs - k) * sizeof *n->jobs);
		n->n_jobs -= k;
		if (a->n <= 2)
			n->held = false;
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "crash")) {
		if (!(n = need(f, a, 1)))
			return -1;
		crash(n);
		return 0;
	}
	if (!strcmp(c, "restart")) {
		v = a->n > 1 ? strtoull(a->v[1], NULL, 10) : 0;
		n = node(f, v);
		if (!n || n->alive)
			return fail(f, "restart: node %llu is not down", v);
		n->held = false;
		if (boot(f, n))
			return -1;
		process(f, n);
		return 0;
	}
	if (!strcmp(c, "set-log")) {
		v = a->n > 2 ? strtoull(a->v[1], NULL, 10) : 0;
		n = node(f, v);
		if (!n || n->alive)
			return fail(f, "set-log: node %llu is not down", v);
		flog_free(&n->disk);
		for (int i = 3; i < a->n; i++)
			flog_append(&n->disk, strtoull(a->v[i], NULL, 10), RAFT_ENTRY_NORMAL, "");
		memset(&n->hs, 0, sizeof n->hs);
		n->hs.term = strtoull(a->v[2], NULL, 10);
		return 0;
	}
	if (!strcmp(c, "status")) {
		for (uint64_t id = 1; id <= FX_MAX; id++)
			if (f->nodes[id].exists && (a->n < 2 || id == strtoull(a->v[1], NULL, 10)))
				print_status(f, &f->nodes[id]);
		return 0;
	}
	if (!strcmp(c, "log")) {
		v = a->n > 1 ? strtoull(a->v[1], NULL, 10) : 0;
		n = node(f, v);
		if (!n)
			return fail(f, "log ID");
		/* A crashed node shows what survived on its disk. */
		struct flog *l = n->alive ? &n->cache : &n->disk;
		out(f, "%llu log%s:", (unsigned long long)n->id, n->alive ? "" : " (disk)");
		if (l->base)
			out(f, " (%llu/%llu)", (unsigned long long)l->base_term,
			    (unsigned long long)l->base);
		for (size_t k = 0; k < l->n; k++)
			out(f, " %llu/%llu%s%s", (unsigned long long)l->v[k].term,
			    (unsigned long long)(l->base + 1 + k), *l->v[k].data ? ":" : "",
			    l->v[k].data);
		out(f, "\n");
		return 0;
	}
	if (!strcmp(c, "applied")) {
		v = a->n > 1 ? strtoull(a->v[1], NULL, 10) : 0;
		n = node(f, v);
		if (!n)
			return fail(f, "applied ID");
		out(f, "%llu applied: %s\n", (unsigned long long)n->id,
		    n->applied ? n->applied : "");
		return 0;
	}
	if (!strcmp(c, "queue")) {
		for (size_t i = 0; i < f->n_net; i++)
			print_msg(f, &f->net[i].m);
		return 0;
	}
	if (!strncmp(c, "expect-", 7))
		return expect(f, a);
	return fail(f, "unknown command %s", c);
}

/* ---- API ------------------------------------------------------------------ */

struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	raft_config_init(&f->cfg, 1);
	return f;
}

void fx_free(struct fx *f)
{
	for (uint64_t id = 1; id <= FX_MAX; id++) {
		struct fnode *n = &f->nodes[id];
		crash(n);
		free(n->jobs);
		flog_free(&n->disk);
		free(n->applied);
		free(n->snap.applied);
		free(n->rx.applied);
	}
	for (size_t i = 0; i < f->n_net; i++)
		fmsg_free(&f->net[i]);
	free(f->net);
	free(f->out);
	free(f->took);
	free(f);
}

int fx_exec(struct fx *f, const char *line)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", line);
	char *hash = strchr(buf, '#');
	if (hash)
		*hash = 0;
	struct args a;
	split(buf, &a);
	if (a.n == 0)
		return 0;
	f->failed = false;
	int rc = exec_args(f, &a);
	return rc || f->failed ? -1 : 0;
}

int fx_run(struct fx *f, const char *script)
{
	const char *p = script;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char line[512];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		if (fx_exec(f, line))
			return -1;
		p += len + (e ? 1 : 0);
	}
	return 0;
}

const char *fx_take(struct fx *f)
{
	free(f->took);
	f->took = f->out ? f->out : xstrdup("");
	f->out = NULL;
	f->out_len = 0;
	f->out_cap = 0;
	return f->took;
}

struct raft *fx_raft(struct fx *f, uint64_t id)
{
	struct fnode *n = node(f, id);
	return n && n->alive ? n->r : NULL;
}

const char *fx_applied(struct fx *f, uint64_t id)
{
	struct fnode *n = node(f, id);
	return n && n->applied ? n->applied : "";
}
