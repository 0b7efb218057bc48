/*
 * client/ctl/cmd_maint.c - endpoint health/status/hashkv, alarm, defrag,
 * snapshot save, move-leader, version (etcd v3.4.23 etcdctl/ctlv3/command
 * ep_command.go, alarm_command.go, defrag_command.go, snapshot_command.go,
 * move_leader_command.go).
 *
 * Per-endpoint commands talk to each endpoint on a connection of its own,
 * as etcdctl dials every endpoint separately; health checks run
 * concurrently on one loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ctl/ctl.h"

/* ---- endpoint health ------------------------------------------------------------------- */

struct hc {
	struct ctl *ctl;
	struct cairn_client *c;
	struct ep_health *h;
	int64_t start;
	int *pending;
};

static void health_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct hc *x = arg;
	struct buf d = {0};
	go_duration(&d, ctl_now_ns() - x->start);
	snprintf(x->h->took, sizeof x->h->took, "%s", buf_str(&d));
	buf_free(&d);
	/* permission denied is healthy: the request went through consensus */
	if (st->code == CAIRN_OK || strcmp(st->message, "etcdserver: permission denied") == 0) {
		x->h->health = true;
	} else {
		char text[CAIRN_MSG_MAX + 64];
		cairn_status_text(st, text, sizeof text);
		snprintf(x->h->error, sizeof x->h->error, "%s", text);
	}
	(*x->pending)--;
}

int cmd_ep_health(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct strlist eps;
	ctl_endpoints(ctl, g_ep_cluster, &eps);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct ep_health *hs = calloc(eps.n + 1, sizeof *hs);
	struct hc *xs = calloc(eps.n + 1, sizeof *xs);
	size_t *order = calloc(eps.n + 1, sizeof *order);
	int pending = 0;
	for (size_t i = 0; i < eps.n; i++) {
		hs[i].ep = eps.v[i];
		xs[i] = (struct hc){.ctl = ctl, .h = &hs[i], .pending = &pending};
		xs[i].c = ctl_client_on(ctl, &loop, (const char *const *)&eps.v[i], 1);
		Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
		r.key.data = (uint8_t *)"health";
		r.key.len = 6;
		struct cairn_call_opts o = ctl_opts(ctl);
		xs[i].start = ctl_now_ns();
		if (cairn_kv_range(xs[i].c, &r, &o, health_done, &xs[i]) == 0)
			pending++;
	}
	while (pending > 0)
		uv_run(&loop, UV_RUN_ONCE);
	bool errs = false;
	for (size_t i = 0; i < eps.n; i++) {
		cairn_client_close(xs[i].c);
		errs |= hs[i].error[0] != 0;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	struct buf out = {0}, err = {0};
	struct printer_opts po = ctl_popts(ctl);
	int rv = print_ep_health(&out, &err, &po, hs, eps.n);
	ctl_flush(&err, stderr);
	ctl_emit(ctl, &out, rv);
	buf_free(&err);
	free(hs);
	free(xs);
	free(order);
	strlist_free(&eps);
	if (errs)
		ctl_fail(EXIT_ERROR, "%s", "unhealthy cluster");
	return 0;
}

/* ---- endpoint status / hashkv ----------------------------------------------------------- */

int cmd_ep_status(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct strlist eps;
	ctl_endpoints(ctl, g_ep_cluster, &eps);
	struct ep_status *ss = calloc(eps.n + 1, sizeof *ss);
	Etcdserverpb__StatusResponse **resps = calloc(eps.n + 1, sizeof *resps);
	size_t n = 0;
	bool failed = false;
	for (size_t i = 0; i < eps.n; i++) {
		struct cairn_client *c = ctl_client_direct(ctl, eps.v[i]);
		Etcdserverpb__StatusRequest r = ETCDSERVERPB__STATUS_REQUEST__INIT;
		struct cairn_call_opts o = ctl_opts(ctl);
		struct cairn_status st;
		if (cairn_maint_status_sync(c, &r, &o, &resps[n], &st)) {
			char text[CAIRN_MSG_MAX + 64];
			fprintf(stderr, "Failed to get the status of endpoint %s (%s)\n", eps.v[i],
			        cairn_status_text(&st, text, sizeof text));
			failed = true;
		} else {
			ss[n].ep = eps.v[i];
			ss[n].resp = resps[n];
			n++;
		}
		cairn_client_close(c);
	}
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_ep_status(&out, &po, ss, n));
	for (size_t i = 0; i < n; i++)
		cairn_response_free(resps[i]);
	free(resps);
	free(ss);
	strlist_free(&eps);
	if (failed)
		exit(EXIT_ERROR);
	return 0;
}

