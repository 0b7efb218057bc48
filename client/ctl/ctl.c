/*
 * client/ctl/ctl.c - cairnctl's driver: global flags and ETCDCTL_*
 * environment, the command tree, dispatch, the shared client, error exits
 * and the log lines etcdctl's libraries print (zap).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client/ctl/ctl.h"

struct ctl *ctl_g;
int ctl_g_dash = -1;
const char *ctl_progname = "cairnctl";
static struct ctl the_ctl;

/* ---- global flags ------------------------------------------------------------- */

struct flag ctl_global_flags[] = {
    FLAG("cacert", 0, FLAG_STRING, "",
         "verify certificates of TLS-enabled secure servers using this CA bundle", &the_ctl.cacert),
    FLAG("cert", 0, FLAG_STRING, "", "identify secure client using this TLS certificate file",
         &the_ctl.cert),
    FLAG("command-timeout", 0, FLAG_DURATION, "5s",
         "timeout for short running command (excluding dial timeout)", &the_ctl.command_timeout),
    FLAG("debug", 0, FLAG_BOOL, "false", "enable client-side debug logging", &the_ctl.debug),
    FLAG("dial-timeout", 0, FLAG_DURATION, "2s", "dial timeout for client connections",
         &the_ctl.dial_timeout),
    FLAG("discovery-srv", 'd', FLAG_STRING, "",
         "domain name to query for SRV records describing cluster endpoints",
         &the_ctl.discovery_srv),
    FLAG("discovery-srv-name", 0, FLAG_STRING, "", "service name to query when using DNS discovery",
         &the_ctl.discovery_srv_name),
    FLAG("endpoints", 0, FLAG_STRSLICE, "127.0.0.1:2379", "gRPC endpoints", &the_ctl.endpoints),
    FLAG("hex", 0, FLAG_BOOL, "false", "print byte strings as hex encoded strings", &the_ctl.hex),
    FLAG("insecure-discovery", 0, FLAG_BOOL, "true",
         "accept insecure SRV records describing cluster endpoints", &the_ctl.insecure_discovery),
    FLAG("insecure-skip-tls-verify", 0, FLAG_BOOL, "false",
         "skip server certificate verification (CAUTION: this option should be enabled only for "
         "testing purposes)",
         &the_ctl.insecure_skip_verify),
    FLAG("insecure-transport", 0, FLAG_BOOL, "true",
         "disable transport security for client connections", &the_ctl.insecure_transport),
    FLAG("keepalive-time", 0, FLAG_DURATION, "2s", "keepalive time for client connections",
         &the_ctl.keepalive_time),
    FLAG("keepalive-timeout", 0, FLAG_DURATION, "6s", "keepalive timeout for client connections",
         &the_ctl.keepalive_timeout),
    FLAG("key", 0, FLAG_STRING, "", "identify secure client using this TLS key file", &the_ctl.key),
    FLAG("password", 0, FLAG_STRING, "",
         "password for authentication (if this option is used, --user option shouldn't include "
         "password)",
         &the_ctl.password),
    FLAG("user", 0, FLAG_STRING, "",
         "username[:password] for authentication (prompt if password is not supplied)",
         &the_ctl.user),
    FLAG("write-out", 'w', FLAG_STRING, "simple",
         "set the output format (fields, json, protobuf, simple, table)", &the_ctl.write_out),
    {0},
};

/* ---- command-local flags -------------------------------------------------------- */

struct get_flags g_get;
struct put_flags g_put;
struct del_flags g_del;
bool g_txn_interactive, g_compact_physical, g_watch_interactive, g_watch_prefix, g_watch_prev_kv,
    g_lease_keys, g_lease_once, g_member_learner, g_ep_cluster, g_defrag_cluster, g_elect_listen,
    g_perf_auto_compact, g_perf_auto_defrag, g_restore_skip_hash;
int64_t g_watch_rev, g_hashkv_rev, g_lock_ttl;
char *g_member_peer_urls, *g_defrag_data_dir, *g_perf_load, *g_perf_prefix, *g_restore_data_dir,
    *g_restore_wal_dir, *g_restore_name, *g_restore_cluster, *g_restore_token, *g_restore_peer_urls;

static struct flag f_txn[] = {FLAG("interactive", 'i', FLAG_BOOL, "false",
                                   "Input transaction in interactive mode", &g_txn_interactive),
                              {0}};
