/*
 * client/ctl/cmd_lock.c - lock and elect, on libcairn's recipes, which
 * keep etcd's key layout so cairnctl and etcdctl processes contend for the
 * same locks and elections (etcd v3.4.23 etcdctl/ctlv3/command
 * lock_command.go, elect_command.go).
 *
 * SIGINT/SIGTERM while waiting cancels the wait (the key is removed) and
 * exits "Error: context canceled"; after acquiring, it releases (unlock,
 * resign) and exits 0.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/ctl/ctl.h"

struct waiter {
	bool done;
	bool signalled;
	bool lost;
	struct cairn_status st;
	struct cairn_client *c;
};

static void wait_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct waiter *w = arg;
	w->done = true;
	w->st = *st;
	cairn_client_stop(w->c);
}

static void sig_cb(uv_signal_t *h, int signum)
{
	(void)signum;
	struct waiter *w = h->data;
	w->signalled = true;
	cairn_client_stop(w->c);
}

static void session_lost(struct cairn_session *s, void *arg, const struct cairn_status *st)
{
	(void)s;
	struct waiter *w = arg;
	w->lost = true;
	if (ctl_g->debug)
		fprintf(stderr, "session lost: %s (%d)\n", st->message, st->code);
	cairn_client_stop(w->c);
}

/* Runs the loop until done or a signal, and with lost_ends also until the
 * session is lost. Acquiring goes on when the session is lost (clientv3's
 * Lock and Campaign do not watch the session); only the wait after
 * acquiring ends with it. */
static void wait_for(struct waiter *w, bool lost_ends)
{
	while (!w->done && !w->signalled && !(lost_ends && w->lost))
		cairn_client_run(w->c);
}

static void signals(struct cairn_client *c, uv_signal_t sig[2], struct waiter *w)
{
	uv_signal_init(cairn_client_loop(c), &sig[0]);
	uv_signal_init(cairn_client_loop(c), &sig[1]);
	sig[0].data = sig[1].data = w;
	uv_signal_start(&sig[0], sig_cb, SIGINT);
	uv_signal_start(&sig[1], sig_cb, SIGTERM);
	/* the signal handles must not keep cairn_client_run() alive alone */
	uv_unref((uv_handle_t *)&sig[0]);
	uv_unref((uv_handle_t *)&sig[1]);
}

static void close_signals(uv_signal_t sig[2])
{
	uv_close((uv_handle_t *)&sig[0], NULL);
	uv_close((uv_handle_t *)&sig[1], NULL);
}

static struct cairn_session *new_session(struct ctl *ctl, struct waiter *w, int64_t ttl)
{
	struct cairn_session *s;
	struct waiter g = {.c = w->c};
	int rv = cairn_session_new(w->c, ttl, wait_done, &g, session_lost, w, &s);
	if (rv)
		ctl_fail(EXIT_ERROR, "%s", cairn_strerror(rv));
	(void)ctl;
	while (!g.done)
		cairn_client_run(w->c);
	if (g.st.code != CAIRN_OK)
		ctl_fail_status(EXIT_ERROR, &g.st, NULL);
	return s;
}

/* Prints a Range of key as `display.Get` does. */
static void print_key(struct ctl *ctl, struct cairn_client *c, const char *key, bool must_exist)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	r.key.data = (uint8_t *)key;
	r.key.len = strlen(key);
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	Etcdserverpb__RangeResponse *resp;
	struct cairn_status st;
	if (cairn_kv_range_sync(c, &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	if (must_exist && resp->n_kvs == 0)
		ctl_fail(EXIT_ERROR, "%s", "lock lost on init");
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_get(&out, &po, resp));
	cairn_response_free(resp);
}

