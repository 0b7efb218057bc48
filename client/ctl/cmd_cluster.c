/*
 * client/ctl/cmd_cluster.c - lease and member commands (etcd v3.4.23
 * etcdctl/ctlv3/command/lease_command.go, member_command.go).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"

/* leaseFromArgs: hex lease ID or exit 128. */
static int64_t lease_arg(const char *s)
{
	int64_t id;
	struct buf e = {0};
	if (parse_int64(s, 16, &id, &e))
		ctl_fail(EXIT_BAD_ARGS, "bad lease ID arg (%s), expecting ID in Hex", buf_str(&e));
	return id;
}

int cmd_lease_grant(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "lease grant command needs TTL argument");
	int64_t ttl;
	struct buf e = {0};
	if (parse_int64(argv[0], 10, &ttl, &e))
		ctl_fail(EXIT_BAD_ARGS, "bad TTL (%s)", buf_str(&e));
	Etcdserverpb__LeaseGrantRequest r = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	r.ttl = ttl;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__LeaseGrantResponse *resp;
	struct cairn_status st;
	if (cairn_lease_grant_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, "failed to grant lease (%s)");
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_lease_grant(&out, &po, resp));
	cairn_response_free(resp);
	return 0;
}

int cmd_lease_revoke(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "lease revoke command needs 1 argument");
	Etcdserverpb__LeaseRevokeRequest r = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	r.id = lease_arg(argv[0]);
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__LeaseRevokeResponse *resp;
	struct cairn_status st;
	if (cairn_lease_revoke_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, "failed to revoke lease (%s)");
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_lease_revoke(&out, &po, r.id, resp));
	cairn_response_free(resp);
	return 0;
}

int cmd_lease_ttl(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "lease timetolive command needs lease ID as argument");
	Etcdserverpb__LeaseTimeToLiveRequest r = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
	r.id = lease_arg(argv[0]);
	r.keys = g_lease_keys;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__LeaseTimeToLiveResponse *resp;
	struct cairn_status st;
	if (cairn_lease_ttl_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_BAD_CONNECTION, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_lease_ttl(&out, &po, resp, g_lease_keys));
	cairn_response_free(resp);
	return 0;
}

int cmd_lease_list(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	Etcdserverpb__LeaseLeasesRequest r = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__LeaseLeasesResponse *resp;
	struct cairn_status st;
	if (cairn_lease_list_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_BAD_CONNECTION, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_lease_list(&out, &po, resp));
	cairn_response_free(resp);
	return 0;
}

struct ka_state {
	struct ctl *ctl;
	int64_t id;
	bool over;
};

static void ka_cb(struct cairn_keepalive *ka, void *arg, const struct cairn_status *st, int64_t ttl)
{
	(void)ka;
	struct ka_state *s = arg;
	if (st->code != CAIRN_OK) {
		s->over = true;
		cairn_client_stop(s->ctl->client);
		return;
	}
	Etcdserverpb__LeaseKeepAliveResponse r = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	r.id = s->id;
	r.ttl = ttl;
	struct buf out = {0};
	struct printer_opts po = ctl_popts(s->ctl);
	int rv = print_lease_keepalive(&out, &po, &r);
	if (rv == EXIT_BAD_FEATURE) {
		static const char *const n[] = {"simple", "json", "fields", "protobuf", "table"};
		ctl_fail(EXIT_BAD_FEATURE, "%s not supported as output format", n[s->ctl->fmt]);
	}
	ctl_flush(&out, stdout);
	buf_free(&out);
}

int cmd_lease_keepalive(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s",
		         "lease keep-alive command needs lease ID as argument");
	int64_t id = lease_arg(argv[0]);
	struct cairn_client *c = ctl_client(ctl);
	if (g_lease_once) {
		struct cairn_call_opts o = ctl_opts(ctl);
		Etcdserverpb__LeaseKeepAliveResponse *resp;
		struct cairn_status st;
		if (cairn_lease_keepalive_once_sync(c, id, &o, &resp, &st))
			ctl_fail_status(EXIT_BAD_CONNECTION, &st, NULL);
		struct buf out = {0};
		struct printer_opts po = ctl_popts(ctl);
		ctl_emit(ctl, &out, print_lease_keepalive(&out, &po, resp));
		cairn_response_free(resp);
		return 0;
	}
	struct ka_state s = {.ctl = ctl, .id = id};
	struct cairn_keepalive *ka;
	int rv = cairn_lease_keepalive(c, id, ka_cb, &s, &ka);
	if (rv)
		ctl_fail(EXIT_BAD_CONNECTION, "%s", cairn_strerror(rv));
	while (!s.over)
		cairn_client_run(c);
	if (ctl->fmt == OUT_SIMPLE)
		printf("lease %016" PRIx64 " expired or revoked.\n", (uint64_t)id);
	return 0;
}

/* ---- members -------------------------------------------------------------------------------- */

static uint64_t member_arg(const char *s)
{
	uint64_t id;
	struct buf e = {0};
	if (parse_uint64(s, 16, &id, &e))
		ctl_fail(EXIT_BAD_ARGS, "bad member ID arg (%s), expecting ID in Hex", buf_str(&e));
	return id;
}

static struct strlist split_urls(const char *csv)
{
	struct strlist l = {0};
	/* strings.Split: an empty string gives one empty element */
	const char *p = csv;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		l.v = realloc(l.v, (l.n + 1) * sizeof *l.v);
		l.v[l.n++] = strndup(p, n);
		if (!c)
			break;
		p = c + 1;
	}
	return l;
}

