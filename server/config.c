/*
 * config.c - etcd 3.4's flags, environment variables and defaults
 * (etcdmain/config.go, embed/config.go observed), URL parsing, and the
 * member and cluster IDs etcd computes (etcdserver/api/membership/member.go
 * NewMember, cluster.go genID).
 *
 * Go's flag package rules apply: "-flag" and "--flag" are the same; a value
 * follows as "--flag=value" or as the next argument; a boolean flag takes
 * no separate argument ("--flag" or "--flag=false"). An unknown flag is
 * "flag provided but not defined: -x" with exit code 2, as etcd prints it.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strlist_add(struct strlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (!v)
		return -1;
	l->v = v;
	v[l->n] = strndup(s, len);
	if (!v[l->n])
		return -1;
	l->n++;
	return 0;
}

int strlist_split(struct strlist *l, const char *csv)
{
	const char *p = csv;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len && strlist_add(l, p, len))
			return -1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

int cairn_url_parse(const char *s, struct cairn_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	const char *sep = strstr(s, "://");
	if (!sep || sep == s || (size_t)(sep - s) >= sizeof u->scheme) {
		snprintf(err, errlen, "URL scheme must be http, https, unix, or unixs: %s", s);
		return -1;
	}
	memcpy(u->scheme, s, (size_t)(sep - s));
	if (strcmp(u->scheme, "http") && strcmp(u->scheme, "https") && strcmp(u->scheme, "unix") &&
	    strcmp(u->scheme, "unixs")) {
		snprintf(err, errlen, "URL scheme must be http, https, unix, or unixs: %s", s);
		return -1;
	}
	const char *h = sep + 3;
	const char *end = h + strcspn(h, "/?#");
	const char *colon;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb || rb + 1 >= end || rb[1] != ':')
			goto noport;
		if ((size_t)(rb - h - 1) >= sizeof u->host)
			goto noport;
		memcpy(u->host, h + 1, (size_t)(rb - h - 1));
		colon = rb + 1;
	} else {
		colon = NULL;
		for (const char *c = h; c < end; c++)
			if (*c == ':')
				colon = c;
		if (!colon || (size_t)(colon - h) >= sizeof u->host)
			goto noport;
		memcpy(u->host, h, (size_t)(colon - h));
	}
	if (colon + 1 >= end)
		goto noport;
	long port = 0;
	for (const char *c = colon + 1; c < end; c++) {
		if (!isdigit((unsigned char)*c))
			goto noport;
		port = port * 10 + (*c - '0');
		if (port > 65535)
			goto noport;
	}
	u->port = (int)port;
	if (*end == '/' && end[1] != '\0') {
		snprintf(err, errlen, "URL must not contain a path: %s", s);
		return -1;
	}
	return 0;
noport:
	snprintf(err, errlen, "URL address does not have the form \"host:port\": %s", s);
	return -1;
}

/* ---- Flags ---------------------------------------------------------------- */

enum flag_kind {
	F_STR,    /* char * */
	F_URLS,   /* struct strlist */
	F_UINT,   /* unsigned */
	F_U64,    /* uint64_t */
	F_I64,    /* int64_t */
	F_U32,    /* uint32_t */
	F_BOOL,   /* bool */
	F_STATE,  /* new|existing */
	F_LEVEL,  /* log level */
	F_ACMODE, /* periodic|revision */
	F_ACRET,  /* auto-compaction retention (string, resolved later) */
	F_DUR,    /* duration into uint64 ms */
	F_IGNORE, /* accepted and ignored, takes a value */
	F_IGNB,   /* accepted and ignored, boolean */
	F_HELP,
	F_VERSION,
};

struct flag {
	const char *name;
	int kind;
	size_t off;
};

#define O(field) offsetof(struct cairn_config, field)

