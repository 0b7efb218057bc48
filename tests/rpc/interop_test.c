/*
 * Interop with other gRPC stacks (label: integration):
 *   - our client against real etcd 3.4.23 (KV Put/Range, a Trailers-Only
 *     error, Unimplemented, a Watch stream, LeaseKeepAlive half-close, a
 *     deadline, etcd's own receive limit);
 *   - grpcio 1.51 (python3-grpcio, under python3-etcd3), etcdctl 3.4.23
 *     (grpc-go 1.33) and nghttp against our server.
 * A test whose tool is missing is skipped with a message saying which.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "kv.pb-c.h"
#include "rawh2.h"
#include "rpc.pb-c.h"

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

static int run(char *const argv[], char *out, size_t cap)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(pfd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ======================================================================= */
/* Our client against real etcd                                             */
/* ======================================================================= */

static pid_t etcd_pid;
static char etcd_dir[64];

static void etcd_start(int cport)
{
	int pport = free_port();
	snprintf(etcd_dir, sizeof etcd_dir, "/tmp/cairn-rpc-etcd-XXXXXX");
	cr_assert_not_null(mkdtemp(etcd_dir));
	char curl[64], purl[64], cluster[96], ddir[96];
	snprintf(curl, sizeof curl, "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof cluster, "t=%s", purl);
	snprintf(ddir, sizeof ddir, "%s/data", etcd_dir);
	etcd_pid = fork();
	if (etcd_pid == 0) {
		int null = open("/dev/null", 1);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/bin/etcd", "etcd", "--name", "t", "--data-dir", ddir,
		      "--listen-client-urls", curl, "--advertise-client-urls", curl,
		      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		      "--initial-cluster", cluster, "--logger", "zap", "--log-level", "error",
		      (char *)NULL);
		_exit(127);
	}
}

static void etcd_stop(void)
{
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
		etcd_pid = 0;
	}
	if (etcd_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", etcd_dir);
		cr_assert_eq(system(cmd), 0);
	}
}

struct etcd_reply {
	bool done;
	int code;
	char message[256];
	ProtobufCMessage *msg;
};

static void keep_reply(struct rpc_call *call, void *arg, int code, const char *message,
                       const ProtobufCMessage *resp, const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct etcd_reply *r = arg;
	r->done = true;
	r->code = code;
	snprintf(r->message, sizeof r->message, "%s", message);
	r->msg = (ProtobufCMessage *)resp;
}

static struct fx f;

static struct etcd_reply unary(const char *path, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp, uint64_t timeout_ms)
{
	struct etcd_reply r = {0};
	struct rpc_call_options o = {.response = resp,
	                             .flags = RPC_KEEP_MESSAGES,
	                             .on_reply = keep_reply,
	                             .arg = &r,
	                             .timeout_ms = timeout_ms};
	int rv = rpc_call_unary(f.cl, path, req, &o, NULL);
	cr_assert_eq(rv, 0, "%s", rpc_strerror(rv));
	cr_assert(fx_run_until(&f, &r.done, 10000), "no answer from etcd for %s", path);
	return r;
}

static void free_reply(struct etcd_reply *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	r->msg = NULL;
}

static void connect_etcd(int port)
{
	/* Retry until etcd is up and elected (a serializable Range works). */
	memset(&f, 0, sizeof f);
	cr_assert_eq(uv_loop_init(&f.loop), 0);
	snprintf(f.addr, sizeof f.addr, "127.0.0.1:%d", port);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(rpc_client_connect(&f.loop, f.addr, NULL, &f.cl), 0);
		Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
		rr.key.data = (uint8_t *)"x";
		rr.key.len = 1;
		struct etcd_reply r = unary("/etcdserverpb.KV/Range", &rr.base,
		                            &etcdserverpb__range_response__descriptor, 1000);
		free_reply(&r);
		if (r.code == RPC_OK)
			return;
		rpc_client_close(f.cl);
		f.cl = NULL;
		fx_run_for(&f, 100);
	}
	cr_assert_fail("etcd did not come up on %s", f.addr);
}

