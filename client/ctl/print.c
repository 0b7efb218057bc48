/*
 * client/ctl/print.c - etcdctl 3.4.23's printers: simple, json, fields,
 * protobuf and table, for every response cairnctl prints.
 *
 * json: Go's encoding/json over etcd's gogoproto structs, whose JSON names
 * are the proto field names with omitempty; this is generic over the
 * protobuf-c descriptors (declaration order, zero values and empty lists
 * omitted, bytes in base64, enums as numbers, a oneof as
 * {"<Go field>":{"<Go wrapper field>":{...}}}). clientv3's own wrapper
 * types (lease responses, watch responses) have hand-written encoders.
 * protobuf: the marshalled response passed to fmt.Printf as the format
 * (so '%' sequences come out as Go renders them with no arguments).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

/* ---- generic Go-JSON of a protobuf-c message ------------------------------------- */

static void json_msg(struct buf *b, const ProtobufCMessage *m);

static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	const void *v = base + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return *(const uint64_t *)v != 0;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)v != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return s && *s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len > 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)v != NULL;
	default:
		return false;
	}
}

static void json_value(struct buf *b, const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		buf_printf(b, "%" PRId64, *(const int64_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		buf_printf(b, "%" PRIu64, *(const uint64_t *)v);
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		buf_printf(b, "%" PRId32, *(const int32_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		buf_printf(b, "%" PRIu32, *(const uint32_t *)v);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		buf_puts(b, *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		json_string(b, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *d = v;
		buf_put(b, "\"", 1);
		base64_std(b, d->data, d->len);
		buf_put(b, "\"", 1);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)v;
		if (m)
			json_msg(b, m);
		else
			buf_puts(b, "null");
		break;
	}
	default:
		buf_puts(b, "null");
	}
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* gogoproto's Go names of oneof wrapper fields: "response_range" ->
 * "ResponseRange". */
static void go_camel(struct buf *b, const char *name)
{
	bool up = true;
	for (const char *p = name; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		char c = *p;
		if (up && c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		up = false;
		buf_put(b, &c, 1);
	}
}

static void json_msg(struct buf *b, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	bool first = true;
	buf_put(b, "{", 1);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!field_present(m, f))
			continue;
		if (!first)
			buf_put(b, ",", 1);
		first = false;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* Go: the interface field named after the oneof holds a
			 * wrapper struct with one Go-named field. */
			const char *oneof =
			    strcmp(d->short_name, "ResponseOp") == 0 ? "Response" : "Request";
			buf_printf(b, "\"%s\":{\"", oneof);
			go_camel(b, f->name);
			buf_puts(b, "\":");
			json_value(b, f, base + f->offset);
			buf_put(b, "}", 1);
			continue;
		}
		buf_put(b, "\"", 1);
		buf_puts(b, f->name);
		buf_puts(b, "\":");
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);
			buf_put(b, "[", 1);
			for (size_t k = 0; k < n; k++) {
				if (k)
					buf_put(b, ",", 1);
				json_value(b, f, arr + k * elem_size(f));
			}
			buf_put(b, "]", 1);
		} else {
			json_value(b, f, base + f->offset);
		}
	}
	buf_put(b, "}", 1);
}

/* printJSON: the value and a newline. */
static void print_json_msg(struct buf *b, const ProtobufCMessage *m)
{
	json_msg(b, m);
	buf_put(b, "\n", 1);
}

/* The fields of an embedded *pb.ResponseHeader, flattened (clientv3's
 * lease response types embed it); returns whether any was written. */
static bool json_header_flat(struct buf *b, const Etcdserverpb__ResponseHeader *h)
{
	if (!h)
		return false;
	struct buf t = {0};
	json_msg(&t, &h->base);
	/* strip the braces */
	bool any = t.len > 2;
	if (any)
		buf_put(b, t.p + 1, t.len - 2);
	buf_free(&t);
	return any;
}

/* ---- protobuf ----------------------------------------------------------------------- */