int cmd_ep_hashkv(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct strlist eps;
	ctl_endpoints(ctl, g_ep_cluster, &eps);
	struct ep_hash *hs = calloc(eps.n + 1, sizeof *hs);
	Etcdserverpb__HashKVResponse **resps = calloc(eps.n + 1, sizeof *resps);
	size_t n = 0;
	bool failed = false;
	char last[CAIRN_MSG_MAX + 64] = "";
	for (size_t i = 0; i < eps.n; i++) {
		struct cairn_client *c = ctl_client_direct(ctl, eps.v[i]);
		Etcdserverpb__HashKVRequest r = ETCDSERVERPB__HASH_KVREQUEST__INIT;
		r.revision = g_hashkv_rev;
		struct cairn_call_opts o = ctl_opts(ctl);
		struct cairn_status st;
		if (cairn_maint_hash_kv_sync(c, &r, &o, &resps[n], &st)) {
			char text[CAIRN_MSG_MAX + 64];
			fprintf(stderr, "Failed to get the hash of endpoint %s (%s)\n", eps.v[i],
			        cairn_status_text(&st, text, sizeof text));
			snprintf(last, sizeof last, "%s", text);
			failed = true;
		} else {
			hs[n].ep = eps.v[i];
			hs[n].resp = resps[n];
			n++;
		}
		cairn_client_close(c);
	}
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_ep_hashkv(&out, &po, hs, n));
	for (size_t i = 0; i < n; i++)
		cairn_response_free(resps[i]);
	free(resps);
	free(hs);
	strlist_free(&eps);
	if (failed)
		ctl_fail(EXIT_ERROR, "%s", last);
	return 0;
}

/* ---- alarms ------------------------------------------------------------------------------- */

static Etcdserverpb__AlarmResponse *alarm_call(struct ctl *ctl, Etcdserverpb__AlarmRequest *r)
{
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__AlarmResponse *resp;
	struct cairn_status st;
	if (cairn_maint_alarm_sync(ctl_client(ctl), r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	return resp;
}

int cmd_alarm_list(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	Etcdserverpb__AlarmRequest r = ETCDSERVERPB__ALARM_REQUEST__INIT;
	r.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
	Etcdserverpb__AlarmResponse *resp = alarm_call(ctl, &r);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_alarm(&out, &po, resp));
	cairn_response_free(resp);
	return 0;
}

int cmd_alarm_disarm(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* clientv3 AlarmDisarm with no member and no type: list, then
	 * disarm each, collecting what each disarm reports. */
	Etcdserverpb__AlarmRequest r = ETCDSERVERPB__ALARM_REQUEST__INIT;
	r.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
	Etcdserverpb__AlarmResponse *list = alarm_call(ctl, &r);
	Etcdserverpb__AlarmResponse all = ETCDSERVERPB__ALARM_RESPONSE__INIT;
	Etcdserverpb__AlarmResponse **parts = calloc(list->n_alarms + 1, sizeof *parts);
	size_t total = 0;
	for (size_t i = 0; i < list->n_alarms; i++) {
		Etcdserverpb__AlarmRequest d = ETCDSERVERPB__ALARM_REQUEST__INIT;
		d.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
		d.memberid = list->alarms[i]->memberid;
		d.alarm = list->alarms[i]->alarm;
		parts[i] = alarm_call(ctl, &d);
		total += parts[i]->n_alarms;
	}
	all.alarms = calloc(total + 1, sizeof *all.alarms);
	for (size_t i = 0; i < list->n_alarms; i++)
		for (size_t k = 0; k < parts[i]->n_alarms; k++)
			all.alarms[all.n_alarms++] = parts[i]->alarms[k];
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_alarm(&out, &po, &all));
	for (size_t i = 0; i < list->n_alarms; i++)
		cairn_response_free(parts[i]);
	free(parts);
	free(all.alarms);
	cairn_response_free(list);
	return 0;
}

/* ---- defrag ---------------------------------------------------------------------------------- */