static void close_etcd_client(void)
{
	if (f.cl)
		rpc_client_close(f.cl);
	f.cl = NULL;
	for (int i = 0; i < 100 && uv_loop_alive(&f.loop); i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	cr_assert_eq(uv_loop_close(&f.loop), 0);
}

struct watch {
	bool created, done, got_event;
	int code;
	char value[64];
	char msg[160];
	int64_t watch_id;
};

static void watch_msg(struct rpc_call *call, void *arg, const ProtobufCMessage *msg,
                      const uint8_t *bytes, size_t len)
{
	(void)call;
	(void)bytes;
	(void)len;
	struct watch *w = arg;
	const Etcdserverpb__WatchResponse *wr = (const Etcdserverpb__WatchResponse *)msg;
	if (wr->created)
		w->created = true;
	for (size_t i = 0; i < wr->n_events; i++) {
		const Mvccpb__KeyValue *kv = wr->events[i]->kv;
		snprintf(w->value, sizeof w->value, "%.*s", (int)kv->value.len, kv->value.data);
		w->got_event = true;
	}
}

static void watch_end(struct rpc_call *call, void *arg, int code, const char *message)
{
	(void)call;
	struct watch *w = arg;
	w->done = true;
	w->code = code;
	snprintf(w->msg, sizeof w->msg, "%s", message ? message : "");
}

static Etcdserverpb__PutRequest put_req(const char *k, const char *v)
{
	Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
	p.key.data = (uint8_t *)k;
	p.key.len = strlen(k);
	p.value.data = (uint8_t *)v;
	p.value.len = strlen(v);
	return p;
}

Test(etcd, our_client_against_real_etcd)
{
	if (access("/usr/bin/etcd", X_OK) != 0)
		cr_skip_test(
		    "/usr/bin/etcd is not installed: the real-etcd interop test is skipped");
	int port = free_port();
	etcd_start(port);
	connect_etcd(port);

	/* Put, then Range sees it. */
	Etcdserverpb__PutRequest p = put_req("foo", "bar");
	struct etcd_reply r =
	    unary("/etcdserverpb.KV/Put", &p.base, &etcdserverpb__put_response__descriptor, 5000);
	cr_assert_eq(r.code, RPC_OK, "Put: %d %s", r.code, r.message);
	int64_t rev = ((Etcdserverpb__PutResponse *)r.msg)->header->revision;
	cr_assert_geq(rev, 2);
	free_reply(&r);
	Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rr.key.data = (uint8_t *)"foo";
	rr.key.len = 3;
	r = unary("/etcdserverpb.KV/Range", &rr.base, &etcdserverpb__range_response__descriptor,
	          5000);
	cr_assert_eq(r.code, RPC_OK);
	Etcdserverpb__RangeResponse *resp = (Etcdserverpb__RangeResponse *)r.msg;
	cr_assert_eq(resp->n_kvs, 1);
	cr_assert_eq(resp->kvs[0]->value.len, 3);
	cr_assert_eq(memcmp(resp->kvs[0]->value.data, "bar", 3), 0);
	cr_assert_eq(resp->header->revision, rev);
	free_reply(&r);

	/* A Trailers-Only error with etcd's exact text. */
	rr.revision = rev + 1000;
	r = unary("/etcdserverpb.KV/Range", &rr.base, &etcdserverpb__range_response__descriptor,
	          5000);
	cr_assert_eq(r.code, RPC_OUT_OF_RANGE);
	cr_assert_str_eq(r.message, "etcdserver: mvcc: required revision is a future revision");
	free_reply(&r);

	/* Unknown method: grpc-go's text, which ours copies. */
	r = unary("/etcdserverpb.KV/Nope", &rr.base, NULL, 5000);
	cr_assert_eq(r.code, RPC_UNIMPLEMENTED);
	cr_assert_str_eq(r.message, "unknown method Nope for service etcdserverpb.KV");

	/* etcd's receive limit, and the text our server copies. */
	struct rpc_client *big;
	struct rpc_client_options bo = {.max_send_msg = 8 << 20};
	cr_assert_eq(rpc_client_connect(&f.loop, f.addr, &bo, &big), 0);
	char *value = malloc(3 << 20);
	memset(value, 'v', 3 << 20);
	value[(3 << 20) - 1] = '\0';
	Etcdserverpb__PutRequest bp = put_req("big", value);
	size_t packed = protobuf_c_message_get_packed_size(&bp.base);
	struct rpc_client *saved = f.cl;
	f.cl = big;
	r = unary("/etcdserverpb.KV/Put", &bp.base, NULL, 5000);
	f.cl = saved;
	cr_assert_eq(r.code, RPC_RESOURCE_EXHAUSTED);
	char want[128];
	snprintf(want, sizeof want, "grpc: received message larger than max (%zu vs. 2097152)",
	         packed);
	cr_assert_str_eq(r.message, want);
	rpc_client_close(big);
	/* 1 MiB goes through (many DATA frames, windows opened as we go);
	 * 1.5 MiB of value would pass --max-request-bytes itself. */
	value[1 << 20] = '\0';
	bp = put_req("big", value);
	r = unary("/etcdserverpb.KV/Put", &bp.base, &etcdserverpb__put_response__descriptor, 5000);
	cr_assert_eq(r.code, RPC_OK, "%s", r.message);
	free_reply(&r);
	free(value);

	/* A Watch stream: created, then an event for a Put. */
	struct watch w = {0};
	struct rpc_call_options wo = {.response = &etcdserverpb__watch_response__descriptor,
	                              .on_message = watch_msg,
	                              .on_end = watch_end,
	                              .arg = &w};
	struct rpc_call *wc;
	cr_assert_eq(rpc_call_start(f.cl, "/etcdserverpb.Watch/Watch", &wo, &wc), 0);
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	cr.key.data = (uint8_t *)"w";
	cr.key.len = 1;
	Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
	wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	wr.create_request = &cr;
	cr_assert_eq(rpc_call_send(wc, &wr.base), 0);
	cr_assert(fx_run_until(&f, &w.created, 5000));
	p = put_req("w", "event!");
	r = unary("/etcdserverpb.KV/Put", &p.base, NULL, 5000);
	cr_assert_eq(r.code, RPC_OK);
	cr_assert(fx_run_until(&f, &w.got_event, 5000));
	cr_assert_str_eq(w.value, "event!");
	rpc_call_cancel(wc);

	/* A watch that outlives its deadline ends DEADLINE_EXCEEDED. */
	struct watch w2 = {0};
	wo.arg = &w2;
	wo.timeout_ms = 300;
	cr_assert_eq(rpc_call_start(f.cl, "/etcdserverpb.Watch/Watch", &wo, &wc), 0);
	cr_assert_eq(rpc_call_send(wc, &wr.base), 0);
	cr_assert(fx_run_until(&f, &w2.done, 5000));
	/* Our timer usually wins; but etcd's watch handler returns the
	 * stream context's error as is when the deadline passes, which
	 * grpc-go sends as Unknown "context deadline exceeded", and that
	 * can arrive first. Nothing else will do. */
	cr_assert(w2.code == RPC_DEADLINE_EXCEEDED ||
	              (w2.code == RPC_UNKNOWN && !strcmp(w2.msg, "context deadline exceeded")),
	          "watch ended %d: %s", w2.code, w2.msg);

	/* LeaseGrant, then LeaseKeepAlive: one request, half-close, one reply
	 * and OK, which is what python3-etcd3's refresh() expects. */
	Etcdserverpb__LeaseGrantRequest lg = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	lg.ttl = 60;
	r = unary("/etcdserverpb.Lease/LeaseGrant", &lg.base,
	          &etcdserverpb__lease_grant_response__descriptor, 5000);
	cr_assert_eq(r.code, RPC_OK, "%s", r.message);
	int64_t id = ((Etcdserverpb__LeaseGrantResponse *)r.msg)->id;
	free_reply(&r);
	struct result ka = {0};
	struct rpc_call_options ko = {
	    .on_message = result_on_message, .on_end = result_on_end, .arg = &ka};
	struct rpc_call *kc;
	cr_assert_eq(rpc_call_start(f.cl, "/etcdserverpb.Lease/LeaseKeepAlive", &ko, &kc), 0);
	Etcdserverpb__LeaseKeepAliveRequest kr = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	kr.id = id;
	cr_assert_eq(rpc_call_send(kc, &kr.base), 0);
	cr_assert_eq(rpc_call_close_send(kc), 0);
	cr_assert(fx_run_until(&f, &ka.done, 5000));
	cr_assert_eq(ka.code, RPC_OK);
	cr_assert_eq(ka.nmsg, 1);
	Etcdserverpb__LeaseKeepAliveResponse *kar =
	    etcdserverpb__lease_keep_alive_response__unpack(NULL, ka.last_len, ka.last);
	cr_assert_not_null(kar);
	cr_assert_eq(kar->id, id);
	cr_assert_gt(kar->ttl, 0);
	etcdserverpb__lease_keep_alive_response__free_unpacked(kar, NULL);

	close_etcd_client();
	etcd_stop();
}

/* ======================================================================= */
/* Other clients against our server                                         */
/* ======================================================================= */

static struct srvthread st;
static atomic_int cancels;

static void unary_echo(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void token(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	const char *t = rpc_stream_metadata(s, "token");
	rpc_stream_send_bytes(s, t ? t : "", t ? strlen(t) : 0);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void fail(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	char msg[256];
	snprintf(msg, sizeof msg, "%.*s", (int)n, (const char *)b);
	rpc_stream_finish(s, RPC_NOT_FOUND, msg);
}

static void hold(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)s;
	(void)m;
	(void)b;
	(void)n;
}

static void on_cancel(struct rpc_stream *s, int code)
{
	(void)s;
	(void)code;
	atomic_fetch_add(&cancels, 1);
}

static void stream3(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	for (int i = 0; i < 3; i++)
		rpc_stream_send_bytes(s, b, n);
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void bidi_msg(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	if (n && b[0] == 'E')
		rpc_stream_send_bytes(s, b, n);
}

static void bidi_half_close(struct rpc_stream *s)
{
	rpc_stream_finish(s, RPC_OK, NULL);
}

static void kv_range(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)b;
	(void)n;
	const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)m;
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
	kv.key = req->key;
	kv.value.data = (uint8_t *)"bar";
	kv.value.len = 3;
	Mvccpb__KeyValue *kvs[] = {&kv};
	Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	hdr.revision = 7;
	Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	resp.header = &hdr;
	resp.kvs = kvs;
	resp.n_kvs = 1;
	resp.count = 1;
	rpc_stream_reply(s, &resp.base);
}

static void kv_put(struct rpc_stream *s, const ProtobufCMessage *m, const uint8_t *b, size_t n)
{
	(void)m;
	(void)b;
	(void)n;
	rpc_stream_finish(s, RPC_UNAVAILABLE, "etcdserver: no leader");
}

static void serve(void)
{
	st_init(&st, NULL);
	const struct rpc_method ms[] = {
	    {.path = "/test.Echo/Unary", .kind = RPC_UNARY, .on_message = unary_echo},
	    {.path = "/test.Echo/Token", .kind = RPC_UNARY, .on_message = token},
	    {.path = "/test.Echo/Fail", .kind = RPC_UNARY, .on_message = fail},
	    {.path = "/test.Echo/Hold",
	     .kind = RPC_UNARY,
	     .on_message = hold,
	     .on_cancel = on_cancel},
	    {.path = "/test.Echo/Stream", .kind = RPC_SERVER_STREAMING, .on_message = stream3},
	    {.path = "/test.Echo/Bidi",
	     .kind = RPC_BIDI,
	     .on_message = bidi_msg,
	     .on_half_close = bidi_half_close,
	     .on_cancel = on_cancel},
	    {.path = "/etcdserverpb.KV/Range",
	     .kind = RPC_UNARY,
	     .request = &etcdserverpb__range_request__descriptor,
	     .on_message = kv_range},
	    {.path = "/etcdserverpb.KV/Put",
	     .kind = RPC_UNARY,
	     .request = &etcdserverpb__put_request__descriptor,
	     .on_message = kv_put},
	};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		cr_assert_eq(rpc_server_register(st.srv, &ms[i]), 0);
	st_run(&st);
}

Test(grpcio, python_grpcio_against_our_server)
{
	if (access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1") != 0)
		cr_skip_test("Debian's python3-grpcio is not installed: grpcio interop skipped");
	serve();
	char script[512], port[16], out[8192];
	snprintf(script, sizeof script, "%s/tests/rpc/grpcio_client.py",
	         getenv("CAIRN_SOURCE_DIR") ? getenv("CAIRN_SOURCE_DIR") : ".");
	snprintf(port, sizeof port, "%d", st.port);
	char *argv[] = {"/usr/bin/python3", script, port, NULL};
	int rc = run(argv, out, sizeof out);
	cr_log_info("%s", out);
	cr_assert_eq(rc, 0, "grpcio client failed:\n%s", out);
	cr_assert_not_null(strstr(out, "all ok"));
	for (int i = 0; i < 100 && atomic_load(&cancels) < 2; i++)
		usleep(10000);
	cr_assert_eq(atomic_load(&cancels), 2, "deadline and cancel reach the handlers");
	st_fini(&st);
}

Test(etcdctl, etcdctl_against_our_server)
{
	if (access("/usr/bin/etcdctl", X_OK) != 0)
		cr_skip_test("/usr/bin/etcdctl is not installed: grpc-go interop skipped");
	serve();
	char ep[64], out[8192];
	snprintf(ep, sizeof ep, "--endpoints=127.0.0.1:%d", st.port);
	setenv("ETCDCTL_API", "3", 1);
	char *get[] = {"/usr/bin/etcdctl", ep, "get", "foo", NULL};
	int rc = run(get, out, sizeof out);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_str_eq(out, "foo\nbar\n");
	char *getw[] = {"/usr/bin/etcdctl", ep, "-w", "json", "get", "foo", NULL};
	rc = run(getw, out, sizeof out);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"revision\":7"), "%s", out);
	char *put[] = {"/usr/bin/etcdctl", ep, "put", "foo", "baz", NULL};
	rc = run(put, out, sizeof out);
	cr_assert_neq(rc, 0);
	cr_assert_not_null(strstr(out, "etcdserver: no leader"), "%s", out);
	st_fini(&st);
}

