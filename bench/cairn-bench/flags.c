/*
 * bench/cairn-bench/flags.c - the pflag/cobra-style parser of flags.h.
 *
 * Two passes, as cobra does: flags_find_command() walks the line knowing
 * only which flag names take a value (from every command's table) to find
 * the subcommand; flags_parse() then parses for real against the global
 * table and that command's, so a flag of another command is "unknown".
 */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void flag_list_free(struct flag_list *l)
{
	free(l->owned);
	l->owned = NULL;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int flags_parse_int(const char *s, int64_t *out)
{
	char digits[64];
	size_t n = 0;
	const char *p = s;
	if (*p == '-' || *p == '+')
		digits[n++] = *p++;
	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p == '_' && p[1] && p != s && p[-1] != '_' && p[-1] != '-' && p[-1] != '+')
			continue;
		if (*p < '0' || *p > '9' || n + 1 >= sizeof digits)
			return -1;
		digits[n++] = *p;
	}
	digits[n] = 0;
	errno = 0;
	char *end;
	long long v = strtoll(digits, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int flags_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = {"1", "t", "T", "true", "TRUE", "True"};
	static const char *no[] = {"0", "f", "F", "false", "FALSE", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int flags_parse_float(const char *s, double *out)
{
	if (!*s)
		return -1;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int flags_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
	             {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!strcmp(p, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*p)
		return -1;
	double total = 0;
	while (*p) {
		/* A number: digits, optionally a fraction. */
		const char *start = p;
		while ((*p >= '0' && *p <= '9') || *p == '.')
			p++;
		if (p == start)
			return -1;
		char num[64];
		size_t len = (size_t)(p - start);
		if (len >= sizeof num || (len == 1 && *start == '.'))
			return -1;
		memcpy(num, start, len);
		num[len] = 0;
		char *end;
		double v = strtod(num, &end);
		if (*end)
			return -1;
		/* The longest unit that matches here. */
		size_t best = 0, best_len = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t ul = strlen(units[i].unit);
			if (ul > best_len && !strncmp(p, units[i].unit, ul)) {
				best = i;
				best_len = ul;
			}
		}
		if (!best_len)
			return -1; /* missing or unknown unit */
		total += v * units[best].ns;
		p += best_len;
	}
	if (total > 9.2e18)
		return -1;
	*ns = (int64_t)llround(neg ? -total : total);
	return 0;
}

void flags_format_duration(int64_t ns, char *buf, size_t cap)
{
	if (ns == 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	const char *sign = ns < 0 ? "-" : "";
	uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	if (u < 1000)
		snprintf(buf, cap, "%s%lluns", sign, (unsigned long long)u);
	else if (u < 1000000)
		snprintf(buf, cap, "%s%gus", sign, (double)u / 1e3);
	else if (u < 1000000000)
		snprintf(buf, cap, "%s%gms", sign, (double)u / 1e6);
	else {
		uint64_t h = u / 3600000000000ull, rest = u % 3600000000000ull;
		uint64_t m = rest / 60000000000ull;
		double sec = (double)(rest % 60000000000ull) / 1e9;
		if (h)
			snprintf(buf, cap, "%s%lluh%llum%gs", sign, (unsigned long long)h,
			         (unsigned long long)m, sec);
		else if (m)
			snprintf(buf, cap, "%s%llum%gs", sign, (unsigned long long)m, sec);
		else
			snprintf(buf, cap, "%s%gs", sign, sec);
	}
}

static const struct flag *lookup(const struct flag_cmd *c, const char *name, size_t len)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_flags; i++)
		if (strlen(c->flags[i].name) == len && !strncmp(c->flags[i].name, name, len))
			return &c->flags[i];
	return NULL;
}

static int set_list(struct flag_list *l, const char *v)
{
	if (!l->set) {
		l->n = 0;
		flag_list_free(l);
		l->set = true;
	}
	/* Keep every value ever given in one growing buffer: list entries
	 * point into it, so rebuild the pointers after each realloc. */
	size_t old = 0;
	if (l->owned)
		for (size_t i = 0; i < l->n; i++)
			old += strlen(l->v[i]) + 1;
	size_t add = strlen(v) + 1;
	char *buf = malloc(old + add);
	if (!buf)
		return -1;
	size_t off = 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]) + 1;
		memcpy(buf + off, l->v[i], n);
		off += n;
	}
	memcpy(buf + off, v, add);
	free(l->owned);
	l->owned = buf;
	off = 0;
	for (size_t i = 0; i < l->n; i++) {
		l->v[i] = buf + off;
		off += strlen(buf + off) + 1;
	}
	for (char *tok = buf + off, *next; tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = 0;
		if (!*tok)
			continue;
		if (l->n >= FLAG_LIST_MAX)
			return -1;
		l->v[l->n++] = tok;
	}
	return 0;
}

