#!/usr/bin/python3
"""A follower that was down while the others compacted their logs
(--snapshot-count small) catches up by snapshot when it restarts: it
receives and installs the leader's snapshot, then the entries after it, and
ends with the same HashKV and data as the others. Then the leader restarts
from its own snapshot plus the log tail."""

from itlib import check, client, clusterlib, run, wait_caught_up, wait_for


def test():
    with clusterlib.Cluster("cairn", 3, extra_flags=["--snapshot-count", "20"]) as c:
        leader = c.wait_leader(timeout=20)
        f = next(m for m in c.members if m is not leader)
        f.kill()
        cl = client(leader)
        for i in range(150):
            cl.put("s/%04d" % i, "v%d" % i)
        cl.delete("s/0000")
        c.etcdctl("compaction", "50", endpoints=leader.endpoint)
        taken = c.metric(leader, "etcd_debugging_snap_save_total")
        check(taken and taken >= 3, "the leader took snapshots (%d)" % taken)
        f.start()
        wait_for(lambda: (c.metric(f, "etcd_network_snapshot_receive_success") or 0) >= 1, 30,
                 "the restarted follower to receive a snapshot")
        check(True, "the lagging follower received a snapshot")
        for i in range(150, 170):
            cl.put("s/%04d" % i, "v%d" % i)
        wait_caught_up(c, c.members)
        hashes = set(c.hashkv(m)[0] for m in c.members)
        check(len(hashes) == 1, "HashKV equal on every member after the snapshot")
        r = c.etcdctl("get", "s/", "--prefix", "--keys-only", "--consistency=s",
                      endpoints=f.endpoint)
        check(len(r.stdout.split()) == 169, "the follower serves all 169 keys locally")
        # The leader restarts from its store (the snapshot) and log tail.
        leader.kill()
        leader.start()
        wait_for(lambda: c.status(leader) is not None, 20, "the old leader to restart")
        c.wait_leader(timeout=20)
        wait_caught_up(c, c.members)
        hashes = set(c.hashkv(m)[0] for m in c.members)
        check(len(hashes) == 1, "HashKV equal after the old leader restarted")


if __name__ == "__main__":
    run(test)
