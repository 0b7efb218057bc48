/*
 * bench/cairn-bench/report.c - the text and JSON output of report.h.
 *
 * The text follows etcd's pkg/report (v3.4): the same headings, the same
 * "%4.4f secs" numbers, ten linear histogram buckets between the fastest
 * and the slowest request, and the percentiles 10 ... 99.9. Percentiles come
 * from the log-bucketed histogram instead of a sorted array of every sample.
 */
#include "report.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "rpc/rpc.h"

void errtab_init(struct errtab *t)
{
	memset(t, 0, sizeof *t);
}

static void errtab_add_n(struct errtab *t, int code, const char *message, uint64_t n)
{
	t->total += n;
	if (!message)
		message = "";
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].code == code &&
		    !strncmp(t->e[i].message, message, ERRTAB_MSG_MAX - 1)) {
			t->e[i].count += n;
			return;
		}
	if (t->n == ERRTAB_MAX) {
		/* Full: fold into the last slot of this code, or the last slot. */
		message = "(other messages)";
		for (size_t i = 0; i < t->n; i++)
			if (t->e[i].code == code && !strcmp(t->e[i].message, message)) {
				t->e[i].count += n;
				return;
			}
		t->e[ERRTAB_MAX - 1].code = code;
		snprintf(t->e[ERRTAB_MAX - 1].message, ERRTAB_MSG_MAX, "%s", message);
		t->e[ERRTAB_MAX - 1].count += n;
		return;
	}
	t->e[t->n].code = code;
	snprintf(t->e[t->n].message, ERRTAB_MSG_MAX, "%s", message);
	t->e[t->n].count = n;
	t->n++;
}

void errtab_add(struct errtab *t, int code, const char *message)
{
	errtab_add_n(t, code, message, 1);
}

void errtab_merge(struct errtab *dst, const struct errtab *src)
{
	for (size_t i = 0; i < src->n; i++)
		errtab_add_n(dst, src->e[i].code, src->e[i].message, src->e[i].count);
}

uint64_t errtab_count(const struct errtab *t, int code)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].code == code)
			n += t->e[i].count;
	return n;
}

/* ---- text ---------------------------------------------------------------- */

static const double pctls[] = {10, 25, 50, 75, 90, 95, 99, 99.9};
#define N_PCTLS (sizeof pctls / sizeof pctls[0])

static void print_secs(FILE *f, const char *fmt, double secs)
{
	fprintf(f, fmt, secs);
	fputs(" secs", f);
}

static void print_series(FILE *f, const struct report *r, const struct series *s, bool precise)
{
	const char *fmt = precise ? "%g" : "%4.4f";
	const struct hist *h = &s->lat;
	if (h->count) {
		fprintf(f, "\nSummary:\n  Total:\t");
		print_secs(f, fmt, r->secs);
		fprintf(f, ".\n  Slowest:\t");
		print_secs(f, fmt, (double)h->max / 1e9);
		fprintf(f, ".\n  Fastest:\t");
		print_secs(f, fmt, (double)h->min / 1e9);
		fprintf(f, ".\n  Average:\t");
		print_secs(f, fmt, hist_mean(h) / 1e9);
		fprintf(f, ".\n  Stddev:\t");
		print_secs(f, fmt, hist_stddev(h) / 1e9);
		fprintf(f, ".\n  Requests/sec:\t");
		fprintf(f, fmt, r->secs > 0 ? (double)h->count / r->secs : 0);
		fprintf(f, "\n");

		/* Ten equal-width buckets from fastest to slowest, plus the
		 * row of the fastest itself, as etcd prints them. */
		enum {
			BC = 10
		};
		double lo = (double)h->min, hi = (double)h->max, bs = (hi - lo) / BC;
		uint64_t counts[BC + 1] = {0}, maxc = 0;
		for (unsigned i = 0; i < HIST_BUCKETS; i++) {
			if (!h->buckets[i])
				continue;
			uint64_t blo, bhi;
			hist_bucket_range(i, &blo, &bhi);
			/* A bucket's low end, clamped: the fastest lands in the
			 * first row, as etcd's "<= fastest" row. */
			double v = (double)(blo > h->min ? blo : h->min);
			int b = bs > 0 ? (int)((v - lo) / bs + 0.999999) : 0;
			if (b < 0)
				b = 0;
			if (b > BC)
				b = BC;
			counts[b] += h->buckets[i];
		}
		for (int i = 0; i <= BC; i++)
			if (counts[i] > maxc)
				maxc = counts[i];
		fprintf(f, "\nResponse time histogram:\n");
		for (int i = 0; i <= BC; i++) {
			double edge = i == BC ? hi : lo + bs * i;
			fprintf(f, "  ");
			fprintf(f, fmt, edge / 1e9);
			fprintf(f, " [%llu]\t|", (unsigned long long)counts[i]);
			int bar = maxc ? (int)(counts[i] * 40 / maxc) : 0;
			for (int j = 0; j < bar; j++)
				fputs("\xe2\x88\x8e", f); /* ∎ */
			fputc('\n', f);
		}

		fprintf(f, "\nLatency distribution:\n");
		for (size_t i = 0; i < N_PCTLS; i++) {
			uint64_t v = hist_percentile(h, pctls[i]);
			if (!v)
				continue;
			fprintf(f, "  %g%% in ", pctls[i]);
			print_secs(f, fmt, (double)v / 1e9);
			fprintf(f, ".\n");
		}
	}
	if (s->err.total) {
		fprintf(f, "\nError distribution:\n");
		for (size_t i = 0; i < s->err.n; i++)
			fprintf(f, "  [%llu]\t%s: %s\n", (unsigned long long)s->err.e[i].count,
			        rpc_code_name(s->err.e[i].code), s->err.e[i].message);
	}
}

