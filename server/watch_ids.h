/*
 * server/watch_ids.h - the watch IDs of one Watch stream.
 *
 * etcd's rules (mvcc/watcher.go watchStream.Watch): a create request with
 * watch_id 0 gets the stream's next automatic ID, a counter from 0 that
 * skips IDs in use and never goes back, so an ID is not reused while the
 * stream lives; a non-zero watch_id is used as given, and refused if it is
 * in use ("mvcc: duplicate watch ID provided on the WatchStream"). Explicit
 * IDs do not move the counter.
 *
 * Entries are intrusive; the table grows by doubling.
 */
#ifndef CAIRN_SERVER_WATCH_IDS_H
#define CAIRN_SERVER_WATCH_IDS_H

#include <stddef.h>
#include <stdint.h>

struct watch_id_entry {
	int64_t id;
	struct watch_id_entry *next; /* private */
};

struct watch_ids {
	struct watch_id_entry **tab;
	size_t cap; /* power of two, or 0 */
	size_t n;
	int64_t next_auto;
};

void watch_ids_init(struct watch_ids *ids);
void watch_ids_free(struct watch_ids *ids);

struct watch_id_entry *watch_ids_find(const struct watch_ids *ids, int64_t id);

/*
 * Picks the ID for a create request asking for `requested` (0: automatic)
 * into *id. Returns 0, or -EEXIST if a non-zero requested ID is in use.
 * Nothing is inserted: call watch_ids_insert() once the watcher exists.
 */
int watch_ids_pick(struct watch_ids *ids, int64_t requested, int64_t *id);

/* Inserts e (e->id set, not in use). Returns 0 or -ENOMEM. */
int watch_ids_insert(struct watch_ids *ids, struct watch_id_entry *e);
void watch_ids_remove(struct watch_ids *ids, struct watch_id_entry *e);

#endif
