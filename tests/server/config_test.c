/*
 * config_test.c - cairnd's command line and identities, checked against
 * what etcd 3.4.23 does with the same input (values observed by running
 * /usr/bin/etcd with these flags).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rpc/rpc.h"
#include "server/config.h"
#include "server/node.h"

static int parse(struct cairn_config *cfg, char **argv, char **env, char *err)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	char notes[1024];
	config_init(cfg);
	return config_parse(cfg, argc, argv, env, err, 512, notes, sizeof notes);
}

Test(config, no_flags_gives_etcds_single_member_defaults)
{
	struct cairn_config cfg;
	char err[512];
	char *argv[] = {"cairnd", NULL};
	cr_assert_eq(parse(&cfg, argv, NULL, err), 0, "%s", err);
	cr_expect_str_eq(cfg.name, "default");
	cr_expect_str_eq(cfg.data_dir, "default.cairn");
	cr_expect_str_eq(cfg.listen_client_urls.v[0], "http://localhost:2379");
	cr_expect_str_eq(cfg.advertise_client_urls.v[0], "http://localhost:2379");
	cr_expect_str_eq(cfg.listen_peer_urls.v[0], "http://localhost:2380");
	cr_expect_str_eq(cfg.initial_cluster, "default=http://localhost:2380");
	cr_expect_str_eq(cfg.initial_cluster_token, "etcd-cluster");
	cr_expect(cfg.initial_cluster_state_new);
	cr_expect_eq(cfg.heartbeat_ms, 100);
	cr_expect_eq(cfg.election_ms, 1000);
	cr_expect_eq(cfg.snapshot_count, 100000);
	cr_expect_eq(cfg.max_request_bytes, 1536 * 1024);
	cr_expect_eq(cfg.max_txn_ops, 128);
	cr_expect_eq(config_validate(&cfg, err, sizeof err), 0, "%s", err);
	config_free(&cfg);
}

Test(config, flag_forms_as_gos_flag_package)
{
	struct cairn_config cfg;
	char err[512];
	char *argv[] = {"cairnd",
	                "-name=n1",
	                "--data-dir",
	                "/tmp/x",
	                "--heartbeat-interval=50",
	                "-election-timeout",
	                "500",
	                "--initial-cluster-state=existing",
	                "--experimental-enable-lease-checkpoint",
	                "--strict-reconfig-check=false",
	                "--auto-compaction-mode",
	                "revision",
	                "--auto-compaction-retention=1000",
	                "--log-level",
	                "warn",
	                NULL};
	cr_assert_eq(parse(&cfg, argv, NULL, err), 0, "%s", err);
	cr_expect_str_eq(cfg.name, "n1");
	cr_expect_str_eq(cfg.data_dir, "/tmp/x");
	cr_expect_eq(cfg.heartbeat_ms, 50);
	cr_expect_eq(cfg.election_ms, 500);
	cr_expect(!cfg.initial_cluster_state_new);
	cr_expect(cfg.lease_checkpoint);
	cr_expect(!cfg.strict_reconfig_check);
	cr_expect_eq(cfg.auto_compaction_mode, AUTO_COMPACTION_REVISION);
	cr_expect_eq(cfg.auto_compaction_retention_revs, 1000);
	cr_expect_eq(cfg.log_level, 2);
	/* --name without --initial-cluster: name=advertised peer URL. */
	cr_expect_str_eq(cfg.initial_cluster, "n1=http://localhost:2380");
	config_free(&cfg);
}

Test(config, periodic_retention_in_hours_or_durations)
{
	struct cairn_config cfg;
	char err[512];
	char *a1[] = {"cairnd", "--auto-compaction-retention", "2", NULL};
	cr_assert_eq(parse(&cfg, a1, NULL, err), 0, "%s", err);
	cr_expect_eq(cfg.auto_compaction_retention_ms, 2ull * 3600 * 1000);
	config_free(&cfg);
	char *a2[] = {"cairnd", "--auto-compaction-retention=1h30m", NULL};
	cr_assert_eq(parse(&cfg, a2, NULL, err), 0, "%s", err);
	cr_expect_eq(cfg.auto_compaction_retention_ms, 90ull * 60 * 1000);
	config_free(&cfg);
}

