/*
 * store/store.h - the contract of cairn's storage module.
 *
 * store/ owns every byte a cairn node keeps on disk. It has two halves,
 * each documented in its own header:
 *
 *   store/wal.h   the Raft log: checksummed, preallocated segment files with
 *                 group commit, hard state and snapshot metadata, recovery
 *                 that truncates torn tails and refuses corrupt middles.
 *   store/mvcc.h  the MVCC key-value state machine in LMDB: etcd's revision
 *                 model, ranges, txns, compaction, leases, members, meta
 *                 (the applied index), watch history and change feed,
 *                 quota and alarms, hashes, snapshots and defragmentation.
 *
 * store/ knows nothing of networks or of Raft internals; the server drives it.
 */
#ifndef CAIRN_STORE_STORE_H
#define CAIRN_STORE_STORE_H

#include "store/mvcc.h"
#include "store/wal.h"

#endif
