/*
 * client/ctl/cmd_watch.c - watch, including exec-on-event and the
 * interactive mode (etcd v3.4.23 etcdctl/ctlv3/command/watch_command.go).
 *
 * Interactive input is read by a thread (stdin may be a file, which
 * libuv cannot poll) and handed to the loop through a uv_async.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/ctl/ctl.h"

struct wctx {
	struct ctl *ctl;
	char **exec;
	int nexec;
	bool interactive;
};

static int live_watchers;

static void run_exec(struct wctx *w, const Etcdserverpb__WatchResponse *r, const Mvccpb__Event *e)
{
	struct buf env[4] = {{0}};
	buf_printf(&env[0], "ETCD_WATCH_REVISION=%" PRId64, r->header ? r->header->revision : 0);
	buf_puts(&env[1], "ETCD_WATCH_EVENT_TYPE=");
	const char *t = e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? "DELETE" : "PUT";
	go_quote(&env[1], t, strlen(t));
	buf_puts(&env[2], "ETCD_WATCH_KEY=");
	go_quote(&env[2], e->kv ? e->kv->key.data : NULL, e->kv ? e->kv->key.len : 0);
	buf_puts(&env[3], "ETCD_WATCH_VALUE=");
	go_quote(&env[3], e->kv ? e->kv->value.data : NULL, e->kv ? e->kv->value.len : 0);
	fflush(stdout);
	fflush(stderr);
	int pfd[2];
	if (pipe(pfd))
		pfd[0] = pfd[1] = -1;
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++)
			putenv((char *)buf_str(&env[i]));
		if (pfd[0] >= 0)
			close(pfd[0]);
		char **argv = calloc((size_t)w->nexec + 1, sizeof *argv);
		memcpy(argv, w->exec, (size_t)w->nexec * sizeof *argv);
		execvp(argv[0], argv);
		int e2 = errno;
		if (pfd[1] >= 0 && write(pfd[1], &e2, sizeof e2) < 0)
			_exit(127);
		_exit(127);
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	int exec_errno = 0;
	if (pfd[0] >= 0) {
		if (read(pfd[0], &exec_errno, sizeof exec_errno) != (ssize_t)sizeof exec_errno)
			exec_errno = 0;
		close(pfd[0]);
	}
	int status = 0;
	if (pid > 0)
		waitpid(pid, &status, 0);
	struct buf err = {0};
	if (pid < 0)
		buf_printf(&err, "fork: %s", strerror(errno));
	else if (exec_errno == ENOENT && !strchr(w->exec[0], '/'))
		buf_printf(&err, "exec: \"%s\": executable file not found in $PATH", w->exec[0]);
	else if (exec_errno)
		buf_printf(&err, "fork/exec %s: %s", w->exec[0], strerror(exec_errno));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		buf_printf(&err, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		buf_printf(&err, "signal: %s", strsignal(WTERMSIG(status)));
	if (err.len) {
		struct buf q = {0};
		buf_puts(&q, "[");
		for (int i = 0; i < w->nexec; i++) {
			if (i)
				buf_puts(&q, " ");
			go_quote(&q, w->exec[i], strlen(w->exec[i]));
		}
		buf_puts(&q, "]");
		fprintf(stderr, "command %s error (%s)\n", buf_str(&q), buf_str(&err));
		exit(1);
	}
	for (int i = 0; i < 4; i++)
		buf_free(&env[i]);
}

static void on_resp(struct cairn_watcher *wt, void *arg, const Etcdserverpb__WatchResponse *r)
{
	(void)wt;
	struct wctx *w = arg;
	struct ctl *ctl = w->ctl;
	if (r->canceled) {
		struct cairn_status st = {0};
		if (r->compact_revision)
			snprintf(st.message, sizeof st.message, "%s",
			         "etcdserver: mvcc: required revision has been compacted");
		else if (r->cancel_reason && *r->cancel_reason) {
			if (cairn_is_etcd_error(r->cancel_reason))
				snprintf(st.message, sizeof st.message, "%s", r->cancel_reason);
			else
				snprintf(st.message, sizeof st.message,
				         "rpc error: code = FailedPrecondition desc = %.400s",
				         r->cancel_reason);
		} else
			snprintf(st.message, sizeof st.message, "%s",
			         "etcdserver: mvcc: required revision is a future revision");
		fflush(stdout);
		fprintf(stderr, "watch was canceled (%s)\n", st.message);
	}
	struct buf out = {0};
	if (r->n_events == 0 && !r->canceled && !r->created && r->compact_revision == 0 &&
	    r->header && r->header->revision != 0)
		buf_printf(&out, "progress notify: %" PRId64 "\n", r->header->revision);
	struct printer_opts po = ctl_popts(ctl);
	int rv = print_watch(&out, &po, r);
	ctl_emit(ctl, &out, rv);
	for (size_t i = 0; w->nexec > 0 && i < r->n_events; i++)
		run_exec(w, r, r->events[i]);
}

static void on_end(struct cairn_watcher *wt, void *arg, const struct cairn_status *st)
{
	(void)wt;
	(void)st;
	struct wctx *w = arg;
	live_watchers--;
	if (!w->interactive && live_watchers == 0)
		cairn_client_stop(w->ctl->client);
}

/* getWatchChan: a watcher for args with the current flags. */
static int start_watch(struct ctl *ctl, char **args, int nargs, char **exec, int nexec,
                       bool interactive, struct buf *err)
{
	if (nargs < 1) {
		buf_puts(err, "bad number of arguments");
		return -1;
	}
	struct cairn_watch_options o = {.key = args[0], .key_len = strlen(args[0])};
	if (nargs >= 2) {
		if (g_watch_prefix) {
			buf_puts(err, "`range_end` and `--prefix` are mutually exclusive");
			return -1;
		}
		o.range_end = args[1];
		o.range_end_len = strlen(args[1]);
	}
	if (g_watch_prefix) {
		if (o.key_len == 0) {
			o.key = "";
			o.key_len = 1;
			o.range_end = "";
			o.range_end_len = 1;
		} else {
			o.prefix = true;
		}
	}
	o.start_revision = g_watch_rev;
	o.prev_kv = g_watch_prev_kv;
	struct wctx *w = calloc(1, sizeof *w);
	w->ctl = ctl;
	w->exec = exec;
	w->nexec = nexec;
	w->interactive = interactive;
	int rv = cairn_watch(ctl_client(ctl), &o, on_resp, on_end, w, NULL);
	if (rv) {
		buf_puts(err, cairn_strerror(rv));
		return -1;
	}
	live_watchers++;
	return 0;
}