static struct flag f_compaction[] = {
    FLAG("physical", 0, FLAG_BOOL, "false",
         "'true' to wait for compaction to physically remove all old revisions",
         &g_compact_physical),
    {0}};
static struct flag f_watch[] = {
    FLAG("interactive", 'i', FLAG_BOOL, "false", "Interactive mode", &g_watch_interactive),
    FLAG("prefix", 0, FLAG_BOOL, "false", "Watch on a prefix if prefix is set", &g_watch_prefix),
    FLAG("prev-kv", 0, FLAG_BOOL, "false",
         "get the previous key-value pair before the event happens", &g_watch_prev_kv),
    FLAG("rev", 0, FLAG_INT64, "0", "Revision to start watching", &g_watch_rev),
    {0}};
static struct flag f_ttl[] = {
    FLAG("keys", 0, FLAG_BOOL, "false", "Get keys attached to this lease", &g_lease_keys), {0}};
static struct flag f_keepalive[] = {
    FLAG("once", 0, FLAG_BOOL, "false",
         "Resets the keep-alive time to its original value and exits immediately", &g_lease_once),
    {0}};
static struct flag f_member_add[] = {
    FLAG("learner", 0, FLAG_BOOL, "false", "indicates if the new member is raft learner",
         &g_member_learner),
    FLAG("peer-urls", 0, FLAG_STRING, "", "comma separated peer URLs for the new member.",
         &g_member_peer_urls),
    {0}};
static struct flag f_member_update[] = {FLAG("peer-urls", 0, FLAG_STRING, "",
                                             "comma separated peer URLs for the updated member.",
                                             &g_member_peer_urls),
                                        {0}};
static struct flag f_endpoint[] = {FLAG("cluster", 0, FLAG_BOOL, "false",
                                        "use all endpoints from the cluster member list",
                                        &g_ep_cluster),
                                   {0}};
static struct flag f_hashkv[] = {FLAG("rev", 0, FLAG_INT64, "0",
                                      "maximum revision to hash (default: all revisions)",
                                      &g_hashkv_rev),
                                 {0}};
static struct flag f_defrag[] = {
    FLAG("cluster", 0, FLAG_BOOL, "false", "use all endpoints from the cluster member list",
         &g_defrag_cluster),
    FLAG("data-dir", 0, FLAG_STRING, "",
         "Optional. If present, defragments a data directory not in use by etcd.",
         &g_defrag_data_dir),
    {0}};
static struct flag f_restore[] = {
    FLAG("data-dir", 0, FLAG_STRING, "", "Path to the data directory", &g_restore_data_dir),
    FLAG("initial-advertise-peer-urls", 0, FLAG_STRING, "http://localhost:2380",
         "List of this member's peer URLs to advertise to the rest of the cluster",
         &g_restore_peer_urls),
    FLAG("initial-cluster", 0, FLAG_STRING, "default=http://localhost:2380",
         "Initial cluster configuration for restore bootstrap", &g_restore_cluster),
    FLAG("initial-cluster-token", 0, FLAG_STRING, "etcd-cluster",
         "Initial cluster token for the etcd cluster during restore bootstrap", &g_restore_token),
    FLAG("name", 0, FLAG_STRING, "default", "Human-readable name for this member", &g_restore_name),
    FLAG("skip-hash-check", 0, FLAG_BOOL, "false",
         "Ignore snapshot integrity hash value (required if copied from data directory)",
         &g_restore_skip_hash),
    FLAG("wal-dir", 0, FLAG_STRING, "", "Path to the WAL directory (use --data-dir if none given)",
         &g_restore_wal_dir),
    {0}};
static struct flag f_lock[] = {FLAG("ttl", 0, FLAG_INT64, "10", "timeout for session", &g_lock_ttl),
                               {0}};
static struct flag f_elect[] = {
    FLAG("listen", 'l', FLAG_BOOL, "false", "observation mode", &g_elect_listen), {0}};
static struct flag f_perf[] = {
    FLAG("auto-compact", 0, FLAG_BOOL, "false",
         "Compact storage with last revision after test is finished.", &g_perf_auto_compact),
    FLAG("auto-defrag", 0, FLAG_BOOL, "false", "Defragment storage after test is finished.",
         &g_perf_auto_defrag),
    FLAG("load", 0, FLAG_STRING, "s",
         "The performance check's workload model. Accepted workloads: s(small), m(medium), "
         "l(large), xl(xLarge)",
         &g_perf_load),
    FLAG("prefix", 0, FLAG_STRING, "/etcdctl-check-perf/",
         "The prefix for writing the performance check's keys.", &g_perf_prefix),
    {0}};

