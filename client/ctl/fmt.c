/*
 * client/ctl/fmt.c - the Go formatting behaviours etcdctl's output is made
 * of: strconv.Quote (%q) and Unquote, encoding/json and zap string
 * escaping, base64, go-humanize's Bytes, time.Duration's String and
 * ParseDuration, strconv's number parsing with its error texts.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

/* ---- buffer -------------------------------------------------------------- */

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 64;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np)
			abort(); /* out of memory in a command-line tool */
		b->p = np;
		b->cap = nc;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_put(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		abort();
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_put(b, big, (size_t)n);
	free(big);
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

const char *buf_str(struct buf *b)
{
	if (!b->p)
		buf_put(b, "", 0);
	return b->p;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

/* Decodes one rune as Go does; *w gets its width. Invalid: returns -1, w 1. */
static int32_t utf8_decode(const uint8_t *p, size_t n, size_t *w)
{
	*w = 1;
	uint8_t c = p[0];
	if (c < 0x80)
		return c;
	int need;
	int32_t r, min;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1, r = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2, r = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3, r = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if ((size_t)need >= n)
		return -1;
	for (int i = 1; i <= need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		r = (r << 6) | (p[i] & 0x3f);
	}
	if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
		return -1;
	*w = (size_t)need + 1;
	return r;
}

static void utf8_encode(struct buf *b, int32_t r)
{
	char s[4];
	if (r < 0x80) {
		s[0] = (char)r;
		buf_put(b, s, 1);
	} else if (r < 0x800) {
		s[0] = (char)(0xc0 | (r >> 6));
		s[1] = (char)(0x80 | (r & 0x3f));
		buf_put(b, s, 2);
	} else if (r < 0x10000) {
		s[0] = (char)(0xe0 | (r >> 12));
		s[1] = (char)(0x80 | ((r >> 6) & 0x3f));
		s[2] = (char)(0x80 | (r & 0x3f));
		buf_put(b, s, 3);
	} else {
		s[0] = (char)(0xf0 | (r >> 18));
		s[1] = (char)(0x80 | ((r >> 12) & 0x3f));
		s[2] = (char)(0x80 | ((r >> 6) & 0x3f));
		s[3] = (char)(0x80 | (r & 0x3f));
		buf_put(b, s, 4);
	}
}

/* An approximation of Go's unicode.IsPrint for runes >= 0x80: letters,
 * marks, numbers, punctuation and symbols; not spaces other than U+0020,
 * controls, formats, surrogates, private use or noncharacters. */
static bool go_isprint(int32_t r)
{
	if (r < 0x20 || r == 0x7f)
		return false;
	if (r < 0x7f)
		return true;
	if (r <= 0xa0 || r == 0xad)
		return false;
	if ((r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
	    (r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0x1680 || r == 0xfeff ||
	    (r >= 0xfff9 && r <= 0xfffb) || (r >= 0xe000 && r <= 0xf8ff) || r >= 0xf0000 ||
	    (r & 0xfffe) == 0xfffe || (r >= 0xfdd0 && r <= 0xfdef) || r == 0x61c || r == 0x180e ||
	    (r >= 0x600 && r <= 0x605) || r == 0x6dd || r == 0x70f ||
	    (r >= 0xe0000 && r <= 0xe007f))
		return false;
	return true;
}

static const char hexd[] = "0123456789abcdef";

void go_quote(struct buf *b, const void *data, size_t n)
{
	const uint8_t *p = data;
	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t w;
		int32_t r = utf8_decode(p + i, n - i, &w);
		if (r < 0) {
			char e[4] = {'\\', 'x', hexd[p[i] >> 4], hexd[p[i] & 15]};
			buf_put(b, e, 4);
			i++;
			continue;
		}
		i += w;
		if (r == '"' || r == '\\') {
			char e[2] = {'\\', (char)r};
			buf_put(b, e, 2);
			continue;
		}
		if (go_isprint(r)) {
			utf8_encode(b, r);
			continue;
		}
		switch (r) {
		case '\a':
			buf_puts(b, "\\a");
			break;
		case '\b':
			buf_puts(b, "\\b");
			break;
		case '\f':
			buf_puts(b, "\\f");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		case '\v':
			buf_puts(b, "\\v");
			break;
		default:
			if (r < ' ' || r == 0x7f)
				buf_printf(b, "\\x%02x", (unsigned)r);
			else if (r < 0x10000)
				buf_printf(b, "\\u%04x", (unsigned)r);
			else
				buf_printf(b, "\\U%08x", (unsigned)r);
		}
	}
	buf_put(b, "\"", 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int go_unquote(const char *s, size_t n, struct buf *out)
{
	if (n < 2)
		return -1;
	char q = s[0];
	if (s[n - 1] != q)
		return -1;
	if (q == '`') {
		for (size_t i = 1; i < n - 1; i++) {
			if (s[i] == '`')
				return -1;
			if (s[i] != '\r')
				buf_put(out, &s[i], 1);
		}
		return 0;
	}
	if (q != '"')
		return -1;
	for (size_t i = 1; i < n - 1;) {
		char c = s[i];
		if (c == '"' || c == '\n')
			return -1;
		if (c != '\\') {
			buf_put(out, &c, 1);
			i++;
			continue;
		}
		if (++i >= n - 1)
			return -1;
		c = s[i++];
		switch (c) {
		case 'a':
			buf_put(out, "\a", 1);
			break;
		case 'b':
			buf_put(out, "\b", 1);
			break;
		case 'f':
			buf_put(out, "\f", 1);
			break;
		case 'n':
			buf_put(out, "\n", 1);
			break;
		case 'r':
			buf_put(out, "\r", 1);
			break;
		case 't':
			buf_put(out, "\t", 1);
			break;
		case 'v':
			buf_put(out, "\v", 1);
			break;
		case '\\':
			buf_put(out, "\\", 1);
			break;
		case '"':
			buf_put(out, "\"", 1);
			break;
		case 'x':
		case 'u':
		case 'U': {
			int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			if (i + (size_t)digits > n - 1)
				return -1;
			int32_t v = 0;
			for (int k = 0; k < digits; k++) {
				int h = hexval(s[i + (size_t)k]);
				if (h < 0)
					return -1;
				v = v * 16 + h;
			}
			i += (size_t)digits;
			if (c == 'x') {
				char byte = (char)v;
				buf_put(out, &byte, 1);
			} else {
				if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
					return -1;
				utf8_encode(out, v);
			}
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				if (i + 2 > n - 1)
					return -1;
				int v = c - '0';
				for (int k = 0; k < 2; k++) {
					char d = s[i++];
					if (d < '0' || d > '7')
						return -1;
					v = v * 8 + (d - '0');
				}
				if (v > 255)
					return -1;
				char byte = (char)v;
				buf_put(out, &byte, 1);
				break;
			}
			return -1;
		}
	}
	return 0;
}

int go_scan_quoted(const char *s, const char **end, struct buf *out)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	const char *p = s;
	if (*p == '`') {
		p = strchr(p + 1, '`');
		if (!p)
			return -1;
		p++;
	} else if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		if (*p != '"')
			return -1;
		p++;
	} else {
		return -1;
	}
	if (go_unquote(s, (size_t)(p - s), out))
		return -1;
	*end = p;
	return 0;
}

void json_string(struct buf *b, const void *data, size_t n)
{
	const uint8_t *p = data;
	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' &&
			    c != '&') {
				buf_put(b, &c, 1);
				continue;
			}
			switch (c) {
			case '"':
				buf_puts(b, "\\\"");
				break;
			case '\\':
				buf_puts(b, "\\\\");
				break;
			case '\n':
				buf_puts(b, "\\n");
				break;
			case '\r':
				buf_puts(b, "\\r");
				break;
			case '\t':
				buf_puts(b, "\\t");
				break;
			default:
				buf_printf(b, "\\u00%c%c", hexd[c >> 4], hexd[c & 15]);
			}
			continue;
		}
		size_t w;
		int32_t r = utf8_decode(p + i, n - i, &w);
		if (r < 0) {
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		if (r == 0x2028 || r == 0x2029)
			buf_printf(b, "\\u202%c", hexd[r & 15]);
		else
			buf_put(b, p + i, w);
		i += w;
	}
	buf_put(b, "\"", 1);
}

void zap_string(struct buf *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			if (c >= 0x20 && c != '\\' && c != '"') {
				buf_put(b, &c, 1);
				continue;
			}
			switch (c) {
			case '\\':
			case '"': {
				char e[2] = {'\\', (char)c};
				buf_put(b, e, 2);
				break;
			}
			case '\n':
				buf_puts(b, "\\n");
				break;
			case '\r':
				buf_puts(b, "\\r");
				break;
			case '\t':
				buf_puts(b, "\\t");
				break;
			default:
				buf_printf(b, "\\u00%c%c", hexd[c >> 4], hexd[c & 15]);
			}
			continue;
		}
		size_t w;
		if (utf8_decode(p + i, n - i, &w) < 0) {
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		buf_put(b, p + i, w);
		i += w;
	}
}

