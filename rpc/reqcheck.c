/*
 * rpc/reqcheck.c - is a request well formed HTTP/2 (RFC 9113 §8.1-8.3)?
 *
 * nghttp2's HTTP messaging checks are off on the server (server.c): they
 * hold :authority to RFC 3986's authority characters, and grpc-go clients
 * send the target as they were given it, scheme and all, when a user
 * dials a URL: etcdctl's --cluster commands send ":authority:
 * http://127.0.0.1:2379". grpc-go servers, and so etcd, take any
 * authority. So rpc/ makes the same checks nghttp2 1.52 made
 * (lib/nghttp2_http.c), with one difference: :authority and host need only
 * be valid field values, as nghttp2 itself asks of them on the client side.
 *
 * Checked, field by field: names (lower case, token characters) and values
 * (no NUL, CR, LF or other controls, no leading or trailing white space);
 * :method a token, :path a path, :scheme a scheme; pseudo-headers known,
 * not empty, not repeated, before every regular field and never in
 * trailers; no connection-specific field (connection, keep-alive,
 * proxy-connection, transfer-encoding, upgrade); te only "trailers"; one
 * content-length, a number. At the end of the header block: :method,
 * :scheme, :path and an authority present, an http(s) :path absolute (or
 * "*" for OPTIONS). As DATA comes: never more than content-length, and
 * exactly that at the end of the stream. A request that fails is
 * malformed: the caller resets its stream with PROTOCOL_ERROR (§8.1.1).
 *
 * What gRPC itself asks (POST, a gRPC content-type, a routable :path) is
 * answered with a status by conn_server.c, as grpc-go answers it.
 */
#include <string.h>

#include "rpc/internal.h"

enum {
	SEEN_METHOD = 1u << 0,
	SEEN_SCHEME = 1u << 1,
	SEEN_PATH = 1u << 2,
	SEEN_AUTHORITY = 1u << 3,
	SEEN_HOST = 1u << 4,
	/* what the end-of-headers rules need */
	METHOD_OPTIONS = 1u << 5,
	SCHEME_HTTP = 1u << 6,
	PATH_ABSOLUTE = 1u << 7,
	PATH_ASTERISK = 1u << 8,
};

static bool is(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(p, lit, l) == 0;
}

static bool is_nocase(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n != l)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] - 'A' + 'a') : p[i];
		if (c != (uint8_t)lit[i])
			return false;
	}
	return true;
}

/* RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool valid_scheme(const uint8_t *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
		if (!alpha && (i == 0 || !other))
			return false;
	}
	return true;
}

/* Only SP and HTAB (or nothing): nghttp2's check_pseudo_header refuses it. */
static bool blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

static bool parse_length(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

static int pseudo(struct rpc__reqcheck *rc, const uint8_t *name, size_t namelen,
                  const uint8_t *value, size_t valuelen)
{
	unsigned bit;
	bool ok;
	if (is(name, namelen, ":method")) {
		bit = SEEN_METHOD;
		ok = nghttp2_check_method(value, valuelen);
		if (is(value, valuelen, "OPTIONS"))
			rc->flags |= METHOD_OPTIONS;
	} else if (is(name, namelen, ":scheme")) {
		bit = SEEN_SCHEME;
		ok = valid_scheme(value, valuelen);
		if (is_nocase(value, valuelen, "http") || is_nocase(value, valuelen, "https"))
			rc->flags |= SCHEME_HTTP;
	} else if (is(name, namelen, ":path")) {
		bit = SEEN_PATH;
		ok = nghttp2_check_path(value, valuelen);
		if (valuelen > 0 && value[0] == '/')
			rc->flags |= PATH_ABSOLUTE;
		else if (is(value, valuelen, "*"))
			rc->flags |= PATH_ASTERISK;
	} else if (is(name, namelen, ":authority")) {
		/* The one rule relaxed: any field value (see the top). */
		bit = SEEN_AUTHORITY;
		ok = nghttp2_check_header_value_rfc9113(value, valuelen);
	} else {
		return -1; /* :status, :protocol (no extended CONNECT), unknown */
	}
	if (!ok || (rc->flags & bit) || blank(value, valuelen))
		return -1;
	rc->flags |= bit;
	return 0;
}

int rpc__reqcheck_field(struct rpc__reqcheck *rc, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, bool trailer)
{
	/* Also refuses upper case, and a bare ":". */
	if (!nghttp2_check_header_name(name, namelen))
		return -1;
	if (name[0] == ':') {
		if (trailer || rc->regular)
			return -1;
		return pseudo(rc, name, namelen, value, valuelen);
	}
	rc->regular = true;
	if (is(name, namelen, "host")) {
		if (!nghttp2_check_header_value_rfc9113(value, valuelen) ||
		    (rc->flags & SEEN_HOST) || blank(value, valuelen))
			return -1;
		rc->flags |= SEEN_HOST;
		return 0;
	}
	if (!nghttp2_check_header_value_rfc9113(value, valuelen))
		return -1;
	if (is(name, namelen, "connection") || is(name, namelen, "keep-alive") ||
	    is(name, namelen, "proxy-connection") || is(name, namelen, "transfer-encoding") ||
	    is(name, namelen, "upgrade"))
		return -1;
	if (is(name, namelen, "te") && !is_nocase(value, valuelen, "trailers"))
		return -1;
	if (is(name, namelen, "content-length")) {
		if (rc->has_length || !parse_length(value, valuelen, &rc->length))
			return -1;
		rc->has_length = true;
	}
	return 0;
}

int rpc__reqcheck_headers_end(const struct rpc__reqcheck *rc)
{
	unsigned need = SEEN_METHOD | SEEN_SCHEME | SEEN_PATH;
	if ((rc->flags & need) != need || !(rc->flags & (SEEN_AUTHORITY | SEEN_HOST)))
		return -1;
	/* An http(s) URI's path: absolute, or "*" asking OPTIONS of the server. */
	if ((rc->flags & SCHEME_HTTP) && !(rc->flags & PATH_ABSOLUTE) &&
	    !((rc->flags & PATH_ASTERISK) && (rc->flags & METHOD_OPTIONS)))
		return -1;
	return 0;
}

int rpc__reqcheck_data(struct rpc__reqcheck *rc, size_t n, bool end)
{
	rc->received += n;
	if (!rc->has_length)
		return 0;
	if (rc->received > rc->length || (end && rc->received != rc->length))
		return -1;
	return 0;
}