int cmd_defrag(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (g_defrag_data_dir && *g_defrag_data_dir)
		return ctl_defrag_data_dir(g_defrag_data_dir);
	struct strlist eps;
	ctl_endpoints(ctl, g_defrag_cluster, &eps);
	int failures = 0;
	for (size_t i = 0; i < eps.n; i++) {
		struct cairn_client *c = ctl_client_direct(ctl, eps.v[i]);
		Etcdserverpb__DefragmentRequest r = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
		struct cairn_call_opts o = ctl_opts(ctl);
		Etcdserverpb__DefragmentResponse *resp;
		struct cairn_status st;
		if (cairn_maint_defragment_sync(c, &r, &o, &resp, &st)) {
			char text[CAIRN_MSG_MAX + 64];
			fprintf(stderr, "Failed to defragment etcd member[%s] (%s)\n", eps.v[i],
			        cairn_status_text(&st, text, sizeof text));
			failures++;
		} else {
			printf("Finished defragmenting etcd member[%s]\n", eps.v[i]);
			fflush(stdout);
			cairn_response_free(resp);
		}
		cairn_client_close(c);
	}
	strlist_free(&eps);
	if (failures)
		exit(EXIT_ERROR);
	return 0;
}

/* ---- snapshot save -------------------------------------------------------------------------- */

struct snap {
	int fd;
	uint64_t size;
	int err;
	bool done;
	struct cairn_status st;
};

static int snap_chunk(void *arg, const uint8_t *data, size_t len, uint64_t remaining)
{
	(void)remaining;
	struct snap *s = arg;
	while (len > 0) {
		ssize_t n = write(s->fd, data, len);
		if (n < 0) {
			s->err = errno;
			return 1;
		}
		data += n;
		len -= (size_t)n;
		s->size += (uint64_t)n;
	}
	return 0;
}

static void snap_end(void *arg, const struct cairn_status *st)
{
	struct snap *s = arg;
	s->st = *st;
	s->done = true;
}

/* Go's os.PathError text: "open <path>: no such file or directory". */
static void go_errno(struct buf *b, int e)
{
	const char *t = strerror(e);
	char c = t[0] >= 'A' && t[0] <= 'Z' ? (char)(t[0] + 32) : t[0];
	buf_put(b, &c, 1);
	buf_puts(b, t + 1);
}