int cmd_member_add(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member name not provided");
	if (argc > 1) {
		struct buf ev = {0};
		buf_puts(&ev, "too many arguments");
		for (int i = 0; i < argc; i++)
			if (strncasecmp(argv[i], "http", 4) == 0)
				buf_printf(&ev, ", did you mean --peer-urls=%s", argv[i]);
		ctl_fail(EXIT_BAD_ARGS, "%s", buf_str(&ev));
	}
	const char *name = argv[0];
	if (!g_member_peer_urls || !*g_member_peer_urls)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member peer urls not provided");
	struct strlist urls = split_urls(g_member_peer_urls);
	Etcdserverpb__MemberAddRequest r = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
	r.peerurls = urls.v;
	r.n_peerurls = urls.n;
	r.islearner = g_member_learner;
	struct cairn_client *c = ctl_client(ctl);
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MemberAddResponse *resp;
	struct cairn_status st;
	if (cairn_member_add_sync(c, &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	uint64_t new_id = resp->member ? resp->member->id : 0;
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_member_add(&out, &po, resp));
	if (ctl->fmt == OUT_SIMPLE) {
		/* The new configuration, from a member list of the member that
		 * answered (etcdctl syncs with a quorum read if another one
		 * answers). */
		Etcdserverpb__MemberListRequest lr = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
		Etcdserverpb__MemberListResponse *list;
		uint64_t mid = resp->header ? resp->header->member_id : 0;
		for (int tries = 0;; tries++) {
			if (cairn_member_list_sync(c, &lr, &o, &list, &st))
				ctl_fail_status(EXIT_ERROR, &st, NULL);
			if (!list->header || list->header->member_id == mid || tries > 10)
				break;
			cairn_response_free(list);
			Etcdserverpb__RangeRequest gr = ETCDSERVERPB__RANGE_REQUEST__INIT;
			gr.key.data = (uint8_t *)"_";
			gr.key.len = 1;
			Etcdserverpb__RangeResponse *g;
			if (cairn_kv_range_sync(c, &gr, &o, &g, &st))
				ctl_fail_status(EXIT_ERROR, &st, NULL);
			mid = g->header ? g->header->member_id : 0;
			cairn_response_free(g);
		}
		struct buf conf = {0};
		for (size_t i = 0; i < list->n_members; i++) {
			const Etcdserverpb__Member *m = list->members[i];
			for (size_t k = 0; k < m->n_peerurls; k++)
				buf_printf(&conf, "%s%s=%s", conf.len ? "," : "",
				           m->id == new_id ? name : m->name, m->peerurls[k]);
		}
		struct buf t = {0};
		buf_puts(&t, "\nETCD_NAME=");
		go_quote(&t, name, strlen(name));
		buf_puts(&t, "\nETCD_INITIAL_CLUSTER=");
		go_quote(&t, conf.p ? conf.p : "", conf.len);
		buf_puts(&t, "\nETCD_INITIAL_ADVERTISE_PEER_URLS=");
		go_quote(&t, g_member_peer_urls, strlen(g_member_peer_urls));
		buf_puts(&t, "\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
		ctl_flush(&t, stdout);
		buf_free(&t);
		buf_free(&conf);
		cairn_response_free(list);
	}
	cairn_response_free(resp);
	strlist_free(&urls);
	return 0;
}

int cmd_member_remove(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member ID is not provided");
	Etcdserverpb__MemberRemoveRequest r = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;
	r.id = member_arg(argv[0]);
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MemberRemoveResponse *resp;
	struct cairn_status st;
	if (cairn_member_remove_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_member_change(&out, &po, r.id, "removed from", &resp->base));
	cairn_response_free(resp);
	return 0;
}

int cmd_member_update(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member ID is not provided");
	Etcdserverpb__MemberUpdateRequest r = ETCDSERVERPB__MEMBER_UPDATE_REQUEST__INIT;
	r.id = member_arg(argv[0]);
	if (!g_member_peer_urls || !*g_member_peer_urls)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member peer urls not provided");
	struct strlist urls = split_urls(g_member_peer_urls);
	r.peerurls = urls.v;
	r.n_peerurls = urls.n;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MemberUpdateResponse *resp;
	struct cairn_status st;
	if (cairn_member_update_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_member_change(&out, &po, r.id, "updated in", &resp->base));
	cairn_response_free(resp);
	strlist_free(&urls);
	return 0;
}

int cmd_member_promote(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		ctl_fail(EXIT_BAD_ARGS, "%s", "member ID is not provided");
	Etcdserverpb__MemberPromoteRequest r = ETCDSERVERPB__MEMBER_PROMOTE_REQUEST__INIT;
	r.id = member_arg(argv[0]);
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MemberPromoteResponse *resp;
	struct cairn_status st;
	if (cairn_member_promote_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_member_change(&out, &po, r.id, "promoted in", &resp->base));
	cairn_response_free(resp);
	return 0;
}

int cmd_member_list(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	Etcdserverpb__MemberListRequest r = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	struct cairn_call_opts o = ctl_opts(ctl);
	Etcdserverpb__MemberListResponse *resp;
	struct cairn_status st;
	if (cairn_member_list_sync(ctl_client(ctl), &r, &o, &resp, &st))
		ctl_fail_status(EXIT_ERROR, &st, NULL);
	struct buf out = {0};
	struct printer_opts po = ctl_popts(ctl);
	ctl_emit(ctl, &out, print_member_list(&out, &po, resp));
	cairn_response_free(resp);
	return 0;
}
