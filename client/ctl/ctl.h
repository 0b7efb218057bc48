/*
 * client/ctl/ctl.h - cairnctl's internals: the command tree, flags, the
 * global options, the printers and the text helpers they share.
 *
 * cairnctl reproduces etcdctl 3.4.23 byte for byte where users and scripts
 * see it: output formats, error texts, exit codes, help layout
 * (shared/reference/etcd-api.md §5). The Go behaviours it imitates (pflag
 * parsing, fmt's %q, encoding/json, text/tabwriter, tablewriter,
 * go-humanize, zap's log lines) each live in one small function here, named
 * after what it imitates.
 */
#ifndef CAIRN_CLIENT_CTL_CTL_H
#define CAIRN_CLIENT_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/cairn.h"

/* etcdctl's exit codes (etcdctl/ctlv3/command/error.go). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_BAD_CONNECTION = 2,
	EXIT_INVALID_INPUT = 3,
	EXIT_BAD_FEATURE = 4,
	EXIT_INTERRUPTED = 5,
	EXIT_IO = 6,
	EXIT_BAD_ARGS = 128,
};

/* ---- text helpers (fmt.c) ------------------------------------------------ */

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_put(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* NUL-terminated view (the terminator is not counted in len). */
const char *buf_str(struct buf *b);

/* Go's strconv.Quote (fmt %q) of arbitrary bytes. */
void go_quote(struct buf *b, const void *p, size_t n);
/* Go's strconv.Unquote of a double- or back-quoted literal at s (exactly
 * the literal, nothing after). Returns 0, or -1 if malformed. */
int go_unquote(const char *s, size_t n, struct buf *out);
/* Scans one Go %q token from s (after leading spaces); *end gets the
 * position after it. Returns 0 or -1. */
int go_scan_quoted(const char *s, const char **end, struct buf *out);
/* encoding/json string (quotes included, HTML-safe escaping). */
void json_string(struct buf *b, const void *p, size_t n);
/* zap's JSON string escaping (no HTML escaping). */
void zap_string(struct buf *b, const char *s);
void base64_std(struct buf *b, const void *p, size_t n);
/* etcdctl --hex: "\x66\x6f\x6f". */
void hex_escaped(struct buf *b, const void *p, size_t n);
/* go-humanize Bytes(): "20 kB", "1.2 MB". */
void humanize_bytes(struct buf *b, uint64_t n);
/* time.Duration.String() of ns nanoseconds ("5.580554ms", "1m2.5s"). */
void go_duration(struct buf *b, int64_t ns);
/* time.ParseDuration into milliseconds (rounded down, negative refused).
 * Returns 0 or -1 with the Go error text in err ("time: invalid duration
 * \"abc\""). */
int parse_duration(const char *s, int64_t *ns, struct buf *err);
/* strconv.ParseInt / ParseUint / ParseBool with Go's error texts
 * ("strconv.ParseInt: parsing \"x\": invalid syntax"). */
int parse_int64(const char *s, int base, int64_t *out, struct buf *err);
int parse_uint64(const char *s, int base, uint64_t *out, struct buf *err);
int parse_bool(const char *s, bool *out, struct buf *err);

/* text/tabwriter with minwidth 0, tabwidth 8, padding 1, padchar '\t'
 * (etcdctl's help output). */
void tabwriter(struct buf *out, const char *text, size_t len);

/* olekukonko/tablewriter as etcdctl configures it: header centered and
 * upper-cased, cells right-aligned. cells: rows x cols, row 0 the header. */
void table_render(struct buf *out, const char *const *cells, size_t rows, size_t cols);

/* ---- flags and commands (flags.c) ---------------------------------------- */

enum flag_type {
	FLAG_BOOL,
	FLAG_STRING,
	FLAG_INT64,
	FLAG_DURATION, /* stored in nanoseconds, int64_t */
	FLAG_STRSLICE, /* comma separated, stored as struct strlist */
};

struct strlist {
	char **v;
	size_t n;
};
void strlist_free(struct strlist *l);
int strlist_set_csv(struct strlist *l, const char *csv, bool append);

struct flag {
	const char *name;
	char shorthand;
	enum flag_type type;
	const char *defval; /* as the help shows it and as parsed at start */
	const char *usage;
	void *ptr; /* bool*, char**, int64_t*, struct strlist* */
	bool changed;
	bool bool_default_true; /* shows [=true] */
};

/* A flag table entry: name, shorthand, type, default, usage, storage. */
#define FLAG(...)                         \
	{                                 \
		__VA_ARGS__, false, false \
	}

struct ctl;
struct cmd {
	const char *name;
	const char *use; /* after "etcdctl " up to " [flags]" */
	const char *short_desc;
	const char *long_desc; /* or NULL */
	struct flag *flags;    /* local, NULL-name terminated, or NULL */
	struct flag *pflags;   /* persistent: inherited by subcommands */
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const struct cmd *subs; /* NULL-name terminated, or NULL */
	const struct cmd *parent;
};

/* Parses argv (after the program name) against the tree rooted at root
 * with global flags. Sets *cmd and the positional args (pointers into
 * argv; args after "--" included; *dash = index of the first arg after
 * "--" in the positional list, or -1). Returns 0, 1 for help requested, or
 * -1 with err set (pflag's text). */
struct parsed {
	const struct cmd *cmd;
	char **args;
	int nargs;
	int dash;
};
int flags_parse(const struct cmd *root, struct flag *globals, int argc, char **argv,
                struct parsed *p, struct buf *err);
/* Resets every flag of the table to its default (etcdctl's txn reuses the
 * put/get/del commands per line with fresh flag values). */
void flags_reset(struct flag *f);
/* Parses args against one flag table alone (txn lines, watch -i lines):
 * positionals out; returns 0 or -1 with err. */
int flags_parse_simple(struct flag *f, int argc, char **argv, char ***pos, int *npos,
                       struct buf *err);
struct flag *flag_find(struct flag *f, const char *name);
/* The command's help text, as etcdctl's usage template renders it. */
void cmd_help(struct buf *out, const struct cmd *c, struct flag *globals);
/* "etcdctl lease grant" path of c. */
void cmd_path(struct buf *out, const struct cmd *c);

/* ---- global state --------------------------------------------------------- */

enum out_format {
	OUT_SIMPLE,
	OUT_JSON,
	OUT_FIELDS,
	OUT_PROTOBUF,
	OUT_TABLE
};

struct ctl {
	/* global flags */
	struct strlist endpoints;
	int64_t dial_timeout, command_timeout, keepalive_time, keepalive_timeout; /* ns */
	char *write_out;
	bool hex, debug, insecure_transport, insecure_skip_verify, insecure_discovery;
	char *user, *password, *cacert, *cert, *key, *discovery_srv, *discovery_srv_name;
	enum out_format fmt;
	bool command_timeout_set;
	/* the running command */
	const struct cmd *cmd;
	FILE *out; /* stdout */
	struct cairn_client *client;
	char target[300]; /* "endpoint://client-<uuid>/<first endpoint>" for log lines */
	bool direct;      /* target is "passthrough:///<endpoint>" (clientv3's Dial) */
	char uuid[40];
};

extern struct ctl *ctl_g; /* the running instance (for error exits) */

/* ExitWithError: "Error: <msg>" on stderr, exit code. */
void ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* A failed call: prints clientv3's text of st (optionally wrapped:
 * "failed to revoke lease (%s)") and exits. */