static const char *type_name(enum flag_type t)
{
	switch (t) {
	case FLAG_BOOL:
		return "";
	case FLAG_INT:
		return "int";
	case FLAG_FLOAT:
		return "float";
	case FLAG_STRING:
		return "string";
	case FLAG_DURATION:
		return "duration";
	case FLAG_LIST:
		return "strings";
	}
	return "";
}

static int set_flag(const struct flag *f, const char *v, char *err, size_t errlen)
{
	int rv = 0;
	switch (f->type) {
	case FLAG_BOOL:
		rv = flags_parse_bool(v, f->ptr);
		break;
	case FLAG_INT:
		rv = flags_parse_int(v, f->ptr);
		break;
	case FLAG_FLOAT:
		rv = flags_parse_float(v, f->ptr);
		break;
	case FLAG_STRING:
		*(const char **)f->ptr = v;
		break;
	case FLAG_DURATION:
		rv = flags_parse_duration(v, f->ptr);
		break;
	case FLAG_LIST:
		rv = set_list(f->ptr, v);
		break;
	}
	if (rv)
		errf(err, errlen, "invalid argument \"%s\" for \"--%s\" flag: parse error", v,
		     f->name);
	else if (f->seen)
		*f->seen = true;
	return rv;
}

/* Whether "--name" (len bytes) takes a value, as far as any table knows. */
static bool takes_value(const struct flag_cmd *global, const struct flag_cmd *cmds, size_t n_cmds,
                        const char *name, size_t len)
{
	const struct flag *f = lookup(global, name, len);
	for (size_t i = 0; !f && i < n_cmds; i++)
		f = lookup(&cmds[i], name, len);
	return f && f->type != FLAG_BOOL;
}

int flags_find_command(const struct flag_cmd *global, const struct flag_cmd *cmds, size_t n_cmds,
                       int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			return -1;
		if (a[0] == '-' && a[1]) {
			const char *name = a + (a[1] == '-' ? 2 : 1);
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			if (!eq && takes_value(global, cmds, n_cmds, name, len))
				i++;
			continue;
		}
		for (size_t c = 0; c < n_cmds; c++)
			if (!strcmp(cmds[c].name, a))
				return (int)c;
		return -1;
	}
	return -1;
}

int flags_parse(const struct flag_cmd *global, const struct flag_cmd *cmd, int argc, char **argv,
                const char **pos, size_t max_pos, size_t *n_pos, bool *help, char *err,
                size_t errlen)
{
	bool seen_cmd = cmd == NULL, only_pos = false;
	*n_pos = 0;
	*help = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!only_pos && !strcmp(a, "--")) {
			only_pos = true;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1]) {
			if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				*help = true;
				continue;
			}
			if (a[1] != '-') {
				errf(err, errlen, "unknown shorthand flag: '%c' in %s", a[1], a);
				return -1;
			}
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct flag *f = lookup(cmd, name, len);
			if (!f)
				f = lookup(global, name, len);
			if (!f) {
				errf(err, errlen, "unknown flag: --%.*s", (int)len, name);
				return -1;
			}
			const char *v;
			if (eq)
				v = eq + 1;
			else if (f->type == FLAG_BOOL)
				v = "true";
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				errf(err, errlen, "flag needs an argument: --%s", f->name);
				return -1;
			}
			if (set_flag(f, v, err, errlen))
				return -1;
			continue;
		}
		if (!seen_cmd && !strcmp(a, cmd->name)) {
			seen_cmd = true;
			continue;
		}
		if (*n_pos >= max_pos) {
			errf(err, errlen, "too many arguments: \"%s\"", a);
			return -1;
		}
		pos[(*n_pos)++] = a;
	}
	return 0;
}

