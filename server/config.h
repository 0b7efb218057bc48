/*
 * server/config.h - cairnd's configuration: etcd 3.4's flags with etcd's
 * names, meanings and defaults, the same ETCD_* environment variables (a
 * flag given on the command line wins), URL lists, and the member and
 * cluster IDs etcd derives from --initial-cluster and the cluster token.
 *
 * Pure code: no I/O except what config_parse() prints for --help/--version
 * and errors, so the unit tests (tests/server/) drive it directly.
 */
#ifndef CAIRN_SERVER_CONFIG_H
#define CAIRN_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN_VERSION         "3.4.23"
#define CAIRN_CLUSTER_VERSION "3.4.0"

/* A list of strings (URLs), owned. */
struct strlist {
	char **v;
	size_t n;
};

void strlist_free(struct strlist *l);
/* Splits a comma-separated list (empty items dropped) into l (appended). */
int strlist_split(struct strlist *l, const char *csv);

/* One URL as etcd accepts it: scheme://host:port[/path]. */
struct cairn_url {
	char scheme[16];
	char host[256]; /* without brackets for IPv6 */
	int port;
};

/* Parses "http://127.0.0.1:2380". Returns 0, or -1 with a message in err
 * (etcd's wording where it has one). */
int cairn_url_parse(const char *s, struct cairn_url *u, char *err, size_t errlen);

enum auto_compaction_mode {
	AUTO_COMPACTION_PERIODIC = 0,
	AUTO_COMPACTION_REVISION = 1,
};

struct cairn_config {
	char *name;
	char *data_dir;
	struct strlist listen_client_urls;
	struct strlist advertise_client_urls;
	struct strlist listen_peer_urls;
	struct strlist initial_advertise_peer_urls;
	struct strlist listen_metrics_urls;
	char *initial_cluster;
	bool initial_cluster_state_new;
	char *initial_cluster_token;
	unsigned heartbeat_ms;
	unsigned election_ms;
	uint64_t snapshot_count;
	int64_t quota_backend_bytes; /* 0: default (2 GiB); negative: no quota */
	uint64_t max_request_bytes;
	uint32_t max_txn_ops;
	int auto_compaction_mode;
	uint64_t auto_compaction_retention_ms;  /* periodic */
	int64_t auto_compaction_retention_revs; /* revision */
	int log_level;
	bool lease_checkpoint;
	bool strict_reconfig_check;
	bool pre_vote;
	bool fault_injection;
	bool show_version;
	bool show_help;
	/* For tests: the watch progress-notify interval (etcd's 10 min). */
	uint64_t progress_notify_ms;
};

/* Initialises cfg with etcd's defaults. */
void config_init(struct cairn_config *cfg);
void config_free(struct cairn_config *cfg);

/*
 * Parses argv (argv[0] skipped) over the environment envp (NULL-terminated
 * "ETCD_X=y" strings; NULL for none): flags win over ETCD_* variables.
 * Returns 0 on success; on error -1 with etcd-like wording in err (the
 * caller prints it and exits 2, as etcd does). Notes about ignored flags go
 * to notes (newline-separated, may be empty) for the caller to log.
 */
int config_parse(struct cairn_config *cfg, int argc, char **argv, char **envp, char *err,
                 size_t errlen, char *notes, size_t notes_len);

/* Checks the parsed values as etcd does before starting (heartbeat vs
 * election timeout, --initial-cluster naming this member with its
 * advertised peer URLs). Returns 0 or -1 with the message in err. */
int config_validate(const struct cairn_config *cfg, char *err, size_t errlen);

/* The usage text for --help. */
const char *config_usage(void);

/* ---- IDs ----------------------------------------------------------------- */

/* SHA-1 (FIPS 180-4). */
void cairn_sha1(const void *data, size_t len, uint8_t out[20]);

/* etcd's member ID: the first 8 bytes (big-endian) of SHA-1 over the sorted
 * peer URLs concatenated, the cluster token, and for members added at run
 * time the Unix time in seconds as decimal (now_unix 0: omitted). */
uint64_t cairn_member_id(char *const *peer_urls, size_t n, const char *token, int64_t now_unix);

/* etcd's cluster ID: SHA-1 over the sorted member IDs as 8-byte big-endian
 * values, first 8 bytes. */
uint64_t cairn_cluster_id(const uint64_t *ids, size_t n);

/* An initial cluster member parsed from --initial-cluster. */
struct initial_member {
	char *name;
	struct strlist peer_urls;
	uint64_t id;
};

struct initial_cluster {
	struct initial_member *v;
	size_t n;
	uint64_t cluster_id;
};

/* Parses "n1=http://a:2380,n2=http://b:2380" (a name may repeat for several
 * URLs) and computes the IDs with token. Members are ordered by ID. Returns
 * 0 or -1 with the message in err. */
int initial_cluster_parse(const char *s, const char *token, struct initial_cluster *ic, char *err,
                          size_t errlen);
void initial_cluster_free(struct initial_cluster *ic);

#endif