void ctl_fail_status(int code, const struct cairn_status *st, const char *wrap)
    __attribute__((noreturn));
/* The shared client for the global endpoints (created on first use). */
struct cairn_client *ctl_client(struct ctl *ctl);
/* A client for exactly these endpoints (caller closes it). */
struct cairn_client *ctl_client_for(struct ctl *ctl, const char *const *eps, size_t n);
/* A client for one endpoint as clientv3's maintenance calls dial it
 * (Status, HashKV, Defragment): log lines name "passthrough:///<ep>". */
struct cairn_client *ctl_client_direct(struct ctl *ctl, const char *ep);
/* A client on a caller's loop (asynchronous use), for these endpoints. */
struct cairn_client *ctl_client_on(struct ctl *ctl, uv_loop_t *loop, const char *const *eps,
                                   size_t n);
/* The printer options of the global flags. */
struct printer_opts ctl_popts(struct ctl *ctl);
/* Writes out to stdout, or fails "<fmt> not supported as output format"
 * (exit 4) if the printer said EXIT_BAD_FEATURE. Frees out. */
void ctl_emit(struct ctl *ctl, struct buf *out, int rv);
/* Go's strconv.FormatFloat(f, 'f', -1, 64). */
void ctl_go_float(struct buf *b, double f);
/* The index of the first positional argument after "--", or -1. */
extern int ctl_g_dash;
/* defrag --data-dir, snapshot status/restore: local files (cmd_local.c). */
int ctl_defrag_data_dir(const char *dir);
/* Per-call options: the command timeout. */
struct cairn_call_opts ctl_opts(struct ctl *ctl);
/* zap-style warning line of clientv3's retry interceptor. */
void ctl_log_attempt(void *arg, const char *path, int attempt, const struct cairn_status *st);
/* A zap production logger line (info level) on stderr: fields is the
 * already-encoded tail (",\"path\":\"x\"") or "". */
void ctl_log_info(const char *caller, const char *msg, const char *fields);
/* Endpoints to act on: --endpoints, or with cluster the client URLs of the
 * member list (etcdctl's endpointsFromCluster). */