static void default_text(const struct flag *f, char *buf, size_t cap)
{
	buf[0] = 0;
	switch (f->type) {
	case FLAG_BOOL:
		if (*(bool *)f->ptr)
			snprintf(buf, cap, " (default true)");
		break;
	case FLAG_INT:
		if (*(int64_t *)f->ptr)
			snprintf(buf, cap, " (default %lld)", (long long)*(int64_t *)f->ptr);
		break;
	case FLAG_FLOAT:
		if (*(double *)f->ptr != 0)
			snprintf(buf, cap, " (default %g)", *(double *)f->ptr);
		break;
	case FLAG_STRING: {
		const char *s = *(const char **)f->ptr;
		if (s && *s)
			snprintf(buf, cap, " (default \"%s\")", s);
		break;
	}
	case FLAG_DURATION: {
		char d[48];
		flags_format_duration(*(int64_t *)f->ptr, d, sizeof d);
		if (*(int64_t *)f->ptr)
			snprintf(buf, cap, " (default %s)", d);
		break;
	}
	case FLAG_LIST: {
		const struct flag_list *l = f->ptr;
		size_t off = 0;
		if (l->n)
			off += (size_t)snprintf(buf + off, cap - off, " (default [");
		for (size_t i = 0; i < l->n && off < cap; i++)
			off +=
			    (size_t)snprintf(buf + off, cap - off, "%s%s", i ? "," : "", l->v[i]);
		if (l->n && off < cap)
			snprintf(buf + off, cap - off, "])");
		break;
	}
	}
}

static void print_flags(FILE *f, const struct flag_cmd *c)
{
	size_t width = 0;
	for (size_t i = 0; i < c->n_flags; i++) {
		size_t w = strlen(c->flags[i].name) + strlen(type_name(c->flags[i].type)) + 1;
		if (w > width)
			width = w;
	}
	for (size_t i = 0; i < c->n_flags; i++) {
		const struct flag *fl = &c->flags[i];
		char left[128], def[256];
		snprintf(left, sizeof left, "%s %s", fl->name, type_name(fl->type));
		default_text(fl, def, sizeof def);
		fprintf(f, "      --%-*s   %s%s\n", (int)width, left, fl->help, def);
	}
}

void flags_usage(FILE *f, const char *prog, const struct flag_cmd *global,
                 const struct flag_cmd *cmds, size_t n_cmds, const struct flag_cmd *cmd)
{
	if (!cmd) {
		fprintf(f, "%s\n\nUsage:\n  %s [command]\n\nAvailable Commands:\n", global->summary,
		        prog);
		for (size_t i = 0; i < n_cmds; i++)
			fprintf(f, "  %-16s %s\n", cmds[i].name, cmds[i].summary);
		fprintf(f, "\nFlags:\n");
		print_flags(f, global);
		fprintf(f, "\nUse \"%s [command] --help\" for more information about a command.\n",
		        prog);
		return;
	}
	fprintf(f, "%s\n\nUsage:\n  %s %s [flags]\n\nFlags:\n", cmd->summary, prog, cmd->usage);
	print_flags(f, cmd);
	fprintf(f, "\nGlobal Flags:\n");
	print_flags(f, global);
}
