#!/usr/bin/python3
"""kill -9 of the leader while a writer runs: a new leader within the
election timeout (plus slack for a loaded machine), no acknowledged write
lost; the killed member restarts from its data directory, rejoins and
catches up by log (HashKV equal on every member). Then every member is
killed at once and restarted: a leader again, every acknowledged write there."""

import time

from itlib import Writer, check, clusterlib, run, wait_caught_up, wait_for


def test():
    with clusterlib.Cluster("cairn", 3) as c:
        old = c.wait_leader(timeout=20)
        w = Writer(c.members)
        w.start()
        wait_for(lambda: len(w.acked) >= 50, 20, "50 acknowledged writes")
        old.kill()
        t0 = time.time()
        rest = [m for m in c.members if m is not old]
        new = c.wait_leader(timeout=15, members=rest)
        took = time.time() - t0
        check(new is not old, "a new leader (%s) after kill -9 of %s" % (new.name, old.name))
        # Election timeout 1 s, randomized up to 2 s, then a pre-vote and a
        # vote round; the rest is slack for a shared 2-core machine.
        check(took < 2 * c.election_ms / 1000 + 3, "new leader within %.1fs" % took)
        n = len(w.acked)
        wait_for(lambda: len(w.acked) >= n + 50, 20, "writes to go on after the failover")
        w.stop()
        r = c.etcdctl("get", "w/", "--prefix", "--keys-only", endpoints=c.endpoints(rest))
        got = set(k for k in r.stdout.split() if k)
        lost = [k for k in w.acked if k not in got]
        check(not lost, "no acknowledged write lost (%d acked, %d errors during failover)"
              % (len(w.acked), w.errors))
        old.start()
        wait_for(lambda: c.status(old) is not None, 20, "the restarted member to answer")
        wait_caught_up(c, c.members)
        hashes = set(c.hashkv(m)[0] for m in c.members)
        check(len(hashes) == 1, "restarted member caught up by log: HashKV equal")
        r = c.etcdctl("get", "w/", "--prefix", "--keys-only", "--consistency=s",
                      endpoints=old.endpoint)
        check(set(k for k in r.stdout.split() if k) >= set(w.acked),
              "the restarted member serves every acknowledged write")
        # The whole cluster killed at once and restarted from its data.
        for m in c.members:
            m.kill()
        for m in c.members:
            m.start()
        c.wait_leader(timeout=30)
        r = c.etcdctl("get", "w/", "--prefix", "--keys-only")
        check(set(k for k in r.stdout.split() if k) >= set(w.acked),
              "after kill -9 of every member and a restart, no acknowledged write lost")


if __name__ == "__main__":
    run(test)
