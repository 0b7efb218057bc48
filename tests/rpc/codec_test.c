/*
 * The codecs of rpc/rpc.h: message framing split at every byte, grpc-message
 * percent-encoding both ways, grpc-timeout in every unit.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

struct got {
	int n;
	uint8_t flags[16];
	size_t len[16];
	uint8_t data[16][600];
	int stop_after;
};

static int collect(void *arg, uint8_t flags, const uint8_t *msg, size_t len)
{
	struct got *g = arg;
	cr_assert_lt(g->n, 16);
	g->flags[g->n] = flags;
	g->len[g->n] = len;
	memcpy(g->data[g->n], msg, len);
	g->n++;
	return g->stop_after && g->n == g->stop_after ? 7 : 0;
}

/* Three messages back to back: empty, small, and one bigger than a chunk. */
static size_t build_stream(uint8_t *out, uint8_t *big, size_t big_len)
{
	size_t n = 0;
	rpc_frame_header(out + n, 0, 0);
	n += 5;
	rpc_frame_header(out + n, 0, 3);
	n += 5;
	memcpy(out + n, "abc", 3);
	n += 3;
	rpc_frame_header(out + n, 0, (uint32_t)big_len);
	n += 5;
	memcpy(out + n, big, big_len);
	n += big_len;
	return n;
}

static void check(struct got *g, const uint8_t *big, size_t big_len)
{
	cr_assert_eq(g->n, 3);
	cr_assert_eq(g->len[0], 0);
	cr_assert_eq(g->len[1], 3);
	cr_assert_eq(memcmp(g->data[1], "abc", 3), 0);
	cr_assert_eq(g->len[2], big_len);
	cr_assert_eq(memcmp(g->data[2], big, big_len), 0);
}

Test(framing, prefix_is_flag_and_big_endian_length)
{
	uint8_t h[5];
	rpc_frame_header(h, 0, 0x0a);
	uint8_t want[5] = {0, 0, 0, 0, 0x0a};
	cr_assert_arr_eq(h, want, 5);
	rpc_frame_header(h, 1, 0x01020304);
	uint8_t want2[5] = {1, 1, 2, 3, 4};
	cr_assert_arr_eq(h, want2, 5);
}

Test(framing, every_single_split_point)
{
	uint8_t big[500], stream[600];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	size_t n = build_stream(stream, big, sizeof big);
	for (size_t cut = 0; cut <= n; cut++) {
		struct rpc_deframer d = {0};
		rpc_deframer_init(&d, 1024);
		struct got g = {0};
		cr_assert_eq(rpc_deframer_feed(&d, stream, cut, collect, &g), 0);
		cr_assert_eq(rpc_deframer_feed(&d, stream + cut, n - cut, collect, &g), 0);
		check(&g, big, sizeof big);
		cr_assert_not(rpc_deframer_partial(&d));
		rpc_deframer_free(&d);
	}
}

Test(framing, one_byte_at_a_time_and_every_pair_of_cuts)
{
	uint8_t big[40], stream[100];
	memset(big, 'z', sizeof big);
	size_t n = build_stream(stream, big, sizeof big);
	struct rpc_deframer d = {0};
	rpc_deframer_init(&d, 1024);
	struct got g = {0};
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(rpc_deframer_feed(&d, stream + i, 1, collect, &g), 0);
		/* Message boundaries: after the empty one, after "abc", the end. */
		bool boundary = i + 1 == 5 || i + 1 == 13 || i + 1 == n;
		cr_assert_eq(rpc_deframer_partial(&d), !boundary, "after byte %zu", i);
	}
	check(&g, big, sizeof big);
	for (size_t a = 0; a <= n; a++)
		for (size_t b = a; b <= n; b++) {
			struct got h = {0};
			rpc_deframer_init(&d, 1024);
			rpc_deframer_feed(&d, stream, a, collect, &h);
			rpc_deframer_feed(&d, stream + a, b - a, collect, &h);
			rpc_deframer_feed(&d, stream + b, n - b, collect, &h);
			check(&h, big, sizeof big);
		}
	rpc_deframer_free(&d);
}