static const char put_long[] =
    "Puts the given key into the store.\n\nWhen <value> begins with '-', <value> is interpreted "
    "as a flag.\nInsert '--' for workaround:\n\n$ put <key> -- <value>\n$ put -- <key> "
    "<value>\n\nIf <value> isn't given as a command line argument and '--ignore-value' is not "
    "specified,\nthis command tries to read the value from standard input.\n\nIf <lease> "
    "isn't given as a command line argument and '--ignore-lease' is not specified,\nthis "
    "command tries to read the value from standard input.\n\nFor example,\n$ cat file | put "
    "<key>\nwill store the content of the file to <key>.";

extern struct cmd ctl_root;

#define LEAF(n, u, s, l, f, r, p)                                                           \
	{                                                                                   \
		.name = n, .use = u, .short_desc = s, .long_desc = l, .flags = f, .run = r, \
		.parent = p                                                                 \
	}

static int cmd_help_run(struct ctl *ctl, int argc, char **argv);

static struct cmd root_subs[] = {
    LEAF("get", "[options] <key> [range_end]", "Gets the key or a range of keys", NULL, NULL,
         cmd_get, NULL),
    LEAF("put", "[options] <key> <value> (<value> can also be given from stdin)",
         "Puts the given key into the store", put_long, NULL, cmd_put, NULL),
    LEAF("del", "[options] <key> [range_end]",
         "Removes the specified key or range of keys [key, range_end)", NULL, NULL, cmd_del, NULL),
    LEAF("txn", "[options]", "Txn processes all the requests in one transaction", NULL, f_txn,
         cmd_txn, NULL),
    LEAF("compaction", "[options] <revision>", "Compacts the event history in etcd", NULL,
         f_compaction, cmd_compaction, NULL),
    {.name = "alarm",
     .use = "<subcommand>",
     .short_desc = "Alarm related commands",
     .subs = (struct cmd[]){LEAF("disarm", "", "Disarms all alarms", NULL, NULL, cmd_alarm_disarm,
                                 NULL),
                            LEAF("list", "", "Lists all alarms", NULL, NULL, cmd_alarm_list, NULL),
                            {0}},
     .parent = NULL},
    {.name = "check",
     .use = "<subcommand>",
     .short_desc = "commands for checking properties of the etcd cluster",
     .subs = (struct cmd[]){LEAF("perf", "[options]", "Check the performance of the etcd cluster",
                                 NULL, f_perf, cmd_check_perf, NULL),
                            {0}},
     .parent = NULL},
    LEAF("defrag", "", "Defragments the storage of the etcd members with given endpoints", NULL,
         f_defrag, cmd_defrag, NULL),
    LEAF("elect", "<election-name> [proposal]", "Observes and participates in leader election",
         NULL, f_elect, cmd_elect, NULL),
    {.name = "endpoint",
     .use = "<subcommand>",
     .short_desc = "Endpoint related commands",
     .pflags = f_endpoint,
     .subs =
         (struct cmd[]){LEAF("hashkv", "",
                             "Prints the KV history hash for each endpoint in --endpoints", NULL,
                             f_hashkv, cmd_ep_hashkv, NULL),
                        LEAF("health", "",
                             "Checks the healthiness of endpoints specified in `--endpoints` flag",
                             NULL, NULL, cmd_ep_health, NULL),
                        LEAF("status", "",
                             "Prints out the status of endpoints specified in `--endpoints` flag",
                             "When --write-out is set to simple, this command prints out "
                             "comma-separated status lists for each endpoint.\nThe items in the "
                             "lists are endpoint, ID, version, db size, is leader, is learner, "
                             "raft term, raft index, raft applied index, errors.",
                             NULL, cmd_ep_status, NULL),
                        {0}},
     .parent = NULL},
    LEAF("help", "[command]", "Help about any command", NULL, NULL, cmd_help_run, NULL),
    {.name = "lease",
     .use = "<subcommand>",
     .short_desc = "Lease related commands",
     .subs =
         (struct cmd[]){
             LEAF("grant", "<ttl>", "Creates leases", NULL, NULL, cmd_lease_grant, NULL),
             LEAF("keep-alive", "[options] <leaseID>", "Keeps leases alive (renew)", NULL,
                  f_keepalive, cmd_lease_keepalive, NULL),
             LEAF("list", "", "List all active leases", NULL, NULL, cmd_lease_list, NULL),
             LEAF("revoke", "<leaseID>", "Revokes leases", NULL, NULL, cmd_lease_revoke, NULL),
             LEAF("timetolive", "<leaseID> [options]", "Get lease information", NULL, f_ttl,
                  cmd_lease_ttl, NULL),
             {0}},
     .parent = NULL},
    LEAF("lock", "<lockname> [exec-command arg1 arg2 ...]", "Acquires a named lock", NULL, f_lock,
         cmd_lock, NULL),
    {.name = "member",
     .use = "<subcommand>",
     .short_desc = "Membership related commands",
     .subs =
         (struct cmd[]){
             LEAF("add", "<memberName> [options]", "Adds a member into the cluster", NULL,
                  f_member_add, cmd_member_add, NULL),
             LEAF("list", "", "Lists all members in the cluster",
                  "When --write-out is set to simple, this command prints out comma-separated "
                  "member lists for each endpoint.\nThe items in the lists are ID, Status, Name, "
                  "Peer Addrs, Client Addrs, Is Learner.",
                  NULL, cmd_member_list, NULL),
             LEAF("promote", "<memberID>", "Promotes a non-voting member in the cluster",
                  "Promotes a non-voting learner member to a voting one in the cluster.", NULL,
                  cmd_member_promote, NULL),
             LEAF("remove", "<memberID>", "Removes a member from the cluster", NULL, NULL,
                  cmd_member_remove, NULL),
             LEAF("update", "<memberID> [options]", "Updates a member in the cluster", NULL,
                  f_member_update, cmd_member_update, NULL),
             {0}},
     .parent = NULL},
    LEAF("move-leader", "<transferee-member-id>",
         "Transfers leadership to another etcd cluster member.", NULL, NULL, cmd_move_leader, NULL),
    {.name = "snapshot",
     .use = "<subcommand>",
     .short_desc = "Manages etcd node snapshots",
     .subs =
         (struct cmd[]){LEAF("restore", "<filename> [options]",
                             "Restores an etcd member snapshot to an etcd directory", NULL,
                             f_restore, cmd_snapshot_restore, NULL),
                        LEAF("save", "<filename>",
                             "Stores an etcd node backend snapshot to a given file", NULL, NULL,
                             cmd_snapshot_save, NULL),
                        LEAF("status", "<filename>", "Gets backend snapshot status of a given file",
                             "When --write-out is set to simple, this command prints out "
                             "comma-separated status lists for each endpoint.\nThe items in the "
                             "lists are hash, revision, total keys, total size.",
                             NULL, cmd_snapshot_status, NULL),
                        {0}},
     .parent = NULL},
    LEAF("version", "", "Prints the version of etcdctl", NULL, NULL, cmd_version, NULL),
    LEAF("watch", "[options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
         "Watches events stream on keys or prefixes", NULL, f_watch, cmd_watch, NULL),
    {0},
};