/* clientv3/snapshot v3Manager.Save, with its log lines. */
int cmd_snapshot_save(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "snapshot save expects one argument");
	if (ctl->endpoints.n != 1) {
		struct buf l = {0};
		for (size_t i = 0; i < ctl->endpoints.n; i++)
			buf_printf(&l, "%s%s", i ? " " : "", ctl->endpoints.v[i]);
		ctl_fail(EXIT_INTERRUPTED,
		         "snapshot must be requested to one selected node, not multiple [%s]",
		         buf_str(&l));
	}
	const char *path = argv[0];
	struct cairn_client *c = ctl_client(ctl);
	struct buf part = {0}, f = {0};
	buf_printf(&part, "%s.part", path);
	struct snap s = {.fd = open(buf_str(&part), O_WRONLY | O_CREAT | O_TRUNC, 0600)};
	if (s.fd < 0) {
		struct buf e = {0};
		buf_printf(&e, "open %s: ", buf_str(&part));
		go_errno(&e, errno);
		ctl_fail(EXIT_INTERRUPTED, "could not open %s (%s)", buf_str(&part), buf_str(&e));
	}
	buf_puts(&f, ",\"path\":\"");
	zap_string(&f, buf_str(&part));
	buf_puts(&f, "\"");
	ctl_log_info("snapshot/v3_snapshot.go:119", "created temporary db file", buf_str(&f));
	int64_t start = ctl_now_ns();
	/* "If user does not specify --command-timeout, there will be no
	 * timeout for snapshot save" (etcdctl); the stream has none here. */
	int rv = cairn_maint_snapshot(c, snap_chunk, snap_end, &s);
	if (rv)
		ctl_fail(EXIT_INTERRUPTED, "%s", cairn_strerror(rv));
	ctl_log_info("clientv3/maintenance.go:200", "opened snapshot stream; downloading", "");
	f.len = 0;
	buf_puts(&f, ",\"endpoint\":\"");
	zap_string(&f, ctl->endpoints.v[0]);
	buf_puts(&f, "\"");
	ctl_log_info("snapshot/v3_snapshot.go:127", "fetching snapshot", buf_str(&f));
	cairn_client_run_until(c, &s.done, 0);
	if (s.err) {
		unlink(buf_str(&part));
		struct buf e = {0};
		buf_printf(&e, "write %s: ", buf_str(&part));
		go_errno(&e, s.err);
		ctl_fail(EXIT_INTERRUPTED, "%s", buf_str(&e));
	}
	if (s.st.code != CAIRN_OK) {
		unlink(buf_str(&part));
		ctl_fail_status(EXIT_INTERRUPTED, &s.st, NULL);
	}
	ctl_log_info("clientv3/maintenance.go:208", "completed snapshot read; closing", "");
	if (s.size % 512 != 32) {
		unlink(buf_str(&part));
		ctl_fail(EXIT_INTERRUPTED, "sha256 checksum not found [bytes: %llu]",
		         (unsigned long long)s.size);
	}
	if (fsync(s.fd) != 0 || close(s.fd) != 0) {
		struct buf e = {0};
		go_errno(&e, errno);
		unlink(buf_str(&part));
		ctl_fail(EXIT_INTERRUPTED, "%s", buf_str(&e));
	}
	f.len = 0;
	buf_puts(&f, ",\"endpoint\":\"");
	zap_string(&f, ctl->endpoints.v[0]);
	buf_puts(&f, "\",\"size\":\"");
	humanize_bytes(&f, s.size);
	buf_puts(&f, "\",\"took\":");
	ctl_go_float(&f, (double)(ctl_now_ns() - start) / 1e9);
	ctl_log_info("snapshot/v3_snapshot.go:142", "fetched snapshot", buf_str(&f));
	if (rename(buf_str(&part), path) != 0) {
		struct buf e = {0};
		buf_printf(&e, "rename %s %s: ", buf_str(&part), path);
		go_errno(&e, errno);
		ctl_fail(EXIT_INTERRUPTED, "could not rename %s to %s (%s)", buf_str(&part), path,
		         buf_str(&e));
	}
	f.len = 0;
	buf_puts(&f, ",\"path\":\"");
	zap_string(&f, path);
	buf_puts(&f, "\"");
	ctl_log_info("snapshot/v3_snapshot.go:152", "saved", buf_str(&f));
	buf_free(&f);
	buf_free(&part);
	printf("Snapshot saved at %s\n", path);
	return 0;
}

/* ---- move-leader ------------------------------------------------------------------------------
 */

int cmd_move_leader(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "move-leader command needs 1 argument");
	uint64_t target;
	struct buf e = {0};
	if (parse_uint64(argv[0], 16, &target, &e))
		ctl_fail(EXIT_BAD_ARGS, "%s", buf_str(&e));
	struct cairn_client *leader = NULL;
	uint64_t leader_id = 0;
	for (size_t i = 0; i < ctl->endpoints.n && !leader; i++) {
		struct cairn_client *c =
		    ctl_client_for(ctl, (const char *const *)&ctl->endpoints.v[i], 1);
		Etcdserverpb__StatusRequest r = ETCDSERVERPB__STATUS_REQUEST__INIT;
		struct cairn_call_opts o = ctl_opts(ctl);
		Etcdserverpb__StatusResponse *resp;
		struct cairn_status st;
		if (cairn_maint_status_sync(c, &r, &o, &resp, &st))
			ctl_fail_status(EXIT_ERROR, &st, NULL);
		if (resp->header && resp->header->member_id == resp->leader) {
			leader = c;
			leader_id = resp->leader;
		} else {
			cairn_client_close(c);
		}
		cairn_response_free(resp);
	}
	if (!leader) {
		struct buf l = {0};
		for (size_t i = 0; i < ctl->endpoints.n; i++)
			buf_printf(&l, "%s%s", i ? " " : "", ctl->endpoints.v[i]);
		ctl_fail(EXIT_BAD_ARGS, "no leader endpoint given at [%s]", buf_str(&l));
	}
	Etcdserverpb__MoveLeaderRequest r = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
	r.targetid = target;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MoveLeaderResponse *resp;
	struct cairn_status st;
	if (cairn_maint_move_leader_sync(leader, &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_move_leader(&out, &po, leader_id, target, resp));
	cairn_response_free(resp);
	cairn_client_close(leader);
	return 0;
}

int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	printf("%s version: %s\nAPI version: %s\n", ctl_progname, CAIRN_VERSION, CAIRN_API_VERSION);
	return 0;
}
