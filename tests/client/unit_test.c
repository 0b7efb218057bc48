/*
 * tests/client/unit_test.c - cairnctl's and libcairn's pure parts.
 *
 * printers: every fixture (tests/client/fixtures, *.fixture) holds a
 * response captured from a real etcd and what the real etcdctl 3.4.23
 * printed for it in each format (capture.py); each printer must print the
 * same bytes, and refuse the formats etcdctl refuses.
 * help: cairnctl's help texts against etcdctl's (help_*.txt).
 * Go formatting: %q, JSON, durations, go-humanize, strconv errors.
 * flags: pflag's parsing and error texts; the txn grammar and argify.
 * library: prefix ends, the txn builder, status texts.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

static const char *fixdir(void)
{
	static char dir[4096];
	const char *src = getenv("CAIRN_SOURCE_DIR");
	snprintf(dir, sizeof dir, "%s/tests/client/fixtures", src ? src : ".");
	return dir;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = {0};
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_put(&b, tmp, n);
	fclose(f);
	if (len)
		*len = b.len;
	buf_str(&b);
	return b.p;
}

/* ---- fixtures --------------------------------------------------------------------------- */

struct section {
	char name[32];
	const char *p;
	size_t len;
};

static size_t parse_fixture(char *text, size_t len, struct section *s, size_t max)
{
	size_t n = 0;
	char *p = text, *end = text + len;
	while (p < end && n < max) {
		cr_assert(strncmp(p, "@@@@ ", 5) == 0, "section header expected");
		char *nl = memchr(p, '\n', (size_t)(end - p));
		snprintf(s[n].name, sizeof s[n].name, "%.*s", (int)(nl - p - 5), p + 5);
		char *body = nl + 1, *q = body;
		while (q < end && !(q[0] == '@' && strncmp(q, "@@@@ ", 5) == 0 && q[-1] == '\n'))
			q++;
		s[n].p = body;
		s[n].len = (size_t)(q - body);
		n++;
		p = q;
	}
	return n;
}

static const struct section *find(const struct section *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}

static uint8_t *unhex(const char *h, size_t len, size_t *out)
{
	uint8_t *b = malloc(len / 2 + 1);
	size_t n = 0;
	for (size_t i = 0; i + 1 < len && h[i] != '\n'; i += 2) {
		unsigned v;
		sscanf(h + i, "%2x", &v);
		b[n++] = (uint8_t)v;
	}
	*out = n;
	return b;
}

static const char *arg(const char *args, const char *key, char *val, size_t cap)
{
	const char *p = strstr(args, key);
	if (!p || p[strlen(key)] != '=')
		return NULL;
	p += strlen(key) + 1;
	size_t n = strcspn(p, ",\n");
	snprintf(val, cap, "%.*s", (int)n, p);
	return val;
}