struct cmd ctl_root = {.name = "etcdctl",
                       .use = "",
                       .short_desc = "A simple command line client for etcd3.",
                       .subs = root_subs};

/* Parent links are set once at start (an initializer cannot point at an
 * element of the array being defined). */
static void link_tree(struct cmd *c)
{
	for (struct cmd *sc = (struct cmd *)c->subs; sc && sc->name; sc++) {
		sc->parent = c;
		link_tree(sc);
	}
}

/* get/put/del flag tables are shared with txn (see kv_ops.c). */
static void attach_kv_flags(void)
{
	struct cmd *subs = root_subs;
	subs[0].flags = get_flag_table(&g_get);
	subs[1].flags = put_flag_table(&g_put);
	subs[2].flags = del_flag_table(&g_del);
}

/* ---- errors and logs --------------------------------------------------------------------------
 */

void ctl_flush(struct buf *b, FILE *f)
{
	if (b->len)
		fwrite(b->p, 1, b->len, f);
	b->len = 0;
	fflush(f);
}

void ctl_fail(int code, const char *fmt, ...)
{
	fflush(stdout);
	va_list ap;
	va_start(ap, fmt);
	fputs("Error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

int64_t ctl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* zap's ISO8601 timestamp: "2026-11-24T06:14:16.818Z" (local time). */
static void iso_ts(struct buf *b)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	localtime_r(&tv.tv_sec, &tm);
	char s[64];
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "%s.%03ld", s, (long)(tv.tv_usec / 1000));
	long off = tm.tm_gmtoff;
	if (off == 0)
		buf_puts(b, "Z");
	else
		buf_printf(b, "%c%02ld%02ld", off < 0 ? '-' : '+', labs(off) / 3600,
		           (labs(off) % 3600) / 60);
}

