/*
 * rpc/status.c - status codes, grpc-message percent-encoding, and the
 * mappings a client applies when a call ends without trailers.
 *
 * Names are grpc-go's (codes/code_string.go), since that is what etcdctl
 * prints ("code = Unavailable"). Percent-encoding follows PROTOCOL-HTTP2.md:
 * every byte outside 0x20-0x7E, and '%' itself, becomes %XX; decoding is
 * lenient and keeps a malformed escape as it stands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

static const char *const code_names[] = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};

const char *rpc_code_name(int code)
{
	if (code < 0 || code >= (int)(sizeof code_names / sizeof code_names[0]))
		return "Unknown";
	return code_names[code];
}

const char *rpc_strerror(int err)
{
	if (err == RPC_DEFRAME_TOO_LARGE)
		return "message larger than the receive limit";
	if (err == 0)
		return "success";
	/* libuv's own codes (EOF, getaddrinfo errors) sit far below errno's. */
	if (err <= -3000)
		return uv_strerror(err);
	return strerror(-err);
}

static bool needs_escape(uint8_t c)
{
	return c < 0x20 || c > 0x7e || c == '%';
}

size_t rpc_percent_encode(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)src[i];
		char tmp[3];
		size_t k = 1;
		if (needs_escape(c)) {
			tmp[0] = '%';
			tmp[1] = hex[c >> 4];
			tmp[2] = hex[c & 15];
			k = 3;
		} else {
			tmp[0] = (char)c;
		}
		for (size_t j = 0; j < k; j++, n++)
			if (cap && n < cap - 1)
				dst[n] = tmp[j];
	}
	if (cap)
		dst[n < cap - 1 ? n : cap - 1] = '\0';
	return n;
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

size_t rpc_percent_decode(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++, n++) {
		char c = src[i];
		if (c == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
			c = (char)(hexval(src[i + 1]) << 4 | hexval(src[i + 2]));
			i += 2;
		}
		if (cap && n < cap - 1)
			dst[n] = c;
	}
	if (cap)
		dst[n < cap - 1 ? n : cap - 1] = '\0';
	return n;
}

char *rpc__encode_message(const char *msg)
{
	if (!msg)
		msg = "";
	size_t len = strlen(msg);
	size_t n = rpc_percent_encode(NULL, 0, msg, len);
	char *out = malloc(n + 1);
	if (out)
		rpc_percent_encode(out, n + 1, msg, len);
	return out;
}

char *rpc__decode_message(const char *p, size_t len)
{
	char *out = malloc(len + 1);
	if (out)
		rpc_percent_decode(out, len + 1, p, len);
	return out;
}

char *rpc__strdupf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

int rpc__code_from_rst(uint32_t error_code)
{
	switch (error_code) {
	case NGHTTP2_REFUSED_STREAM:
		return RPC_UNAVAILABLE;
	case NGHTTP2_CANCEL:
		return RPC_CANCELLED;
	case NGHTTP2_ENHANCE_YOUR_CALM:
		return RPC_RESOURCE_EXHAUSTED;
	case NGHTTP2_INADEQUATE_SECURITY:
		return RPC_PERMISSION_DENIED;
	default:
		return RPC_INTERNAL;
	}
}

int rpc__code_from_http(int http_status)
{
	switch (http_status) {
	case 400:
		return RPC_INTERNAL;
	case 401:
		return RPC_UNAUTHENTICATED;
	case 403:
		return RPC_PERMISSION_DENIED;
	case 404:
		return RPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return RPC_UNAVAILABLE;
	default:
		return RPC_UNKNOWN;
	}
}

void rpc__log(rpc_log_fn fn, void *arg, int level, const char *fmt, ...)
{
	if (!fn)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fn(arg, level, buf);
}