/* ---- interactive ----------------------------------------------------------------------------- */

struct lines {
	pthread_mutex_t mu;
	char **v;
	size_t n;
	bool eof;
	uv_async_t async;
	struct ctl *ctl;
	const char *env_key, *env_range;
};

static void *reader(void *arg)
{
	struct lines *l = arg;
	char *line = NULL;
	size_t cap = 0;
	for (;;) {
		ssize_t n = getline(&line, &cap, stdin);
		pthread_mutex_lock(&l->mu);
		if (n < 0 || line[n - 1] != '\n') {
			l->eof = true;
		} else {
			line[n - 1] = 0;
			l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
			l->v[l->n++] = strdup(line);
		}
		bool eof = l->eof;
		pthread_mutex_unlock(&l->mu);
		uv_async_send(&l->async);
		if (eof)
			break;
	}
	free(line);
	return NULL;
}

static void interactive_line(struct lines *l, const char *line)
{
	struct ctl *ctl = l->ctl;
	struct buf err = {0};
	char **args;
	int n = argify(line, &args, &err);
	if (n < 0)
		ctl_fail(EXIT_INVALID_INPUT, "%s", buf_str(&err));
	if (n < 1) {
		fprintf(stderr, "Invalid command: %s (watch and progress supported)\n", line);
	} else if (strcmp(args[0], "watch") == 0) {
		if (n < 2 && !*l->env_key) {
			fprintf(stderr,
			        "Invalid command %s (command type or key is not provided)\n", line);
		} else {
			/* Flags of the line, fresh for each line. */
			int dash = -1;
			for (int i = 1; i < n; i++)
				if (strcmp(args[i], "--") == 0) {
					dash = i;
					break;
				}
			if (dash == n - 1)
				ctl_fail(EXIT_BAD_ARGS, "%s",
				         "bad number of arguments (found separator --, but no "
				         "commands)");
			g_watch_prefix = g_watch_prev_kv = false;
			g_watch_rev = 0;
			struct flag *wf = (struct flag *)ctl->cmd->flags;
			char **pos;
			int npos;
			int upto = dash >= 0 ? dash : n;
			if (flags_parse_simple(wf, upto - 1, args + 1, &pos, &npos, &err))
				ctl_fail(EXIT_BAD_ARGS, "%s", buf_str(&err));
			char **wargs = calloc((size_t)npos + 3, sizeof *wargs);
			int nw = 0;
			if (*l->env_key) {
				wargs[nw++] = (char *)l->env_key;
				if (*l->env_range)
					wargs[nw++] = (char *)l->env_range;
			}
			for (int i = 0; i < npos; i++)
				wargs[nw++] = pos[i];
			char **exec = NULL;
			int nexec = 0;
			if (dash >= 0) {
				nexec = n - dash - 1;
				exec = calloc((size_t)nexec + 1, sizeof *exec);
				for (int i = 0; i < nexec; i++)
					exec[i] = strdup(args[dash + 1 + i]);
			}
			struct buf e = {0};
			if (start_watch(ctl, wargs, nw, exec, nexec, true, &e))
				fprintf(stderr, "Invalid command %s (%s)\n", line, buf_str(&e));
			buf_free(&e);
			free(pos);
			free(wargs);
		}
	} else if (strcmp(args[0], "progress") == 0) {
		cairn_watch_progress(ctl_client(ctl));
	} else {
		fprintf(stderr, "Invalid command %s (only support watch)\n", line);
	}
	buf_free(&err);
	/* args of watch lines stay alive for their watchers' exec */
}

