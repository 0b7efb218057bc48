/*
 * log.c - JSON-lines logging in the shape of etcd's zap output. Each line is
 * built in a stack buffer and written with one write(2), so lines from the
 * loop, the apply thread and the store's threads never interleave.
 */
#include "server/log.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = CAIRN_LOG_INFO;

void cairn_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int cairn_log_level(void)
{
	return atomic_load(&log_level);
}

int cairn_log_parse_level(const char *s)
{
	static const char *names[] = {"debug", "info", "warn", "error", "panic", "fatal"};
	for (int i = 0; i < 6; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i >= 4 ? CAIRN_LOG_FATAL : i;
	return -1;
}

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap)
		n = o->cap > o->len + 1 ? o->cap - o->len - 1 : 0;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void putc_(struct out *o, char c)
{
	put(o, &c, 1);
}

static void put_str(struct out *o, const char *s)
{
	putc_(o, '"');
	for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
		char esc[8];
		if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c;
			put(o, esc, 2);
		} else if (*c < 0x20) {
			int n = snprintf(esc, sizeof esc, "\\u%04x", *c);
			put(o, esc, (size_t)n);
		} else {
			putc_(o, (char)*c);
		}
	}
	putc_(o, '"');
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void cairn_log(int level, const char *file, int line, const char *msg,
               const struct log_field *fields)
{
	static const char *names[] = {"debug", "info", "warn", "error", "fatal"};
	char buf[4096];
	struct out o = {buf, 0, sizeof buf - 1};
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	const char *base = strstr(file, "server/");
	if (!base) {
		base = strrchr(file, '/');
		base = base ? base + 1 : file;
	}
	put(&o, "{\"level\":\"", 10);
	put(&o,
	    names[level < 0   ? 0
	          : level > 4 ? 4
	                      : level],
	    strlen(names[level < 0   ? 0
	                 : level > 4 ? 4
	                             : level]));
	putf(&o,
	     "\",\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"caller\":", tm.tm_year + 1900,
	     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	char caller[256];
	snprintf(caller, sizeof caller, "%s:%d", base, line);
	put_str(&o, caller);
	put(&o, ",\"msg\":", 7);
	put_str(&o, msg);
	for (const struct log_field *f = fields; f && f->type != LF_T_END; f++) {
		putc_(&o, ',');
		put_str(&o, f->key);
		putc_(&o, ':');
		switch (f->type) {
		case LF_T_STR:
			put_str(&o, f->s);
			break;
		case LF_T_U64:
			putf(&o, "%" PRIu64, f->u);
			break;
		case LF_T_I64:
			putf(&o, "%" PRId64, f->i);
			break;
		case LF_T_HEX:
			putf(&o, "\"%" PRIx64 "\"", f->u);
			break;
		case LF_T_BOOL:
			put(&o, f->u ? "true" : "false", f->u ? 4 : 5);
			break;
		case LF_T_F64:
			putf(&o, "%.6g", f->d);
			break;
		}
	}
	putc_(&o, '}');
	buf[o.len++] = '\n';
	ssize_t off = 0;
	while (off < (ssize_t)o.len) {
		ssize_t w = write(2, buf + off, o.len - (size_t)off);
		if (w <= 0)
			break;
		off += w;
	}
}
