/*
 * idle_join_append_test.c - regression test, from the node's side, of a raft/
 * gap found while building the node.
 *
 * A member added to an idle cluster must be sent its first append without
 * waiting for a client write. Its new progress starts probing at next =
 * last + 1 with match 0; raft__flush_appends() used to send no empty append
 * to a probing follower, so the learner got heartbeats but no entries until
 * the next proposal, and cairnd proposed an empty entry after applying an
 * added member to work around it. The core now probes such a follower with
 * an empty append (tests/raft: idle_join.txt and the membership tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

static int appends_to_2;

static void drain(struct raft *r)
{
	while (raft_has_ready(r)) {
		struct raft_ready rd;
		raft_ready(r, &rd);
		for (size_t i = 0; i < rd.n_messages; i++)
			if (rd.messages[i].to == 2 && rd.messages[i].type == RAFT_MSG_APPEND)
				appends_to_2++;
		if (rd.persist.seq)
			raft_persisted(r, &rd.persist);
		for (uint64_t idx = rd.apply_first; idx <= rd.apply_last; idx++) {
			if (idx == 2) {
				struct raft_conf_change cc = {.type = RAFT_CONF_ADD_LEARNER,
				                              .node_id = 2};
				raft_conf_change_apply(r, idx, &cc);
			}
		}
		if (rd.apply_first <= rd.apply_last)
			raft_applied(r, rd.apply_last);
	}
}

int main(void)
{
	struct raft_config cfg;
	raft_config_init(&cfg, 1);
	uint64_t voters[1] = {1};
	struct raft_boot boot;
	memset(&boot, 0, sizeof boot);
	boot.hard_state.term = 1;
	boot.conf.voters = voters;
	boot.conf.n_voters = 1;
	struct raft *r;
	if (raft_create(&r, &cfg, &boot)) {
		fprintf(stderr, "raft_create failed\n");
		return 2;
	}
	raft_campaign(r);
	drain(r); /* leader, no-op at index 1 committed and applied */
	struct raft_conf_change cc = {.type = RAFT_CONF_ADD_LEARNER, .node_id = 2};
	uint64_t index, term;
	int rc = raft_propose_conf_change(r, &cc, 8, &index, &term);
	if (rc || index != 2) {
		fprintf(stderr, "conf change: %s at %llu\n", raft_strerror(rc),
		        (unsigned long long)index);
		return 2;
	}
	drain(r); /* the learner joins the configuration */
	struct raft_status st;
	raft_status_get(r, &st);
	for (int round = 0; round < 5; round++) {
		for (unsigned t = 0; t < cfg.heartbeat_ticks; t++)
			raft_tick(r);
		drain(r);
		struct raft_message hb = {
		    .type = RAFT_MSG_HEARTBEAT_RESPONSE, .from = 2, .to = 1, .term = st.term};
		raft_step(r, &hb, NULL);
		drain(r);
	}
	raft_destroy(r);
	if (appends_to_2 == 0) {
		printf("regression: an idle leader never sends the new learner an append "
		       "(last index %llu)\n",
		       (unsigned long long)st.last_index);
		return 1;
	}
	printf("ok: the learner got %d append(s)\n", appends_to_2);
	return 0;
}