/* Go's strconv.FormatFloat(f, 'f', -1, 64) for the values zap writes
 * (epoch seconds, durations in seconds): the shortest that round-trips. */
void ctl_go_float(struct buf *b, double f)
{
	char s[64];
	for (int prec = 0; prec < 17; prec++) {
		snprintf(s, sizeof s, "%.*f", prec, f);
		if (strtod(s, NULL) == f)
			break;
	}
	buf_puts(b, s);
}

static void epoch_ts(struct buf *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ctl_go_float(b, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void grpc_error(struct buf *b, const struct cairn_status *st, bool direct)
{
	const char *why = strstr(st->message, " failed: ");
	if (st->code == CAIRN_DEADLINE_EXCEEDED && st->reason == CAIRN_REASON_NO_CONNECTION &&
	    direct && why) {
		/* grpc-go's passthrough balancer reports the dial error */
		const char *ep = st->endpoint;
		if (strncmp(ep, "http://", 7) == 0)
			ep += 7;
		struct buf e = {0};
		buf_printf(&e, "transport: Error while dialing dial tcp %s: connect: ", ep);
		buf_put(&e, why + 9, strcspn(why + 9, ")"));
		buf_puts(b, "rpc error: code = DeadlineExceeded desc = latest balancer error: "
		            "connection error: desc = ");
		go_quote(b, e.p, e.len);
		buf_free(&e);
	} else if (st->code == CAIRN_DEADLINE_EXCEEDED && st->reason == CAIRN_REASON_NO_CONNECTION)
		buf_puts(b, "rpc error: code = DeadlineExceeded desc = latest balancer error: all "
		            "SubConns are in TransientFailure");
	else if (st->code == CAIRN_DEADLINE_EXCEEDED && st->reason == CAIRN_REASON_DEADLINE)
		buf_puts(b, "rpc error: code = DeadlineExceeded desc = context deadline exceeded");
	else
		buf_printf(b, "rpc error: code = %s desc = %s", cairn_code_name(st->code),
		           st->message);
}

void ctl_log_attempt(void *arg, const char *path, int attempt, const struct cairn_status *st)
{
	struct ctl *ctl = arg;
	(void)path;
	struct buf b = {0};
	buf_puts(&b, "{\"level\":\"warn\",\"ts\":\"");
	iso_ts(&b);
	buf_puts(&b,
	         "\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary "
	         "invoker failed\",\"target\":\"");
	zap_string(&b, ctl->target);
	buf_printf(&b, "\",\"attempt\":%d,\"error\":\"", attempt);
	struct buf e = {0};
	grpc_error(&e, st, ctl->direct);
	zap_string(&b, buf_str(&e));
	buf_free(&e);
	buf_puts(&b, "\"}\n");
	ctl_flush(&b, stderr);
	buf_free(&b);
}

void ctl_log_info(const char *caller, const char *msg, const char *fields)
{
	struct buf b = {0};
	bool iso = strncmp(caller, "clientv3/", 9) == 0; /* clientv3's own logger */
	buf_puts(&b, "{\"level\":\"info\",\"ts\":");
	if (iso) {
		buf_puts(&b, "\"");
		iso_ts(&b);
		buf_puts(&b, "\"");
	} else {
		epoch_ts(&b);
	}
	buf_printf(&b, ",\"caller\":\"%s\",\"msg\":\"%s\"%s}\n", caller, msg, fields);
	ctl_flush(&b, stderr);
	buf_free(&b);
}

void ctl_fail_status(int code, const struct cairn_status *st, const char *wrap)
{
	char text[CAIRN_MSG_MAX + 64];
	cairn_status_text(st, text, sizeof text);
	if (wrap)
		ctl_fail(code, wrap, text);
	ctl_fail(code, "%s", text);
}

/* ---- client ---------------------------------------------------------------------------------- */

static void make_uuid(char *out)
{
	uint8_t r[16];
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
		for (size_t i = 0; i < sizeof r; i++)
			r[i] = (uint8_t)rand();
	}
	if (fd >= 0)
		close(fd);
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
	        r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
	        r[14], r[15]);
}

