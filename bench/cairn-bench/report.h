/*
 * bench/cairn-bench/report.h - what a run measured, and how it is printed:
 * etcd benchmark's text summary, or one JSON object on one line.
 */
#ifndef CAIRN_BENCH_REPORT_H
#define CAIRN_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

/* Errors by gRPC code and message; distinct messages beyond ERRTAB_MAX are
 * counted under their code with the message "(other messages)". */
#define ERRTAB_MAX     32
#define ERRTAB_MSG_MAX 160
struct errtab {
	uint64_t total;
	size_t n;
	struct {
		int code;
		char message[ERRTAB_MSG_MAX];
		uint64_t count;
	} e[ERRTAB_MAX];
};
void errtab_init(struct errtab *t);
void errtab_add(struct errtab *t, int code, const char *message);
void errtab_merge(struct errtab *dst, const struct errtab *src);
/* Errors with this code. */
uint64_t errtab_count(const struct errtab *t, int code);

/* One measured series: a latency histogram, its errors and its span. */
struct series {
	const char *name; /* "read", "write", or NULL for the whole run */
	struct hist lat;
	struct errtab err;
};

struct report {
	const char *op; /* "put", "range", ... */
	double secs;    /* measured span: first issue to last completion */
	unsigned clients, conns, endpoints;
	struct series all;
	/* Extra series printed after the main one (mixed: read, write). */
	struct series *sub[2];
	size_t n_sub;
	/* Free-form lines printed before the summary ("bench with
	 * linearizable range"), as etcd's benchmark prints them. */
	char note[128];
};

/* etcd benchmark's summary (pkg/report): Summary, Response time histogram,
 * Latency distribution, Error distribution. precise: "%g" instead of
 * "%4.4f". */
void report_print_text(FILE *f, const struct report *r, bool precise);

/*
 * The JSON object, without a newline, into buf (NUL-terminated, truncated
 * to cap - 1). Fields: op, clients, conns, endpoints, total_secs, requests
 * (successful), errors, requests_per_sec, min_ms, mean_ms, stddev_ms,
 * p10_ms, p25_ms, p50_ms, p75_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms,
 * errors_by_code {name: count}, error_messages [{code, message, count}], and
 * per sub-series an object under its name with the same latency fields.
 * Returns the full length, as snprintf does.
 */
size_t report_json(char *buf, size_t cap, const struct report *r);

/* JSON string escaping of s (quotes included). Same return convention. */
size_t report_json_string(char *buf, size_t cap, const char *s);

#endif