void ctl_endpoints(struct ctl *ctl, bool cluster, struct strlist *out);
/* The current time in ns (monotonic), and wall clock in ns. */
int64_t ctl_now_ns(void);

/* ---- printers (print.c) -------------------------------------------------- */

struct printer_opts {
	enum out_format fmt;
	bool hex;
	bool value_only;
};

/* Each writes what etcdctl's printer writes to stdout into out. They
 * return 0, or EXIT_BAD_FEATURE after writing nothing when the format is
 * not supported (the caller prints the error etcdctl prints). */
int print_get(struct buf *out, const struct printer_opts *o, const Etcdserverpb__RangeResponse *r);
int print_put(struct buf *out, const struct printer_opts *o, const Etcdserverpb__PutResponse *r);
int print_del(struct buf *out, const struct printer_opts *o,
              const Etcdserverpb__DeleteRangeResponse *r);
int print_txn(struct buf *out, const struct printer_opts *o, const Etcdserverpb__TxnResponse *r);
/* A watch response as clientv3 hands it to etcdctl. */
int print_watch(struct buf *out, const struct printer_opts *o,
                const Etcdserverpb__WatchResponse *r);
int print_lease_grant(struct buf *out, const struct printer_opts *o,
                      const Etcdserverpb__LeaseGrantResponse *r);
int print_lease_revoke(struct buf *out, const struct printer_opts *o, int64_t id,
                       const Etcdserverpb__LeaseRevokeResponse *r);
int print_lease_keepalive(struct buf *out, const struct printer_opts *o,
                          const Etcdserverpb__LeaseKeepAliveResponse *r);
int print_lease_ttl(struct buf *out, const struct printer_opts *o,
                    const Etcdserverpb__LeaseTimeToLiveResponse *r, bool keys);
int print_lease_list(struct buf *out, const struct printer_opts *o,
                     const Etcdserverpb__LeaseLeasesResponse *r);
int print_member_add(struct buf *out, const struct printer_opts *o,
                     const Etcdserverpb__MemberAddResponse *r);
/* kind: "removed from", "updated in", "promoted in"; r: the response
 * (header and members at fields 1 and 2 in all three). */
int print_member_change(struct buf *out, const struct printer_opts *o, uint64_t id,
                        const char *kind, const ProtobufCMessage *r);
int print_member_list(struct buf *out, const struct printer_opts *o,
                      const Etcdserverpb__MemberListResponse *r);
int print_alarm(struct buf *out, const struct printer_opts *o,
                const Etcdserverpb__AlarmResponse *r);
int print_move_leader(struct buf *out, const struct printer_opts *o, uint64_t from, uint64_t to,
                      const Etcdserverpb__MoveLeaderResponse *r);

struct ep_health {
	const char *ep;
	bool health;
	char took[64];
	char error[CAIRN_MSG_MAX + 64];
};
struct ep_status {
	const char *ep;
	const Etcdserverpb__StatusResponse *resp;
};
struct ep_hash {
	const char *ep;
	const Etcdserverpb__HashKVResponse *resp;
};
/* Health goes to stderr in simple format: err gets it; out the rest. */
int print_ep_health(struct buf *out, struct buf *err, const struct printer_opts *o,
                    const struct ep_health *h, size_t n);
int print_ep_status(struct buf *out, const struct printer_opts *o, const struct ep_status *s,
                    size_t n);
int print_ep_hashkv(struct buf *out, const struct printer_opts *o, const struct ep_hash *h,
                    size_t n);
struct db_status {
	uint32_t hash;
	int64_t revision;
	int64_t total_key;
	int64_t total_size;
};
int print_db_status(struct buf *out, const struct printer_opts *o, const struct db_status *s);

/* ---- txn grammar (txn_parse.c) ------------------------------------------- */

/* etcdctl's argify: splits a line into arguments (quotes as etcdctl
 * handles them, its quirks included). Returns the count; *argv freed with
 * argv_free. -1 on a malformed double-quoted token (err set). */
int argify(const char *line, char ***argv, struct buf *err);
void argv_free(char **argv, int n);
/* One compare line ("mod(\"foo\") > \"1\""), added to t. Returns 0 or -1
 * with etcdctl's error text in err. */
int txn_parse_compare(const char *line, struct cairn_txn *t, struct buf *err);
/* One request line ("put foo bar", "get foo --prefix", "del a b"). Returns
 * 0, or -1 with err and *exit_code (etcdctl exits from inside the parsing
 * for argument errors). */
int txn_parse_op(const char *line, struct cairn_txn *t, enum cairn_txn_branch b, struct buf *err,
                 int *exit_code);

/* ---- request builders shared by commands and txn (kv_ops.c) -------------- */