static char *prompt_password(void)
{
	fprintf(stderr, "Password: ");
	struct termios old, now;
	int tty = isatty(0);
	if (tty && tcgetattr(0, &old) == 0) {
		now = old;
		now.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &now);
	}
	char line[512];
	char *r = fgets(line, sizeof line, stdin);
	if (tty) {
		tcsetattr(0, TCSANOW, &old);
		fputc('\n', stderr);
	}
	if (!r)
		return strdup("");
	line[strcspn(line, "\n")] = 0;
	return strdup(line);
}

/* --user/--password: Authenticate, then every call carries the token. */
static void authenticate(struct ctl *ctl, struct cairn_client *c)
{
	char *user = strdup(ctl->user);
	char *pass = NULL;
	char *colon = strchr(user, ':');
	if (ctl->password && *ctl->password) {
		if (colon)
			ctl_fail(EXIT_BAD_ARGS, "%s",
			         "username contains \":\" when --password is set");
		pass = strdup(ctl->password);
	} else if (colon) {
		*colon = 0;
		pass = strdup(colon + 1);
	} else {
		pass = prompt_password();
	}
	Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	req.name = user;
	req.password = pass;
	Etcdserverpb__AuthenticateResponse *resp;
	struct cairn_status st;
	struct cairn_call_opts o = ctl_opts(ctl);
	if (cairn_auth_authenticate_sync(c, &req, &o, &resp, &st))
		ctl_fail_status(EXIT_BAD_CONNECTION, &st, NULL);
	cairn_client_set_token(c, resp->token);
	cairn_response_free(resp);
	free(user);
	free(pass);
}

struct cairn_client *ctl_client_on(struct ctl *ctl, uv_loop_t *loop, const char *const *eps,
                                   size_t n)
{
	if (ctl->cacert && *ctl->cacert)
		ctl_fail(EXIT_BAD_CONNECTION, "%s", "TLS is not supported by cairnctl");
	/* Each client has its own dial target in the interceptor's lines,
	 * as each clientv3 client has its own resolver. */
	struct ctl *tctl = ctl;
	if (ctl->direct) {
		tctl = malloc(sizeof *tctl);
		*tctl = *ctl;
	} else if (ctl->client || loop) {
		tctl = malloc(sizeof *tctl);
		*tctl = *ctl;
		tctl->direct = false;
		make_uuid(tctl->uuid);
		const char *ep0 = n ? eps[0] : "";
		if (strncmp(ep0, "http://", 7) == 0)
			ep0 += 7;
		snprintf(tctl->target, sizeof tctl->target, "endpoint://client-%s/%s", tctl->uuid,
		         ep0);
	}
	struct cairn_config cfg = {
	    .endpoints = eps,
	    .n_endpoints = n,
	    .dial_timeout_ms = (uint64_t)(ctl->dial_timeout / 1000000),
	    .call_timeout_ms = (uint64_t)(ctl->command_timeout / 1000000),
	    .keepalive_ms = (uint64_t)(ctl->keepalive_time / 1000000),
	    .keepalive_timeout_ms = (uint64_t)(ctl->keepalive_timeout / 1000000),
	    .require_leader = true,
	    .user_agent = "cairnctl/" CAIRN_VERSION,
	    .on_attempt_failed = ctl_log_attempt,
	    .attempt_arg = tctl,
	};
	if (!cfg.dial_timeout_ms)
		cfg.dial_timeout_ms = 1;
	if (!cfg.call_timeout_ms)
		cfg.call_timeout_ms = CAIRN_TIMEOUT_NONE;
	struct cairn_client *c;
	int rv = cairn_client_new(loop, &cfg, &c);
	if (rv == -EPROTONOSUPPORT)
		ctl_fail(EXIT_BAD_CONNECTION, "%s",
		         "TLS endpoints (https://) are not supported by cairnctl");
	if (rv)
		ctl_fail(EXIT_BAD_CONNECTION, "%s", cairn_strerror(rv));
	if (ctl->user && *ctl->user && !loop)
		authenticate(ctl, c);
	return c;
}

struct cairn_client *ctl_client_for(struct ctl *ctl, const char *const *eps, size_t n)
{
	return ctl_client_on(ctl, NULL, eps, n);
}