/* fmt.Printf(string(b)) with no arguments, as etcdctl's printPB does. */
static void go_printf_noargs(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			buf_put(b, &p[i], 1);
			continue;
		}
		size_t j = i + 1;
		if (j < n && p[j] == '%') {
			buf_put(b, "%", 1);
			i = j;
			continue;
		}
		while (j < n && strchr("#0+- ", p[j]))
			j++;
		while (j < n && p[j] >= '0' && p[j] <= '9')
			j++;
		if (j < n && p[j] == '.') {
			j++;
			while (j < n && p[j] >= '0' && p[j] <= '9')
				j++;
		}
		if (j >= n) {
			buf_puts(b, "%!(NOVERB)");
			i = n;
			break;
		}
		size_t w = 1;
		if (p[j] >= 0xc0)
			while (j + w < n && (p[j + w] & 0xc0) == 0x80)
				w++;
		buf_puts(b, "%!");
		buf_put(b, p + j, w);
		buf_puts(b, "(MISSING)");
		i = j + w - 1;
	}
}

static void print_pb(struct buf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(n ? n : 1);
	protobuf_c_message_pack(m, p);
	go_printf_noargs(b, p, n);
	free(p);
}

static void print_pb_header(struct buf *b, const Etcdserverpb__ResponseHeader *h)
{
	if (h)
		print_pb(b, &h->base);
}

/* ---- simple ------------------------------------------------------------------------- */

static void simple_kv(struct buf *b, const struct printer_opts *o, const Mvccpb__KeyValue *kv)
{
	if (o->hex) {
		if (!o->value_only) {
			hex_escaped(b, kv->key.data, kv->key.len);
			buf_put(b, "\n", 1);
		}
		hex_escaped(b, kv->value.data, kv->value.len);
		buf_put(b, "\n", 1);
		return;
	}
	if (!o->value_only) {
		buf_put(b, kv->key.data, kv->key.len);
		buf_put(b, "\n", 1);
	}
	buf_put(b, kv->value.data, kv->value.len);
	buf_put(b, "\n", 1);
}

/* ---- fields ------------------------------------------------------------------------- */

static void fields_hdr(struct buf *b, const Etcdserverpb__ResponseHeader *h)
{
	static const Etcdserverpb__ResponseHeader zero = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	if (!h)
		h = &zero; /* etcdctl dereferences a nil header and panics; cairn never sends one */
	buf_printf(b, "\"ClusterID\" : %" PRIu64 "\n", h->cluster_id);
	buf_printf(b, "\"MemberID\" : %" PRIu64 "\n", h->member_id);
	buf_printf(b, "\"Revision\" : %" PRId64 "\n", h->revision);
	buf_printf(b, "\"RaftTerm\" : %" PRIu64 "\n", h->raft_term);
}

static void fields_kv(struct buf *b, const char *pfx, const Mvccpb__KeyValue *kv)
{
	buf_printf(b, "\"%sKey\" : ", pfx);
	go_quote(b, kv->key.data, kv->key.len);
	buf_printf(b, "\n\"%sCreateRevision\" : %" PRId64 "\n", pfx, kv->create_revision);
	buf_printf(b, "\"%sModRevision\" : %" PRId64 "\n", pfx, kv->mod_revision);
	buf_printf(b, "\"%sVersion\" : %" PRId64 "\n", pfx, kv->version);
	buf_printf(b, "\"%sValue\" : ", pfx);
	go_quote(b, kv->value.data, kv->value.len);
	buf_printf(b, "\n\"%sLease\" : %" PRId64 "\n", pfx, kv->lease);
}

static void fields_str(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, "\"%s\" : ", name);
	go_quote(b, v ? v : "", v ? strlen(v) : 0);
	buf_put(b, "\n", 1);
}

/* ---- KV ------------------------------------------------------------------------------- */