static int run_printer(const char *type, const char *args, const uint8_t *pb, size_t pblen,
                       enum out_format fmt, struct buf *out)
{
	char v[128];
	struct printer_opts o = {.fmt = fmt};
	o.hex = arg(args, "hex", v, sizeof v) != NULL;
	o.value_only = arg(args, "value_only", v, sizeof v) != NULL;
	const ProtobufCMessageDescriptor *d = NULL;
	if (!strcmp(type, "RangeResponse"))
		d = &etcdserverpb__range_response__descriptor;
	else if (!strcmp(type, "PutResponse"))
		d = &etcdserverpb__put_response__descriptor;
	else if (!strcmp(type, "DeleteRangeResponse"))
		d = &etcdserverpb__delete_range_response__descriptor;
	else if (!strcmp(type, "TxnResponse"))
		d = &etcdserverpb__txn_response__descriptor;
	else if (!strcmp(type, "WatchResponse"))
		d = &etcdserverpb__watch_response__descriptor;
	else if (!strcmp(type, "LeaseGrantResponse"))
		d = &etcdserverpb__lease_grant_response__descriptor;
	else if (!strcmp(type, "LeaseRevokeResponse"))
		d = &etcdserverpb__lease_revoke_response__descriptor;
	else if (!strcmp(type, "LeaseTimeToLiveResponse"))
		d = &etcdserverpb__lease_time_to_live_response__descriptor;
	else if (!strcmp(type, "LeaseLeasesResponse"))
		d = &etcdserverpb__lease_leases_response__descriptor;
	else if (!strcmp(type, "LeaseKeepAliveResponse"))
		d = &etcdserverpb__lease_keep_alive_response__descriptor;
	else if (!strcmp(type, "MemberListResponse"))
		d = &etcdserverpb__member_list_response__descriptor;
	else if (!strcmp(type, "MemberUpdateResponse"))
		d = &etcdserverpb__member_update_response__descriptor;
	else if (!strcmp(type, "AlarmResponse"))
		d = &etcdserverpb__alarm_response__descriptor;
	else if (!strcmp(type, "EndpointStatus"))
		d = &etcdserverpb__status_response__descriptor;
	else if (!strcmp(type, "EndpointHashKV"))
		d = &etcdserverpb__hash_kvresponse__descriptor;
	cr_assert(d, "unknown fixture type %s", type);
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, pblen, pb);
	cr_assert(m, "%s does not unpack", type);
	int rv;
	if (!strcmp(type, "RangeResponse"))
		rv = print_get(out, &o, (void *)m);
	else if (!strcmp(type, "PutResponse"))
		rv = print_put(out, &o, (void *)m);
	else if (!strcmp(type, "DeleteRangeResponse"))
		rv = print_del(out, &o, (void *)m);
	else if (!strcmp(type, "TxnResponse"))
		rv = print_txn(out, &o, (void *)m);
	else if (!strcmp(type, "WatchResponse"))
		rv = print_watch(out, &o, (void *)m);
	else if (!strcmp(type, "LeaseGrantResponse"))
		rv = print_lease_grant(out, &o, (void *)m);
	else if (!strcmp(type, "LeaseRevokeResponse"))
		rv = print_lease_revoke(
		    out, &o, (int64_t)strtoull(arg(args, "id", v, sizeof v), 0, 16), (void *)m);
	else if (!strcmp(type, "LeaseTimeToLiveResponse"))
		rv = print_lease_ttl(out, &o, (void *)m, arg(args, "keys", v, sizeof v) != NULL);
	else if (!strcmp(type, "LeaseLeasesResponse"))
		rv = print_lease_list(out, &o, (void *)m);
	else if (!strcmp(type, "LeaseKeepAliveResponse"))
		rv = print_lease_keepalive(out, &o, (void *)m);
	else if (!strcmp(type, "MemberListResponse"))
		rv = print_member_list(out, &o, (void *)m);
	else if (!strcmp(type, "MemberUpdateResponse")) {
		char kind[64];
		arg(args, "kind", kind, sizeof kind);
		rv = print_member_change(out, &o, strtoull(arg(args, "id", v, sizeof v), 0, 16),
		                         kind, m);
	} else if (!strcmp(type, "AlarmResponse"))
		rv = print_alarm(out, &o, (void *)m);
	else if (!strcmp(type, "EndpointStatus")) {
		struct ep_status s = {.ep = arg(args, "ep", v, sizeof v), .resp = (void *)m};
		rv = print_ep_status(out, &o, &s, 1);
	} else {
		struct ep_hash h = {.ep = arg(args, "ep", v, sizeof v), .resp = (void *)m};
		rv = print_ep_hashkv(out, &o, &h, 1);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rv;
}