static const struct flag flags[] = {
    {"name", F_STR, O(name)},
    {"data-dir", F_STR, O(data_dir)},
    {"listen-client-urls", F_URLS, O(listen_client_urls)},
    {"advertise-client-urls", F_URLS, O(advertise_client_urls)},
    {"listen-peer-urls", F_URLS, O(listen_peer_urls)},
    {"initial-advertise-peer-urls", F_URLS, O(initial_advertise_peer_urls)},
    {"listen-metrics-urls", F_URLS, O(listen_metrics_urls)},
    {"initial-cluster", F_STR, O(initial_cluster)},
    {"initial-cluster-state", F_STATE, O(initial_cluster_state_new)},
    {"initial-cluster-token", F_STR, O(initial_cluster_token)},
    {"heartbeat-interval", F_UINT, O(heartbeat_ms)},
    {"election-timeout", F_UINT, O(election_ms)},
    {"snapshot-count", F_U64, O(snapshot_count)},
    {"quota-backend-bytes", F_I64, O(quota_backend_bytes)},
    {"max-request-bytes", F_U64, O(max_request_bytes)},
    {"max-txn-ops", F_U32, O(max_txn_ops)},
    {"auto-compaction-mode", F_ACMODE, O(auto_compaction_mode)},
    {"auto-compaction-retention", F_ACRET, 0},
    {"log-level", F_LEVEL, O(log_level)},
    {"experimental-enable-lease-checkpoint", F_BOOL, O(lease_checkpoint)},
    {"strict-reconfig-check", F_BOOL, O(strict_reconfig_check)},
    {"pre-vote", F_BOOL, O(pre_vote)},
    {"experimental-fault-injection", F_BOOL, O(fault_injection)},
    {"experimental-watch-progress-notify-interval", F_DUR, O(progress_notify_ms)},
    {"version", F_VERSION, 0},
    {"help", F_HELP, 0},
    {"h", F_HELP, 0},
    /* etcd flags accepted and ignored (logged): they change nothing cairn
     * implements, or select features cairn does not have. */
    {"logger", F_IGNORE, 0},
    {"log-outputs", F_IGNORE, 0},
    {"log-package-levels", F_IGNORE, 0},
    {"wal-dir", F_IGNORE, 0},
    {"max-snapshots", F_IGNORE, 0},
    {"max-wals", F_IGNORE, 0},
    {"cors", F_IGNORE, 0},
    {"host-whitelist", F_IGNORE, 0},
    {"metrics", F_IGNORE, 0},
    {"auth-token", F_IGNORE, 0},
    {"bcrypt-cost", F_IGNORE, 0},
    {"grpc-keepalive-min-time", F_IGNORE, 0},
    {"grpc-keepalive-interval", F_IGNORE, 0},
    {"grpc-keepalive-timeout", F_IGNORE, 0},
    {"backend-batch-interval", F_IGNORE, 0},
    {"backend-batch-limit", F_IGNORE, 0},
    {"backend-bbolt-freelist-type", F_IGNORE, 0},
    {"experimental-backend-bbolt-freelist-type", F_IGNORE, 0},
    {"experimental-corrupt-check-time", F_IGNORE, 0},
    {"experimental-compaction-batch-limit", F_IGNORE, 0},
    {"experimental-peer-skip-client-san-verification", F_IGNB, 0},
    {"experimental-initial-corrupt-check", F_IGNB, 0},
    {"experimental-enable-v2v3", F_IGNORE, 0},
    {"initial-election-tick-advance", F_IGNB, 0},
    {"enable-pprof", F_IGNB, 0},
    {"debug", F_IGNB, 0},
    {"enable-v2", F_IGNB, 0},
    {"enable-grpc-gateway", F_IGNB, 0},
    {"socket-reuse-port", F_IGNB, 0},
    {"socket-reuse-address", F_IGNB, 0},
    {"unsafe-no-fsync", F_IGNB, 0},
    {"auto-tls", F_IGNB, 0},
    {"peer-auto-tls", F_IGNB, 0},
    {"client-cert-auth", F_IGNB, 0},
    {"peer-client-cert-auth", F_IGNB, 0},
    {"cert-file", F_IGNORE, 0},
    {"key-file", F_IGNORE, 0},
    {"trusted-ca-file", F_IGNORE, 0},
    {"client-crl-file", F_IGNORE, 0},
    {"peer-cert-file", F_IGNORE, 0},
    {"peer-key-file", F_IGNORE, 0},
    {"peer-trusted-ca-file", F_IGNORE, 0},
    {"peer-crl-file", F_IGNORE, 0},
    {"peer-cert-allowed-cn", F_IGNORE, 0},
    {"peer-cert-allowed-hostname", F_IGNORE, 0},
    {"cipher-suites", F_IGNORE, 0},
    {"discovery", F_IGNORE, 0},
    {"discovery-srv", F_IGNORE, 0},
    {"discovery-srv-name", F_IGNORE, 0},
    {"discovery-fallback", F_IGNORE, 0},
    {"discovery-proxy", F_IGNORE, 0},
    {"max-concurrent-streams", F_IGNORE, 0},
};

