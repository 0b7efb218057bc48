/*
 * tests/bench/flags_test.c - cairn-bench's command line reads etcd
 * benchmark's command lines as cobra/pflag would.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flags.h"

static struct {
	struct flag_list endpoints;
	int64_t clients, total, dur;
	bool leader, seq, json;
	bool total_seen;
	const char *consistency;
	double ratio;
} v;

static const struct flag gflags[] = {
    {.name = "endpoints", .type = FLAG_LIST, .ptr = &v.endpoints, .help = "gRPC endpoints"},
    {.name = "clients", .type = FLAG_INT, .ptr = &v.clients, .help = "clients"},
    {.name = "target-leader", .type = FLAG_BOOL, .ptr = &v.leader, .help = "leader"},
    {.name = "json", .type = FLAG_BOOL, .ptr = &v.json, .help = "json"},
    {.name = "duration", .type = FLAG_DURATION, .ptr = &v.dur, .help = "duration"},
};
static const struct flag put_flags[] = {
    {.name = "total", .type = FLAG_INT, .ptr = &v.total, .help = "total", .seen = &v.total_seen},
    {.name = "sequential-keys", .type = FLAG_BOOL, .ptr = &v.seq, .help = "seq"},
};
static const struct flag range_flags[] = {
    {.name = "consistency", .type = FLAG_STRING, .ptr = &v.consistency, .help = "l or s"},
    {.name = "rw-ratio", .type = FLAG_FLOAT, .ptr = &v.ratio, .help = "ratio"},
};
static const struct flag_cmd global = {"", "", "root", gflags, 5};
static const struct flag_cmd cmds[] = {
    {"put", "put", "Benchmark put", put_flags, 2},
    {"range", "range key [end-range]", "Benchmark range", range_flags, 2},
};

static void reset(void)
{
	flag_list_free(&v.endpoints);
	memset(&v, 0, sizeof v);
	v.endpoints.v[0] = "127.0.0.1:2379";
	v.endpoints.n = 1;
	v.clients = 1;
	v.total = 10000;
	v.consistency = "l";
}

/* Parses a line (split on spaces) like main() does. */
static int run(const char *line, int *cmd, const char **pos, size_t *n_pos, char *err)
{
	static char buf[512];
	static char *argv[64];
	int argc = 0;
	snprintf(buf, sizeof buf, "cairn-bench %s", line);
	for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
		argv[argc++] = t;
	reset();
	*cmd = flags_find_command(&global, cmds, 2, argc, argv);
	bool help;
	return flags_parse(&global, *cmd >= 0 ? &cmds[*cmd] : NULL, argc, argv, pos, 4, n_pos,
	                   &help, err, 256);
}

Test(flags, etcd_benchmark_line_with_globals_before_and_after)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	cr_assert_eq(run("--endpoints=a:1,b:2 --target-leader --clients 1_000 put --total=100000 "
	                 "--sequential-keys --json",
	                 &cmd, pos, &n, err),
	             0, "%s", err);
	cr_expect_eq(cmd, 0);
	cr_expect_eq(v.endpoints.n, 2);
	cr_expect_str_eq(v.endpoints.v[0], "a:1");
	cr_expect_str_eq(v.endpoints.v[1], "b:2");
	cr_expect(v.leader);
	cr_expect_eq(v.clients, 1000);
	cr_expect_eq(v.total, 100000);
	cr_expect(v.total_seen);
	cr_expect(v.seq);
	cr_expect(v.json, "a global flag after the subcommand still applies");
	cr_expect_eq(n, 0);
}

Test(flags, value_flag_before_the_command_is_not_taken_for_it)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	/* "--clients range" would be a parse error, but "--clients 5 range"
	 * must find range, and its positional key. */
	cr_assert_eq(
	    run("--clients 5 range foo fop --consistency s --rw-ratio 0.25", &cmd, pos, &n, err), 0,
	    "%s", err);
	cr_expect_eq(cmd, 1);
	cr_expect_eq(v.clients, 5);
	cr_expect_eq(n, 2);
	cr_expect_str_eq(pos[0], "foo");
	cr_expect_str_eq(pos[1], "fop");
	cr_expect_str_eq(v.consistency, "s");
	cr_expect_eq(v.ratio, 0.25);
	cr_expect_not(v.total_seen);
}