Test(nghttp, nghttp_unary_call_shows_headers_data_and_trailers)
{
	if (access("/usr/bin/nghttp", X_OK) != 0)
		cr_skip_test("nghttp (nghttp2-client) is not installed: skipped");
	serve();
	char path[] = "/tmp/cairn-rpc-nghttp-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "\0\0\0\0\5hello", 10), 10);
	close(fd);
	char url[96];
	static char out[1 << 18];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/test.Echo/Unary", st.port);
	char *argv[] = {"/usr/bin/nghttp",
	                "-nv",
	                "-H",
	                "content-type: application/grpc",
	                "-H",
	                "te: trailers",
	                "-d",
	                path,
	                url,
	                NULL};
	int rc = run(argv, out, sizeof out);
	unlink(path);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_not_null(strstr(out, ":status: 200"), "%s", out);
	cr_assert_not_null(strstr(out, "content-type: application/grpc"));
	cr_assert_not_null(strstr(out, "grpc-status: 0"), "%s", out);
	cr_assert_not_null(strstr(out, "recv DATA frame <length=10, flags=0x00, stream_id=13>"),
	                   "the echoed message: %s", out);
	/* The trailers come in a second HEADERS frame with END_STREAM. */
	const char *data = strstr(out, "recv DATA frame");
	const char *trailers = strstr(out, "grpc-status: 0");
	cr_assert(data && trailers && data < trailers, "DATA before trailers");
	st_fini(&st);
}

Test(curl, curl_gets_http1_on_the_grpc_port)
{
	if (access("/usr/bin/curl", X_OK) != 0)
		cr_skip_test("curl is not installed: skipped");
	serve();
	char url[96], out[4096];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", st.port);
	char *argv[] = {"/usr/bin/curl", "-s", "-i", url, NULL};
	int rc = run(argv, out, sizeof out);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strncmp(out, "HTTP/1.1 404 Not Found", 22) == 0, "no handler set: %s", out);
	st_fini(&st);
}