#define N_FLAGS (sizeof flags / sizeof flags[0])

void config_init(struct cairn_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->initial_cluster_state_new = true;
	cfg->heartbeat_ms = 100;
	cfg->election_ms = 1000;
	cfg->snapshot_count = 100000;
	cfg->max_request_bytes = 1536 * 1024;
	cfg->max_txn_ops = 128;
	cfg->auto_compaction_mode = AUTO_COMPACTION_PERIODIC;
	cfg->log_level = CAIRN_LOG_INFO;
	cfg->strict_reconfig_check = true;
	cfg->pre_vote = true;
	cfg->progress_notify_ms = 10 * 60 * 1000;
}

void config_free(struct cairn_config *cfg)
{
	free(cfg->name);
	free(cfg->data_dir);
	free(cfg->initial_cluster);
	free(cfg->initial_cluster_token);
	strlist_free(&cfg->listen_client_urls);
	strlist_free(&cfg->advertise_client_urls);
	strlist_free(&cfg->listen_peer_urls);
	strlist_free(&cfg->initial_advertise_peer_urls);
	strlist_free(&cfg->listen_metrics_urls);
	memset(cfg, 0, sizeof *cfg);
}

static const struct flag *flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_FLAGS; i++)
		if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

static bool flag_is_bool(const struct flag *f)
{
	return f->kind == F_BOOL || f->kind == F_IGNB || f->kind == F_HELP || f->kind == F_VERSION;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "t") || !strcasecmp(v, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "f") || !strcasecmp(v, "false")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*v == '-' || !*v)
		return -1;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || *end)
		return -1;
	*out = x;
	return 0;
}

static int parse_i64(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno || *end || !*v)
		return -1;
	*out = x;
	return 0;
}

