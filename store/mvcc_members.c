/*
 * store/mvcc_members.c - cluster members, alarms and the server's metadata:
 * small records committed in the same LMDB transaction as the applied
 * index, so they can never disagree with the log position.
 *
 * Member changes are checked here with etcd's ValidateConfigurationChange
 * rules (etcdserver/api/membership/cluster.go), at apply time, so every
 * member reaches the same verdict. Alarms follow etcd's AlarmStore
 * (etcdserver/api/v3alarm/alarms.go): one record per (member, type).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

#define MAX_LEARNERS 1 /* etcd's maxLearners */

static int members__begin(struct store_mvcc_batch *b)
{
	if (!b->open)
		return -EINVAL;
	if (b->failed)
		return STORE_MVCC_EFAILED;
	if (b->skip)
		return STORE_MVCC_EAPPLIED;
	store_mvcc_arena_reset(&b->scratch);
	return 0;
}

static int db_has(struct mvcc_view *v, enum mvcc_db db, const void *key, size_t len)
{
	MDB_val k = {len, (void *)key}, d;
	int rc = mdb_get(v->txn, v->e->dbi[db], &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? mvcc__lmdb_err(rc) : 1;
}

/* Loads every member into the arena (ordered by ID). */
static int members__load(struct mvcc_view *v, struct store_mvcc_arena *a,
                         Etcdserverpb__Member ***out, size_t *n_out)
{
	MDB_stat st;
	int rc = mdb_stat(v->txn, v->e->dbi[MVCC_DB_MEMBER], &st);
	if (rc)
		return mvcc__lmdb_err(rc);
	size_t cap = st.ms_entries, n = 0;
	Etcdserverpb__Member **ms = cap ? store_mvcc_arena_alloc(a, cap * sizeof(*ms)) : NULL;
	if (cap && !ms)
		return -ENOMEM;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(v->txn, v->e->dbi[MVCC_DB_MEMBER], &c)))
		return mvcc__lmdb_err(rc);
	ProtobufCAllocator al = store_mvcc_arena_allocator(a);
	MDB_val k, d;
	while (n < cap && (rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
		ms[n] = etcdserverpb__member__unpack(&al, d.mv_size, d.mv_data);
		if (!ms[n]) {
			rc = MDB_CORRUPTED;
			break;
		}
		n++;
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return mvcc__lmdb_err(rc);
	*out = ms;
	*n_out = n;
	return 0;
}

static int member__put(struct store_mvcc_batch *b, const Etcdserverpb__Member *m)
{
	size_t len = etcdserverpb__member__get_packed_size(m);
	uint8_t kb[8];
	mvcc__put_be64(kb, m->id);
	MDB_val k = {8, kb}, d = {len, NULL};
	int rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_MEMBER], &k, &d, MDB_RESERVE);
	if (rc)
		return mvcc__fail(b, mvcc__lmdb_err(rc));
	etcdserverpb__member__pack(m, d.mv_data);
	return 0;
}

static Etcdserverpb__Member *member__find(Etcdserverpb__Member **ms, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ms[i]->id == id)
			return ms[i];
	return NULL;
}

/* Is any of urls a peer URL of a member other than `except`? */
static bool member__urls_taken(Etcdserverpb__Member **ms, size_t n, uint64_t except,
                               char *const *urls, size_t n_urls)
{
	for (size_t i = 0; i < n; i++) {
		if (ms[i]->id == except)
			continue;
		for (size_t j = 0; j < ms[i]->n_peerurls; j++)
			for (size_t u = 0; u < n_urls; u++)
				if (!strcmp(ms[i]->peerurls[j], urls[u]))
					return true;
	}
	return false;
}

/* Common prologue: loads the members, and fails for a removed ID. With
 * target, also finds member id (EMEMBER_NOT_FOUND if absent). */
static int member__prepare(struct store_mvcc_batch *b, uint64_t id, Etcdserverpb__Member ***ms,
                           size_t *n, Etcdserverpb__Member **target)
{
	int rc = members__begin(b);
	if (rc)
		return rc;
	uint8_t kb[8];
	mvcc__put_be64(kb, id);
	rc = db_has(&b->v, MVCC_DB_MEMBER_REMOVED, kb, 8);
	if (rc < 0)
		return mvcc__fail(b, rc);
	if (rc)
		return STORE_MVCC_EMEMBER_NOT_FOUND; /* etcd's ErrIDRemoved */
	rc = members__load(&b->v, &b->scratch, ms, n);
	if (rc)
		return mvcc__fail(b, rc);
	if (target && !(*target = member__find(*ms, *n, id)))
		return STORE_MVCC_EMEMBER_NOT_FOUND;
	return 0;
}

int store_mvcc_member_add(struct store_mvcc_batch *b, const Etcdserverpb__Member *m)
{
	Etcdserverpb__Member **ms;
	size_t n;
	int rc = member__prepare(b, m->id, &ms, &n, NULL);
	if (rc)
		return rc;
	if (member__find(ms, n, m->id))
		return STORE_MVCC_EMEMBER_EXISTS;
	if (member__urls_taken(ms, n, 0, m->peerurls, m->n_peerurls))
		return STORE_MVCC_EPEER_URL_EXISTS;
	if (m->islearner) {
		size_t learners = 0;
		for (size_t i = 0; i < n; i++)
			learners += ms[i]->islearner;
		if (learners + 1 > MAX_LEARNERS)
			return STORE_MVCC_ETOO_MANY_LEARNERS;
	}
	return member__put(b, m);
}

