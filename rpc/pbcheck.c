/*
 * rpc/pbcheck.c - bounding the nesting depth of recursive messages, and the
 * unpack step every received message goes through.
 *
 * protobuf-c recurses once per nested message and has no depth limit
 * (wire §4 item 6). A message type that can contain itself (etcd's TxnRequest
 * holds RequestOps that hold TxnRequests) lets a 2 MiB request nest some
 * hundred thousand levels deep and overflow the stack. For such types only,
 * the wire bytes are walked first with an explicit depth bound; types that
 * cannot recurse are unpacked directly, so common messages pay nothing.
 */
#include <errno.h>

#include "rpc/internal.h"

#define MAX_TYPES 256

struct walk {
	const ProtobufCMessageDescriptor *done[MAX_TYPES];
	const ProtobufCMessageDescriptor *path[MAX_TYPES];
	size_t ndone, npath;
	bool overflow;
};

static bool contains(const ProtobufCMessageDescriptor *const *v, size_t n,
                     const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == d)
			return true;
	return false;
}

/* Depth-first search for a cycle reachable from d. */
static bool has_cycle(struct walk *w, const ProtobufCMessageDescriptor *d)
{
	if (contains(w->path, w->npath, d))
		return true;
	if (contains(w->done, w->ndone, d))
		return false;
	if (w->npath == MAX_TYPES || w->ndone == MAX_TYPES) {
		w->overflow = true;
		return true; /* too big to prove safe: check it */
	}
	w->path[w->npath++] = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && has_cycle(w, f->descriptor))
			return true;
	}
	w->npath--;
	w->done[w->ndone++] = d;
	return false;
}

bool rpc__pb_is_recursive(const ProtobufCMessageDescriptor *d)
{
	static _Thread_local struct walk w;
	w.ndone = w.npath = 0;
	w.overflow = false;
	return d && has_cycle(&w, d);
}

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p == end)
			return false;
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static bool walk_depth(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                       int depth, int max_depth)
{
	if (depth > max_depth)
		return false;
	while (p < end) {
		uint64_t tag, v;
		if (!read_varint(&p, end, &tag))
			return false;
		switch (tag & 7) {
		case 0:
			if (!read_varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		case 2: {
			if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			const ProtobufCFieldDescriptor *f =
			    d && tag >> 3 <= UINT32_MAX
			        ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
			        : NULL;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !walk_depth(f->descriptor, p, p + v, depth + 1, max_depth))
				return false;
			p += v;
			break;
		}
		default:
			/* Groups: protobuf-c refuses them anyway. */
			return false;
		}
	}
	return true;
}

bool rpc__pb_depth_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                      int max_depth)
{
	return walk_depth(d, p, p + len, 1, max_depth);
}

static const uint8_t empty[1];

int rpc__unpack(struct rpc__arena *a, const ProtobufCMessageDescriptor *d, bool recursive,
                int max_depth, bool keep, const uint8_t *p, size_t len, struct rpc__unpacked *u)
{
	*u = (struct rpc__unpacked){0};
	if (!p)
		p = empty;
	if (recursive && !rpc__pb_depth_ok(d, p, len, max_depth))
		return -EINVAL;
	if (keep || a->in_use) {
		u->msg = protobuf_c_message_unpack(d, NULL, len, p);
		u->release = !keep;
		return u->msg ? 0 : -EINVAL;
	}
	a->in_use = true;
	u->msg = protobuf_c_message_unpack(d, &a->pa, len, p);
	u->arena = true;
	if (!u->msg) {
		rpc__arena_reset(a);
		u->arena = false;
		return -EINVAL;
	}
	return 0;
}

void rpc__unpacked_done(struct rpc__arena *a, struct rpc__unpacked *u)
{
	if (u->arena)
		rpc__arena_reset(a);
	else if (u->release && u->msg)
		protobuf_c_message_free_unpacked(u->msg, NULL);
	*u = (struct rpc__unpacked){0};
}
