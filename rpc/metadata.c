/*
 * rpc/metadata.c - the header fields of one call.
 *
 * nghttp2 hands header fields one at a time and its pointers die with the
 * callback, so each stream copies them into one buffer of "name\0value\0"
 * pairs: one allocation that grows with the stream and is kept when the
 * stream object is reused. Lookups are linear; a request carries a handful
 * of fields. The list is capped at 8 KiB counted as HPACK does (name + value
 * + 32 per field, RFC 7541 §4.1), as grpcio and grpc-go cap theirs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

int rpc__md_add(struct rpc__md *m, const uint8_t *name, size_t nlen, const uint8_t *value,
                size_t vlen)
{
	m->total += nlen + vlen + 32;
	if (m->total > RPC_MAX_HEADER_LIST) {
		m->overflow = true;
		return 0;
	}
	size_t need = m->len + nlen + vlen + 2;
	if (need > m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		while (cap < need)
			cap *= 2;
		char *d = realloc(m->data, cap);
		if (!d)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, name, nlen);
	m->len += nlen;
	m->data[m->len++] = '\0';
	memcpy(m->data + m->len, value, vlen);
	m->len += vlen;
	m->data[m->len++] = '\0';
	m->n++;
	return 0;
}

const char *rpc__md_get(const struct rpc__md *m, const char *key)
{
	const char *p = m->data, *end = m->data + m->len;
	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (strcmp(p, key) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

int rpc__md_at(const struct rpc__md *m, size_t i, const char **key, const char **value)
{
	const char *p = m->data, *end = m->data + m->len;
	size_t k = 0;
	while (p < end) {
		const char *v = p + strlen(p) + 1;
		if (*p != ':' && k++ == i) {
			*key = p;
			*value = v;
			return 0;
		}
		p = v + strlen(v) + 1;
	}
	return -ENOENT;
}

void rpc__md_reset(struct rpc__md *m)
{
	m->len = 0;
	m->total = 0;
	m->n = 0;
	m->overflow = false;
	if (m->cap > 4096) {
		free(m->data);
		m->data = NULL;
		m->cap = 0;
	}
}

void rpc__md_free(struct rpc__md *m)
{
	free(m->data);
	*m = (struct rpc__md){0};
}

bool rpc__is_grpc_content_type(const uint8_t *v, size_t len)
{
	static const char ct[] = "application/grpc";
	size_t n = sizeof ct - 1;
	if (len < n || memcmp(v, ct, n) != 0)
		return false;
	return len == n || v[n] == '+' || v[n] == ';';
}

bool rpc__md_key_ok(const char *key)
{
	if (!key || !*key || *key == ':')
		return false;
	for (const char *p = key; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}