void base64_std(struct buf *b, const void *data, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char o[4] = {t[v >> 18], t[(v >> 12) & 63], i + 1 < n ? t[(v >> 6) & 63] : '=',
		             i + 2 < n ? t[v & 63] : '='};
		buf_put(b, o, 4);
	}
}

void hex_escaped(struct buf *b, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		char e[4] = {'\\', 'x', hexd[p[i] >> 4], hexd[p[i] & 15]};
		buf_put(b, e, 4);
	}
}

void humanize_bytes(struct buf *b, uint64_t s)
{
	static const char *const sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	if (s < 10) {
		buf_printf(b, "%" PRIu64 " B", s);
		return;
	}
	double e = floor(log((double)s) / log(1000.0));
	int i = (int)e;
	if (i > 6)
		i = 6;
	double val = floor((double)s / pow(1000.0, e) * 10 + 0.5) / 10;
	buf_printf(b, val < 10 ? "%.1f %s" : "%.0f %s", val, sizes[i]);
}

/* ---- durations ------------------------------------------------------------- */

/* time.Duration's fmtFrac: the fraction v % 10^prec at the tail of buf,
 * trailing zeros (and the point) omitted; returns v / 10^prec. */
static uint64_t fmt_frac(char *buf, int *w, uint64_t v, int prec)
{
	bool print = false;
	for (int i = 0; i < prec; i++) {
		int digit = (int)(v % 10);
		print = print || digit != 0;
		if (print)
			buf[--*w] = (char)('0' + digit);
		v /= 10;
	}
	if (print)
		buf[--*w] = '.';
	return v;
}