/* Go durations: "1h30m", "500ms", "10s"; returns milliseconds. */
static int parse_duration(const char *v, uint64_t *ms)
{
	double total = 0;
	const char *p = v;
	if (!*p)
		return -1;
	if (!strcmp(p, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		char *end;
		double x = strtod(p, &end);
		if (end == p)
			return -1;
		p = end;
		double mult;
		if (!strncmp(p, "ms", 2)) {
			mult = 1;
			p += 2;
		} else if (!strncmp(p, "us", 2) || !strncmp(p, "µs", 3)) {
			mult = 0.001;
			p += p[0] == 'u' ? 2 : 3;
		} else if (!strncmp(p, "ns", 2)) {
			mult = 0.000001;
			p += 2;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else {
			return -1;
		}
		total += x * mult;
	}
	*ms = (uint64_t)total;
	return 0;
}

struct parse_state {
	char *acret; /* auto-compaction-retention, resolved after the mode */
	bool set[N_FLAGS];
	char *notes;
	size_t notes_len;
};

static void note(struct parse_state *ps, const char *fmt, const char *a)
{
	if (!ps->notes || !ps->notes_len)
		return;
	size_t used = strlen(ps->notes);
	if (used + 1 >= ps->notes_len)
		return;
	snprintf(ps->notes + used, ps->notes_len - used, fmt, a);
	used = strlen(ps->notes);
	if (used + 1 < ps->notes_len) {
		ps->notes[used] = '\n';
		ps->notes[used + 1] = '\0';
	}
}

static int set_flag(struct cairn_config *cfg, struct parse_state *ps, const struct flag *f,
                    const char *val, const char *src, char *err, size_t errlen)
{
	char *base = (char *)cfg;
	switch (f->kind) {
	case F_STR: {
		char **p = (char **)(base + f->off);
		free(*p);
		*p = strdup(val);
		return *p ? 0 : -1;
	}
	case F_URLS: {
		struct strlist *l = (struct strlist *)(base + f->off);
		strlist_free(l);
		if (strlist_split(l, val))
			return -1;
		for (size_t i = 0; i < l->n; i++) {
			struct cairn_url u;
			char uerr[512];
			if (cairn_url_parse(l->v[i], &u, uerr, sizeof uerr)) {
				snprintf(err, errlen, "invalid value \"%s\" for flag -%s: %s", val,
				         f->name, uerr);
				return -1;
			}
		}
		return 0;
	}
	case F_UINT:
	case F_U64:
	case F_U32: {
		uint64_t x;
		if (parse_u64(val, &x))
			goto bad;
		if (f->kind == F_UINT)
			*(unsigned *)(base + f->off) = (unsigned)x;
		else if (f->kind == F_U32)
			*(uint32_t *)(base + f->off) = (uint32_t)x;
		else
			*(uint64_t *)(base + f->off) = x;
		return 0;
	}
	case F_I64: {
		int64_t x;
		if (parse_i64(val, &x))
			goto bad;
		*(int64_t *)(base + f->off) = x;
		return 0;
	}
	case F_BOOL: {
		bool b;
		if (parse_bool(val, &b))
			goto bad;
		*(bool *)(base + f->off) = b;
		return 0;
	}
	case F_STATE:
		if (!strcmp(val, "new"))
			cfg->initial_cluster_state_new = true;
		else if (!strcmp(val, "existing"))
			cfg->initial_cluster_state_new = false;
		else {
			snprintf(err, errlen,
			         "invalid value \"%s\" for flag -%s: invalid value \"%s\" "
			         "(valid values are \"new\", \"existing\")",
			         val, f->name, val);
			return -1;
		}
		return 0;
	case F_LEVEL: {
		int l = cairn_log_parse_level(val);
		if (l < 0) {
			snprintf(err, errlen, "unknown log level \"%s\"", val);
			return -1;
		}
		cfg->log_level = l;
		return 0;
	}
	case F_ACMODE:
		if (!strcmp(val, "periodic"))
			cfg->auto_compaction_mode = AUTO_COMPACTION_PERIODIC;
		else if (!strcmp(val, "revision"))
			cfg->auto_compaction_mode = AUTO_COMPACTION_REVISION;
		else {
			snprintf(err, errlen, "unknown auto-compaction-mode \"%s\"", val);
			return -1;
		}
		return 0;
	case F_ACRET:
		free(ps->acret);
		ps->acret = strdup(val);
		return ps->acret ? 0 : -1;
	case F_DUR: {
		uint64_t ms;
		if (parse_duration(val, &ms))
			goto bad;
		*(uint64_t *)(base + f->off) = ms;
		return 0;
	}
	case F_IGNORE:
	case F_IGNB:
		note(ps, "ignoring flag --%s: not used by cairn", f->name);
		return 0;
	case F_HELP:
		cfg->show_help = true;
		return 0;
	case F_VERSION: {
		bool b = true;
		if (val && parse_bool(val, &b))
			goto bad;
		cfg->show_version = b;
		return 0;
	}
	}
	return 0;
bad:
	if (!strcmp(src, "env"))
		snprintf(err, errlen, "invalid value \"%s\" for ETCD_ environment variable of -%s",
		         val, f->name);
	else
		snprintf(err, errlen, "invalid value \"%s\" for flag -%s: parse error", val,
		         f->name);
	return -1;
}

static int resolve_defaults(struct cairn_config *cfg, struct parse_state *ps, char *err,
                            size_t errlen)
{
	if (!cfg->name && !(cfg->name = strdup("default")))
		return -1;
	if (!cfg->data_dir) {
		size_t len = strlen(cfg->name) + 8;
		cfg->data_dir = malloc(len);
		if (!cfg->data_dir)
			return -1;
		snprintf(cfg->data_dir, len, "%s.cairn", cfg->name);
	}
	if (!cfg->listen_client_urls.n &&
	    strlist_split(&cfg->listen_client_urls, "http://localhost:2379"))
		return -1;
	if (!cfg->advertise_client_urls.n &&
	    strlist_split(&cfg->advertise_client_urls, "http://localhost:2379"))
		return -1;
	if (!cfg->listen_peer_urls.n &&
	    strlist_split(&cfg->listen_peer_urls, "http://localhost:2380"))
		return -1;
	if (!cfg->initial_advertise_peer_urls.n &&
	    strlist_split(&cfg->initial_advertise_peer_urls, "http://localhost:2380"))
		return -1;
	if (!cfg->initial_cluster_token && !(cfg->initial_cluster_token = strdup("etcd-cluster")))
		return -1;
	if (!cfg->initial_cluster) {
		/* etcd's InitialClusterFromName: name=each advertised peer URL. */
		size_t len = 1;
		for (size_t i = 0; i < cfg->initial_advertise_peer_urls.n; i++)
			len +=
			    strlen(cfg->name) + strlen(cfg->initial_advertise_peer_urls.v[i]) + 2;
		cfg->initial_cluster = calloc(1, len);
		if (!cfg->initial_cluster)
			return -1;
		for (size_t i = 0; i < cfg->initial_advertise_peer_urls.n; i++) {
			if (i)
				strcat(cfg->initial_cluster, ",");
			strcat(cfg->initial_cluster, cfg->name);
			strcat(cfg->initial_cluster, "=");
			strcat(cfg->initial_cluster, cfg->initial_advertise_peer_urls.v[i]);
		}
	}
	if (ps->acret && *ps->acret) {
		if (cfg->auto_compaction_mode == AUTO_COMPACTION_REVISION) {
			if (parse_i64(ps->acret, &cfg->auto_compaction_retention_revs) ||
			    cfg->auto_compaction_retention_revs < 0) {
				snprintf(err, errlen, "invalid auto-compaction-retention \"%s\"",
				         ps->acret);
				return -1;
			}
		} else {
			int64_t hours;
			uint64_t ms;
			if (parse_i64(ps->acret, &hours) == 0 && hours >= 0)
				ms = (uint64_t)hours * 3600000;
			else if (parse_duration(ps->acret, &ms)) {
				snprintf(err, errlen, "invalid auto-compaction-retention \"%s\"",
				         ps->acret);
				return -1;
			}
			cfg->auto_compaction_retention_ms = ms;
		}
	}
	return 0;
}

int config_parse(struct cairn_config *cfg, int argc, char **argv, char **envp, char *err,
                 size_t errlen, char *notes, size_t notes_len)
{
	struct parse_state ps;
	memset(&ps, 0, sizeof ps);
	ps.notes = notes;
	ps.notes_len = notes_len;
	if (notes && notes_len)
		notes[0] = '\0';
	int rc = -1;
	err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			snprintf(err, errlen, "'%s' is not a valid flag", a);
			goto out;
		}
		if (!strcmp(a, "--"))
			break;
		const char *nm = a + 1;
		if (*nm == '-')
			nm++;
		if (*nm == '-' || *nm == '=') {
			snprintf(err, errlen, "bad flag syntax: %s", a);
			goto out;
		}
		const char *eq = strchr(nm, '=');
		size_t len = eq ? (size_t)(eq - nm) : strlen(nm);
		const struct flag *f = flag_find(nm, len);
		if (!f) {
			snprintf(err, errlen, "flag provided but not defined: -%.*s", (int)len, nm);
			goto out;
		}
		const char *val = eq ? eq + 1 : NULL;
		if (!val && !flag_is_bool(f)) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "flag needs an argument: -%.*s", (int)len,
				         nm);
				goto out;
			}
			val = argv[++i];
		}
		if (!val && flag_is_bool(f))
			val = "true";
		if (set_flag(cfg, &ps, f, val, "flag", err, errlen))
			goto out;
		ps.set[f - flags] = true;
	}

	/* ETCD_* variables fill what the command line left unset. */
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "ETCD_", 5) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		char key[128];
		size_t klen = (size_t)(eq - (*e + 5));
		if (klen >= sizeof key)
			continue;
		for (size_t k = 0; k < klen; k++) {
			char c = (*e)[5 + k];
			key[k] = c == '_' ? '-' : (char)tolower((unsigned char)c);
		}
		key[klen] = '\0';
		if (!strcmp(key, "unsupported-arch") || !strcmp(key, "version") ||
		    !strcmp(key, "help") || !strcmp(key, "h"))
			continue;
		const struct flag *f = flag_find(key, klen);
		if (!f) {
			note(&ps, "unrecognized environment variable %s", *e);
			continue;
		}
		if (ps.set[f - flags]) {
			note(&ps,
			     "ignoring environment variable: flag is set on the command line "
			     "(%s)",
			     f->name);
			continue;
		}
		if (set_flag(cfg, &ps, f, eq + 1, "env", err, errlen))
			goto out;
		ps.set[f - flags] = true;
	}
	if (resolve_defaults(cfg, &ps, err, errlen)) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(ps.acret);
	return rc;
}

