/*
 * client/ctl/cmd_perf.c - check perf: etcdctl 3.4's write benchmark and
 * its verdict (etcd v3.4.23 etcdctl/ctlv3/command/check.go).
 *
 * The workload models are etcdctl's (s: 150 writes/s from 50 clients for
 * 60 s; m: 1000/200; l: 8000/500; xl: 15000/1000): puts of a 256-byte key
 * under --prefix and a 1 KiB value at the model's rate, each client with a
 * connection of its own, all on one loop; then the prefix is deleted,
 * optionally compacted and defragmented, and the results are judged as
 * etcdctl judges them (throughput > 90 % of the target, slowest < 0.5 s,
 * standard deviation < 0.1 s), with its PASS/FAIL lines. A progress bar
 * counts the seconds on stdout as etcdctl's does.
 *
 * CAIRNCTL_CHECK_PERF_SECONDS shortens the run (tests); the output layout
 * stays the same.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

struct perf {
	struct ctl *ctl;
	struct cairn_client **clients;
	int nclients, next;
	int64_t limit, duration; /* puts/s, seconds */
	int64_t issued, done, errors, pending;
	double sum, sumsq, slowest;
	int64_t start_ns;
	bool stop;
	uv_timer_t tick, bar;
	int secs;
	struct errdist {
		char msg[160];
		int n;
	} errs[16];
	int nerrs;
};

struct req {
	struct perf *p;
	int64_t start;
};

static void put_done(void *arg, const struct cairn_status *st, const void *resp)
{
	(void)resp;
	struct req *r = arg;
	struct perf *p = r->p;
	double secs = (double)(ctl_now_ns() - r->start) / 1e9;
	free(r);
	p->pending--;
	p->done++;
	if (st->code != CAIRN_OK) {
		p->errors++;
		char text[CAIRN_MSG_MAX + 64];
		cairn_status_text(st, text, sizeof text);
		int i = 0;
		while (i < p->nerrs && strcmp(p->errs[i].msg, text) != 0)
			i++;
		if (i == p->nerrs && p->nerrs < 16)
			snprintf(p->errs[p->nerrs++].msg, sizeof p->errs[0].msg, "%.150s", text);
		if (i < 16)
			p->errs[i].n++;
		return;
	}
	p->sum += secs;
	p->sumsq += secs * secs;
	if (secs > p->slowest)
		p->slowest = secs;
}

static void issue(struct perf *p)
{
	/* 256-byte key: a random varint in zeros, as etcdctl's */
	uint8_t key[300] = {0};
	size_t pl = strlen(g_perf_prefix);
	memcpy(key, g_perf_prefix, pl);
	uint64_t r = ((uint64_t)rand() << 31 ^ (uint64_t)rand()) & INT64_MAX;
	uint64_t zz = r << 1; /* zig-zag of a non-negative value */
	size_t i = pl;
	while (zz >= 0x80) {
		key[i++] = (uint8_t)(zz | 0x80);
		zz >>= 7;
	}
	key[i] = (uint8_t)zz;
	static uint8_t value[1024];
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	req.key = (ProtobufCBinaryData){pl + 256, key};
	req.value = (ProtobufCBinaryData){sizeof value, value};
	struct req *q = malloc(sizeof *q);
	q->p = p;
	q->start = ctl_now_ns();
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	struct cairn_client *c = p->clients[p->next++ % p->nclients];
	if (cairn_kv_put(c, &req, &o, put_done, q) == 0) {
		p->pending++;
		p->issued++;
	} else {
		free(q);
	}
}

/* A token bucket of depth 1 at `limit` per second (rate.NewLimiter). */
static void tick_cb(uv_timer_t *t)
{
	struct perf *p = t->data;
	int64_t now = ctl_now_ns();
	if (now - p->start_ns >= p->duration * 1000000000) {
		p->stop = true;
		uv_timer_stop(t);
		return;
	}
	int64_t due = (now - p->start_ns) * p->limit / 1000000000 + 1;
	while (p->issued < due)
		issue(p);
}

static void print_bar(struct perf *p, bool final)
{
	/* cheggaaa/pb with format "Bom !": count, bar, percent, time */
	int width = 50;
	int filled = (int)(width * p->secs / p->duration);
	struct buf b = {0};
	buf_printf(&b, "\r%3d / %" PRId64 " B", p->secs, p->duration);
	for (int i = 0; i < width; i++)
		buf_puts(&b, i < filled - 1 ? "o" : i == filled - 1 ? "m" : " ");
	buf_printf(&b, "! %.2f%% ", 100.0 * p->secs / (double)p->duration);
	go_duration(&b, (int64_t)p->secs * 1000000000);
	if (final)
		buf_puts(&b, "\n");
	ctl_flush(&b, stdout);
	buf_free(&b);
}

static void bar_cb(uv_timer_t *t)
{
	struct perf *p = t->data;
	if (p->secs < p->duration)
		p->secs++;
	print_bar(p, p->secs >= p->duration);
	if (p->secs >= p->duration)
		uv_timer_stop(t);
}