int store_mvcc_member_remove(struct store_mvcc_batch *b, uint64_t id)
{
	Etcdserverpb__Member **ms, *m;
	size_t n;
	int rc = member__prepare(b, id, &ms, &n, &m);
	if (rc)
		return rc;
	uint8_t kb[8];
	mvcc__put_be64(kb, id);
	MDB_val k = {8, kb}, d = {0, NULL};
	rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_MEMBER], &k, NULL);
	if (!rc)
		rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_MEMBER_REMOVED], &k, &d, 0);
	return rc ? mvcc__fail(b, mvcc__lmdb_err(rc)) : 0;
}

int store_mvcc_member_update(struct store_mvcc_batch *b, uint64_t id, char *const *peer_urls,
                             size_t n_peer_urls)
{
	Etcdserverpb__Member **ms, *m;
	size_t n;
	int rc = member__prepare(b, id, &ms, &n, &m);
	if (rc)
		return rc;
	if (member__urls_taken(ms, n, id, peer_urls, n_peer_urls))
		return STORE_MVCC_EPEER_URL_EXISTS;
	m->peerurls = (char **)peer_urls;
	m->n_peerurls = n_peer_urls;
	return member__put(b, m);
}

int store_mvcc_member_promote(struct store_mvcc_batch *b, uint64_t id)
{
	Etcdserverpb__Member **ms, *m;
	size_t n;
	int rc = member__prepare(b, id, &ms, &n, &m);
	if (rc)
		return rc;
	if (!m->islearner)
		return STORE_MVCC_EMEMBER_NOT_LEARNER;
	m->islearner = false;
	return member__put(b, m);
}

int store_mvcc_member_set_attributes(struct store_mvcc_batch *b, uint64_t id, const char *name,
                                     char *const *client_urls, size_t n_client_urls)
{
	Etcdserverpb__Member **ms, *m;
	size_t n;
	int rc = member__prepare(b, id, &ms, &n, &m);
	if (rc)
		return rc;
	m->name = (char *)(name ? name : "");
	m->clienturls = (char **)client_urls;
	m->n_clienturls = n_client_urls;
	return member__put(b, m);
}

int store_mvcc_members(struct store_mvcc_read *rd, struct store_mvcc_arena *arena,
                       Etcdserverpb__Member ***members, size_t *n)
{
	return members__load(&rd->v, arena, members, n);
}

bool store_mvcc_member_removed(struct store_mvcc_read *rd, uint64_t id)
{
	uint8_t kb[8];
	mvcc__put_be64(kb, id);
	return db_has(&rd->v, MVCC_DB_MEMBER_REMOVED, kb, 8) > 0;
}

/* ------------------------------------------------------------------------
 * Alarms
 * ------------------------------------------------------------------------ */

static void alarm__key(uint64_t member, uint32_t type, uint8_t out[12])
{
	mvcc__put_be64(out, member);
	out[8] = (uint8_t)(type >> 24);
	out[9] = (uint8_t)(type >> 16);
	out[10] = (uint8_t)(type >> 8);
	out[11] = (uint8_t)type;
}

