/*
 * server/api.h - etcd's v3 services (KV, Watch, Lease, Cluster, Maintenance,
 * Auth) on an rpc/ server, over a node (server/node.h).
 *
 * The node's owner (cairnd's main) creates the client-port rpc server and
 * the node, then calls api_create() to register every etcd method on it.
 * The services hold no Raft or disk state of their own: they validate,
 * call the node or read the store, and answer with etcd's exact messages,
 * codes and header fields (shared/reference/etcd-api.md).
 */
#ifndef CAIRN_SERVER_API_H
#define CAIRN_SERVER_API_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"
#include "server/node.h"

struct api;

struct api_options {
	/* etcd's --max-request-bytes (default 1.5 MiB): a Put/Txn bigger
	 * than this is "etcdserver: request is too large". */
	uint64_t max_request_bytes;
	/* The election timeout in ms: "hasleader" streams are canceled after
	 * 3 leaderless election timeouts. */
	uint64_t election_timeout_ms;
	/* etcd's watch progress-notify interval (10 min); tests shorten it. */
	uint64_t progress_notify_ms;
};

/* Registers every etcd method on srv (unknown paths stay Unimplemented).
 * Returns 0, -ENOMEM. */
int api_create(struct node *n, struct rpc_server *srv, const struct api_options *opts,
               struct api **out);

/* Graceful stop: ends watch and keep-alive streams ("etcdserver: server
 * stopped"), cancels pending waits. Call before the rpc server's shutdown. */
void api_stop(struct api *a);
void api_destroy(struct api *a);

/* Prometheus text for the services' own figures (requests by method and
 * code, open watch streams and watchers), appended to buf (realloc'ed);
 * returns 0 or -ENOMEM. */
int api_metrics(struct api *a, char **buf, size_t *len, size_t *cap);

#endif