int cmd_check_perf(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const struct {
		const char *names[2];
		int64_t limit, clients;
	} models[] = {{{"s", "small"}, 150, 50},
	              {{"m", "medium"}, 1000, 200},
	              {{"l", "large"}, 8000, 500},
	              {{"xl", "xLarge"}, 15000, 1000}};
	int model = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(g_perf_load, models[i].names[0]) ||
		    !strcmp(g_perf_load, models[i].names[1]))
			model = i;
	if (model < 0)
		ctl_fail(EXIT_BAD_FEATURE, "unknown load option %s", g_perf_load);
	struct perf p = {.ctl = ctl, .limit = models[model].limit, .duration = 60};
	const char *secs = getenv("CAIRNCTL_CHECK_PERF_SECONDS");
	if (secs && atoi(secs) > 0)
		p.duration = atoi(secs);
	p.nclients = (int)models[model].clients;

	/* The prefix must be empty. */
	struct cairn_client *c0 = ctl_client(ctl);
	uint8_t end[512];
	size_t pl = strlen(g_perf_prefix);
	if (pl >= sizeof end)
		ctl_fail(EXIT_BAD_ARGS, "%s", "prefix too long");
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key = (ProtobufCBinaryData){pl, (uint8_t *)g_perf_prefix};
	rr.range_end = (ProtobufCBinaryData){cairn_prefix_end(g_perf_prefix, pl, end), end};
	rr.limit = 1;
	struct cairn_call_opts o = {.timeout_ms = (uint64_t)p.duration * 1000};
	Etcdserverpb__RangeResponse *resp;
	struct cairn_status st;
	if (cairn_kv_range_sync(c0, &rr, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	if (resp->n_kvs > 0)
		ctl_fail(EXIT_INVALID_INPUT,
		         "prefix \"%s\" has keys. Delete with etcdctl del --prefix %s first",
		         g_perf_prefix, g_perf_prefix);
	cairn_response_free(resp);

	uv_loop_t loop;
	uv_loop_init(&loop);
	p.clients = calloc((size_t)p.nclients, sizeof *p.clients);
	for (int i = 0; i < p.nclients; i++)
		p.clients[i] = ctl_client_on(ctl, &loop, (const char *const *)ctl->endpoints.v,
		                             ctl->endpoints.n);
	uv_timer_init(&loop, &p.tick);
	uv_timer_init(&loop, &p.bar);
	p.tick.data = p.bar.data = &p;
	p.start_ns = ctl_now_ns();
	print_bar(&p, false);
	uv_timer_start(&p.tick, tick_cb, 0, 1);
	uv_timer_start(&p.bar, bar_cb, 1000, 1000);
	while (!p.stop || p.pending > 0 || uv_is_active((uv_handle_t *)&p.bar))
		uv_run(&loop, UV_RUN_ONCE);
	double total = (double)(ctl_now_ns() - p.start_ns) / 1e9;
	for (int i = 0; i < p.nclients; i++)
		cairn_client_close(p.clients[i]);
	uv_close((uv_handle_t *)&p.tick, NULL);
	uv_close((uv_handle_t *)&p.bar, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(p.clients);

	/* Clean up the prefix, as etcdctl does. */
	Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	dr.key = rr.key;
	dr.range_end = rr.range_end;
	Etcdserverpb__DeleteRangeResponse *dresp;
	if (cairn_kv_delete_sync(c0, &dr, &o, &dresp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	if (g_perf_auto_compact) {
		Etcdserverpb__CompactionRequest cr = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
		cr.revision = dresp->header ? dresp->header->revision : 0;
		Etcdserverpb__CompactionResponse *cresp;
		printf("Compacting with revision %" PRId64 "\n", cr.revision);
		fflush(stdout);
		if (cairn_kv_compact_sync(c0, &cr, &o, &cresp, &st))
			ctl_fail_status(EXIT_ERROR, &st, NULL);
		cairn_response_free(cresp);
		printf("Compacted with revision %" PRId64 "\n", cr.revision);
	}
	cairn_response_free(dresp);
	if (g_perf_auto_defrag) {
		for (size_t i = 0; i < ctl->endpoints.n; i++) {
			struct cairn_client *c = ctl_client_direct(ctl, ctl->endpoints.v[i]);
			Etcdserverpb__DefragmentRequest d = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
			Etcdserverpb__DefragmentResponse *r;
			struct buf q = {0};
			go_quote(&q, ctl->endpoints.v[i], strlen(ctl->endpoints.v[i]));
			printf("Defragmenting %s\n", buf_str(&q));
			fflush(stdout);
			if (cairn_maint_defragment_sync(c, &d, &o, &r, &st))
				ctl_fail_status(EXIT_ERROR, &st, NULL);
			printf("Defragmented %s\n", buf_str(&q));
			cairn_response_free(r);
			buf_free(&q);
			cairn_client_close(c);
		}
	}

	int64_t ok_n = p.done - p.errors;
	double rps = total > 0 ? (double)ok_n / total : 0;
	double mean = ok_n ? p.sum / (double)ok_n : 0;
	double var = ok_n ? p.sumsq / (double)ok_n - mean * mean : 0;
	double stddev = var > 0 ? sqrt(var) : 0;
	bool ok = true;
	if (p.errors) {
		printf("FAIL: too many errors\n");
		for (int i = 0; i < p.nerrs; i++)
			printf("FAIL: ERROR(%s) -> %d\n", p.errs[i].msg, p.errs[i].n);
		ok = false;
	}
	if (rps / (double)p.limit <= 0.9) {
		printf("FAIL: Throughput too low: %d writes/s\n", (int)rps + 1);
		ok = false;
	} else {
		printf("PASS: Throughput is %d writes/s\n", (int)rps + 1);
	}
	if (p.slowest > 0.5) {
		printf("Slowest request took too long: %fs\n", p.slowest);
		ok = false;
	} else {
		printf("PASS: Slowest request took %fs\n", p.slowest);
	}
	if (stddev > 0.1) {
		printf("Stddev too high: %fs\n", stddev);
		ok = false;
	} else {
		printf("PASS: Stddev is %fs\n", stddev);
	}
	if (!ok) {
		printf("FAIL\n");
		fflush(stdout);
		exit(EXIT_ERROR);
	}
	printf("PASS\n");
	return 0;
}