static int alarm__list(struct mvcc_view *v, Etcdserverpb__AlarmType type,
                       struct store_mvcc_arena *a, Etcdserverpb__AlarmMember ***out, size_t *n_out)
{
	MDB_stat st;
	int rc = mdb_stat(v->txn, v->e->dbi[MVCC_DB_ALARM], &st);
	if (rc)
		return mvcc__lmdb_err(rc);
	size_t cap = st.ms_entries, n = 0;
	Etcdserverpb__AlarmMember **v_out =
	    cap ? store_mvcc_arena_alloc(a, cap * sizeof(*v_out)) : NULL;
	if (cap && !v_out)
		return -ENOMEM;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(v->txn, v->e->dbi[MVCC_DB_ALARM], &c)))
		return mvcc__lmdb_err(rc);
	MDB_val k, d;
	while (n < cap && (rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
		if (k.mv_size != 12)
			continue;
		const uint8_t *p = k.mv_data;
		uint32_t t =
		    (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
		if (type != ETCDSERVERPB__ALARM_TYPE__NONE && t != (uint32_t)type)
			continue;
		Etcdserverpb__AlarmMember *m = store_mvcc_arena_alloc(a, sizeof(*m));
		if (!m) {
			rc = ENOMEM;
			break;
		}
		etcdserverpb__alarm_member__init(m);
		m->memberid = mvcc__get_be64(p);
		m->alarm = (Etcdserverpb__AlarmType)t;
		v_out[n++] = m;
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return rc == ENOMEM ? -ENOMEM : mvcc__lmdb_err(rc);
	*out = v_out;
	*n_out = n;
	return 0;
}

int store_mvcc_alarms(struct store_mvcc_read *rd, Etcdserverpb__AlarmType type,
                      struct store_mvcc_arena *arena, Etcdserverpb__AlarmMember ***alarms,
                      size_t *n)
{
	return alarm__list(&rd->v, type, arena, alarms, n);
}

static void alarm__count(struct store_mvcc_batch *b, uint32_t type, int delta)
{
	if (type == ETCDSERVERPB__ALARM_TYPE__NOSPACE)
		b->nospace += delta;
	else if (type == ETCDSERVERPB__ALARM_TYPE__CORRUPT)
		b->corrupt += delta;
}

int store_mvcc_alarm(struct store_mvcc_batch *b, const Etcdserverpb__AlarmRequest *req,
                     struct store_mvcc_arena *arena, Etcdserverpb__AlarmResponse **resp)
{
	int rc = members__begin(b);
	if (rc)
		return rc;
	Etcdserverpb__AlarmResponse *r = store_mvcc_arena_alloc(arena, sizeof(*r));
	if (!r)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__alarm_response__init(r);
	r->header = mvcc__header(arena, b->st.rev);
	if (!r->header)
		return mvcc__fail(b, -ENOMEM);
	*resp = r;
	uint8_t kb[12];
	alarm__key(req->memberid, (uint32_t)req->alarm, kb);
	MDB_val k = {12, kb}, d = {0, NULL};
	switch (req->action) {
	case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET:
		rc = alarm__list(&b->v, req->alarm, arena, &r->alarms, &r->n_alarms);
		return rc ? mvcc__fail(b, rc) : 0;
	case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE:
	case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE:
		break;
	default:
		return 0; /* etcd answers nothing for an unknown action */
	}
	bool activate = req->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
	rc = db_has(&b->v, MVCC_DB_ALARM, kb, 12);
	if (rc < 0)
		return mvcc__fail(b, rc);
	bool had = rc > 0;
	if (activate && !had) {
		rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_ALARM], &k, &d, 0);
		if (rc)
			return mvcc__fail(b, mvcc__lmdb_err(rc));
		alarm__count(b, (uint32_t)req->alarm, +1);
		mvcc__log(b->s, STORE_MVCC_LOG_WARN, "alarm %d raised by member %llx",
		          (int)req->alarm, (unsigned long long)req->memberid);
	} else if (!activate && had) {
		rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_ALARM], &k, NULL);
		if (rc)
			return mvcc__fail(b, mvcc__lmdb_err(rc));
		alarm__count(b, (uint32_t)req->alarm, -1);
		mvcc__log(b->s, STORE_MVCC_LOG_INFO, "alarm %d of member %llx disarmed",
		          (int)req->alarm, (unsigned long long)req->memberid);
	} else if (!activate) {
		return 0; /* nothing to deactivate: no alarm in the answer */
	}
	Etcdserverpb__AlarmMember *m = store_mvcc_arena_alloc(arena, sizeof(*m));
	r->alarms = store_mvcc_arena_alloc(arena, sizeof(*r->alarms));
	if (!m || !r->alarms)
		return mvcc__fail(b, -ENOMEM);
	etcdserverpb__alarm_member__init(m);
	m->memberid = req->memberid;
	m->alarm = req->alarm;
	r->alarms[0] = m;
	r->n_alarms = 1;
	return 0;
}

/* ------------------------------------------------------------------------
 * The server's metadata
 * ------------------------------------------------------------------------ */

int store_mvcc_meta_put(struct store_mvcc_batch *b, const void *key, size_t key_len,
                        const void *value, size_t value_len)
{
	int rc = members__begin(b);
	if (rc)
		return rc;
	if (key_len == 0 || key_len > MVCC_SKEY_LONG)
		return -EINVAL;
	MDB_val k = {key_len, (void *)key}, d = {value_len, (void *)value};
	rc = mdb_put(b->v.txn, b->v.e->dbi[MVCC_DB_UMETA], &k, &d, 0);
	return rc ? mvcc__fail(b, mvcc__lmdb_err(rc)) : 0;
}

int store_mvcc_meta_delete(struct store_mvcc_batch *b, const void *key, size_t key_len)
{
	int rc = members__begin(b);
	if (rc)
		return rc;
	if (key_len == 0 || key_len > MVCC_SKEY_LONG)
		return -EINVAL;
	MDB_val k = {key_len, (void *)key};
	rc = mdb_del(b->v.txn, b->v.e->dbi[MVCC_DB_UMETA], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? mvcc__fail(b, mvcc__lmdb_err(rc)) : 0;
}

int store_mvcc_meta_get(struct store_mvcc_read *rd, const void *key, size_t key_len,
                        const void **value, size_t *value_len)
{
	if (key_len == 0 || key_len > MVCC_SKEY_LONG)
		return -EINVAL;
	MDB_val k = {key_len, (void *)key}, d;
	int rc = mdb_get(rd->v.txn, rd->v.e->dbi[MVCC_DB_UMETA], &k, &d);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return mvcc__lmdb_err(rc);
	*value = d.mv_data;
	*value_len = d.mv_size;
	return 0;
}
