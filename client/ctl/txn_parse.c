/*
 * client/ctl/txn_parse.c - etcdctl's txn input grammar (etcd v3.4.23
 * etcdctl/ctlv3/command/txn_command.go, util.go argify):
 *
 *   compares:  <target>("<key>") <op> "<value>"   target: ver|version,
 *              c|create, m|mod, val|value, lease; op: = != < >
 *   requests:  put|get|del lines, parsed with those commands' flags
 *
 * argify keeps etcdctl's quirk for single-quoted words: it cuts them at
 * the number of words on the line ("args[i][1 : len(args)-1]"), and a cut
 * past the word's end is a Go slice panic (exit 2).
 */
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

void argv_free(char **argv, int n)
{
	for (int i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The regexp "(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]? scanned
 * leftmost-first: returns the match length at s, or 0. */
static size_t match_at(const char *s)
{
	if (*s == '"') {
		const char *p = s + 1;
		while (*p && *p != '"') {
			if (*p == '\\') {
				if (!p[1])
					return 0;
				p++;
			}
			p++;
		}
		return *p == '"' ? (size_t)(p - s + 1) : 0;
	}
	if (*s == '\'') {
		const char *q = strchr(s + 1, '\'');
		return q ? (size_t)(q - s + 1) : 0;
	}
	if (!*s || is_space(*s))
		return 0;
	const char *p = s + 1;
	while (*p && !is_space(*p))
		p++;
	return (size_t)(p - s);
}

int argify(const char *line, char ***out, struct buf *err)
{
	char **v = NULL;
	int n = 0;
	for (const char *p = line; *p;) {
		size_t m = match_at(p);
		if (!m) {
			p++;
			continue;
		}
		v = realloc(v, (size_t)(n + 1) * sizeof *v);
		v[n++] = strndup(p, m);
		p += m;
	}
	for (int i = 0; i < n; i++) {
		char *a = v[i];
		size_t len = strlen(a);
		if (a[0] == '\'') {
			/* etcdctl: args[i][1 : len(args)-1] */
			size_t hi = (size_t)(n - 1);
			if (hi > len || hi < 1) {
				buf_printf(
				    err,
				    "panic: runtime error: slice bounds out of range [%s%zu:%zu]",
				    hi < 1 ? "1" : ":", hi < 1 ? hi : hi, len);
				argv_free(v, n);
				return -2;
			}
			char *cut = strndup(a + 1, hi - 1);
			free(a);
			v[i] = cut;
		} else if (a[0] == '"') {
			struct buf u = {0};
			const char *end;
			if (go_scan_quoted(a, &end, &u)) {
				buf_puts(err, "unexpected EOF");
				buf_free(&u);
				argv_free(v, n);
				return -1;
			}
			free(a);
			v[i] = strdup(buf_str(&u));
			buf_free(&u);
		}
	}
	*out = v;
	return n;
}

int txn_parse_compare(const char *line, struct cairn_txn *t, struct buf *err)
{
	const char *lp = strchr(line, '(');
	if (!lp) {
		buf_printf(err, "malformed comparison: %s", line);
		return -1;
	}
	char *target = strndup(line, (size_t)(lp - line));
	struct buf key = {0}, val = {0}, op = {0};
	int n = 0;
	const char *p = lp + 1, *end;
	if (go_scan_quoted(p, &end, &key) == 0) {
		n = 1;
		p = end;
		if (*p == ')') {
			p++;
			while (is_space(*p))
				p++;
			const char *os = p;
			while (*p && !is_space(*p))
				p++;
			if (p > os) {
				buf_put(&op, os, (size_t)(p - os));
				n = 2;
				if (go_scan_quoted(p, &end, &val) == 0)
					n = 3;
			}
		}
	}
	int rv = -1;
	if (n != 3) {
		buf_printf(err, "malformed comparison: %s; got %s(", line, target);
		go_quote(err, key.p ? key.p : "", key.len);
		buf_printf(err, ") %s ", buf_str(&op));
		go_quote(err, val.p ? val.p : "", val.len);
		goto out;
	}
	const char *o = buf_str(&op);
	int result;
	if (strcmp(o, "=") == 0)
		result = CAIRN_CMP_EQUAL;
	else if (strcmp(o, "!=") == 0)
		result = CAIRN_CMP_NOT_EQUAL;
	else if (strcmp(o, "<") == 0)
		result = CAIRN_CMP_LESS;
	else if (strcmp(o, ">") == 0)
		result = CAIRN_CMP_GREATER;
	else {
		buf_puts(err, "panic: Unknown result op");
		rv = -2;
		goto out;
	}
	int ctarget;
	if (!strcmp(target, "ver") || !strcmp(target, "version"))
		ctarget = CAIRN_CMP_VERSION;
	else if (!strcmp(target, "c") || !strcmp(target, "create"))
		ctarget = CAIRN_CMP_CREATE;
	else if (!strcmp(target, "m") || !strcmp(target, "mod"))
		ctarget = CAIRN_CMP_MOD;
	else if (!strcmp(target, "val") || !strcmp(target, "value"))
		ctarget = CAIRN_CMP_VALUE;
	else if (!strcmp(target, "lease"))
		ctarget = CAIRN_CMP_LEASE;
	else {
		buf_printf(err, "malformed comparison: %s (unknown target %s)", line, target);
		goto out;
	}
	if (ctarget == CAIRN_CMP_VALUE) {
		cairn_txn_compare_value(t, (enum cairn_cmp_result)result, key.p ? key.p : "",
		                        key.len, val.p ? val.p : "", val.len);
		rv = 0;
		goto out;
	}
	int64_t v;
	struct buf e = {0};
	int base = ctarget == CAIRN_CMP_LEASE ? 16 : 10;
	if (parse_int64(buf_str(&val), base, &v, &e)) {
		buf_printf(err, "invalid txn compare request: %s", line);
		buf_free(&e);
		goto out;
	}
	buf_free(&e);
	cairn_txn_compare_int(t, (enum cairn_cmp_target)ctarget, (enum cairn_cmp_result)result,
	                      key.p ? key.p : "", key.len, v);
	rv = 0;
out:
	free(target);
	buf_free(&key);
	buf_free(&val);
	buf_free(&op);
	return rv;
}

int txn_parse_op(const char *line, struct cairn_txn *t, enum cairn_txn_branch b, struct buf *err,
                 int *exit_code)
{
	char **args;
	*exit_code = EXIT_INVALID_INPUT;
	int n = argify(line, &args, err);
	if (n == -2) {
		*exit_code = 2;
		return -1;
	}
	if (n < 0)
		return -1;
	if (n < 2) {
		buf_printf(err, "invalid txn compare request: %s", line);
		argv_free(args, n);
		return -1;
	}
	int rv = -1;
	struct buf keep = {0}, e = {0};
	char **pos = NULL;
	int npos = 0;
	if (strcmp(args[0], "put") == 0) {
		struct put_flags f = {0};
		struct flag *ft = put_flag_table(&f);
		if (flags_parse_simple(ft, n - 1, args + 1, &pos, &npos, &e) == 0) {
			Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
			int code = build_put(npos, pos, &f, stdin, &r, &keep, err);
			if (code) {
				*exit_code = code;
			} else {
				cairn_txn_put_req(t, b, &r);
				rv = 0;
			}
		} else {
			buf_printf(err, "invalid txn request: %s", line);
		}
		free(f.lease);
		free(ft);
	} else if (strcmp(args[0], "get") == 0) {
		struct get_flags f = {0};
		struct flag *ft = get_flag_table(&f);
		if (flags_parse_simple(ft, n - 1, args + 1, &pos, &npos, &e) == 0) {
			Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
			int code = build_get(npos, pos, &f, &r, &keep, err);
			if (code) {
				*exit_code = code;
			} else {
				cairn_txn_range(t, b, &r);
				rv = 0;
			}
		} else {
			buf_printf(err, "invalid txn request: %s", line);
		}
		free(f.consistency);
		free(f.order);
		free(f.sort_by);
		free(ft);
	} else if (strcmp(args[0], "del") == 0) {
		struct del_flags f = {0};
		struct flag *ft = del_flag_table(&f);
		if (flags_parse_simple(ft, n - 1, args + 1, &pos, &npos, &e) == 0) {
			Etcdserverpb__DeleteRangeRequest r =
			    ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
			int code = build_del(npos, pos, &f, &r, &keep, err);
			if (code) {
				*exit_code = code;
			} else {
				cairn_txn_delete(t, b, &r);
				rv = 0;
			}
		} else {
			buf_printf(err, "invalid txn request: %s", line);
		}
		free(ft);
	} else {
		buf_printf(err, "invalid txn request: %s", line);
	}
	free(pos);
	keep_free(&keep);
	buf_free(&e);
	argv_free(args, n);
	return rv;
}