static void lines_cb(uv_async_t *a)
{
	struct lines *l = a->data;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		char *line = NULL;
		if (l->n) {
			line = l->v[0];
			memmove(l->v, l->v + 1, (l->n - 1) * sizeof *l->v);
			l->n--;
		}
		bool eof = l->eof && !line;
		pthread_mutex_unlock(&l->mu);
		if (eof)
			ctl_fail(EXIT_INVALID_INPUT, "%s", "Error reading watch request line: EOF");
		if (!line)
			break;
		interactive_line(l, line);
		free(line);
	}
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	const char *env_key = getenv("ETCDCTL_WATCH_KEY");
	const char *env_range = getenv("ETCDCTL_WATCH_RANGE_END");
	env_key = env_key ? env_key : "";
	env_range = env_range ? env_range : "";
	if (!*env_key && *env_range)
		ctl_fail(EXIT_BAD_ARGS,
		         "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=\"%s\"",
		         env_range);
	struct cairn_client *c = ctl_client(ctl);
	if (g_watch_interactive) {
		static struct lines l = {.mu = PTHREAD_MUTEX_INITIALIZER};
		l.ctl = ctl;
		l.env_key = env_key;
		l.env_range = env_range;
		uv_async_init(cairn_client_loop(c), &l.async, lines_cb);
		l.async.data = &l;
		pthread_t th;
		pthread_create(&th, NULL, reader, &l);
		pthread_detach(th);
		for (;;)
			cairn_client_run(c);
	}
	int dash = ctl_g_dash;
	int nwatch = dash >= 0 ? dash : argc;
	char **exec = dash >= 0 ? argv + dash : NULL;
	int nexec = dash >= 0 ? argc - dash : 0;
	if (dash >= 0 && nexec == 0)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "bad number of arguments (found separator --, but no commands)");
	if (dash < 0 && argc < 1 && !*env_key)
		ctl_fail(EXIT_BAD_ARGS, "%s", "bad number of arguments");
	if (*env_key && nwatch > 0)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "bad number of arguments (found conflicting environment key)");
	char **wargs = calloc((size_t)nwatch + 3, sizeof *wargs);
	int nw = 0;
	if (*env_key) {
		wargs[nw++] = (char *)env_key;
		if (*env_range)
			wargs[nw++] = (char *)env_range;
	}
	for (int i = 0; i < nwatch; i++)
		wargs[nw++] = argv[i];
	struct buf err = {0};
	if (start_watch(ctl, wargs, nw, exec, nexec, false, &err))
		ctl_fail(EXIT_BAD_ARGS, "%s", buf_str(&err));
	while (live_watchers > 0)
		cairn_client_run(c);
	cairn_client_close(c);
	ctl->client = NULL;
	free(wargs);
	ctl_fail(EXIT_INTERRUPTED, "%s", "watch is canceled by the server");
}
