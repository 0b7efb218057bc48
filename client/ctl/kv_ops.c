/*
 * client/ctl/kv_ops.c - building Range, Put and DeleteRange requests from
 * etcdctl's arguments and flags (getGetOp, getPutOp, getDelOp in etcd
 * v3.4.23 etcdctl/ctlv3/command), shared by get/put/del and txn.
 */
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

struct flag *get_flag_table(struct get_flags *f)
{
	struct flag t[] = {
	    FLAG("consistency", 0, FLAG_STRING, "l", "Linearizable(l) or Serializable(s)",
	         &f->consistency),
	    FLAG("from-key", 0, FLAG_BOOL, "false",
	         "Get keys that are greater than or equal to the given key using byte compare",
	         &f->from_key),
	    FLAG("keys-only", 0, FLAG_BOOL, "false", "Get only the keys", &f->keys_only),
	    FLAG("limit", 0, FLAG_INT64, "0", "Maximum number of results", &f->limit),
	    FLAG("order", 0, FLAG_STRING, "",
	         "Order of results; ASCEND or DESCEND (ASCEND by default)", &f->order),
	    FLAG("prefix", 0, FLAG_BOOL, "false", "Get keys with matching prefix", &f->prefix),
	    FLAG("print-value-only", 0, FLAG_BOOL, "false",
	         "Only write values when using the \"simple\" output format", &f->print_value_only),
	    FLAG("rev", 0, FLAG_INT64, "0", "Specify the kv revision", &f->rev),
	    FLAG("sort-by", 0, FLAG_STRING, "",
	         "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION", &f->sort_by),
	    {0},
	};
	struct flag *out = malloc(sizeof t);
	memcpy(out, t, sizeof t);
	flags_reset(out);
	return out;
}

struct flag *put_flag_table(struct put_flags *f)
{
	struct flag t[] = {
	    FLAG("ignore-lease", 0, FLAG_BOOL, "false", "updates the key using its current lease",
	         &f->ignore_lease),
	    FLAG("ignore-value", 0, FLAG_BOOL, "false", "updates the key using its current value",
	         &f->ignore_value),
	    FLAG("lease", 0, FLAG_STRING, "0", "lease ID (in hexadecimal) to attach to the key",
	         &f->lease),
	    FLAG("prev-kv", 0, FLAG_BOOL, "false",
	         "return the previous key-value pair before modification", &f->prev_kv),
	    {0},
	};
	struct flag *out = malloc(sizeof t);
	memcpy(out, t, sizeof t);
	flags_reset(out);
	return out;
}

struct flag *del_flag_table(struct del_flags *f)
{
	struct flag t[] = {
	    FLAG("from-key", 0, FLAG_BOOL, "false",
	         "delete keys that are greater than or equal to the given key using byte compare",
	         &f->from_key),
	    FLAG("prefix", 0, FLAG_BOOL, "false", "delete keys with matching prefix", &f->prefix),
	    FLAG("prev-kv", 0, FLAG_BOOL, "false", "return deleted key-value pairs", &f->prev_kv),
	    {0},
	};
	struct flag *out = malloc(sizeof t);
	memcpy(out, t, sizeof t);
	flags_reset(out);
	return out;
}

/* Copies bytes into keep and returns them as binary data. keep's storage
 * is reserved up front by the callers (no realloc moves pointers). */
static ProtobufCBinaryData keep_bytes(struct buf *keep, const void *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	memcpy(d, p, n);
	/* keep holds the pointers to free later */
	buf_put(keep, &d, sizeof d);
	return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)d};
}

/* clientv3 WithPrefix / WithFromKey: the range end of key. */
static ProtobufCBinaryData prefix_end(struct buf *keep, ProtobufCBinaryData key)
{
	uint8_t *e = malloc(key.len + 1);
	size_t n = cairn_prefix_end(key.data, key.len, e);
	ProtobufCBinaryData out = keep_bytes(keep, e, n);
	free(e);
	return out;
}

