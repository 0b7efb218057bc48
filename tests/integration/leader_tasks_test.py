#!/usr/bin/python3
"""The leader's duties as etcd's: leases expire on the leader and their keys
are deleted through the log; followers forward keep-alives and
time-to-live queries to the leader; a new leader extends every lease (so no
lease expires early across a failover) and keeps honouring keep-alives;
periodic auto-compaction (--auto-compaction-retention) compacts."""

import time

from itlib import check, client, clusterlib, run, wait_for


def test():
    flags = ["--auto-compaction-retention=2s"]
    with clusterlib.Cluster("cairn", 3, extra_flags=flags) as c:
        leader = c.wait_leader(timeout=20)
        f = next(m for m in c.members if m is not leader)
        cl = client(f)
        short = cl.lease(3)
        cl.put("short", "x", lease=short)
        check(short.granted_ttl == 3 and 0 < short.remaining_ttl <= 3,
              "TimeToLive through a follower (granted 3, remaining %d)" % short.remaining_ttl)
        check([r.TTL for r in short.refresh()] == [3], "KeepAlive through a follower")
        wait_for(lambda: cl.get("short")[0] is None, 10, "the lease to expire")
        check(short.remaining_ttl == -1, "an expired lease is gone (TTL -1)")
        long_ = cl.lease(30)
        cl.put("long", "y", lease=long_)
        leader.kill()
        rest = [m for m in c.members if m is not leader]
        c.wait_leader(timeout=15, members=rest)
        check(cl.get("long")[0] == b"y", "a lease survives the leader's failure")
        r = c.etcdctl("lease", "keep-alive", "--once", "%x" % long_.id, endpoints=f.endpoint)
        check("keepalived with TTL(30)" in r.stdout, "the new leader honours keep-alives")
        for i in range(5):
            cl.put("ac", str(i))
        wait_for(lambda: c.hashkv(f)[1] > 0, 15, "auto compaction")
        check(True, "periodic auto-compaction compacted (revision %d)" % c.hashkv(f)[1])


if __name__ == "__main__":
    run(test)
