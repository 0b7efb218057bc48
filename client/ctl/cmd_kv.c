/*
 * client/ctl/cmd_kv.c - get, put, del, txn, compaction.
 *
 * As etcdctl does, the request is made before the output format is
 * checked: `put k v -w table` writes the key and then fails with "table
 * not supported as output format" (exit 4).
 */
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

int cmd_get(struct ctl *ctl, int argc, char **argv)
{
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	struct buf keep = {0}, err = {0}, out = {0};
	int code = build_get(argc, argv, &g_get, &r, &keep, &err);
	if (code)
		ctl_fail(code, "%s", buf_str(&err));
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__RangeResponse *resp;
	struct cairn_status st;
	if (cairn_kv_range_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct printer_opts po = ctl_popts(ctl);
	if (g_get.print_value_only) {
		if (ctl->fmt != OUT_SIMPLE)
			ctl_fail(EXIT_BAD_ARGS, "%s",
			         "print-value-only is only for `--write-out=simple`");
		po.value_only = true;
	}
	ctl_emit(ctl, &out, print_get(&out, &po, resp));
	cairn_response_free(resp);
	keep_free(&keep);
	buf_free(&err);
	return 0;
}

int cmd_put(struct ctl *ctl, int argc, char **argv)
{
	Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
	struct buf keep = {0}, err = {0}, out = {0};
	int code = build_put(argc, argv, &g_put, stdin, &r, &keep, &err);
	if (code)
		ctl_fail(code, "%s", buf_str(&err));
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__PutResponse *resp;
	struct cairn_status st;
	if (cairn_kv_put_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_put(&out, &po, resp));
	cairn_response_free(resp);
	keep_free(&keep);
	buf_free(&err);
	return 0;
}

int cmd_del(struct ctl *ctl, int argc, char **argv)
{
	Etcdserverpb__DeleteRangeRequest r = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	struct buf keep = {0}, err = {0}, out = {0};
	int code = build_del(argc, argv, &g_del, &r, &keep, &err);
	if (code)
		ctl_fail(code, "%s", buf_str(&err));
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__DeleteRangeResponse *resp;
	struct cairn_status st;
	if (cairn_kv_delete_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_del(&out, &po, resp));
	cairn_response_free(resp);
	keep_free(&keep);
	buf_free(&err);
	return 0;
}

/* bufio.Reader.ReadString('\n') then TrimSpace; EOF before a newline is
 * an error (etcdctl exits "Error: EOF", code 3). */
static char *read_line(FILE *in)
{
	struct buf l = {0};
	int c;
	while ((c = fgetc(in)) != EOF) {
		char ch = (char)c;
		buf_put(&l, &ch, 1);
		if (ch == '\n')
			break;
	}
	if (c == EOF) {
		buf_free(&l);
		return NULL;
	}
	char *s = l.p;
	char *e = s + l.len;
	while (s < e &&
	       (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r' ||
	                 e[-1] == '\v' || e[-1] == '\f'))
		e--;
	char *out = strndup(s, (size_t)(e - s));
	buf_free(&l);
	return out;
}

static void txn_fail(struct buf *err, int code)
{
	if (code == 2) {
		fflush(stdout);
		fprintf(stderr, "%s\n", buf_str(err));
		exit(2);
	}
	ctl_fail(code, "%s", buf_str(err));
}

static void read_ops(struct cairn_txn *t, enum cairn_txn_branch b)
{
	for (;;) {
		char *line = read_line(stdin);
		if (!line)
			ctl_fail(EXIT_INVALID_INPUT, "%s", "EOF");
		if (!*line) {
			free(line);
			return;
		}
		struct buf err = {0};
		int code;
		if (txn_parse_op(line, t, b, &err, &code))
			txn_fail(&err, code);
		free(line);
	}
}

int cmd_txn(struct ctl *ctl, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		ctl_fail(EXIT_BAD_ARGS, "%s", "txn command does not accept argument");
	struct cairn_txn *t = cairn_txn_new();
	if (g_txn_interactive) {
		fputs("compares:\n", stdout);
		fflush(stdout);
	}
	for (;;) {
		char *line = read_line(stdin);
		if (!line)
			ctl_fail(EXIT_INVALID_INPUT, "%s", "EOF");
		if (!*line) {
			free(line);
			break;
		}
		struct buf err = {0};
		int rv = txn_parse_compare(line, t, &err);
		if (rv == -2)
			txn_fail(&err, 2);
		if (rv)
			ctl_fail(EXIT_INVALID_INPUT, "%s", buf_str(&err));
		free(line);
	}
	if (g_txn_interactive) {
		fputs("success requests (get, put, del):\n", stdout);
		fflush(stdout);
	}
	read_ops(t, CAIRN_TXN_THEN);
	if (g_txn_interactive) {
		fputs("failure requests (get, put, del):\n", stdout);
		fflush(stdout);
	}
	read_ops(t, CAIRN_TXN_ELSE);
	/* clientv3's Txn().Commit() runs under context.Background(): no
	 * deadline. */
	struct cairn_call_opts o = {.timeout_ms = CAIRN_TIMEOUT_NONE};
	Etcdserverpb__TxnResponse *resp;
	struct cairn_status st;
	if (cairn_kv_txn_sync(ctl_client(ctl), cairn_txn_request(t), &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_txn(&out, &po, resp));
	cairn_response_free(resp);
	cairn_txn_free(t);
	return 0;
}

int cmd_compaction(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "compaction command needs 1 argument");
	int64_t rev;
	struct buf err = {0};
	if (parse_int64(argv[0], 10, &rev, &err))
		ctl_fail(EXIT_ERROR, "%s", buf_str(&err));
	Etcdserverpb__CompactionRequest r = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	r.revision = rev;
	r.physical = g_compact_physical;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__CompactionResponse *resp;
	struct cairn_status st;
	if (cairn_kv_compact_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	cairn_response_free(resp);
	printf("compacted revision %lld\n", (long long)rev);
	return 0;
}