/* fmtInt: v in decimal at the tail of buf. */
static void fmt_int(char *buf, int *w, uint64_t v)
{
	if (v == 0)
		buf[--*w] = '0';
	while (v > 0) {
		buf[--*w] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* time.Duration.String(). */
void go_duration(struct buf *b, int64_t d)
{
	char buf[40];
	int w = (int)sizeof buf;
	uint64_t u = (uint64_t)d;
	bool neg = d < 0;
	if (neg)
		u = -u;
	if (u == 0) {
		buf_puts(b, "0s");
		return;
	}
	buf[--w] = 's';
	if (u < 1000000000ull) {
		/* below a second: ns, µs or ms with a fraction */
		int prec;
		if (u < 1000ull) {
			prec = 0;
			buf[--w] = 'n';
		} else if (u < 1000000ull) {
			prec = 3;
			buf[--w] = (char)0xb5; /* "µ" is two bytes */
			buf[--w] = (char)0xc2;
		} else {
			prec = 6;
			buf[--w] = 'm';
		}
		u = fmt_frac(buf, &w, u, prec);
		fmt_int(buf, &w, u);
	} else {
		u = fmt_frac(buf, &w, u, 9);
		fmt_int(buf, &w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			fmt_int(buf, &w, u % 60);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				fmt_int(buf, &w, u);
			}
		}
	}
	if (neg)
		buf[--w] = '-';
	buf_put(b, buf + w, sizeof buf - (size_t)w);
}

static void quote_str(struct buf *b, const char *s)
{
	go_quote(b, s, strlen(s));
}

/* time.ParseDuration. */
int parse_duration(const char *orig, int64_t *out, struct buf *err)
{
	const char *s = orig;
	bool neg = false;
	uint64_t total = 0;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			goto invalid;
		uint64_t v = 0;
		const char *start = s;
		while (*s >= '0' && *s <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(*s - '0');
			s++;
		}
		bool pre = s != start;
		double frac = 0, scale = 1;
		bool post = false;
		if (*s == '.') {
			s++;
			const char *fs = s;
			while (*s >= '0' && *s <= '9') {
				frac = frac * 10 + (*s - '0');
				scale *= 10;
				s++;
			}
			post = s != fs;
		}
		if (!pre && !post)
			goto invalid;
		const char *us = s;
		while (*s && *s != '.' && !(*s >= '0' && *s <= '9'))
			s++;
		size_t ul = (size_t)(s - us);
		if (ul == 0) {
			buf_puts(err, "time: missing unit in duration ");
			quote_str(err, orig);
			return -1;
		}
		uint64_t unit;
		if (ul == 2 && memcmp(us, "ns", 2) == 0)
			unit = 1;
		else if ((ul == 2 && memcmp(us, "us", 2) == 0) ||
		         (ul == 3 &&
		          (memcmp(us, "\xc2\xb5s", 3) == 0 || memcmp(us, "\xce\xbcs", 3) == 0)))
			unit = 1000;
		else if (ul == 2 && memcmp(us, "ms", 2) == 0)
			unit = 1000000;
		else if (ul == 1 && *us == 's')
			unit = 1000000000ull;
		else if (ul == 1 && *us == 'm')
			unit = 60000000000ull;
		else if (ul == 1 && *us == 'h')
			unit = 3600000000000ull;
		else {
			buf_puts(err, "time: unknown unit ");
			struct buf u = {0};
			buf_put(&u, us, ul);
			quote_str(err, buf_str(&u));
			buf_free(&u);
			buf_puts(err, " in duration ");
			quote_str(err, orig);
			return -1;
		}
		if (v > (uint64_t)INT64_MAX / unit)
			goto invalid;
		v *= unit;
		if (frac > 0)
			v += (uint64_t)(frac * ((double)unit / scale));
		total += v;
		if (total > (uint64_t)INT64_MAX)
			goto invalid;
	}
	*out = neg ? -(int64_t)total : (int64_t)total;
	return 0;
invalid:
	buf_puts(err, "time: invalid duration ");
	quote_str(err, orig);
	return -1;
}