void report_print_text(FILE *f, const struct report *r, bool precise)
{
	if (r->note[0])
		fprintf(f, "%s\n", r->note);
	if (!r->n_sub) {
		print_series(f, r, &r->all, precise);
		return;
	}
	for (size_t i = 0; i < r->n_sub; i++) {
		const struct series *s = r->sub[i];
		/* etcd's txn-mixed: "Total Read Ops: N\nDetails:" then the summary. */
		fprintf(f, "Total %c%s Ops: %llu\nDetails:", toupper((unsigned char)s->name[0]),
		        s->name + 1, (unsigned long long)(s->lat.count + s->err.total));
		print_series(f, r, s, precise);
		fputc('\n', f);
	}
}

/* ---- JSON ---------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t cap, len;
};

static void put(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static void put_str(struct sbuf *b, const char *s)
{
	size_t room = b->len < b->cap ? b->cap - b->len : 0;
	b->len += report_json_string(room ? b->p + b->len : NULL, room, s);
}

size_t report_json_string(char *buf, size_t cap, const char *s)
{
	size_t n = 0;
#define EMIT(ch)                       \
	do {                           \
		if (n + 1 < cap)       \
			buf[n] = (ch); \
		n++;                   \
	} while (0)
	EMIT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			EMIT('\\');
			EMIT((char)c);
		} else if (c == '\n') {
			EMIT('\\');
			EMIT('n');
		} else if (c == '\t') {
			EMIT('\\');
			EMIT('t');
		} else if (c == '\r') {
			EMIT('\\');
			EMIT('r');
		} else if (c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			EMIT('\\');
			EMIT('u');
			EMIT('0');
			EMIT('0');
			EMIT(hex[c >> 4]);
			EMIT(hex[c & 15]);
		} else {
			EMIT((char)c); /* UTF-8 passes through */
		}
	}
	EMIT('"');
#undef EMIT
	if (cap)
		buf[n < cap ? n : cap - 1] = 0;
	return n;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void put_latency(struct sbuf *b, const struct hist *h)
{
	put(b, "\"min_ms\":%.4f,\"mean_ms\":%.4f,\"stddev_ms\":%.4f", ms(h->count ? h->min : 0),
	    hist_mean(h) / 1e6, hist_stddev(h) / 1e6);
	static const char *names[] = {"p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999"};
	for (size_t i = 0; i < N_PCTLS; i++)
		put(b, ",\"%s_ms\":%.4f", names[i], ms(hist_percentile(h, pctls[i])));
	put(b, ",\"max_ms\":%.4f", ms(h->max));
}

static void put_series(struct sbuf *b, const struct report *r, const struct series *s)
{
	put(b, "\"requests\":%llu,\"errors\":%llu,\"requests_per_sec\":%.2f,",
	    (unsigned long long)s->lat.count, (unsigned long long)s->err.total,
	    r->secs > 0 ? (double)s->lat.count / r->secs : 0.0);
	put_latency(b, &s->lat);
	put(b, ",\"errors_by_code\":{");
	/* One entry per code, in code order. */
	bool first = true;
	for (int code = 0; code <= 16; code++) {
		uint64_t n = errtab_count(&s->err, code);
		if (!n)
			continue;
		put(b, "%s\"%s\":%llu", first ? "" : ",", rpc_code_name(code),
		    (unsigned long long)n);
		first = false;
	}
	uint64_t other = s->err.total;
	for (int code = 0; code <= 16; code++)
		other -= errtab_count(&s->err, code);
	if (other)
		put(b, "%s\"Unknown\":%llu", first ? "" : ",", (unsigned long long)other);
	put(b, "},\"error_messages\":[");
	for (size_t i = 0; i < s->err.n; i++) {
		put(b, "%s{\"code\":", i ? "," : "");
		put_str(b, rpc_code_name(s->err.e[i].code));
		put(b, ",\"message\":");
		put_str(b, s->err.e[i].message);
		put(b, ",\"count\":%llu}", (unsigned long long)s->err.e[i].count);
	}
	put(b, "]");
}

size_t report_json(char *buf, size_t cap, const struct report *r)
{
	struct sbuf b = {buf, cap, 0};
	put(&b, "{\"op\":");
	put_str(&b, r->op);
	put(&b, ",\"clients\":%u,\"conns\":%u,\"endpoints\":%u,\"total_secs\":%.6f,", r->clients,
	    r->conns, r->endpoints, r->secs);
	put_series(&b, r, &r->all);
	for (size_t i = 0; i < r->n_sub; i++) {
		put(&b, ",");
		put_str(&b, r->sub[i]->name);
		put(&b, ":{");
		put_series(&b, r, r->sub[i]);
		put(&b, "}");
	}
	put(&b, "}");
	if (cap)
		buf[b.len < cap ? b.len : cap - 1] = 0;
	return b.len;
}