int print_get(struct buf *b, const struct printer_opts *o, const Etcdserverpb__RangeResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		for (size_t i = 0; i < r->n_kvs; i++)
			simple_kv(b, o, r->kvs[i]);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		for (size_t i = 0; i < r->n_kvs; i++)
			fields_kv(b, "", r->kvs[i]);
		buf_printf(b, "\"More\" : %s\n", r->more ? "true" : "false");
		buf_printf(b, "\"Count\" : %" PRId64 "\n", r->count);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_put(struct buf *b, const struct printer_opts *o, const Etcdserverpb__PutResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_puts(b, "OK\n");
		if (r->prev_kv)
			simple_kv(b, o, r->prev_kv);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		if (r->prev_kv)
			fields_kv(b, "Prev", r->prev_kv);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_del(struct buf *b, const struct printer_opts *o,
              const Etcdserverpb__DeleteRangeResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "%" PRId64 "\n", r->deleted);
		for (size_t i = 0; i < r->n_prev_kvs; i++)
			simple_kv(b, o, r->prev_kvs[i]);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		buf_printf(b, "\"Deleted\" : %" PRId64 "\n", r->deleted);
		for (size_t i = 0; i < r->n_prev_kvs; i++)
			fields_kv(b, "Prev", r->prev_kvs[i]);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_txn(struct buf *b, const struct printer_opts *o, const Etcdserverpb__TxnResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_puts(b, r->succeeded ? "SUCCESS\n" : "FAILURE\n");
		for (size_t i = 0; i < r->n_responses; i++) {
			const Etcdserverpb__ResponseOp *op = r->responses[i];
			buf_puts(b, "\n");
			if (op->response_case ==
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE)
				print_del(b, o, op->response_delete_range);
			else if (op->response_case ==
			         ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT)
				print_put(b, o, op->response_put);
			else if (op->response_case ==
			         ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
				print_get(b, o, op->response_range);
			else
				buf_puts(b, "unexpected response\n");
		}
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		buf_printf(b, "\"Succeeded\" : %s\n", r->succeeded ? "true" : "false");
		for (size_t i = 0; i < r->n_responses; i++) {
			const Etcdserverpb__ResponseOp *op = r->responses[i];
			if (op->response_case ==
			    ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE)
				print_del(b, o, op->response_delete_range);
			else if (op->response_case ==
			         ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT)
				print_put(b, o, op->response_put);
			else if (op->response_case ==
			         ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
				print_get(b, o, op->response_range);
		}
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

static const char *event_type(const Mvccpb__Event *e)
{
	return e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? "DELETE" : "PUT";
}

int print_watch(struct buf *b, const struct printer_opts *o, const Etcdserverpb__WatchResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		for (size_t i = 0; i < r->n_events; i++) {
			const Mvccpb__Event *e = r->events[i];
			buf_printf(b, "%s\n", event_type(e));
			if (e->prev_kv)
				simple_kv(b, o, e->prev_kv);
			if (e->kv)
				simple_kv(b, o, e->kv);
		}
		return 0;
	case OUT_JSON: {
		/* clientv3.WatchResponse */
		static const Etcdserverpb__ResponseHeader zero =
		    ETCDSERVERPB__RESPONSE_HEADER__INIT;
		buf_puts(b, "{\"Header\":");
		json_msg(b, r->header ? &r->header->base : &zero.base);
		buf_puts(b, ",\"Events\":");
		if (!r->n_events)
			buf_puts(b, "null");
		for (size_t i = 0; i < r->n_events; i++) {
			buf_puts(b, i ? "," : "[");
			json_msg(b, &r->events[i]->base);
		}
		if (r->n_events)
			buf_puts(b, "]");
		buf_printf(b, ",\"CompactRevision\":%" PRId64 ",\"Canceled\":%s,\"Created\":%s}\n",
		           r->compact_revision, r->canceled ? "true" : "false",
		           r->created ? "true" : "false");
		return 0;
	}
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		for (size_t i = 0; i < r->n_events; i++) {
			const Mvccpb__Event *e = r->events[i];
			buf_printf(b, "\"Type\" : %s\n", event_type(e));
			if (e->prev_kv)
				fields_kv(b, "Prev", e->prev_kv);
			if (e->kv)
				fields_kv(b, "", e->kv);
		}
		return 0;
	case OUT_PROTOBUF: {
		/* etcdctl rebuilds a pb.WatchResponse from clientv3's: header
		 * (always), events, compact revision, canceled, created */
		static const Etcdserverpb__ResponseHeader zero =
		    ETCDSERVERPB__RESPONSE_HEADER__INIT;
		Etcdserverpb__WatchResponse w = ETCDSERVERPB__WATCH_RESPONSE__INIT;
		w.header = r->header ? r->header : (Etcdserverpb__ResponseHeader *)&zero;
		w.n_events = r->n_events;
		w.events = r->events;
		w.compact_revision = r->compact_revision;
		w.canceled = r->canceled;
		w.created = r->created;
		print_pb(b, &w.base);
		return 0;
	}
	default:
		return EXIT_BAD_FEATURE;
	}
}

/* ---- leases ----------------------------------------------------------------------------- */

int print_lease_grant(struct buf *b, const struct printer_opts *o,
                      const Etcdserverpb__LeaseGrantResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "lease %016" PRIx64 " granted with TTL(%" PRId64 "s)\n",
		           (uint64_t)r->id, r->ttl);
		return 0;
	case OUT_JSON: {
		buf_puts(b, "{");
		bool any = json_header_flat(b, r->header);
		buf_printf(b, "%s\"ID\":%" PRId64 ",\"TTL\":%" PRId64 ",\"Error\":", any ? "," : "",
		           r->id, r->ttl);
		json_string(b, r->error ? r->error : "", r->error ? strlen(r->error) : 0);
		buf_puts(b, "}\n");
		return 0;
	}
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		buf_printf(b, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", r->id, r->ttl);
		return 0;
	case OUT_PROTOBUF:
		print_pb_header(b, r->header);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_lease_revoke(struct buf *b, const struct printer_opts *o, int64_t id,
                       const Etcdserverpb__LeaseRevokeResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "lease %016" PRIx64 " revoked\n", (uint64_t)id);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_lease_keepalive(struct buf *b, const struct printer_opts *o,
                          const Etcdserverpb__LeaseKeepAliveResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "lease %016" PRIx64 " keepalived with TTL(%" PRId64 ")\n",
		           (uint64_t)r->id, r->ttl);
		return 0;
	case OUT_JSON: {
		buf_puts(b, "{");
		bool any = json_header_flat(b, r->header);
		buf_printf(b, "%s\"ID\":%" PRId64 ",\"TTL\":%" PRId64 "}\n", any ? "," : "", r->id,
		           r->ttl);
		return 0;
	}
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		buf_printf(b, "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", r->id, r->ttl);
		return 0;
	case OUT_PROTOBUF:
		print_pb_header(b, r->header);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_lease_ttl(struct buf *b, const struct printer_opts *o,
                    const Etcdserverpb__LeaseTimeToLiveResponse *r, bool keys)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		if (r->grantedttl == 0 && r->ttl == -1) {
			buf_printf(b, "lease %016" PRIx64 " already expired\n", (uint64_t)r->id);
			return 0;
		}
		buf_printf(b,
		           "lease %016" PRIx64 " granted with TTL(%" PRId64 "s), remaining(%" PRId64
		           "s)",
		           (uint64_t)r->id, r->grantedttl, r->ttl);
		if (keys) {
			buf_puts(b, ", attached keys([");
			for (size_t i = 0; i < r->n_keys; i++) {
				if (i)
					buf_put(b, " ", 1);
				buf_put(b, r->keys[i].data, r->keys[i].len);
			}
			buf_puts(b, "])");
		}
		buf_puts(b, "\n");
		return 0;
	case OUT_JSON: {
		buf_puts(b, "{");
		bool any = json_header_flat(b, r->header);
		buf_printf(b,
		           "%s\"id\":%" PRId64 ",\"ttl\":%" PRId64 ",\"granted-ttl\":%" PRId64
		           ",\"keys\":",
		           any ? "," : "", r->id, r->ttl, r->grantedttl);
		if (!r->n_keys)
			buf_puts(b, "null");
		for (size_t i = 0; i < r->n_keys; i++) {
			buf_puts(b, i ? ",\"" : "[\"");
			base64_std(b, r->keys[i].data, r->keys[i].len);
			buf_puts(b, "\"");
		}
		buf_puts(b, r->n_keys ? "]}\n" : "}\n");
		return 0;
	}
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		buf_printf(b,
		           "\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n\"GrantedTTL\" : %" PRId64
		           "\n",
		           r->id, r->ttl, r->grantedttl);
		for (size_t i = 0; i < r->n_keys; i++) {
			buf_puts(b, "\"Key\" : ");
			go_quote(b, r->keys[i].data, r->keys[i].len);
			buf_puts(b, "\n");
		}
		return 0;
	case OUT_PROTOBUF:
		print_pb_header(b, r->header);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_lease_list(struct buf *b, const struct printer_opts *o,
                     const Etcdserverpb__LeaseLeasesResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "found %zu leases\n", r->n_leases);
		for (size_t i = 0; i < r->n_leases; i++)
			buf_printf(b, "%016" PRIx64 "\n", (uint64_t)r->leases[i]->id);
		return 0;
	case OUT_JSON: {
		buf_puts(b, "{");
		bool any = json_header_flat(b, r->header);
		buf_printf(b, "%s\"leases\":[", any ? "," : "");
		for (size_t i = 0; i < r->n_leases; i++)
			buf_printf(b, "%s{\"id\":%" PRId64 "}", i ? "," : "", r->leases[i]->id);
		buf_puts(b, "]}\n");
		return 0;
	}
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		for (size_t i = 0; i < r->n_leases; i++)
			buf_printf(b, "\"ID\" : %" PRId64 "\n", r->leases[i]->id);
		return 0;
	case OUT_PROTOBUF:
		print_pb_header(b, r->header);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

/* ---- members ------------------------------------------------------------------------------ */

static void member_rows(const Etcdserverpb__Member *const *ms, size_t n, struct buf *cells,
                        size_t **offs)
{
	/* 6 cells per member: ID, status, name, peer URLs, client URLs, learner */
	*offs = calloc(n * 6, sizeof **offs);
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__Member *m = ms[i];
		size_t *o = *offs + i * 6;
		o[0] = cells->len;
		buf_printf(cells, "%" PRIx64, m->id);
		buf_put(cells, "", 0), cells->len++;
		o[1] = cells->len;
		buf_puts(cells, m->name && *m->name ? "started" : "unstarted");
		buf_put(cells, "", 0), cells->len++;
		o[2] = cells->len;
		buf_puts(cells, m->name ? m->name : "");
		buf_put(cells, "", 0), cells->len++;
		o[3] = cells->len;
		for (size_t k = 0; k < m->n_peerurls; k++)
			buf_printf(cells, "%s%s", k ? "," : "", m->peerurls[k]);
		buf_put(cells, "", 0), cells->len++;
		o[4] = cells->len;
		for (size_t k = 0; k < m->n_clienturls; k++)
			buf_printf(cells, "%s%s", k ? "," : "", m->clienturls[k]);
		buf_put(cells, "", 0), cells->len++;
		o[5] = cells->len;
		buf_puts(cells, m->islearner ? "true" : "false");
		buf_put(cells, "", 0), cells->len++;
	}
}

int print_member_list(struct buf *b, const struct printer_opts *o,
                      const Etcdserverpb__MemberListResponse *r)
{
	const Etcdserverpb__Member *const *ms = (const Etcdserverpb__Member *const *)r->members;
	switch (o->fmt) {
	case OUT_SIMPLE:
	case OUT_TABLE: {
		struct buf cells = {0};
		size_t *offs;
		member_rows(ms, r->n_members, &cells, &offs);
		if (o->fmt == OUT_SIMPLE) {
			for (size_t i = 0; i < r->n_members; i++)
				for (size_t k = 0; k < 6; k++)
					buf_printf(b, "%s%s", cells.p + offs[i * 6 + k],
					           k < 5 ? ", " : "\n");
		} else {
			size_t n = (r->n_members + 1) * 6;
			const char **t = calloc(n, sizeof *t);
			const char *hdr[] = {"ID",         "Status",       "Name",
			                     "Peer Addrs", "Client Addrs", "Is Learner"};
			memcpy(t, hdr, sizeof hdr);
			for (size_t i = 0; i < r->n_members * 6; i++)
				t[6 + i] = cells.p + offs[i];
			table_render(b, t, r->n_members + 1, 6);
			free(t);
		}
		free(offs);
		buf_free(&cells);
		return 0;
	}
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		for (size_t i = 0; i < r->n_members; i++) {
			const Etcdserverpb__Member *m = ms[i];
			buf_printf(b, "\"ID\" : %" PRIu64 "\n", m->id);
			fields_str(b, "Name", m->name);
			for (size_t k = 0; k < m->n_peerurls; k++)
				fields_str(b, "PeerURL", m->peerurls[k]);
			for (size_t k = 0; k < m->n_clienturls; k++)
				fields_str(b, "ClientURL", m->clienturls[k]);
			buf_printf(b, "\"IsLearner\" : %s\n\n", m->islearner ? "true" : "false");
		}
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_member_add(struct buf *b, const struct printer_opts *o,
                     const Etcdserverpb__MemberAddResponse *r)
{
	uint64_t id = r->member ? r->member->id : 0;
	uint64_t cid = r->header ? r->header->cluster_id : 0;
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "Member %16" PRIx64 " added to cluster %16" PRIx64 "\n", id, cid);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_member_change(struct buf *b, const struct printer_opts *o, uint64_t id, const char *kind,
                        const ProtobufCMessage *r)
{
	/* MemberRemove/Update/PromoteResponse: header is field 1. */
	const Etcdserverpb__MemberRemoveResponse *rr = (const void *)r;
	const Etcdserverpb__ResponseHeader *h = rr->header;
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "Member %16" PRIx64 " %s cluster %16" PRIx64 "\n", id, kind,
		           h ? h->cluster_id : 0);
		return 0;
	case OUT_JSON:
		print_json_msg(b, r);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, r);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

/* ---- maintenance ----------------------------------------------------------------------------- */

static const char *alarm_name(int a)
{
	switch (a) {
	case 1:
		return "NOSPACE";
	case 2:
		return "CORRUPT";
	default:
		return "NONE";
	}
}

int print_alarm(struct buf *b, const struct printer_opts *o, const Etcdserverpb__AlarmResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		/* fmt %+v of *pb.AlarmMember: gogoproto's compact text */
		for (size_t i = 0; i < r->n_alarms; i++) {
			const Etcdserverpb__AlarmMember *a = r->alarms[i];
			if (a->memberid)
				buf_printf(b, "memberID:%" PRIu64 " ", a->memberid);
			if (a->alarm)
				buf_printf(b, "alarm:%s ", alarm_name(a->alarm));
			buf_puts(b, "\n");
		}
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_FIELDS:
		fields_hdr(b, r->header);
		for (size_t i = 0; i < r->n_alarms; i++)
			buf_printf(b, "\"MemberID\" : %" PRIu64 "\n\"AlarmType\" : %s\n\n",
			           r->alarms[i]->memberid, alarm_name(r->alarms[i]->alarm));
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_move_leader(struct buf *b, const struct printer_opts *o, uint64_t from, uint64_t to,
                      const Etcdserverpb__MoveLeaderResponse *r)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "Leadership transferred from %" PRIx64 " to %" PRIx64 "\n", from, to);
		return 0;
	case OUT_JSON:
		print_json_msg(b, &r->base);
		return 0;
	case OUT_PROTOBUF:
		print_pb(b, &r->base);
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_ep_health(struct buf *b, struct buf *err, const struct printer_opts *o,
                    const struct ep_health *h, size_t n)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		for (size_t i = 0; i < n; i++) {
			if (!h[i].error[0])
				buf_printf(
				    err,
				    "%s is healthy: successfully committed proposal: took = %s\n",
				    h[i].ep, h[i].took);
			else
				buf_printf(err, "%s is unhealthy: failed to commit proposal: %s\n",
				           h[i].ep, h[i].error);
		}
		return 0;
	case OUT_JSON:
		buf_puts(b, "[");
		for (size_t i = 0; i < n; i++) {
			buf_puts(b, i ? ",{\"endpoint\":" : "{\"endpoint\":");
			json_string(b, h[i].ep, strlen(h[i].ep));
			buf_printf(b, ",\"health\":%s,\"took\":", h[i].health ? "true" : "false");
			json_string(b, h[i].took, strlen(h[i].took));
			if (h[i].error[0]) {
				buf_puts(b, ",\"error\":");
				json_string(b, h[i].error, strlen(h[i].error));
			}
			buf_puts(b, "}");
		}
		buf_puts(b, "]\n");
		return 0;
	case OUT_FIELDS:
		for (size_t i = 0; i < n; i++) {
			fields_str(b, "Endpoint", h[i].ep);
			buf_printf(b, "\"Health\" : %s\n\"Took\" : %s\n\"Error\" : %s\n\n",
			           h[i].health ? "true" : "false", h[i].took, h[i].error);
		}
		return 0;
	case OUT_TABLE: {
		const char **t = calloc((n + 1) * 4, sizeof *t);
		const char *hdr[] = {"endpoint", "health", "took", "error"};
		memcpy(t, hdr, sizeof hdr);
		for (size_t i = 0; i < n; i++) {
			t[(i + 1) * 4] = h[i].ep;
			t[(i + 1) * 4 + 1] = h[i].health ? "true" : "false";
			t[(i + 1) * 4 + 2] = h[i].took;
			t[(i + 1) * 4 + 3] = h[i].error;
		}
		table_render(b, t, n + 1, 4);
		free(t);
		return 0;
	}
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_ep_status(struct buf *b, const struct printer_opts *o, const struct ep_status *s,
                    size_t n)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
	case OUT_TABLE: {
		struct buf cells = {0};
		size_t *offs = calloc(n * 10 + 1, sizeof *offs);
		for (size_t i = 0; i < n; i++) {
			const Etcdserverpb__StatusResponse *r = s[i].resp;
			uint64_t mid = r->header ? r->header->member_id : 0;
			size_t *of = offs + i * 10;
			of[0] = cells.len;
			buf_puts(&cells, s[i].ep);
			buf_put(&cells, "", 0), cells.len++;
			of[1] = cells.len;
			buf_printf(&cells, "%" PRIx64, mid);
			buf_put(&cells, "", 0), cells.len++;
			of[2] = cells.len;
			buf_puts(&cells, r->version ? r->version : "");
			buf_put(&cells, "", 0), cells.len++;
			of[3] = cells.len;
			humanize_bytes(&cells, (uint64_t)r->dbsize);
			buf_put(&cells, "", 0), cells.len++;
			of[4] = cells.len;
			buf_puts(&cells, r->leader == mid ? "true" : "false");
			buf_put(&cells, "", 0), cells.len++;
			of[5] = cells.len;
			buf_puts(&cells, r->islearner ? "true" : "false");
			buf_put(&cells, "", 0), cells.len++;
			of[6] = cells.len;
			buf_printf(&cells, "%" PRIu64, r->raftterm);
			buf_put(&cells, "", 0), cells.len++;
			of[7] = cells.len;
			buf_printf(&cells, "%" PRIu64, r->raftindex);
			buf_put(&cells, "", 0), cells.len++;
			of[8] = cells.len;
			buf_printf(&cells, "%" PRIu64, r->raftappliedindex);
			buf_put(&cells, "", 0), cells.len++;
			of[9] = cells.len;
			for (size_t k = 0; k < r->n_errors; k++)
				buf_printf(&cells, "%s%s", k ? ", " : "", r->errors[k]);
			buf_put(&cells, "", 0), cells.len++;
		}
		if (o->fmt == OUT_SIMPLE) {
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < 10; k++)
					buf_printf(b, "%s%s", cells.p + offs[i * 10 + k],
					           k < 9 ? ", " : "\n");
		} else {
			const char **t = calloc((n + 1) * 10, sizeof *t);
			const char *hdr[] = {"endpoint",  "ID",         "version",
			                     "db size",   "is leader",  "is learner",
			                     "raft term", "raft index", "raft applied index",
			                     "errors"};
			memcpy(t, hdr, sizeof hdr);
			for (size_t i = 0; i < n * 10; i++)
				t[10 + i] = cells.p + offs[i];
			table_render(b, t, n + 1, 10);
			free(t);
		}
		free(offs);
		buf_free(&cells);
		return 0;
	}
	case OUT_JSON:
		buf_puts(b, "[");
		for (size_t i = 0; i < n; i++) {
			buf_puts(b, i ? ",{\"Endpoint\":" : "{\"Endpoint\":");
			json_string(b, s[i].ep, strlen(s[i].ep));
			buf_puts(b, ",\"Status\":");
			json_msg(b, &s[i].resp->base);
			buf_puts(b, "}");
		}
		buf_puts(b, "]\n");
		return 0;
	case OUT_FIELDS:
		for (size_t i = 0; i < n; i++) {
			const Etcdserverpb__StatusResponse *r = s[i].resp;
			fields_hdr(b, r->header);
			fields_str(b, "Version", r->version);
			buf_printf(b, "\"DBSize\" : %" PRId64 "\n\"Leader\" : %" PRIu64 "\n",
			           r->dbsize, r->leader);
			buf_printf(b, "\"IsLearner\" : %s\n", r->islearner ? "true" : "false");
			buf_printf(b, "\"RaftIndex\" : %" PRIu64 "\n\"RaftTerm\" : %" PRIu64 "\n",
			           r->raftindex, r->raftterm);
			buf_printf(b, "\"RaftAppliedIndex\" : %" PRIu64 "\n\"Errors\" : [",
			           r->raftappliedindex);
			for (size_t k = 0; k < r->n_errors; k++)
				buf_printf(b, "%s%s", k ? " " : "", r->errors[k]);
			buf_puts(b, "]\n");
			fields_str(b, "Endpoint", s[i].ep);
			buf_puts(b, "\n");
		}
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_ep_hashkv(struct buf *b, const struct printer_opts *o, const struct ep_hash *h, size_t n)
{
	switch (o->fmt) {
	case OUT_SIMPLE:
		for (size_t i = 0; i < n; i++)
			buf_printf(b, "%s, %" PRIu32 "\n", h[i].ep, h[i].resp->hash);
		return 0;
	case OUT_TABLE: {
		const char **t = calloc((n + 1) * 2, sizeof *t);
		char(*nums)[16] = calloc(n + 1, sizeof *nums);
		t[0] = "endpoint";
		t[1] = "hash";
		for (size_t i = 0; i < n; i++) {
			snprintf(nums[i], sizeof nums[i], "%" PRIu32, h[i].resp->hash);
			t[(i + 1) * 2] = h[i].ep;
			t[(i + 1) * 2 + 1] = nums[i];
		}
		table_render(b, t, n + 1, 2);
		free(t);
		free(nums);
		return 0;
	}
	case OUT_JSON:
		buf_puts(b, "[");
		for (size_t i = 0; i < n; i++) {
			buf_puts(b, i ? ",{\"Endpoint\":" : "{\"Endpoint\":");
			json_string(b, h[i].ep, strlen(h[i].ep));
			buf_puts(b, ",\"HashKV\":");
			json_msg(b, &h[i].resp->base);
			buf_puts(b, "}");
		}
		buf_puts(b, "]\n");
		return 0;
	case OUT_FIELDS:
		for (size_t i = 0; i < n; i++) {
			fields_hdr(b, h[i].resp->header);
			fields_str(b, "Endpoint", h[i].ep);
			buf_printf(b, "\"Hash\" : %" PRIu32 "\n\n", h[i].resp->hash);
		}
		return 0;
	default:
		return EXIT_BAD_FEATURE;
	}
}

int print_db_status(struct buf *b, const struct printer_opts *o, const struct db_status *s)
{
	char hash[16], rev[24], keys[24];
	struct buf size = {0};
	snprintf(hash, sizeof hash, "%" PRIx32, s->hash);
	snprintf(rev, sizeof rev, "%" PRId64, s->revision);
	snprintf(keys, sizeof keys, "%" PRId64, s->total_key);
	humanize_bytes(&size, (uint64_t)s->total_size);
	int rv = 0;
	switch (o->fmt) {
	case OUT_SIMPLE:
		buf_printf(b, "%s, %s, %s, %s\n", hash, rev, keys, buf_str(&size));
		break;
	case OUT_TABLE: {
		const char *t[] = {"hash", "revision", "total keys", "total size",
		                   hash,   rev,        keys,         buf_str(&size)};
		table_render(b, t, 2, 4);
		break;
	}
	case OUT_JSON:
		buf_printf(b,
		           "{\"hash\":%" PRIu32 ",\"revision\":%" PRId64 ",\"totalKey\":%" PRId64
		           ",\"totalSize\":%" PRId64 "}\n",
		           s->hash, s->revision, s->total_key, s->total_size);
		break;
	case OUT_FIELDS:
		buf_printf(b,
		           "\"Hash\" : %" PRIu32 "\n\"Revision\" : %" PRId64 "\n\"Keys\" : %" PRId64
		           "\n\"Size\" : %" PRId64 "\n",
		           s->hash, s->revision, s->total_key, s->total_size);
		break;
	default:
		rv = EXIT_BAD_FEATURE;
	}
	buf_free(&size);
	return rv;
}