Test(config, environment_fills_what_flags_leave_unset)
{
	struct cairn_config cfg;
	char err[512];
	char *argv[] = {"cairnd", "--name", "fromflag", NULL};
	char *env[] = {"ETCD_NAME=fromenv", "ETCD_SNAPSHOT_COUNT=42",
	               "ETCD_INITIAL_CLUSTER_TOKEN=tok", "PATH=/bin", NULL};
	cr_assert_eq(parse(&cfg, argv, env, err), 0, "%s", err);
	cr_expect_str_eq(cfg.name, "fromflag");
	cr_expect_eq(cfg.snapshot_count, 42);
	cr_expect_str_eq(cfg.initial_cluster_token, "tok");
	config_free(&cfg);
}

Test(config, unknown_flag_is_etcds_error)
{
	struct cairn_config cfg;
	char err[512];
	char *argv[] = {"cairnd", "--bogus", NULL};
	cr_assert_eq(parse(&cfg, argv, NULL, err), -1);
	cr_expect_str_eq(err, "flag provided but not defined: -bogus");
	config_free(&cfg);
	char *a2[] = {"cairnd", "--name", NULL};
	cr_assert_eq(parse(&cfg, a2, NULL, err), -1);
	cr_expect_str_eq(err, "flag needs an argument: -name");
	config_free(&cfg);
	char *a3[] = {"cairnd", "stray", NULL};
	cr_assert_eq(parse(&cfg, a3, NULL, err), -1);
	cr_expect_str_eq(err, "'stray' is not a valid flag");
	config_free(&cfg);
}

Test(config, harmless_etcd_flags_are_accepted)
{
	struct cairn_config cfg;
	char err[512];
	char *argv[] = {"cairnd",
	                "--logger=zap",
	                "--log-outputs",
	                "stderr",
	                "--enable-pprof",
	                "--max-wals",
	                "5",
	                NULL};
	cr_assert_eq(parse(&cfg, argv, NULL, err), 0, "%s", err);
	config_free(&cfg);
}

Test(config, validation_as_etcd)
{
	struct cairn_config cfg;
	char err[512];
	char *a1[] = {"cairnd", "--heartbeat-interval", "300", NULL};
	cr_assert_eq(parse(&cfg, a1, NULL, err), 0);
	cr_expect_eq(config_validate(&cfg, err, sizeof err), -1);
	cr_expect_str_eq(err, "--election-timeout[1000ms] should be at least as 5 times as "
	                      "--heartbeat-interval[300ms]");
	config_free(&cfg);
	char *a2[] = {"cairnd", "--name", "n9", "--initial-cluster", "n1=http://127.0.0.1:2380",
	              NULL};
	cr_assert_eq(parse(&cfg, a2, NULL, err), 0);
	cr_expect_eq(config_validate(&cfg, err, sizeof err), -1);
	cr_expect(strstr(err, "couldn't find local name \"n9\""), "%s", err);
	config_free(&cfg);
}

Test(url, parses_and_refuses_like_etcd)
{
	struct cairn_url u;
	char err[256];
	cr_assert_eq(cairn_url_parse("http://127.0.0.1:2380", &u, err, sizeof err), 0);
	cr_expect_str_eq(u.scheme, "http");
	cr_expect_str_eq(u.host, "127.0.0.1");
	cr_expect_eq(u.port, 2380);
	cr_assert_eq(cairn_url_parse("https://[::1]:2379", &u, err, sizeof err), 0);
	cr_expect_str_eq(u.host, "::1");
	cr_expect_eq(u.port, 2379);
	cr_expect_eq(cairn_url_parse("127.0.0.1:2380", &u, err, sizeof err), -1);
	cr_expect_eq(cairn_url_parse("ftp://a:1", &u, err, sizeof err), -1);
	cr_expect_eq(cairn_url_parse("http://host", &u, err, sizeof err), -1);
	cr_expect(strstr(err, "does not have the form \"host:port\""));
	cr_expect_eq(cairn_url_parse("http://h:99999", &u, err, sizeof err), -1);
}

Test(ids, sha1_known_answers)
{
	uint8_t d[20];
	cairn_sha1("abc", 3, d);
	cr_expect_eq(d[0], 0xa9);
	cr_expect_eq(d[19], 0x9d);
	char big[1000];
	memset(big, 'a', sizeof big);
	cairn_sha1(big, 1000, d); /* 291e9a6c66994949b57ba5e650361e98fc36b1ba */
	cr_expect_eq(d[0], 0x29);
	cr_expect_eq(d[1], 0x1e);
	cr_expect_eq(d[19], 0xba);
}

