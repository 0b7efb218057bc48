/*
 * server/node_run.h - what cairnd's main does with a node: create it from
 * the configuration (bootstrapping or recovering the data directory), start
 * it, and stop it gracefully. The services see only server/node.h.
 */
#ifndef CAIRN_SERVER_NODE_RUN_H
#define CAIRN_SERVER_NODE_RUN_H

#include <uv.h>

#include "server/config.h"
#include "server/node.h"

/*
 * Opens (or bootstraps) the data directory, recovers the WAL and the store,
 * creates the Raft core, starts the apply thread and listens on the peer
 * URLs. Returns 0, or a negative error after logging why (e.g. a data
 * directory of another cluster, a member that was never added).
 */
int node_create(uv_loop_t *loop, const struct cairn_config *cfg, struct node **out);

/* Starts ticking, publishing this member's attributes, lease expiry. */
void node_start(struct node *n);

/*
 * Begins a graceful stop: a leader first hands leadership to an up-to-date
 * voter (bounded wait), then done(n, arg) is called on the loop; the
 * caller stops its services and calls node_close(). Safe to call twice.
 */
void node_begin_stop(struct node *n, void (*done)(struct node *n, void *arg), void *arg);

/* Called (once) when the node must stop on its own: removed from the
 * cluster, or a fatal storage error (code 1). */
void node_set_stop_request(struct node *n, void (*fn)(struct node *n, int code));

/* Stops the peer transport and the apply thread, waits for the WAL, closes
 * the stores and frees the node. Handles are closed: run the loop until it
 * ends afterwards. */
void node_close(struct node *n);

/* The Prometheus text of the node's metrics, appended to buf. */
int node_metrics(struct node *n, char **buf, size_t *len, size_t *cap);

/* True once the node knows a leader and no alarm is active (/health). */
bool node_healthy(struct node *n, const char **reason);

#endif
