/*
 * rpc/registry.c - the server's method table: ":path" -> handler.
 *
 * An open-addressing hash table (FNV-1a, linear probing, load <= 1/2) built
 * once at start-up and read on every request; lookups compare the exact path
 * bytes, since gRPC method names are case-sensitive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void insert(struct rpc__method **slots, size_t cap, struct rpc__method *m)
{
	size_t i = fnv1a(m->path, strlen(m->path)) & (cap - 1);
	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = m;
}

int rpc__registry_add(struct rpc__registry *r, const struct rpc_method *m)
{
	if (!m || !m->path || m->path[0] != '/' || !m->on_message || m->kind < RPC_UNARY ||
	    m->kind > RPC_BIDI)
		return -EINVAL;
	size_t plen = strlen(m->path);
	if (rpc__registry_find(r, m->path, plen))
		return -EEXIST;
	if (2 * (r->n + 1) > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct rpc__method **slots = calloc(cap, sizeof *slots);
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < r->cap; i++)
			if (r->slots[i])
				insert(slots, cap, r->slots[i]);
		free(r->slots);
		r->slots = slots;
		r->cap = cap;
	}
	struct rpc__method *e = malloc(sizeof *e + plen + 1);
	if (!e)
		return -ENOMEM;
	e->m = *m;
	memcpy(e->path, m->path, plen + 1);
	e->m.path = e->path;
	e->recursive = m->request && rpc__pb_is_recursive(m->request);
	insert(r->slots, r->cap, e);
	r->n++;
	return 0;
}

const struct rpc__method *rpc__registry_find(const struct rpc__registry *r, const char *path,
                                             size_t len)
{
	if (!r->cap)
		return NULL;
	size_t i = fnv1a(path, len) & (r->cap - 1);
	for (struct rpc__method *e; (e = r->slots[i]); i = (i + 1) & (r->cap - 1))
		if (strncmp(e->path, path, len) == 0 && e->path[len] == '\0')
			return e;
	return NULL;
}

bool rpc__registry_has_service(const struct rpc__registry *r, const char *svc, size_t len)
{
	for (size_t i = 0; i < r->cap; i++) {
		const struct rpc__method *e = r->slots[i];
		if (e && strncmp(e->path + 1, svc, len) == 0 && e->path[1 + len] == '/')
			return true;
	}
	return false;
}

void rpc__registry_free(struct rpc__registry *r)
{
	for (size_t i = 0; i < r->cap; i++)
		free(r->slots[i]);
	free(r->slots);
	*r = (struct rpc__registry){0};
}
