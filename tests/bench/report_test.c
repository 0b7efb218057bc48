/*
 * tests/bench/report_test.c - the JSON line machines read, and the errors
 * table behind it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rpc/rpc.h"

static struct report r;

static void fill(void)
{
	memset(&r, 0, sizeof r);
	r.op = "put";
	r.secs = 2.0;
	r.clients = 10;
	r.conns = 2;
	r.endpoints = 3;
	hist_init(&r.all.lat);
	errtab_init(&r.all.err);
	/* 1000 requests of 1..1000 us. */
	for (uint64_t i = 1; i <= 1000; i++)
		hist_record(&r.all.lat, i * 1000);
	errtab_add(&r.all.err, RPC_UNAVAILABLE, "etcdserver: leader changed");
	errtab_add(&r.all.err, RPC_UNAVAILABLE, "etcdserver: leader changed");
	errtab_add(&r.all.err, RPC_RESOURCE_EXHAUSTED, "etcdserver: \"too\" many requests\n");
}

Test(report, json_is_one_line_with_the_promised_fields)
{
	fill();
	char buf[4096];
	size_t n = report_json(buf, sizeof buf, &r);
	cr_assert_eq(n, strlen(buf));
	cr_expect(strchr(buf, '\n') == NULL, "one line");
	cr_expect(buf[0] == '{' && buf[n - 1] == '}');
	const char *want[] = {
	    "\"op\":\"put\"",
	    "\"clients\":10,\"conns\":2,\"endpoints\":3,\"total_secs\":2.000000",
	    "\"requests\":1000,\"errors\":3,\"requests_per_sec\":500.00",
	    "\"errors_by_code\":{\"ResourceExhausted\":1,\"Unavailable\":2}",
	    "{\"code\":\"Unavailable\",\"message\":\"etcdserver: leader changed\",\"count\":2}",
	    "\"message\":\"etcdserver: \\\"too\\\" many requests\\n\"",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(buf, want[i]), "missing %s in %s", want[i], buf);
	/* min and max are exact; the mean of 1..1000 us is 500.5 us. */
	cr_expect(strstr(buf, "\"min_ms\":0.0010,\"mean_ms\":0.5005"), "%s", buf);
	cr_expect(strstr(buf, "\"max_ms\":1.0000"), "%s", buf);
	/* p50 of 1..1000 us is 500 us, p99 990 us (each within 0.4%). */
	const char *p50 = strstr(buf, "\"p50_ms\":");
	const char *p99 = strstr(buf, "\"p99_ms\":");
	cr_assert(p50 && p99);
	double v50 = atof(p50 + 9), v99 = atof(p99 + 9);
	cr_expect(v50 > 0.498 && v50 < 0.502, "p50 %f", v50);
	cr_expect(v99 > 0.986 && v99 < 0.994, "p99 %f", v99);
	const char *fields[] = {"p10_ms", "p25_ms",  "p75_ms",   "p90_ms",
	                        "p95_ms", "p999_ms", "stddev_ms"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		cr_expect(strstr(buf, fields[i]), "%s missing", fields[i]);
}

Test(report, json_of_an_empty_run_has_zeros_not_garbage)
{
	memset(&r, 0, sizeof r);
	r.op = "range";
	hist_init(&r.all.lat);
	errtab_init(&r.all.err);
	char buf[2048];
	report_json(buf, sizeof buf, &r);
	cr_expect(strstr(buf, "\"requests\":0,\"errors\":0,\"requests_per_sec\":0.00"), "%s", buf);
	cr_expect(strstr(buf, "\"min_ms\":0.0000"), "%s", buf);
	cr_expect(strstr(buf, "\"errors_by_code\":{},\"error_messages\":[]"), "%s", buf);
}

Test(report, json_sub_series_are_objects_under_their_names)
{
	fill();
	static struct series rd, wr;
	hist_init(&rd.lat);
	errtab_init(&rd.err);
	hist_init(&wr.lat);
	errtab_init(&wr.err);
	rd.name = "read";
	wr.name = "write";
	hist_record(&rd.lat, 1000000);
	hist_record(&wr.lat, 3000000);
	r.sub[0] = &rd;
	r.sub[1] = &wr;
	r.n_sub = 2;
	char buf[8192];
	report_json(buf, sizeof buf, &r);
	cr_expect(strstr(buf, ",\"read\":{\"requests\":1,"), "%s", buf);
	cr_expect(strstr(buf, ",\"write\":{\"requests\":1,"), "%s", buf);
}

Test(report, json_truncates_safely)
{
	fill();
	char small[32];
	size_t n = report_json(small, sizeof small, &r);
	cr_expect(n > sizeof small);
	cr_expect_eq(strlen(small), sizeof small - 1);
}

Test(report, json_string_escaping)
{
	char buf[64];
	report_json_string(buf, sizeof buf, "a\"b\\c\x01\td");
	cr_expect_str_eq(buf, "\"a\\\"b\\\\c\\u0001\\td\"");
	cr_expect_eq(report_json_string(NULL, 0, "abc"), 5);
}

Test(report, errtab_folds_distinct_messages_beyond_its_size)
{
	struct errtab t;
	errtab_init(&t);
	char msg[32];
	for (int i = 0; i < 100; i++) {
		snprintf(msg, sizeof msg, "error %d", i);
		errtab_add(&t, RPC_UNAVAILABLE, msg);
	}
	cr_expect_eq(t.total, 100);
	cr_expect_eq(t.n, ERRTAB_MAX);
	cr_expect_eq(errtab_count(&t, RPC_UNAVAILABLE), 100);
	cr_expect_str_eq(t.e[ERRTAB_MAX - 1].message, "(other messages)");
}

Test(report, text_summary_has_etcds_sections)
{
	fill();
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	report_print_text(f, &r, false);
	fclose(f);
	const char *want[] = {
	    "\nSummary:\n  Total:\t2.0000 secs.\n",
	    "  Requests/sec:\t500.0000\n",
	    "\nResponse time histogram:\n",
	    "\nLatency distribution:\n  10% in 0.0001 secs.\n",
	    "  99.9% in 0.0010 secs.\n",
	    "\nError distribution:\n  [2]\tUnavailable: etcdserver: leader changed\n"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(out, want[i]), "missing %s in:\n%s", want[i], out);
	free(out);
}