int config_validate(const struct cairn_config *cfg, char *err, size_t errlen)
{
	if (cfg->heartbeat_ms == 0 || cfg->election_ms == 0) {
		snprintf(err, errlen, "--heartbeat-interval and --election-timeout must be > 0");
		return -1;
	}
	if (5 * cfg->heartbeat_ms > cfg->election_ms) {
		snprintf(err, errlen,
		         "--election-timeout[%ums] should be at least as 5 times as "
		         "--heartbeat-interval[%ums]",
		         cfg->election_ms, cfg->heartbeat_ms);
		return -1;
	}
	if (cfg->election_ms > 50000) {
		snprintf(
		    err, errlen,
		    "--election-timeout[%ums] is too long, and should be set less than 50000ms",
		    cfg->election_ms);
		return -1;
	}
	struct initial_cluster ic;
	if (initial_cluster_parse(cfg->initial_cluster, cfg->initial_cluster_token, &ic, err,
	                          errlen))
		return -1;
	const struct initial_member *me = NULL;
	for (size_t i = 0; i < ic.n; i++)
		if (!strcmp(ic.v[i].name, cfg->name))
			me = &ic.v[i];
	int rc = 0;
	if (!me) {
		snprintf(err, errlen,
		         "couldn't find local name \"%s\" in the initial cluster configuration",
		         cfg->name);
		rc = -1;
	} else {
		for (size_t i = 0; i < cfg->initial_advertise_peer_urls.n && !rc; i++) {
			bool found = false;
			for (size_t k = 0; k < me->peer_urls.n; k++)
				if (!strcmp(me->peer_urls.v[k],
				            cfg->initial_advertise_peer_urls.v[i]))
					found = true;
			if (!found) {
				snprintf(err, errlen,
				         "--initial-cluster has %s=%s but missing from "
				         "--initial-advertise-peer-urls=%s",
				         me->name, me->peer_urls.n ? me->peer_urls.v[0] : "",
				         cfg->initial_advertise_peer_urls.v[i]);
				rc = -1;
			}
		}
	}
	initial_cluster_free(&ic);
	return rc;
}