Test(framing, oversized_length_is_refused_when_the_prefix_completes)
{
	struct rpc_deframer d = {0};
	rpc_deframer_init(&d, 100);
	uint8_t h[5];
	rpc_frame_header(h, 0, 101);
	struct got g = {0};
	cr_assert_eq(rpc_deframer_feed(&d, h, 4, collect, &g), 0);
	cr_assert_eq(rpc_deframer_feed(&d, h + 4, 1, collect, &g), RPC_DEFRAME_TOO_LARGE);
	cr_assert_eq(d.too_large, 101);
	cr_assert_eq(g.n, 0);
	rpc_deframer_free(&d);
	/* Exactly the limit is fine. */
	rpc_deframer_init(&d, 100);
	uint8_t msg[105] = {0};
	rpc_frame_header(msg, 0, 100);
	cr_assert_eq(rpc_deframer_feed(&d, msg, sizeof msg, collect, &g), 0);
	cr_assert_eq(g.n, 1);
	rpc_deframer_free(&d);
}

Test(framing, compressed_flag_is_reported_and_callback_can_stop)
{
	uint8_t s[30];
	rpc_frame_header(s, 1, 2);
	memcpy(s + 5, "hi", 2);
	rpc_frame_header(s + 7, 0, 2);
	memcpy(s + 12, "yo", 2);
	struct rpc_deframer d = {0};
	rpc_deframer_init(&d, 100);
	struct got g = {.stop_after = 1};
	cr_assert_eq(rpc_deframer_feed(&d, s, 14, collect, &g), 7);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.flags[0], 1);
	rpc_deframer_free(&d);
}

/* ---- percent-encoding --------------------------------------------------- */

static char *enc(const char *s)
{
	static char out[256];
	rpc_percent_encode(out, sizeof out, s, strlen(s));
	return out;
}

static char *dec(const char *s)
{
	static char out[256];
	rpc_percent_decode(out, sizeof out, s, strlen(s));
	return out;
}

Test(percent, printable_ascii_passes_through)
{
	cr_assert_str_eq(enc("etcdserver: mvcc: required revision has been compacted"),
	                 "etcdserver: mvcc: required revision has been compacted");
	cr_assert_str_eq(enc(" ~!"), " ~!");
}

Test(percent, percent_controls_and_utf8_are_escaped)
{
	cr_assert_str_eq(enc("100%"), "100%25");
	cr_assert_str_eq(enc("a\nb\tc"), "a%0Ab%09c");
	cr_assert_str_eq(enc("caf\xc3\xa9"), "caf%C3%A9");
	cr_assert_str_eq(enc("\x7f"), "%7F");
}

Test(percent, decoding_is_lenient)
{
	cr_assert_str_eq(dec("a%0Ab"), "a\nb");
	cr_assert_str_eq(dec("caf%c3%a9"), "caf\xc3\xa9");
	cr_assert_str_eq(dec("100%"), "100%");
	cr_assert_str_eq(dec("%zz%4"), "%zz%4");
	cr_assert_str_eq(dec("%%41"), "%A");
}

Test(percent, round_trip_of_every_byte)
{
	char all[255];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	char e[1024], d[300];
	size_t n = rpc_percent_encode(e, sizeof e, all, sizeof all);
	cr_assert_lt(n, sizeof e);
	size_t m = rpc_percent_decode(d, sizeof d, e, n);
	cr_assert_eq(m, sizeof all);
	cr_assert_eq(memcmp(d, all, sizeof all), 0);
}

Test(percent, truncation_reports_the_full_length)
{
	char out[4];
	cr_assert_eq(rpc_percent_encode(out, sizeof out, "%%%%", 4), 12);
	cr_assert_str_eq(out, "%25");
	cr_assert_eq(rpc_percent_encode(NULL, 0, "ab", 2), 2);
}