Test(printers, match_etcdctl_captures)
{
	static const char *const fmts[] = {"simple", "json", "fields", "protobuf", "table"};
	DIR *dir = opendir(fixdir());
	cr_assert(dir, "no fixtures at %s", fixdir());
	struct dirent *de;
	int cases = 0, checks = 0;
	while ((de = readdir(dir))) {
		size_t nl = strlen(de->d_name);
		if (nl < 8 || strcmp(de->d_name + nl - 8, ".fixture") != 0)
			continue;
		char path[4500];
		snprintf(path, sizeof path, "%s/%s", fixdir(), de->d_name);
		size_t len;
		char *text = slurp(path, &len);
		struct section s[16];
		size_t n = parse_fixture(text, len, s, 16);
		const struct section *type = find(s, n, "type"), *args = find(s, n, "args"),
		                     *pbs = find(s, n, "pb"), *uns = find(s, n, "unsupported");
		cr_assert(type && args && pbs && uns, "%s: incomplete", de->d_name);
		char tname[64], targs[256];
		snprintf(tname, sizeof tname, "%.*s", (int)type->len - 1, type->p);
		snprintf(targs, sizeof targs, "%.*s", (int)args->len, args->p);
		size_t pblen;
		uint8_t *pb = unhex(pbs->p, pbs->len, &pblen);
		for (int f = 0; f < 5; f++) {
			const struct section *want = find(s, n, fmts[f]);
			struct buf out = {0};
			int rv = run_printer(tname, targs, pb, pblen, (enum out_format)f, &out);
			if (f == OUT_PROTOBUF && rv == 0) {
				/* fixtures keep binary output in hex */
				struct buf h = {0};
				for (size_t k = 0; k < out.len; k++)
					buf_printf(&h, "%02x", (uint8_t)out.p[k]);
				buf_put(&h, "\n", 1);
				buf_free(&out);
				out = h;
			}
			char u[256];
			snprintf(u, sizeof u, " %.*s", (int)uns->len - 1, uns->p);
			char needle[32];
			snprintf(needle, sizeof needle, " %s", fmts[f]);
			bool refused = strstr(u, needle) != NULL;
			if (refused) {
				cr_expect(rv == EXIT_BAD_FEATURE, "%s -w %s: etcdctl refuses it",
				          de->d_name, fmts[f]);
			} else if (want) {
				cr_expect(rv == 0, "%s -w %s refused", de->d_name, fmts[f]);
				cr_expect(out.len == want->len &&
				              (!out.len || memcmp(out.p, want->p, out.len) == 0),
				          "%s -w %s:\n--- etcdctl\n%.*s--- cairnctl\n%.*s",
				          de->d_name, fmts[f], (int)want->len, want->p,
				          (int)out.len, out.p ? out.p : "");
				checks++;
			}
			buf_free(&out);
		}
		free(pb);
		free(text);
		cases++;
	}
	closedir(dir);
	cr_assert(cases >= 20 && checks >= 80, "%d fixtures, %d comparisons", cases, checks);
}

/* ---- help ----------------------------------------------------------------------------- */

static const struct cmd *find_cmd(const char *path)
{
	char copy[128];
	snprintf(copy, sizeof copy, "%s", path);
	const struct cmd *c = &ctl_root;
	for (char *w = strtok(copy, " "); w; w = strtok(NULL, " ")) {
		const struct cmd *sc = c->subs;
		while (sc && sc->name && strcmp(sc->name, w) != 0)
			sc++;
		cr_assert(sc && sc->name, "no command %s", w);
		c = sc;
	}
	return c;
}

Test(help, matches_etcdctl)
{
	static const char *const cmds[] = {"get",
	                                   "put",
	                                   "del",
	                                   "txn",
	                                   "watch",
	                                   "lease",
	                                   "lease grant",
	                                   "lease keep-alive",
	                                   "member add",
	                                   "endpoint",
	                                   "endpoint status",
	                                   "snapshot restore",
	                                   "lock",
	                                   "elect"};
	ctl_tree_init();
	ctl_progname = "etcdctl";
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		char name[128], path[4500];
		snprintf(name, sizeof name, "help_%s.txt", cmds[i]);
		for (char *p = name; *p; p++)
			if (*p == ' ' || *p == '-')
				*p = '_';
		snprintf(path, sizeof path, "%s/%s", fixdir(), name);
		size_t len;
		char *want = slurp(path, &len);
		cr_assert(want, "%s missing", path);
		struct buf out = {0};
		cmd_help(&out, find_cmd(cmds[i]), ctl_global_flags);
		cr_expect(out.len == len && memcmp(out.p, want, len) == 0,
		          "%s --help:\n--- etcdctl\n%s--- cairnctl\n%s", cmds[i], want, out.p);
		buf_free(&out);
		free(want);
	}
}

/* ---- Go formatting ------------------------------------------------------------------------ */

static void expect_quote(const char *in, size_t n, const char *want)
{
	struct buf b = {0};
	go_quote(&b, in, n);
	cr_expect_str_eq(buf_str(&b), want);
	buf_free(&b);
}

Test(go, quote_like_strconv)
{
	expect_quote("foo", 3, "\"foo\"");
	expect_quote("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	expect_quote("\x01\x7f\n\t", 4, "\"\\x01\\x7f\\n\\t\"");
	expect_quote("\xc3\xbf\xff", 3, "\"\xc3\xbf\\xff\""); /* ÿ printable; bad byte escaped */
	expect_quote("\xc2\x80\xc2\xa0", 4, "\"\\u0080\\u00a0\""); /* C1 control, nbsp */
	struct buf u = {0};
	cr_expect(go_unquote("\"a\\x41\\u00e9\\101\\n\"", 19, &u) == 0);
	cr_expect_str_eq(buf_str(&u), "aA\xc3\xa9"
	                              "A\n");
	buf_free(&u);
	cr_expect(go_unquote("\"bad\\q\"", 7, &u) != 0);
	buf_free(&u);
}

