/*
 * store/mvcc_quota.c - the backend quota and database sizes.
 *
 * etcd's backendQuota.Available is size + cost < quota, where size is the
 * bbolt file's size. cairn's size is the part of the LMDB file that holds
 * pages ((last page number + 1) * page size of the last commit): the file
 * itself may be larger after a defragmentation frees pages at its end, and
 * LMDB reuses free pages before growing, as bbolt does.
 */
#include <errno.h>
#include <string.h>

#include "store/mvcc_internal.h"

int64_t mvcc__db_size(struct store_mvcc *s, MDB_env *env)
{
	(void)s;
	MDB_envinfo info;
	MDB_stat st;
	if (mdb_env_info(env, &info) || mdb_env_stat(env, &st))
		return 0;
	return (int64_t)((info.me_last_pgno + 1) * (size_t)st.ms_psize);
}

bool mvcc__available(struct store_mvcc *s, int64_t cost)
{
	if (s->o.quota_bytes <= 0)
		return true;
	pthread_mutex_lock(&s->gen_mu);
	int64_t size = mvcc__db_size(s, s->cur->env);
	pthread_mutex_unlock(&s->gen_mu);
	return size + cost < s->o.quota_bytes;
}

bool store_mvcc_quota_available(struct store_mvcc *s, int64_t cost)
{
	return mvcc__available(s, cost);
}

int store_mvcc_db_size(struct store_mvcc_read *rd, int64_t *db_size, int64_t *db_size_in_use)
{
	MDB_stat st;
	int rc = mdb_env_stat(rd->v.e->env, &st);
	if (rc)
		return mvcc__lmdb_err(rc);
	int64_t size = mvcc__db_size(rd->v.s, rd->v.e->env);
	/* Free pages: LMDB's free list is database 0 (FREE_DBI); each record
	 * is a page-number list whose first word is its length. */
	MDB_cursor *c;
	rc = mdb_cursor_open(rd->v.txn, 0, &c);
	if (rc)
		return mvcc__lmdb_err(rc);
	uint64_t free_pages = 0;
	MDB_val k, d;
	while ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
		size_t n;
		if (d.mv_size < sizeof(n))
			continue;
		memcpy(&n, d.mv_data, sizeof(n));
		free_pages += n;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return mvcc__lmdb_err(rc);
	if (db_size)
		*db_size = size;
	if (db_size_in_use)
		*db_size_in_use = size - (int64_t)(free_pages * st.ms_psize);
	return 0;
}

/* ------------------------------------------------------------------------
 * Quota costs (etcdserver/quota.go)
 * ------------------------------------------------------------------------ */

int64_t store_mvcc_cost_put(const Etcdserverpb__PutRequest *req)
{
	return 256 + (int64_t)req->key.len + (int64_t)req->value.len;
}

static int64_t cost_ops(Etcdserverpb__RequestOp *const *ops, size_t n)
{
	int64_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT &&
		    ops[i]->request_put)
			c += store_mvcc_cost_put(ops[i]->request_put);
	return c;
}

int64_t store_mvcc_cost_txn(const Etcdserverpb__TxnRequest *req)
{
	int64_t s = cost_ops(req->success, req->n_success);
	int64_t f = cost_ops(req->failure, req->n_failure);
	return f > s ? f : s;
}