struct cairn_client *ctl_client_direct(struct ctl *ctl, const char *ep)
{
	struct ctl tmp = *ctl;
	tmp.client = NULL;
	tmp.direct = true;
	snprintf(tmp.target, sizeof tmp.target, "passthrough:///%s", ep);
	return ctl_client_on(&tmp, NULL, &ep, 1);
}

struct printer_opts ctl_popts(struct ctl *ctl)
{
	return (struct printer_opts){.fmt = ctl->fmt, .hex = ctl->hex};
}

void ctl_emit(struct ctl *ctl, struct buf *out, int rv)
{
	static const char *const n[] = {"simple", "json", "fields", "protobuf", "table"};
	if (rv == EXIT_BAD_FEATURE)
		ctl_fail(EXIT_BAD_FEATURE, "%s not supported as output format", n[ctl->fmt]);
	ctl_flush(out, stdout);
	buf_free(out);
}

struct cairn_client *ctl_client(struct ctl *ctl)
{
	if (!ctl->client)
		ctl->client =
		    ctl_client_for(ctl, (const char *const *)ctl->endpoints.v, ctl->endpoints.n);
	return ctl->client;
}

struct cairn_call_opts ctl_opts(struct ctl *ctl)
{
	struct cairn_call_opts o = {.timeout_ms = (uint64_t)(ctl->command_timeout / 1000000)};
	if (!o.timeout_ms)
		o.timeout_ms = CAIRN_TIMEOUT_NONE;
	return o;
}

