/*
 * server/watch_ids.c - watch ID allocation and lookup for one stream (see
 * watch_ids.h).
 */
#include "server/watch_ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t slot(const struct watch_ids *ids, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (ids->cap - 1);
}

void watch_ids_init(struct watch_ids *ids)
{
	memset(ids, 0, sizeof *ids);
}

void watch_ids_free(struct watch_ids *ids)
{
	free(ids->tab);
	memset(ids, 0, sizeof *ids);
}

struct watch_id_entry *watch_ids_find(const struct watch_ids *ids, int64_t id)
{
	if (!ids->cap)
		return NULL;
	for (struct watch_id_entry *e = ids->tab[slot(ids, id)]; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

int watch_ids_pick(struct watch_ids *ids, int64_t requested, int64_t *id)
{
	if (requested != 0) {
		if (watch_ids_find(ids, requested))
			return -EEXIST;
		*id = requested;
		return 0;
	}
	while (watch_ids_find(ids, ids->next_auto))
		ids->next_auto++;
	*id = ids->next_auto++;
	return 0;
}

static int grow(struct watch_ids *ids)
{
	size_t cap = ids->cap ? ids->cap * 2 : 16;
	struct watch_id_entry **tab = calloc(cap, sizeof *tab);
	if (!tab)
		return -ENOMEM;
	struct watch_ids nids = {.tab = tab, .cap = cap};
	for (size_t i = 0; i < ids->cap; i++) {
		struct watch_id_entry *e = ids->tab[i];
		while (e) {
			struct watch_id_entry *next = e->next;
			size_t k = slot(&nids, e->id);
			e->next = tab[k];
			tab[k] = e;
			e = next;
		}
	}
	free(ids->tab);
	ids->tab = tab;
	ids->cap = cap;
	return 0;
}

int watch_ids_insert(struct watch_ids *ids, struct watch_id_entry *e)
{
	if (ids->n + 1 > ids->cap) {
		int rc = grow(ids);
		if (rc && !ids->cap)
			return rc;
	}
	size_t k = slot(ids, e->id);
	e->next = ids->tab[k];
	ids->tab[k] = e;
	ids->n++;
	return 0;
}

void watch_ids_remove(struct watch_ids *ids, struct watch_id_entry *e)
{
	for (struct watch_id_entry **pp = &ids->tab[slot(ids, e->id)]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			ids->n--;
			return;
		}
}