static char *upper(const char *s)
{
	char *u = strdup(s ? s : "");
	for (char *p = u; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	return u;
}

int build_get(int argc, char **argv, const struct get_flags *f, Etcdserverpb__RangeRequest *r,
              struct buf *keep, struct buf *err)
{
	if (argc == 0) {
		buf_puts(err, "get command needs one argument as key and an optional argument as "
		              "range_end");
		return EXIT_BAD_ARGS;
	}
	if (f->prefix && f->from_key) {
		buf_puts(err,
		         "`--prefix` and `--from-key` cannot be set at the same time, choose one");
		return EXIT_BAD_ARGS;
	}
	if (strcmp(f->consistency, "s") == 0) {
		r->serializable = 1;
	} else if (strcmp(f->consistency, "l") != 0) {
		buf_puts(err, "unknown consistency flag ");
		go_quote(err, f->consistency, strlen(f->consistency));
		return EXIT_BAD_FEATURE;
	}
	r->key = keep_bytes(keep, argv[0], strlen(argv[0]));
	if (argc > 1) {
		if (f->prefix || f->from_key) {
			buf_puts(err,
			         "too many arguments, only accept one argument when `--prefix` or "
			         "`--from-key` is set");
			return EXIT_BAD_ARGS;
		}
		r->range_end = keep_bytes(keep, argv[1], strlen(argv[1]));
	}
	r->limit = f->limit;
	if (f->rev > 0)
		r->revision = f->rev;
	char *order = upper(f->order), *target = upper(f->sort_by);
	int rv = 0;
	int so = 0, st = 0;
	if (strcmp(order, "ASCEND") == 0)
		so = 1;
	else if (strcmp(order, "DESCEND") == 0)
		so = 2;
	else if (*order) {
		buf_printf(err, "bad sort order %s", f->order);
		rv = EXIT_BAD_FEATURE;
	}
	if (!rv) {
		if (strcmp(target, "CREATE") == 0)
			st = 2;
		else if (strcmp(target, "KEY") == 0)
			st = 0;
		else if (strcmp(target, "MODIFY") == 0)
			st = 3;
		else if (strcmp(target, "VALUE") == 0)
			st = 4;
		else if (strcmp(target, "VERSION") == 0)
			st = 1;
		else if (*target) {
			buf_printf(err, "bad sort target %s", f->sort_by);
			rv = EXIT_BAD_FEATURE;
		}
	}
	free(order);
	free(target);
	if (rv)
		return rv;
	/* clientv3 WithSort: ascending by key is the server's default order */
	if (st == 0 && so == 1)
		so = 0;
	r->sort_order = (Etcdserverpb__RangeRequest__SortOrder)so;
	r->sort_target = (Etcdserverpb__RangeRequest__SortTarget)st;
	if (f->prefix) {
		if (r->key.len == 0) {
			r->key = keep_bytes(keep, "", 1);
			r->range_end = keep_bytes(keep, "", 1);
		} else {
			r->range_end = prefix_end(keep, r->key);
		}
	}
	if (f->from_key) {
		if (r->key.len == 0)
			r->key = keep_bytes(keep, "", 1);
		r->range_end = keep_bytes(keep, "", 1);
	}
	if (f->keys_only)
		r->keys_only = 1;
	if (f->count_only)
		r->count_only = 1;
	return 0;
}

/* argOrStdin: args[i], or all of stdin (which must not be empty). */
static int arg_or_stdin(int argc, char **argv, int i, FILE *in, struct buf *out)
{
	if (i < argc) {
		buf_puts(out, argv[i]);
		return 0;
	}
	if (!in)
		return -1;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, in)) > 0)
		buf_put(out, tmp, n);
	return out->len ? 0 : -1;
}

int build_put(int argc, char **argv, const struct put_flags *f, FILE *in,
              Etcdserverpb__PutRequest *r, struct buf *keep, struct buf *err)
{
	static const char need[] =
	    "put command needs 1 argument and input from stdin or 2 arguments";
	if (argc == 0) {
		buf_puts(err, need);
		return EXIT_BAD_ARGS;
	}
	r->key = keep_bytes(keep, argv[0], strlen(argv[0]));
	if (f->ignore_value && argc > 1) {
		buf_puts(err, "put command needs only 1 argument when 'ignore-value' flag is set");
		return EXIT_BAD_ARGS;
	}
	if (!f->ignore_value) {
		struct buf v = {0};
		if (arg_or_stdin(argc, argv, 1, in, &v)) {
			buf_free(&v);
			buf_puts(err, need);
			return EXIT_BAD_ARGS;
		}
		r->value = keep_bytes(keep, v.p, v.len);
		buf_free(&v);
	}
	int64_t id;
	struct buf e = {0};
	if (parse_int64(f->lease, 16, &id, &e)) {
		buf_printf(err, "bad lease ID (%s), expecting ID in Hex", buf_str(&e));
		buf_free(&e);
		return EXIT_BAD_ARGS;
	}
	buf_free(&e);
	r->lease = id;
	r->prev_kv = f->prev_kv;
	r->ignore_value = f->ignore_value;
	r->ignore_lease = f->ignore_lease;
	return 0;
}

int build_del(int argc, char **argv, const struct del_flags *f, Etcdserverpb__DeleteRangeRequest *r,
              struct buf *keep, struct buf *err)
{
	if (argc == 0 || argc > 2) {
		buf_puts(err, "del command needs one argument as key and an optional argument as "
		              "range_end");
		return EXIT_BAD_ARGS;
	}
	if (f->prefix && f->from_key) {
		buf_puts(err,
		         "`--prefix` and `--from-key` cannot be set at the same time, choose one");
		return EXIT_BAD_ARGS;
	}
	r->key = keep_bytes(keep, argv[0], strlen(argv[0]));
	if (argc > 1) {
		if (f->prefix || f->from_key) {
			buf_puts(err,
			         "too many arguments, only accept one argument when `--prefix` or "
			         "`--from-key` is set");
			return EXIT_BAD_ARGS;
		}
		r->range_end = keep_bytes(keep, argv[1], strlen(argv[1]));
	}
	if (f->prefix) {
		if (r->key.len == 0) {
			r->key = keep_bytes(keep, "", 1);
			r->range_end = keep_bytes(keep, "", 1);
		} else {
			r->range_end = prefix_end(keep, r->key);
		}
	}
	r->prev_kv = f->prev_kv;
	if (f->from_key) {
		if (r->key.len == 0)
			r->key = keep_bytes(keep, "", 1);
		r->range_end = keep_bytes(keep, "", 1);
	}
	return 0;
}

void keep_free(struct buf *keep)
{
	for (size_t i = 0; i + sizeof(void *) <= keep->len; i += sizeof(void *)) {
		void *p;
		memcpy(&p, keep->p + i, sizeof p);
		free(p);
	}
	buf_free(keep);
}
