/*
 * client/ctl/text.c - column layout as etcdctl's libraries do it:
 * Go's text/tabwriter (help output: minwidth 0, tabwidth 8, padding 1,
 * padchar '\t') and olekukonko/tablewriter (the -w table output, with
 * etcdctl's right alignment).
 */
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

/* Display width: runes, as tabwriter counts them. */
static size_t runes(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

struct tw_cell {
	const char *p;
	size_t len, width;
};
struct tw_line {
	struct tw_cell *cells;
	size_t n;
};

struct tw {
	struct tw_line *lines;
	size_t n;
	size_t *widths;
	size_t nwidths;
	struct buf *out;
};

static void tw_write_lines(struct tw *t, size_t line0, size_t line1)
{
	for (size_t i = line0; i < line1; i++) {
		struct tw_line *l = &t->lines[i];
		for (size_t j = 0; j < l->n; j++) {
			struct tw_cell *c = &l->cells[j];
			buf_put(t->out, c->p, c->len);
			if (j + 1 < l->n && j < t->nwidths) {
				/* padding with tabs: cell width rounded to the tab stop */
				size_t cellw = (t->widths[j] + 7) / 8 * 8;
				size_t pad = cellw - c->width;
				for (size_t k = 0; k < (pad + 7) / 8; k++)
					buf_put(t->out, "\t", 1);
			}
		}
		if (i + 1 < t->n)
			buf_put(t->out, "\n", 1);
	}
}

/* text/tabwriter's format(): column blocks, recursively. */
static void tw_format(struct tw *t, size_t line0, size_t line1)
{
	size_t column = t->nwidths;
	for (size_t this = line0; this < line1; this ++) {
		struct tw_line *l = &t->lines[this];
		if (column + 1 >= l->n)
			continue;
		tw_write_lines(t, line0, this);
		line0 = this;
		size_t width = 0;
		for (; this < line1; this ++) {
			l = &t->lines[this];
			if (column + 1 >= l->n)
				break;
			size_t w = l->cells[column].width + 1;
			if (w > width)
				width = w;
		}
		t->widths[t->nwidths++] = width;
		tw_format(t, line0, this);
		t->nwidths--;
		line0 = this;
	}
	tw_write_lines(t, line0, line1);
}

void tabwriter(struct buf *out, const char *text, size_t len)
{
	struct tw t = {.out = out};
	size_t cap = 0, maxcells = 1;
	const char *p = text, *end = text + len;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (t.n == cap) {
			cap = cap ? cap * 2 : 64;
			t.lines = realloc(t.lines, cap * sizeof *t.lines);
		}
		struct tw_line *l = &t.lines[t.n++];
		l->cells = NULL;
		l->n = 0;
		size_t ccap = 0;
		const char *c = p;
		for (;;) {
			const char *tab = memchr(c, '\t', (size_t)(le - c));
			const char *ce = tab ? tab : le;
			if (l->n == ccap) {
				ccap = ccap ? ccap * 2 : 4;
				l->cells = realloc(l->cells, ccap * sizeof *l->cells);
			}
			l->cells[l->n++] =
			    (struct tw_cell){c, (size_t)(ce - c), runes(c, (size_t)(ce - c))};
			if (!tab)
				break;
			c = tab + 1;
		}
		if (l->n > maxcells)
			maxcells = l->n;
		if (!nl)
			break;
		p = nl + 1;
	}
	t.widths = calloc(maxcells, sizeof *t.widths);
	tw_format(&t, 0, t.n);
	for (size_t i = 0; i < t.n; i++)
		free(t.lines[i].cells);
	free(t.lines);
	free(t.widths);
}

/* ---- tablewriter ------------------------------------------------------------ */

/* tablewriter's WrapString at 30 columns: words (split on white space)
 * greedily joined by single spaces; a longer word stays whole. */
static char **wrap(const char *s, size_t *nlines)
{
	char **lines = NULL;
	size_t n = 0;
	struct buf cur = {0};
	const char *p = s;
	bool any = false;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
		size_t wl = (size_t)(p - w);
		if (any && runes(cur.p, cur.len) + 1 + runes(w, wl) > 30) {
			lines = realloc(lines, (n + 1) * sizeof *lines);
			lines[n++] = strdup(buf_str(&cur));
			cur.len = 0;
			any = false;
		}
		if (any)
			buf_put(&cur, " ", 1);
		buf_put(&cur, w, wl);
		any = true;
	}
	lines = realloc(lines, (n + 1) * sizeof *lines);
	lines[n++] = strdup(buf_str(&cur));
	buf_free(&cur);
	*nlines = n;
	return lines;
}

static void pad(struct buf *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_put(out, " ", 1);
}

void table_render(struct buf *out, const char *const *cells, size_t rows, size_t cols)
{
	char ***wrapped = calloc(rows * cols, sizeof *wrapped);
	size_t *nl = calloc(rows * cols, sizeof *nl);
	size_t *width = calloc(cols, sizeof *width);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			const char *s = cells[r * cols + c];
			struct buf h = {0};
			if (r == 0) {
				/* Title(): "_" and "." become spaces, trimmed, upper case */
				for (const char *q = s; *q; q++) {
					char ch = *q == '_' || *q == '.' ? ' ' : *q;
					if (ch >= 'a' && ch <= 'z')
						ch = (char)(ch - 'a' + 'A');
					buf_put(&h, &ch, 1);
				}
				s = buf_str(&h);
			}
			wrapped[r * cols + c] = wrap(s, &nl[r * cols + c]);
			buf_free(&h);
			for (size_t i = 0; i < nl[r * cols + c]; i++) {
				const char *l = wrapped[r * cols + c][i];
				size_t w = runes(l, strlen(l));
				if (w > width[c])
					width[c] = w;
			}
		}
	}
	struct buf border = {0};
	buf_put(&border, "+", 1);
	for (size_t c = 0; c < cols; c++) {
		for (size_t i = 0; i < width[c] + 2; i++)
			buf_put(&border, "-", 1);
		buf_put(&border, "+", 1);
	}
	buf_put(&border, "\n", 1);
	buf_put(out, border.p, border.len);
	for (size_t r = 0; r < rows; r++) {
		size_t height = 1;
		for (size_t c = 0; c < cols; c++)
			if (nl[r * cols + c] > height)
				height = nl[r * cols + c];
		for (size_t li = 0; li < height; li++) {
			for (size_t c = 0; c < cols; c++) {
				const char *s =
				    li < nl[r * cols + c] ? wrapped[r * cols + c][li] : "";
				size_t w = runes(s, strlen(s));
				size_t gap = width[c] - w;
				buf_puts(out, c == 0 ? "| " : " ");
				if (r == 0) { /* centered */
					pad(out, gap / 2);
					buf_puts(out, s);
					pad(out, gap - gap / 2);
				} else { /* right-aligned */
					pad(out, gap);
					buf_puts(out, s);
				}
				buf_puts(out, " |");
			}
			buf_put(out, "\n", 1);
		}
		if (r == 0)
			buf_put(out, border.p, border.len);
	}
	buf_put(out, border.p, border.len);
	buf_free(&border);
	for (size_t i = 0; i < rows * cols; i++) {
		for (size_t k = 0; k < nl[i]; k++)
			free(wrapped[i][k]);
		free(wrapped[i]);
	}
	free(wrapped);
	free(nl);
	free(width);
}
