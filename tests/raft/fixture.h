/*
 * tests/raft/fixture.h - a cluster of Raft cores driven by hand.
 *
 * Unlike the simulator, nothing here is random: messages wait in one FIFO
 * network until a command delivers them, and disks write at once unless a
 * node's disk is held. Each node has a host like cairnd's (a log cache with
 * payloads, a durable log and hard state, a snapshot, a state machine that
 * records the payloads it applied), so tests can crash and restart nodes.
 *
 * Tests drive it through fx_exec(), one command per line, which returns
 * what happened as text; the transcript runner (transcript.c) compares
 * that text with the files in testdata/, and the Criterion tests assert on the
 * same text or query the cores directly. Commands:
 *
 *   cluster N [pre_vote=0|1] [check_quorum=0|1] [lease=1] [election=E]
 *             [heartbeat=H] [max_msg=B] [inflight=N] [uncommitted=B]
 *                               nodes 1..N, all voters, term 0, empty logs
 *   add-node ID                 a fresh node with an empty configuration
 *   tick ID [N]                 N ticks (default 1); elapse E|2E: long enough
 *   elapse ID                   ticks until ID's election timeout fires
 *   campaign ID                 raft_campaign
 *   propose ID DATA             raft_propose; prints the index or the error
 *   conf ID add-voter|add-learner|promote|remove|update NODE
 *   read ID CTX...              raft_read_index (all before one Ready)
 *   transfer ID TARGET          raft_transfer_leadership
 *   snapshot ID                 snapshot at the applied index (available)
 *   compact ID INDEX            raft_compact (host log too)
 *   deliver [from=ID] [to=ID] [type=T] [n=K]   deliver queued messages
 *   drop [from=ID] [to=ID] [type=T]            discard queued messages
 *   stabilize [ID...]           deliver and process until quiet
 *   isolate ID / heal           messages to or from ID are dropped
 *   hold-disk ID / release-disk ID [N]   queue / complete N writes (all)
 *   crash ID / restart ID       lose volatile state / boot from disk
 *   set-log ID TERM T1 T2 ...   (node down) its disk log becomes entries of
 *                               terms T1, T2, ... and its term TERM
 *   status [ID]                 role, term, leader, commit, applied, log
 *   log ID                      the host's log: index/term per entry
 *   applied ID                  what the state machine applied
 *   queue                       messages waiting in the network
 *   expect-role ID ROLE, expect-term ID T, expect-commit ID C  (assertions)
 */
#ifndef CAIRN_TESTS_RAFT_FIXTURE_H
#define CAIRN_TESTS_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct fx;

struct fx *fx_new(void);
void fx_free(struct fx *f);

/* Runs one command line; appends its output to the fixture's buffer.
 * Returns 0, or -1 if the command is malformed or an assertion failed
 * (the output says why). */
int fx_exec(struct fx *f, const char *line);

/* Runs every line of script (newline-separated); stops at the first error.
 * Returns 0 or -1. */
int fx_run(struct fx *f, const char *script);

/* The output collected since the last fx_take() (owned by the fixture,
 * valid until the next call), and clears it. */
const char *fx_take(struct fx *f);

/* The core of node id (NULL if none or crashed). */
struct raft *fx_raft(struct fx *f, uint64_t id);

/* The payloads node id applied, space-separated ("" for no-ops shows as -). */
const char *fx_applied(struct fx *f, uint64_t id);

#endif
