/*
 * bench/cairn-bench/flags.h - a command-line parser in the manner of Go's
 * pflag/cobra, so that etcd benchmark's command lines work unchanged:
 *
 *   cairn-bench --endpoints=a:2379,b:2379 --clients 100 put --total=1000
 *
 * Long flags only ("--name value" or "--name=value"; booleans take no value,
 * or "=true"/"=false"), global flags anywhere on the line, the first
 * positional argument is the subcommand and the rest are its arguments, "--"
 * ends the flags. Integers accept "_" separators ("1_000_000"), durations
 * Go's syntax ("1m30s", "500ms", "0"). A flag's default is whatever its
 * variable holds before parsing.
 */
#ifndef CAIRN_BENCH_FLAGS_H
#define CAIRN_BENCH_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum flag_type {
	FLAG_BOOL,     /* bool */
	FLAG_INT,      /* int64_t */
	FLAG_FLOAT,    /* double */
	FLAG_STRING,   /* const char * (points into argv, or the default) */
	FLAG_DURATION, /* int64_t nanoseconds */
	FLAG_LIST,     /* struct flag_list: comma-separated, repeatable */
};

#define FLAG_LIST_MAX 16
struct flag_list {
	size_t n;
	const char *v[FLAG_LIST_MAX];
	char *owned; /* storage of the split values (free with flag_list_free) */
	bool set;    /* set on the command line: a repeat appends, else replaces */
};
void flag_list_free(struct flag_list *l);

struct flag {
	const char *name; /* without "--" */
	enum flag_type type;
	void *ptr;
	const char *help;
	bool *seen; /* optional: set when the flag is on the command line */
};

/* A command: its name ("" for the global set) and its flags. */
struct flag_cmd {
	const char *name;
	const char *usage; /* "range key [end-range]" */
	const char *summary;
	const struct flag *flags;
	size_t n_flags;
};

/* Result of flags_find_command: the subcommand named on the line. */
int flags_find_command(const struct flag_cmd *global, const struct flag_cmd *cmds, size_t n_cmds,
                       int argc, char **argv);

/*
 * Parses argv[1..argc) against the global flags and those of cmd (may be
 * NULL). Positional arguments other than the command's name go to pos (at
 * most max_pos; more is an error), their count to *n_pos. A bare "--help" or
 * "-h" sets *help. Returns 0, or -1 with a message in err (cobra's wording
 * where it has one: "unknown flag: --x").
 */
int flags_parse(const struct flag_cmd *global, const struct flag_cmd *cmd, int argc, char **argv,
                const char **pos, size_t max_pos, size_t *n_pos, bool *help, char *err,
                size_t errlen);

/* Prints cobra-style help for cmd (or the root when cmd is NULL). */
void flags_usage(FILE *f, const char *prog, const struct flag_cmd *global,
                 const struct flag_cmd *cmds, size_t n_cmds, const struct flag_cmd *cmd);

/* Value parsers, public for tests. Return 0 or -1. */
int flags_parse_int(const char *s, int64_t *out);
int flags_parse_bool(const char *s, bool *out);
int flags_parse_float(const char *s, double *out);
/* Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-1s"; units ns us µs
 * ms s m h; a bare number only for 0. */
int flags_parse_duration(const char *s, int64_t *ns);
/* Writes a duration as Go prints it ("1m30s", "500ms", "0s"). */
void flags_format_duration(int64_t ns, char *buf, size_t cap);

#endif