Test(flags, errors_use_cobras_wording)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	cr_expect_eq(run("put --consistency s", &cmd, pos, &n, err), -1,
	             "another command's flag is unknown here");
	cr_expect_str_eq(err, "unknown flag: --consistency");
	cr_expect_eq(run("put --total", &cmd, pos, &n, err), -1);
	cr_expect_str_eq(err, "flag needs an argument: --total");
	cr_expect_eq(run("put --total=ten", &cmd, pos, &n, err), -1);
	cr_expect_str_eq(err, "invalid argument \"ten\" for \"--total\" flag: parse error");
	cr_expect_eq(run("put -x", &cmd, pos, &n, err), -1);
	cr_expect_eq(run("range a b c d e", &cmd, pos, &n, err), -1);
}

Test(flags, bool_flags_take_no_value_unless_given_with_equals)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	cr_assert_eq(run("range --json k", &cmd, pos, &n, err), 0, "%s", err);
	cr_expect(v.json);
	cr_expect_eq(n, 1, "k is the key, not the value of --json");
	cr_assert_eq(run("range --json=false k", &cmd, pos, &n, err), 0, "%s", err);
	cr_expect_not(v.json);
	cr_expect_eq(run("range --json=maybe k", &cmd, pos, &n, err), -1);
}

Test(flags, double_dash_ends_flags)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	cr_assert_eq(run("range -- --odd-key", &cmd, pos, &n, err), 0, "%s", err);
	cr_expect_eq(n, 1);
	cr_expect_str_eq(pos[0], "--odd-key");
}

Test(flags, lists_replace_the_default_then_append)
{
	int cmd;
	const char *pos[4];
	size_t n;
	char err[256];
	cr_assert_eq(run("--endpoints a --endpoints b,c put", &cmd, pos, &n, err), 0, "%s", err);
	cr_expect_eq(v.endpoints.n, 3);
	cr_expect_str_eq(v.endpoints.v[0], "a");
	cr_expect_str_eq(v.endpoints.v[2], "c");
	reset();
}

Test(flags, integers)
{
	int64_t x;
	cr_expect_eq(flags_parse_int("1_000_000", &x), 0);
	cr_expect_eq(x, 1000000);
	cr_expect_eq(flags_parse_int("-42", &x), 0);
	cr_expect_eq(x, -42);
	cr_expect_eq(flags_parse_int("", &x), -1);
	cr_expect_eq(flags_parse_int("12a", &x), -1);
	cr_expect_eq(flags_parse_int("_1", &x), -1);
	cr_expect_eq(flags_parse_int("1__0", &x), -1);
	cr_expect_eq(flags_parse_int("99999999999999999999", &x), -1);
}

Test(flags, durations_as_go_parses_them)
{
	int64_t ns;
	struct {
		const char *s;
		int64_t ns;
	} ok[] = {
	    {"0", 0},
	    {"10s", 10000000000},
	    {"1.5s", 1500000000},
	    {"300ms", 300000000},
	    {"1m30s", 90000000000},
	    {"2h45m", 9900000000000},
	    {"-1s", -1000000000},
	    {"100us", 100000},
	    {"100\xc2\xb5s", 100000},
	    {"7ns", 7},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		cr_expect_eq(flags_parse_duration(ok[i].s, &ns), 0, "%s", ok[i].s);
		cr_expect_eq(ns, ok[i].ns, "%s: %lld", ok[i].s, (long long)ns);
	}
	const char *bad[] = {"", "10", "s", "1x", "1.s2", ".s", "1h-2m"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(flags_parse_duration(bad[i], &ns), -1, "%s", bad[i]);
	char buf[32];
	flags_format_duration(90000000000, buf, sizeof buf);
	cr_expect_str_eq(buf, "1m30s");
	flags_format_duration(500000000, buf, sizeof buf);
	cr_expect_str_eq(buf, "500ms");
	flags_format_duration(0, buf, sizeof buf);
	cr_expect_str_eq(buf, "0s");
}

Test(flags, usage_lists_flags_with_defaults)
{
	reset();
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	flags_usage(f, "cairn-bench", &global, cmds, 2, &cmds[0]);
	fclose(f);
	cr_expect(strstr(out, "Usage:\n  cairn-bench put [flags]") != NULL, "%s", out);
	cr_expect(strstr(out, "--total int") != NULL, "%s", out);
	cr_expect(strstr(out, "(default 10000)") != NULL, "%s", out);
	cr_expect(strstr(out, "(default [127.0.0.1:2379])") != NULL, "%s", out);
	cr_expect(strstr(out, "Global Flags:") != NULL);
	free(out);
}
