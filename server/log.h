/*
 * server/log.h - cairnd's structured log: one JSON object per line on stderr,
 * shaped like etcd's zap logger ({"level","ts","caller","msg", fields...}).
 *
 *   LOGI("added member", LF_HEX("member-id", id) LF_STR("peer-url", url));
 *
 * Fields are given with the LF_* macros, one after another without commas.
 * Thread-safe: each line is formatted into a local buffer and written with a
 * single write(2).
 */
#ifndef CAIRN_SERVER_LOG_H
#define CAIRN_SERVER_LOG_H

#include <stdint.h>

enum cairn_log_level {
	CAIRN_LOG_DEBUG = 0,
	CAIRN_LOG_INFO = 1,
	CAIRN_LOG_WARN = 2,
	CAIRN_LOG_ERROR = 3,
	CAIRN_LOG_FATAL = 4,
};

enum {
	LF_T_END = 0,
	LF_T_STR,
	LF_T_U64,
	LF_T_I64,
	LF_T_HEX,
	LF_T_BOOL,
	LF_T_F64
};

struct log_field {
	const char *key;
	int type;
	const char *s;
	uint64_t u;
	int64_t i;
	double d;
};

#define LF_STR(k, v)  {.key = (k), .type = LF_T_STR, .s = (v)},
#define LF_U64(k, v)  {.key = (k), .type = LF_T_U64, .u = (uint64_t)(v)},
#define LF_I64(k, v)  {.key = (k), .type = LF_T_I64, .i = (int64_t)(v)},
#define LF_HEX(k, v)  {.key = (k), .type = LF_T_HEX, .u = (uint64_t)(v)},
#define LF_BOOL(k, v) {.key = (k), .type = LF_T_BOOL, .u = (v) ? 1 : 0},
#define LF_F64(k, v)  {.key = (k), .type = LF_T_F64, .d = (double)(v)},
#define LF_END        {.key = 0, .type = LF_T_END},

/* Sets the lowest level written (default CAIRN_LOG_INFO). */
void cairn_log_set_level(int level);
int cairn_log_level(void);
/* Parses etcd's --log-level names (debug, info, warn, error, panic, fatal).
 * Returns the level or -1. */
int cairn_log_parse_level(const char *s);

void cairn_log(int level, const char *file, int line, const char *msg,
               const struct log_field *fields);

#define CAIRN_LOG_(lvl, msg, ...)                                                  \
	do {                                                                       \
		if ((lvl) >= cairn_log_level())                                    \
			cairn_log((lvl), __FILE__, __LINE__, (msg),                \
			          (const struct log_field[]){__VA_ARGS__ LF_END}); \
	} while (0)

#define LOGD(msg, ...) CAIRN_LOG_(CAIRN_LOG_DEBUG, msg, __VA_ARGS__)
#define LOGI(msg, ...) CAIRN_LOG_(CAIRN_LOG_INFO, msg, __VA_ARGS__)
#define LOGW(msg, ...) CAIRN_LOG_(CAIRN_LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) CAIRN_LOG_(CAIRN_LOG_ERROR, msg, __VA_ARGS__)

#endif