static int run_with_env(char **argv, int argc, const char *k1, const char *k2)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* etcdctl prepends its variables to the environment: an
		 * existing variable of the same name wins */
		if (!getenv("ETCD_LOCK_KEY"))
			putenv((char *)k1);
		if (!getenv("ETCD_LOCK_REV"))
			putenv((char *)k2);
		char **v = calloc((size_t)argc + 1, sizeof *v);
		memcpy(v, argv, (size_t)argc * sizeof *v);
		execvp(v[0], v);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_lock(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "lock takes a lock name argument and an optional command to execute");
	struct cairn_client *c = ctl_client(ctl);
	struct waiter w = {.c = c};
	static uv_signal_t sig[2];
	signals(c, sig, &w);
	struct cairn_session *s = new_session(ctl, &w, g_lock_ttl);
	struct cairn_mutex *m;
	cairn_mutex_new(s, argv[0], &m);
	int rv = cairn_mutex_lock(m, NULL, wait_done, &w);
	if (rv)
		ctl_fail(EXIT_ERROR, "%s", cairn_strerror(rv));
	wait_for(&w, false);
	if (!w.done) {
		/* interrupted while waiting: clientv3 unlocks, then the
		 * context error surfaces */
		struct cairn_status st;
		cairn_mutex_unlock_sync(m, &st);
		ctl_fail(EXIT_ERROR, "%s", "context canceled");
	}
	if (w.st.code != CAIRN_OK)
		ctl_fail_status(EXIT_ERROR, &w.st, NULL);
	if (argc > 1) {
		struct buf k = {0}, r = {0};
		buf_printf(&k, "ETCD_LOCK_KEY=%s", cairn_mutex_key(m));
		buf_printf(&r, "ETCD_LOCK_REV=%" PRId64, cairn_mutex_revision(m));
		int code = run_with_env(argv + 1, argc - 1, buf_str(&k), buf_str(&r));
		struct cairn_status st;
		int urv = cairn_mutex_unlock_sync(m, &st);
		if (code == 127)
			ctl_fail(EXIT_ERROR, "exec: \"%s\": executable file not found in $PATH",
			         argv[1]);
		if (code > 128)
			ctl_fail(EXIT_ERROR, "signal: %s", strsignal(code - 128));
		if (code)
			ctl_fail(EXIT_ERROR, "exit status %d", code);
		if (urv)
			ctl_fail_status(EXIT_ERROR, &st, NULL);
		buf_free(&k);
		buf_free(&r);
	} else {
		print_key(ctl, c, cairn_mutex_key(m), true);
		w.done = false;
		wait_for(&w, true);
		if (w.lost)
			ctl_fail(EXIT_ERROR, "%s", "session expired");
		struct cairn_status st;
		if (cairn_mutex_unlock_sync(m, &st))
			ctl_fail_status(EXIT_ERROR, &st, NULL);
	}
	/* the lease is left to expire, as etcdctl leaves it */
	cairn_mutex_free(m);
	cairn_session_close(s, false);
	close_signals(sig);
	return 0;
}

/* ---- elect --------------------------------------------------------------------------------- */

struct obs {
	struct ctl *ctl;
	struct waiter *w;
};

static void leader_cb(struct cairn_observer *ob, void *arg, const Mvccpb__KeyValue *kv)
{
	(void)ob;
	struct obs *o = arg;
	Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	Mvccpb__KeyValue *kvs[1] = {(Mvccpb__KeyValue *)kv};
	r.kvs = kvs;
	r.n_kvs = 1;
	struct buf out = {0};
	struct printer_opts po = ctl_popts(o->ctl);
	ctl_emit(o->ctl, &out, print_get(&out, &po, &r));
}

static void observe_end(void *arg, const struct cairn_status *st)
{
	struct obs *o = arg;
	o->w->done = true;
	o->w->st = *st;
	cairn_client_stop(o->w->c);
}

int cmd_elect(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1 && argc != 2)
		ctl_fail(
		    EXIT_BAD_ARGS, "%s",
		    "elect takes one election name argument and an optional proposal argument");
	if (argc == 1 && !g_elect_listen)
		ctl_fail(EXIT_BAD_ARGS, "%s", "no proposal argument but -l not set");
	if (argc == 2 && g_elect_listen)
		ctl_fail(EXIT_BAD_ARGS, "%s", "proposal given but -l is set");
	struct cairn_client *c = ctl_client(ctl);
	struct waiter w = {.c = c};
	static uv_signal_t sig[2];
	signals(c, sig, &w);
	/* etcdctl makes a session (TTL 60) in both modes */
	struct cairn_session *s = new_session(ctl, &w, 60);
	if (argc == 1) {
		struct obs o = {.ctl = ctl, .w = &w};
		struct cairn_observer *ob;
		int rv = cairn_election_observe(c, argv[0], leader_cb, observe_end, &o, &ob);
		if (rv)
			ctl_fail(EXIT_ERROR, "%s", cairn_strerror(rv));
		w.lost = false;
		while (!w.done && !w.signalled)
			cairn_client_run(c);
		cairn_election_observe_stop(ob);
		if (!w.signalled)
			ctl_fail(EXIT_ERROR, "%s", "elect: observer lost");
		cairn_session_close(s, false);
		close_signals(sig);
		return 0;
	}
	struct cairn_election *e;
	cairn_election_new(s, argv[0], &e);
	int rv = cairn_election_campaign(e, argv[1], strlen(argv[1]), NULL, wait_done, &w);
	if (rv)
		ctl_fail(EXIT_ERROR, "%s", cairn_strerror(rv));
	wait_for(&w, false);
	if (!w.done) {
		struct cairn_status st;
		cairn_election_resign_sync(e, &st);
		ctl_fail(EXIT_ERROR, "%s", "context canceled");
	}
	if (w.st.code != CAIRN_OK)
		ctl_fail_status(EXIT_ERROR, &w.st, NULL);
	print_key(ctl, c, cairn_election_key(e), false);
	w.done = false;
	wait_for(&w, true);
	if (w.lost)
		ctl_fail(EXIT_ERROR, "%s", "elect: session expired");
	struct cairn_status st;
	if (cairn_election_resign_sync(e, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	cairn_election_free(e);
	cairn_session_close(s, false);
	close_signals(sig);
	return 0;
}