/* Fill requests from args + the command's flag values; on an argument
 * error return the exit code with err set (0 on success). Storage for
 * keys lives in keep until the request is sent. */
struct get_flags {
	char *consistency, *order, *sort_by;
	bool from_key, prefix, keys_only, print_value_only, count_only;
	int64_t limit, rev;
};
struct put_flags {
	char *lease;
	bool prev_kv, ignore_value, ignore_lease;
};
struct del_flags {
	bool prefix, prev_kv, from_key;
};
int build_get(int argc, char **argv, const struct get_flags *f, Etcdserverpb__RangeRequest *r,
              struct buf *keep, struct buf *err);
int build_put(int argc, char **argv, const struct put_flags *f, FILE *in,
              Etcdserverpb__PutRequest *r, struct buf *keep, struct buf *err);
int build_del(int argc, char **argv, const struct del_flags *f, Etcdserverpb__DeleteRangeRequest *r,
              struct buf *keep, struct buf *err);
/* Frees what the builders kept. */
void keep_free(struct buf *keep);
/* The flag tables of get/put/del, bound to the given storage. */
struct flag *get_flag_table(struct get_flags *f);
struct flag *put_flag_table(struct put_flags *f);
struct flag *del_flag_table(struct del_flags *f);

/* ---- commands ---------------------------------------------------------- */

extern struct cmd ctl_root;
extern const char *ctl_progname; /* basename of argv[0]: "cairnctl" */
extern struct flag ctl_global_flags[];
void ctl_init(struct ctl *ctl);
/* Links the command tree and resets every flag to its default (ctl_main
 * does it; unit tests call it before parsing). */
void ctl_tree_init(void);
int ctl_main(int argc, char **argv);

int cmd_get(struct ctl *ctl, int argc, char **argv);
int cmd_put(struct ctl *ctl, int argc, char **argv);
int cmd_del(struct ctl *ctl, int argc, char **argv);
int cmd_txn(struct ctl *ctl, int argc, char **argv);
int cmd_compaction(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_lease_grant(struct ctl *ctl, int argc, char **argv);
int cmd_lease_revoke(struct ctl *ctl, int argc, char **argv);
int cmd_lease_ttl(struct ctl *ctl, int argc, char **argv);
int cmd_lease_list(struct ctl *ctl, int argc, char **argv);
int cmd_lease_keepalive(struct ctl *ctl, int argc, char **argv);
int cmd_member_add(struct ctl *ctl, int argc, char **argv);
int cmd_member_remove(struct ctl *ctl, int argc, char **argv);
int cmd_member_update(struct ctl *ctl, int argc, char **argv);
int cmd_member_promote(struct ctl *ctl, int argc, char **argv);
int cmd_member_list(struct ctl *ctl, int argc, char **argv);
int cmd_ep_health(struct ctl *ctl, int argc, char **argv);
int cmd_ep_status(struct ctl *ctl, int argc, char **argv);
int cmd_ep_hashkv(struct ctl *ctl, int argc, char **argv);
int cmd_alarm_list(struct ctl *ctl, int argc, char **argv);
int cmd_alarm_disarm(struct ctl *ctl, int argc, char **argv);
int cmd_defrag(struct ctl *ctl, int argc, char **argv);
int cmd_snapshot_save(struct ctl *ctl, int argc, char **argv);
int cmd_snapshot_status(struct ctl *ctl, int argc, char **argv);
int cmd_snapshot_restore(struct ctl *ctl, int argc, char **argv);
int cmd_move_leader(struct ctl *ctl, int argc, char **argv);
int cmd_lock(struct ctl *ctl, int argc, char **argv);
int cmd_elect(struct ctl *ctl, int argc, char **argv);
int cmd_check_perf(struct ctl *ctl, int argc, char **argv);
int cmd_version(struct ctl *ctl, int argc, char **argv);

/* Flag storage of commands (defined with the commands). */
extern struct get_flags g_get;
extern struct put_flags g_put;
extern struct del_flags g_del;
extern bool g_txn_interactive, g_compact_physical, g_watch_interactive, g_watch_prefix,
    g_watch_prev_kv, g_lease_keys, g_lease_once, g_member_learner, g_ep_cluster, g_defrag_cluster,
    g_elect_listen, g_perf_auto_compact, g_perf_auto_defrag, g_restore_skip_hash;
extern int64_t g_watch_rev, g_hashkv_rev, g_lock_ttl;
extern char *g_member_peer_urls, *g_defrag_data_dir, *g_perf_load, *g_perf_prefix,
    *g_restore_data_dir, *g_restore_wal_dir, *g_restore_name, *g_restore_cluster, *g_restore_token,
    *g_restore_peer_urls;

/* Writes b to stdout (or stderr) and empties it. */
void ctl_flush(struct buf *b, FILE *f);

#endif
