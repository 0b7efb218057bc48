/*
 * tests/raft/transcript.c - runs the data-driven scenario transcripts.
 *
 *   raft_transcripts DIR|FILE... [--rewrite]
 *
 * A transcript (a .txt file in testdata/) is a story of a cluster told as blocks:
 * one or more fixture commands (fixture.h), a line "----", then the exact
 * output expected, ended by a blank line. Lines starting with '#' between
 * blocks are comments. With --rewrite the files are regenerated from what
 * the fixture prints now (review the diff before committing it), in the
 * manner of etcd-io/raft's datadriven tests.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/raft/fixture.h"

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = 0;
	fclose(fp);
	return buf;
}

struct text {
	char *s;
	size_t n;
	size_t cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->n + n + 1 > t->cap) {
		t->cap = (t->n + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			abort();
	}
	memcpy(t->s + t->n, s, n);
	t->n += n;
	t->s[t->n] = 0;
}

/* Returns the number of mismatching blocks (or -1 if unreadable). */
static int run_file(const char *path, int rewrite)
{
	char *src = slurp(path);
	if (!src) {
		fprintf(stderr, "%s: cannot read\n", path);
		return -1;
	}
	struct fx *f = fx_new();
	struct text outf = {0};
	int bad = 0, blocks = 0;
	char *p = src;
	int lineno = 1;
	while (*p) {
		/* Comments and blank lines between blocks. */
		char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len == 0 || p[0] == '#') {
			put(&outf, p, len);
			put(&outf, "\n", 1);
			p += len + (eol ? 1 : 0);
			lineno++;
			continue;
		}
		/* Commands up to "----". */
		int start = lineno;
		struct text cmds = {0};
		while (*p) {
			eol = strchr(p, '\n');
			len = eol ? (size_t)(eol - p) : strlen(p);
			put(&outf, p, len);
			put(&outf, "\n", 1);
			lineno++;
			if (len == 4 && !strncmp(p, "----", 4)) {
				p += len + (eol ? 1 : 0);
				break;
			}
			put(&cmds, p, len);
			put(&cmds, "\n", 1);
			p += len + (eol ? 1 : 0);
		}
		/* Expected output up to a blank line. */
		struct text want = {0};
		while (*p) {
			eol = strchr(p, '\n');
			len = eol ? (size_t)(eol - p) : strlen(p);
			p += len + (eol ? 1 : 0);
			lineno++;
			if (len == 0)
				break;
			put(&want, p - len - (eol ? 1 : 0), len);
			put(&want, "\n", 1);
		}
		/* Run. */
		for (char *c = cmds.s; c && *c;) {
			char *e = strchr(c, '\n');
			*e = 0;
			fx_exec(f, c);
			c = e + 1;
		}
		const char *got = fx_take(f);
		blocks++;
		if (strcmp(got, want.s ? want.s : "") != 0) {
			bad++;
			if (!rewrite)
				fprintf(stderr,
				        "%s:%d: output differs\n--- commands\n%s--- want\n%s--- "
				        "got\n%s\n",
				        path, start, cmds.s, want.s ? want.s : "", got);
		}
		put(&outf, got, strlen(got));
		put(&outf, "\n", 1);
		free(cmds.s);
		free(want.s);
	}
	if (rewrite && bad) {
		/* Keep the file's trailing shape: one newline at the end. */
		while (outf.n > 1 && outf.s[outf.n - 1] == '\n' && outf.s[outf.n - 2] == '\n')
			outf.s[--outf.n] = 0;
		FILE *fp = fopen(path, "wb");
		if (fp) {
			fwrite(outf.s, 1, outf.n, fp);
			fclose(fp);
		}
		fprintf(stderr, "%s: rewrote %d of %d blocks\n", path, bad, blocks);
	}
	printf("%s: %d blocks, %d %s\n", path, blocks, bad, rewrite ? "rewritten" : "failed");
	free(outf.s);
	free(src);
	fx_free(f);
	return rewrite ? 0 : bad;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int rewrite = 0, failed = 0, files = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--rewrite"))
			rewrite = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rewrite"))
			continue;
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: not found\n", argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i], rewrite) != 0;
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		char *names[256];
		int n = 0;
		for (struct dirent *e; d && (e = readdir(d)) && n < 256;) {
			size_t len = strlen(e->d_name);
			if (len > 4 && !strcmp(e->d_name + len - 4, ".txt")) {
				names[n] = malloc(strlen(argv[i]) + len + 2);
				sprintf(names[n], "%s/%s", argv[i], e->d_name);
				n++;
			}
		}
		if (d)
			closedir(d);
		qsort(names, (size_t)n, sizeof *names, cmp);
		for (int k = 0; k < n; k++) {
			failed += run_file(names[k], rewrite) != 0;
			files++;
			free(names[k]);
		}
	}
	printf("%d transcripts, %d failed\n", files, failed);
	return failed ? 1 : 0;
}