const char *config_usage(void)
{
	return "Usage:\n"
	       "\n"
	       "  cairnd [flags]\n"
	       "    Start a cairn server (etcd 3.4 compatible flags).\n"
	       "\n"
	       "  cairnd --version\n"
	       "    Show the version.\n"
	       "\n"
	       "Member:\n"
	       "  --name 'default'\n"
	       "  --data-dir '${name}.cairn'\n"
	       "  --snapshot-count '100000'\n"
	       "  --heartbeat-interval '100'\n"
	       "  --election-timeout '1000'\n"
	       "  --listen-peer-urls 'http://localhost:2380'\n"
	       "  --listen-client-urls 'http://localhost:2379'\n"
	       "  --listen-metrics-urls ''\n"
	       "  --quota-backend-bytes '0'\n"
	       "  --max-request-bytes '1572864'\n"
	       "  --max-txn-ops '128'\n"
	       "\n"
	       "Clustering:\n"
	       "  --initial-advertise-peer-urls 'http://localhost:2380'\n"
	       "  --initial-cluster 'default=http://localhost:2380'\n"
	       "  --initial-cluster-state 'new'\n"
	       "  --initial-cluster-token 'etcd-cluster'\n"
	       "  --advertise-client-urls 'http://localhost:2379'\n"
	       "  --strict-reconfig-check 'true'\n"
	       "  --pre-vote 'true'\n"
	       "  --auto-compaction-mode 'periodic'\n"
	       "  --auto-compaction-retention '0'\n"
	       "\n"
	       "Logging:\n"
	       "  --log-level 'info'\n"
	       "\n"
	       "Experimental:\n"
	       "  --experimental-enable-lease-checkpoint 'false'\n"
	       "  --experimental-fault-injection 'false'\n"
	       "    Serve GET /cairn/fault?drop=<ids>&delay_ms=N|clear=1 on the client port\n"
	       "    (tests only: drops or delays peer traffic to and from the named members).\n";
}