/* ---- strconv ---------------------------------------------------------------- */

static void num_err(struct buf *err, const char *fn, const char *s, const char *what)
{
	buf_printf(err, "strconv.%s: parsing ", fn);
	quote_str(err, s);
	buf_printf(err, ": %s", what);
}

static int digit_of(char c, int base)
{
	int d = hexval(c);
	return d >= 0 && d < base ? d : -1;
}

int parse_uint64(const char *s, int base, uint64_t *out, struct buf *err)
{
	if (!*s) {
		num_err(err, "ParseUint", s, "invalid syntax");
		return -1;
	}
	uint64_t v = 0;
	bool range = false;
	for (const char *p = s; *p; p++) {
		int d = digit_of(*p, base);
		if (d < 0) {
			num_err(err, "ParseUint", s, "invalid syntax");
			return -1;
		}
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			range = true;
		else
			v = v * (uint64_t)base + (uint64_t)d;
	}
	if (range) {
		num_err(err, "ParseUint", s, "value out of range");
		return -1;
	}
	*out = v;
	return 0;
}

int parse_int64(const char *s, int base, int64_t *out, struct buf *err)
{
	const char *p = s;
	bool neg = false;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	struct buf e = {0};
	uint64_t u;
	if (parse_uint64(p, base, &u, &e)) {
		bool range = strstr(buf_str(&e), "out of range") != NULL;
		buf_free(&e);
		num_err(err, "ParseInt", s, range ? "value out of range" : "invalid syntax");
		return -1;
	}
	buf_free(&e);
	if ((!neg && u > (uint64_t)INT64_MAX) || (neg && u > (uint64_t)INT64_MAX + 1)) {
		num_err(err, "ParseInt", s, "value out of range");
		return -1;
	}
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

int parse_bool(const char *s, bool *out, struct buf *err)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	num_err(err, "ParseBool", s, "invalid syntax");
	return -1;
}
