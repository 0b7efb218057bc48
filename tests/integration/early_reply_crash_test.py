#!/usr/bin/python3
"""Writes are answered before their LMDB commit (early reply,
server/node_apply.c): the entry is durable on a quorum of WALs, and a crash
before the commit replays it. kill -9 of every member at once, while a writer
runs and each member's apply thread holds its commits back (the fault hook's
commit_delay_ms, so answered writes are sure to be missing from every LMDB
file at the kill): after a restart every acknowledged write is there, on
every member, and the members agree (HashKV). The same for a single member,
whose own WAL is the quorum. Watchers are told of the writes before the
commit too (the early feed): every event a watcher on any member received
before the crash is there after it, at the same revision."""

import base64
import json
import threading
import time

from itlib import Writer, check, client, clusterlib, run, wait_caught_up, wait_for

DELAY_MS = 300


def crash_while_answering(c):
    for m in c.members:
        c.fault(m, "commit_delay_ms=%d" % DELAY_MS)
    seen = {}
    lock = threading.Lock()

    def on_events(resp):
        with lock:
            for e in getattr(resp, "events", []):
                seen[e.key.decode()] = e.mod_revision

    watchers = []
    for m in c.members:
        cl = client(m, timeout=10)
        cl.add_watch_prefix_callback("w/", on_events)
        watchers.append(cl)
    w = Writer(c.members)
    w.start()
    wait_for(lambda: len(w.acked) >= 40, 30, "40 acknowledged writes")
    for m in c.members:
        m.kill()
    w.stop()
    acked = list(w.acked)
    with lock:
        events = dict(seen)
    for cl in watchers:
        try:
            cl.close()
        except Exception:  # noqa: BLE001 - its member is dead
            pass
    for m in c.members:
        m.start()
    c.wait_leader(timeout=30)
    r = c.etcdctl("get", "w/", "--prefix", "--keys-only")
    got = set(k for k in r.stdout.split() if k)
    lost = [k for k in acked if k not in got]
    check(not lost, "%d-member cluster: kill -9 while writes were answered before their "
          "commit, restart: no acknowledged write lost (%d acked, lost %s)"
          % (len(c.members), len(acked), lost[:5]))
    wait_caught_up(c, c.members)
    for m in c.members:
        r = c.etcdctl("get", "w/", "--prefix", "--keys-only", "--consistency=s",
                      endpoints=m.endpoint)
        check(set(k for k in r.stdout.split() if k) >= set(acked),
              "%s serves every acknowledged write after the restart" % m.name)
    r = c.etcdctl("get", "w/", "--prefix", "-w", "json")
    now = {}
    for kv in json.loads(r.stdout).get("kvs", []):
        now[base64.b64decode(kv["key"]).decode()] = kv["mod_revision"]
    moved = [(k, rev, now.get(k)) for k, rev in events.items() if now.get(k) != rev]
    check(events and not moved,
          "every event the watchers were sent before the crash (%d) is in the store after "
          "it, at its revision (differ: %s)" % (len(events), moved[:5]))
    hashes = set(c.hashkv(m)[0] for m in c.members)
    check(len(hashes) == 1, "the members agree after replaying their WALs (HashKV)")


def test():
    for size in (1, 3):
        with clusterlib.Cluster("cairn", size, fault_injection=True) as c:
            c.wait_leader(timeout=20)
            wait_for(lambda: all(c.status(m) for m in c.members), 20, "every member up")
            t0 = time.time()
            crash_while_answering(c)
            print("  %d members: %.1fs" % (size, time.time() - t0), flush=True)


if __name__ == "__main__":
    run(test)