/* ---- IDs ------------------------------------------------------------------ */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void cairn_sha1(const void *data, size_t len, uint8_t out[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	const uint8_t *p = data;
	size_t left = len;
	while (left >= 64) {
		sha1_block(h, p);
		p += 64;
		left -= 64;
	}
	uint8_t tail[128];
	memset(tail, 0, sizeof tail);
	if (left)
		memcpy(tail, p, left);
	tail[left] = 0x80;
	size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha1_block(h, tail);
	if (tl == 128)
		sha1_block(h, tail + 64);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

uint64_t cairn_member_id(char *const *peer_urls, size_t n, const char *token, int64_t now_unix)
{
	char **sorted = malloc((n ? n : 1) * sizeof *sorted);
	if (!sorted)
		return 0;
	size_t len = strlen(token) + 32;
	for (size_t i = 0; i < n; i++) {
		sorted[i] = peer_urls[i];
		len += strlen(peer_urls[i]);
	}
	qsort(sorted, n, sizeof *sorted, cmp_str);
	char *buf = malloc(len);
	if (!buf) {
		free(sorted);
		return 0;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(sorted[i]);
		memcpy(buf + off, sorted[i], l);
		off += l;
	}
	memcpy(buf + off, token, strlen(token));
	off += strlen(token);
	if (now_unix)
		off += (size_t)snprintf(buf + off, len - off, "%" PRId64, now_unix);
	uint8_t d[20];
	cairn_sha1(buf, off, d);
	free(buf);
	free(sorted);
	return be64(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t cairn_cluster_id(const uint64_t *ids, size_t n)
{
	uint64_t *s = malloc((n ? n : 1) * sizeof *s);
	uint8_t *b = malloc((n ? n : 1) * 8);
	if (!s || !b) {
		free(s);
		free(b);
		return 0;
	}
	memcpy(s, ids, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_u64);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++)
			b[8 * i + k] = (uint8_t)(s[i] >> (56 - 8 * k));
	uint8_t d[20];
	cairn_sha1(b, n * 8, d);
	free(s);
	free(b);
	return be64(d);
}

void initial_cluster_free(struct initial_cluster *ic)
{
	for (size_t i = 0; i < ic->n; i++) {
		free(ic->v[i].name);
		strlist_free(&ic->v[i].peer_urls);
	}
	free(ic->v);
	memset(ic, 0, sizeof *ic);
}

static int cmp_member(const void *a, const void *b)
{
	return cmp_u64(&((const struct initial_member *)a)->id,
	               &((const struct initial_member *)b)->id);
}

int initial_cluster_parse(const char *s, const char *token, struct initial_cluster *ic, char *err,
                          size_t errlen)
{
	memset(ic, 0, sizeof *ic);
	struct strlist items = {0};
	if (strlist_split(&items, s))
		goto oom;
	for (size_t i = 0; i < items.n; i++) {
		char *eq = strchr(items.v[i], '=');
		if (!eq || eq == items.v[i]) {
			snprintf(err, errlen, "invalid initial cluster \"%s\": expected name=url",
			         s);
			goto fail;
		}
		*eq = '\0';
		struct cairn_url u;
		char uerr[512];
		if (cairn_url_parse(eq + 1, &u, uerr, sizeof uerr)) {
			snprintf(err, errlen, "%s", uerr);
			goto fail;
		}
		struct initial_member *m = NULL;
		for (size_t k = 0; k < ic->n; k++)
			if (!strcmp(ic->v[k].name, items.v[i]))
				m = &ic->v[k];
		if (!m) {
			struct initial_member *v = realloc(ic->v, (ic->n + 1) * sizeof *v);
			if (!v)
				goto oom;
			ic->v = v;
			m = &v[ic->n++];
			memset(m, 0, sizeof *m);
			if (!(m->name = strdup(items.v[i])))
				goto oom;
		}
		if (strlist_add(&m->peer_urls, eq + 1, strlen(eq + 1)))
			goto oom;
	}
	if (!ic->n) {
		snprintf(err, errlen, "initial cluster is empty");
		goto fail;
	}
	uint64_t *ids = malloc(ic->n * sizeof *ids);
	if (!ids)
		goto oom;
	for (size_t i = 0; i < ic->n; i++) {
		ic->v[i].id = cairn_member_id(ic->v[i].peer_urls.v, ic->v[i].peer_urls.n, token, 0);
		ids[i] = ic->v[i].id;
		for (size_t k = 0; k < i; k++)
			if (ids[k] == ids[i]) {
				snprintf(err, errlen, "member count is unequal");
				free(ids);
				goto fail;
			}
	}
	ic->cluster_id = cairn_cluster_id(ids, ic->n);
	free(ids);
	qsort(ic->v, ic->n, sizeof *ic->v, cmp_member);
	strlist_free(&items);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	strlist_free(&items);
	initial_cluster_free(ic);
	return -1;
}