/* ---- grpc-timeout ------------------------------------------------------- */

static uint64_t ms_of(const char *s)
{
	uint64_t ms = 12345;
	cr_assert_eq(rpc_timeout_parse(s, strlen(s), &ms), 0, "%s", s);
	return ms;
}

Test(timeout, every_unit)
{
	cr_assert_eq(ms_of("2H"), 7200000);
	cr_assert_eq(ms_of("3M"), 180000);
	cr_assert_eq(ms_of("5S"), 5000);
	cr_assert_eq(ms_of("250m"), 250);
	cr_assert_eq(ms_of("4996132u"), 4997, "etcdctl's 5 s command timeout, rounded up");
	cr_assert_eq(ms_of("1000u"), 1);
	cr_assert_eq(ms_of("1n"), 1, "never zero for a positive timeout");
	cr_assert_eq(ms_of("2000000n"), 2);
	cr_assert_eq(ms_of("0m"), 0);
	cr_assert_eq(ms_of("00000001S"), 1000);
}

Test(timeout, saturates_instead_of_overflowing)
{
	cr_assert_eq(ms_of("99999999H"), 99999999ull * 3600000);
	cr_assert_eq(ms_of("99999999999999999999H"), UINT64_MAX);
	cr_assert_eq(ms_of("18446744073709551615m"), UINT64_MAX);
	cr_assert_eq(ms_of("18446744073709551616m"), UINT64_MAX);
	cr_assert_eq(ms_of("99999999999999999999999n"), UINT64_MAX / 1000000 + 1);
}

Test(timeout, malformed_values_are_refused)
{
	const char *bad[] = {"", "m", "5", "5x", "-5m", "5 m", "5mm", " 5m", "5.0S", "H5"};
	uint64_t ms;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(rpc_timeout_parse(bad[i], strlen(bad[i]), &ms), -EINVAL, "'%s'",
		             bad[i]);
	cr_assert_eq(rpc_timeout_parse(NULL, 0, &ms), -EINVAL);
}

static const char *fmt(uint64_t ms)
{
	static char out[RPC_TIMEOUT_BUFSZ];
	size_t n = rpc_timeout_format(ms, out);
	cr_assert_eq(n, strlen(out));
	return out;
}

Test(timeout, format_is_exact_when_it_can_be_and_round_trips)
{
	cr_assert_str_eq(fmt(0), "0m");
	cr_assert_str_eq(fmt(250), "250m");
	cr_assert_str_eq(fmt(5000), "5S");
	cr_assert_str_eq(fmt(120000), "2M");
	cr_assert_str_eq(fmt(7200000), "2H");
	cr_assert_str_eq(fmt(99999999), "99999999m");
	cr_assert_str_eq(fmt(100000000), "100000S");
	cr_assert_str_eq(fmt(100000001), "100001S", "coarser unit, rounded up");
	cr_assert_str_eq(fmt(UINT64_MAX), "99999999H");
	uint64_t samples[] = {1, 999, 1001, 59999, 86400000, 123456789, 99999999000ull};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		const char *s = fmt(samples[i]);
		cr_assert_leq(strlen(s), 9);
		uint64_t back = ms_of(s);
		cr_assert_geq(back, samples[i]);
	}
}

/* ---- names -------------------------------------------------------------- */

Test(status, names_match_grpc_go)
{
	cr_assert_str_eq(rpc_code_name(RPC_OK), "OK");
	cr_assert_str_eq(rpc_code_name(RPC_CANCELLED), "Canceled");
	cr_assert_str_eq(rpc_code_name(RPC_UNAVAILABLE), "Unavailable");
	cr_assert_str_eq(rpc_code_name(RPC_UNAUTHENTICATED), "Unauthenticated");
	cr_assert_str_eq(rpc_code_name(99), "Unknown");
	cr_assert_str_eq(rpc_strerror(-ENOBUFS), strerror(ENOBUFS));
	cr_assert_str_eq(rpc_strerror(UV_EOF), "end of file");
}