void ctl_endpoints(struct ctl *ctl, bool cluster, struct strlist *out)
{
	out->v = NULL;
	out->n = 0;
	if (!cluster) {
		for (size_t i = 0; i < ctl->endpoints.n; i++)
			strlist_set_csv(out, ctl->endpoints.v[i], true);
		return;
	}
	struct cairn_client *c = ctl_client(ctl);
	Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	Etcdserverpb__MemberListResponse *resp;
	struct cairn_status st;
	struct cairn_call_opts o = ctl_opts(ctl);
	if (cairn_member_list_sync(c, &req, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st,
		                "failed to fetch endpoints from etcd cluster member list: %s");
	for (size_t i = 0; i < resp->n_members; i++)
		for (size_t j = 0; j < resp->members[i]->n_clienturls; j++) {
			out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
			out->v[out->n++] = strdup(resp->members[i]->clienturls[j]);
		}
	cairn_response_free(resp);
}

/* ---- environment --------------------------------------------------------------------------- */

/* etcd's pkg/flags SetPflagsFromEnv: ETCDCTL_<FLAG> for every global flag
 * not given on the command line; both given is fatal (capnslog "C"). */
static void flags_from_env(void)
{
	for (struct flag *f = ctl_global_flags; f->name; f++) {
		char key[64] = "ETCDCTL_";
		size_t k = strlen(key);
		for (const char *p = f->name; *p && k < sizeof key - 1; p++)
			key[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		key[k] = 0;
		const char *v = getenv(key);
		if (!v || !*v)
			continue;
		if (f->changed) {
			struct timeval tv;
			gettimeofday(&tv, NULL);
			struct tm tm;
			localtime_r(&tv.tv_sec, &tm);
			char ts[32];
			strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
			fprintf(
			    stderr,
			    "%s.%06ld C | pkg/flags: conflicting environment variable \"%s\" is "
			    "shadowed by corresponding command-line flag (either unset environment "
			    "variable or disable flag)\n",
			    ts, (long)tv.tv_usec, key);
			exit(1);
		}
		/* Invalid values are ignored, as etcdctl 3.4 does. */
		struct buf e = {0};
		struct flag save = *f;
		switch (f->type) {
		case FLAG_BOOL: {
			bool b;
			if (parse_bool(v, &b, &e) == 0)
				*(bool *)f->ptr = b;
			break;
		}
		case FLAG_DURATION: {
			int64_t d;
			if (parse_duration(v, &d, &e) == 0)
				*(int64_t *)f->ptr = d;
			break;
		}
		case FLAG_INT64: {
			int64_t d;
			if (parse_int64(v, 10, &d, &e) == 0)
				*(int64_t *)f->ptr = d;
			break;
		}
		case FLAG_STRING:
			free(*(char **)f->ptr);
			*(char **)f->ptr = strdup(v);
			break;
		case FLAG_STRSLICE:
			strlist_set_csv(f->ptr, v, false);
			break;
		}
		*f = save;
		buf_free(&e);
	}
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static int cmd_help_run(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	struct parsed p = {0};
	struct buf err = {0}, out = {0};
	const struct cmd *c = &ctl_root;
	if (argc > 0 && flags_parse(&ctl_root, ctl_global_flags, argc, argv, &p, &err) >= 0)
		c = p.cmd;
	cmd_help(&out, c, ctl_global_flags);
	ctl_flush(&out, stdout);
	buf_free(&out);
	buf_free(&err);
	free(p.args);
	return 0;
}

void ctl_init(struct ctl *ctl)
{
	ctl_g = ctl;
	flags_reset(ctl_global_flags);
}

void ctl_tree_init(void)
{
	static bool done;
	if (!done) {
		link_tree(&ctl_root);
		attach_kv_flags();
		done = true;
	}
	ctl_init(&the_ctl);
	for (const struct cmd *c = root_subs; c->name; c++)
		for (const struct cmd *sc = c->subs; sc && sc->name; sc++)
			flags_reset(sc->flags);
	for (const struct cmd *c = root_subs; c->name; c++) {
		flags_reset(c->flags);
		flags_reset(c->pflags);
	}
}

int ctl_main(int argc, char **argv)
{
	struct ctl *ctl = &the_ctl;
	const char *slash = strrchr(argv[0], '/');
	ctl_progname = slash ? slash + 1 : argv[0];
	ctl_tree_init();
	ctl->out = stdout;

	struct parsed p = {0};
	struct buf err = {0};
	int rv = flags_parse(&ctl_root, ctl_global_flags, argc - 1, argv + 1, &p, &err);
	const struct cmd *c = p.cmd;
	struct buf out = {0};
	if (rv == 1 || (rv == 0 && !c->run && !(c == &ctl_root && p.nargs > 0))) {
		cmd_help(&out, c, ctl_global_flags);
		ctl_flush(&out, stdout);
		return 0;
	}
	if (rv < 0) {
		/* cobra prints the error, the usage (to stdout) and a blank
		 * line, then etcdctl prints the error again. */
		fprintf(stderr, "Error: %s\n", buf_str(&err));
		cmd_help(&out, c, ctl_global_flags);
		ctl_flush(&out, stdout);
		fprintf(stderr, "\n");
		ctl_fail(EXIT_ERROR, "%s", buf_str(&err));
	}
	if (c == &ctl_root) {
		fprintf(stderr,
		        "Error: unknown command \"%s\" for \"%s\"\nRun '%s --help' for usage.\n",
		        p.args[0], ctl_progname, ctl_progname);
		ctl_fail(EXIT_ERROR, "unknown command \"%s\" for \"%s\"", p.args[0], ctl_progname);
	}
	flags_from_env();
	const char *w = ctl->write_out;
	if (strcmp(w, "simple") == 0)
		ctl->fmt = OUT_SIMPLE;
	else if (strcmp(w, "json") == 0)
		ctl->fmt = OUT_JSON;
	else if (strcmp(w, "fields") == 0)
		ctl->fmt = OUT_FIELDS;
	else if (strcmp(w, "protobuf") == 0)
		ctl->fmt = OUT_PROTOBUF;
	else if (strcmp(w, "table") == 0)
		ctl->fmt = OUT_TABLE;
	else if (c->run != cmd_version && c->run != cmd_help_run)
		ctl_fail(EXIT_BAD_FEATURE, "%s", "unsupported output format");
	struct flag *ct = flag_find(ctl_global_flags, "command-timeout");
	ctl->command_timeout_set = ct->changed || getenv("ETCDCTL_COMMAND_TIMEOUT");
	ctl->cmd = c;
	make_uuid(ctl->uuid);
	const char *ep0 = ctl->endpoints.n ? ctl->endpoints.v[0] : "";
	if (strncmp(ep0, "http://", 7) == 0)
		ep0 += 7;
	else if (strncmp(ep0, "https://", 8) == 0)
		ep0 += 8;
	snprintf(ctl->target, sizeof ctl->target, "endpoint://client-%s/%s", ctl->uuid, ep0);
	srand((unsigned)ctl_now_ns());
	ctl_g_dash = p.dash;
	rv = c->run(ctl, p.nargs, p.args);
	fflush(stdout);
	if (ctl->client)
		cairn_client_close(ctl->client);
	free(p.args);
	buf_free(&err);
	buf_free(&out);
	return rv;
}