Test(go, json_strings_like_encoding_json)
{
	struct buf b = {0};
	json_string(&b, "<a&b>\"\\\n\x01\xff", 10);
	cr_expect_str_eq(buf_str(&b), "\"\\u003ca\\u0026b\\u003e\\\"\\\\\\n\\u0001\\ufffd\"");
	buf_free(&b);
	base64_std(&b, "foo1", 4);
	cr_expect_str_eq(buf_str(&b), "Zm9vMQ==");
	buf_free(&b);
	zap_string(&b, "a\"b<c>\n");
	cr_expect_str_eq(buf_str(&b), "a\\\"b<c>\\n");
	buf_free(&b);
}

Test(go, durations)
{
	static const struct {
		int64_t ns;
		const char *s;
	} t[] = {{0, "0s"},
	         {999, "999ns"},
	         {1500, "1.5\xc2\xb5s"},
	         {5580554, "5.580554ms"},
	         {2000000000, "2s"},
	         {62500000000, "1m2.5s"},
	         {3723000000000, "1h2m3s"}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b = {0};
		go_duration(&b, t[i].ns);
		cr_expect_str_eq(buf_str(&b), t[i].s);
		buf_free(&b);
	}
	int64_t ns;
	struct buf err = {0};
	cr_expect(parse_duration("1m30s", &ns, &err) == 0 && ns == 90000000000);
	cr_expect(parse_duration("250ms", &ns, &err) == 0 && ns == 250000000);
	cr_expect(parse_duration("1.5h", &ns, &err) == 0 && ns == 5400000000000);
	cr_expect(parse_duration("abc", &ns, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "time: invalid duration \"abc\"");
	err.len = 0;
	cr_expect(parse_duration("5", &ns, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "time: missing unit in duration \"5\"");
	err.len = 0;
	cr_expect(parse_duration("5x", &ns, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "time: unknown unit \"x\" in duration \"5x\"");
	buf_free(&err);
}

Test(go, humanize_and_numbers)
{
	static const struct {
		uint64_t n;
		const char *s;
	} t[] = {
	    {0, "0 B"},          {9, "9 B"},          {20480, "20 kB"},         {16384, "16 kB"},
	    {1234567, "1.2 MB"}, {999999, "1000 kB"}, {2147483648ull, "2.1 GB"}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b = {0};
		humanize_bytes(&b, t[i].n);
		cr_expect_str_eq(buf_str(&b), t[i].s, "%llu", (unsigned long long)t[i].n);
		buf_free(&b);
	}
	int64_t v;
	uint64_t u;
	struct buf err = {0};
	cr_expect(parse_int64("1234abcd", 16, &v, &err) == 0 && v == 0x1234abcd);
	cr_expect(parse_int64("x", 10, &v, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "strconv.ParseInt: parsing \"x\": invalid syntax");
	err.len = 0;
	cr_expect(parse_int64("99999999999999999999", 10, &v, &err) != 0);
	cr_expect_str_eq(buf_str(&err),
	                 "strconv.ParseInt: parsing \"99999999999999999999\": value out of range");
	err.len = 0;
	cr_expect(parse_uint64("none", 16, &u, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "strconv.ParseUint: parsing \"none\": invalid syntax");
	buf_free(&err);
}

Test(text, tabwriter_and_table)
{
	struct buf b = {0};
	const char *in =
	    "      --consistency=\"l\"\tLinearizable\n      --print-value-only[=false]\t"
	    "Only\n      --rev=0\tSpecify\n";
	tabwriter(&b, in, strlen(in));
	cr_expect_str_eq(buf_str(&b),
	                 "      --consistency=\"l\"\t\t\tLinearizable\n      "
	                 "--print-value-only[=false]\tOnly\n      --rev=0\t\t\t\tSpecify\n");
	buf_free(&b);
	const char *cells[] = {"endpoint", "hash", "127.0.0.1:23790", "1241187411"};
	table_render(&b, cells, 2, 2);
	cr_expect_str_eq(buf_str(&b), "+-----------------+------------+\n"
	                              "|    ENDPOINT     |    HASH    |\n"
	                              "+-----------------+------------+\n"
	                              "| 127.0.0.1:23790 | 1241187411 |\n"
	                              "+-----------------+------------+\n");
	buf_free(&b);
}

/* ---- flags, txn grammar ---------------------------------------------------------------------- */

static int parse(const char *line, struct parsed *p, struct buf *err)
{
	ctl_tree_init();
	static char *argv[32];
	static char copy[512];
	snprintf(copy, sizeof copy, "%s", line);
	int argc = 0;
	for (char *w = strtok(copy, " "); w && argc < 32; w = strtok(NULL, " "))
		argv[argc++] = w;
	memset(p, 0, sizeof *p);
	return flags_parse(&ctl_root, ctl_global_flags, argc, argv, p, err);
}

Test(flags, pflag_parsing)
{
	struct parsed p;
	struct buf err = {0};
	cr_assert(parse("--endpoints a:1,b:2 -w json get foo --prefix --limit=3", &p, &err) == 0);
	cr_expect_str_eq(p.cmd->name, "get");
	cr_expect(p.nargs == 1 && !strcmp(p.args[0], "foo"));
	cr_expect(g_get.prefix && g_get.limit == 3);
	struct ctl *ctl = ctl_g;
	cr_expect(ctl->endpoints.n == 2 && !strcmp(ctl->endpoints.v[1], "b:2"));
	cr_expect_str_eq(ctl->write_out, "json");
	free(p.args);

	cr_assert(parse("lock mylock -- sh -c x", &p, &err) == 0);
	cr_expect(p.nargs == 4 && p.dash == 1 && !strcmp(p.args[3], "x"));
	free(p.args);
	cr_assert(parse("lease grant 10", &p, &err) == 0);
	cr_expect_str_eq(p.cmd->name, "grant");
	free(p.args);
	cr_assert(parse("endpoint status --cluster -wtable", &p, &err) == 0);
	cr_expect(g_ep_cluster);
	free(p.args);

	cr_expect(parse("get foo --bogus", &p, &err) < 0);
	cr_expect_str_eq(buf_str(&err), "unknown flag: --bogus");
	free(p.args);
	err.len = 0;
	cr_expect(parse("get foo --rev abc", &p, &err) < 0);
	cr_expect_str_eq(buf_str(&err), "invalid argument \"abc\" for \"--rev\" flag: "
	                                "strconv.ParseInt: parsing \"abc\": invalid syntax");
	free(p.args);
	err.len = 0;
	cr_expect(parse("get foo -w", &p, &err) < 0);
	cr_expect_str_eq(buf_str(&err), "flag needs an argument: 'w' in -w");
	free(p.args);
	err.len = 0;
	cr_expect(parse("lease grant -5", &p, &err) < 0);
	cr_expect_str_eq(buf_str(&err), "unknown shorthand flag: '5' in -5");
	free(p.args);
	err.len = 0;
	cr_expect(parse("get foo --help", &p, &err) == 1);
	free(p.args);
	buf_free(&err);
}

Test(txn, argify_like_etcdctl)
{
	char **v;
	struct buf err = {0};
	int n = argify("put \"a b\" c\\ d", &v, &err);
	cr_assert(n == 4);
	cr_expect_str_eq(v[1], "a b");
	cr_expect_str_eq(v[2], "c\\");
	argv_free(v, n);
	/* etcdctl's quirk: single-quoted words cut at len(args)-1 */
	n = argify("put 'abcdef' x", &v, &err);
	cr_assert(n == 3);
	cr_expect_str_eq(v[1], "a");
	argv_free(v, n);
	n = argify("   ", &v, &err);
	cr_expect(n == 0);
	free(v);
	buf_free(&err);
}

Test(txn, compares_and_ops)
{
	struct cairn_txn *t = cairn_txn_new();
	struct buf err = {0};
	cr_expect(txn_parse_compare("mod(\"foo\") > \"1\"", t, &err) == 0);
	cr_expect(txn_parse_compare("value(\"foo\") = \"bar baz\"", t, &err) == 0);
	cr_expect(txn_parse_compare("c(\"x\") != \"0\"", t, &err) == 0);
	const Etcdserverpb__TxnRequest *r = cairn_txn_request(t);
	cr_assert(r->n_compare == 3);
	cr_expect(r->compare[0]->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD &&
	          r->compare[0]->result == ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER &&
	          r->compare[0]->mod_revision == 1);
	cr_expect(r->compare[1]->value.len == 7 &&
	          !memcmp(r->compare[1]->value.data, "bar baz", 7));
	cr_expect(r->compare[2]->result == ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL);

	cr_expect(txn_parse_compare("mod(foo) > \"1\"", t, &err) != 0);
	cr_expect_str_eq(buf_str(&err),
	                 "malformed comparison: mod(foo) > \"1\"; got mod(\"\")  \"\"");
	err.len = 0;
	cr_expect(txn_parse_compare("bad(\"k\") = \"1\"", t, &err) != 0);
	cr_expect_str_eq(buf_str(&err),
	                 "malformed comparison: bad(\"k\") = \"1\" (unknown target bad)");
	err.len = 0;
	cr_expect(txn_parse_compare("ver(\"k\") = \"x\"", t, &err) != 0);
	cr_expect_str_eq(buf_str(&err), "invalid txn compare request: ver(\"k\") = \"x\"");

	int code;
	err.len = 0;
	cr_expect(txn_parse_op("put foo bar --prev-kv", t, CAIRN_TXN_THEN, &err, &code) == 0);
	cr_expect(txn_parse_op("get foo --prefix --limit 2", t, CAIRN_TXN_THEN, &err, &code) == 0);
	cr_expect(txn_parse_op("del foo", t, CAIRN_TXN_ELSE, &err, &code) == 0);
	r = cairn_txn_request(t);
	cr_assert(r->n_success == 2 && r->n_failure == 1);
	cr_expect(r->success[0]->request_put->prev_kv);
	cr_expect(r->success[1]->request_range->limit == 2 &&
	          r->success[1]->request_range->range_end.len == 3 &&
	          !memcmp(r->success[1]->request_range->range_end.data, "fop", 3));
	cr_expect(txn_parse_op("bogus x", t, CAIRN_TXN_THEN, &err, &code) != 0);
	cr_expect_str_eq(buf_str(&err), "invalid txn request: bogus x");
	cr_expect(code == EXIT_INVALID_INPUT);
	cairn_txn_free(t);
	buf_free(&err);
}

/* ---- library: keys, statuses ------------------------------------------------------------- */

Test(lib, prefix_end)
{
	uint8_t out[8];
	cr_expect(cairn_prefix_end("foo", 3, out) == 3 && !memcmp(out, "fop", 3));
	cr_expect(cairn_prefix_end("a\xff", 2, out) == 1 && out[0] == 'b');
	cr_expect(cairn_prefix_end("\xff\xff", 2, out) == 1 && out[0] == 0);
	cr_expect(cairn_prefix_end("", 0, out) == 1 && out[0] == 0);
}

Test(lib, status_text_like_clientv3)
{
	char text[700];
	struct cairn_status st = {.code = CAIRN_INVALID_ARGUMENT, .reason = CAIRN_REASON_SERVER};
	snprintf(st.message, sizeof st.message, "etcdserver: key not found");
	cr_expect_str_eq(cairn_status_text(&st, text, sizeof text), "etcdserver: key not found");
	st.code = CAIRN_UNIMPLEMENTED;
	snprintf(st.message, sizeof st.message, "unknown method Foo");
	cr_expect_str_eq(cairn_status_text(&st, text, sizeof text),
	                 "rpc error: code = Unimplemented desc = unknown method Foo");
	st.code = CAIRN_DEADLINE_EXCEEDED;
	st.reason = CAIRN_REASON_DEADLINE;
	cr_expect_str_eq(cairn_status_text(&st, text, sizeof text), "context deadline exceeded");
	cr_expect(cairn_is_etcd_error("etcdserver: mvcc: required revision has been compacted"));
	cr_expect(!cairn_is_etcd_error("etcdserver: something else"));
}

Test(lib, txn_builder_copies)
{
	struct cairn_txn *t = cairn_txn_new();
	char key[8] = "k1";
	cr_assert(cairn_txn_compare_int(t, CAIRN_CMP_VERSION, CAIRN_CMP_LESS, key, 2, 5) == 0);
	cr_assert(cairn_txn_compare_range_end(t, "k9", 2) == 0);
	cr_assert(cairn_txn_put(t, CAIRN_TXN_THEN, key, 2, "v", 1, 7) == 0);
	key[1] = 'X'; /* the builder kept its own copy */
	const Etcdserverpb__TxnRequest *r = cairn_txn_request(t);
	cr_expect(r->compare[0]->key.data[1] == '1' && r->compare[0]->version == 5);
	cr_expect(r->compare[0]->range_end.len == 2);
	cr_expect(r->success[0]->request_put->lease == 7 &&
	          r->success[0]->request_put->key.data[1] == '1');
	cr_expect(cairn_txn_compare_int(t, CAIRN_CMP_VALUE, CAIRN_CMP_EQUAL, "k", 1, 0) == -EINVAL);
	cairn_txn_free(t);
}