/* What etcd 3.4.23 prints for `etcd` with no flags. */
Test(ids, default_member_matches_etcd)
{
	char *urls[] = {"http://localhost:2380"};
	cr_expect_eq(cairn_member_id(urls, 1, "etcd-cluster", 0), 0x8e9e05c52164694dull);
	uint64_t id = 0x8e9e05c52164694dull;
	cr_expect_eq(cairn_cluster_id(&id, 1), 0xcdf818194e3a8c32ull);
}

/* etcd 3.4.23 with --initial-cluster-token tok1 and
 * --initial-cluster n1=http://127.0.0.1:41380,n2=...:41382,n3=...:41384
 * logged: added member f90a530cb8365653, abcba4a517cc60cf, 84dbab91fbe077b7
 * to cluster 447f972b26175214. */
Test(ids, three_member_cluster_matches_etcd)
{
	struct initial_cluster ic;
	char err[256];
	cr_assert_eq(initial_cluster_parse("n1=http://127.0.0.1:41380,n2=http://127.0.0.1:41382,"
	                                   "n3=http://127.0.0.1:41384",
	                                   "tok1", &ic, err, sizeof err),
	             0, "%s", err);
	cr_assert_eq(ic.n, 3);
	uint64_t want[3] = {0x84dbab91fbe077b7ull, 0xabcba4a517cc60cfull, 0xf90a530cb8365653ull};
	const char *names[3] = {"n3", "n2", "n1"};
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(ic.v[i].id, want[i], "member %d: %llx", i,
		             (unsigned long long)ic.v[i].id);
		cr_expect_str_eq(ic.v[i].name, names[i]);
	}
	cr_expect_eq(ic.cluster_id, 0x447f972b26175214ull);
	initial_cluster_free(&ic);
}

Test(ids, member_added_at_run_time_includes_the_time)
{
	char *urls[] = {"http://127.0.0.1:2380"};
	uint64_t a = cairn_member_id(urls, 1, "t", 1700000000);
	uint64_t b = cairn_member_id(urls, 1, "t", 1700000001);
	cr_expect_neq(a, b);
	cr_expect_neq(a, cairn_member_id(urls, 1, "t", 0));
}

Test(errors, etcd_texts_and_codes)
{
	cr_expect_str_eq(node_strerror(NODE_ENOLEADER), "etcdserver: no leader");
	cr_expect_eq(node_grpc_code(NODE_ENOLEADER), RPC_UNAVAILABLE);
	cr_expect_str_eq(node_strerror(NODE_ETIMEOUT), "etcdserver: request timed out");
	cr_expect_str_eq(node_strerror(NODE_ETIMEOUT_LEADER),
	                 "etcdserver: request timed out, possibly due to previous leader failure");
	cr_expect_str_eq(node_strerror(NODE_ETOO_MANY_REQUESTS), "etcdserver: too many requests");
	cr_expect_eq(node_grpc_code(NODE_ETOO_MANY_REQUESTS), RPC_UNKNOWN);
	cr_expect_str_eq(node_strerror(NODE_EREQUEST_TOO_LARGE),
	                 "etcdserver: request is too large");
	cr_expect_eq(node_grpc_code(NODE_EREQUEST_TOO_LARGE), RPC_INVALID_ARGUMENT);
	cr_expect_str_eq(node_strerror(NODE_ELEARNER_NOT_READY),
	                 "etcdserver: can only promote a learner member which is in sync with "
	                 "leader");
	cr_expect_eq(node_grpc_code(NODE_ELEARNER_NOT_READY), RPC_FAILED_PRECONDITION);
	cr_expect_str_eq(node_strerror(NODE_EUNHEALTHY), "etcdserver: unhealthy cluster");
	cr_expect_str_eq(node_strerror(NODE_ENOT_ENOUGH_STARTED),
	                 "etcdserver: re-configuration failed due to not enough started members");
	cr_expect_eq(node_grpc_code(NODE_ENOT_ENOUGH_STARTED), RPC_UNKNOWN);
	cr_expect_str_eq(node_strerror(STORE_MVCC_ECOMPACTED),
	                 "etcdserver: mvcc: required revision has been compacted");
	cr_expect_eq(node_grpc_code(STORE_MVCC_ECOMPACTED), RPC_OUT_OF_RANGE);
	cr_expect_str_eq(node_strerror(NODE_EDEADLINE), "context deadline exceeded");
	cr_expect_eq(node_grpc_code(NODE_EDEADLINE), RPC_UNKNOWN);
	cr_expect_eq(node_grpc_code(0), RPC_OK);
}
