#!/usr/bin/python3
"""Graceful stop (SIGTERM) of the leader hands leadership to an up-to-date
voter before exiting (no election timeout to wait for), exits 0, and the
member restarts from its data directory with every write."""

import signal
import time

from itlib import check, client, clusterlib, run, wait_caught_up, wait_for


def test():
    with clusterlib.Cluster("cairn", 3) as c:
        old = c.wait_leader(timeout=20)
        cl = client(old)
        for i in range(20):
            cl.put("g/%02d" % i, str(i))
        rest = [m for m in c.members if m is not old]
        t0 = time.time()
        old.proc.send_signal(signal.SIGTERM)
        code = old.proc.wait(20)
        took = time.time() - t0
        check(code == 0, "SIGTERM: the leader exits 0 (in %.1fs)" % took)
        check("transferring leadership before stopping" in old.log_text(),
              "the leader transferred leadership before stopping")
        new = c.wait_leader(timeout=5, members=rest)
        check(new is not old, "%s leads right after the stop" % new.name)
        lc = [c.metric(m, "etcd_server_leader_changes_seen_total") for m in rest]
        check(all(x == 2 for x in lc), "one leader change seen (no election timeout): %s" % lc)
        client(new).put("g/after", "1")
        old.start()
        wait_for(lambda: c.status(old) is not None, 20, "the stopped member to restart")
        wait_caught_up(c, c.members)
        r = c.etcdctl("get", "g/", "--prefix", "--keys-only", "--consistency=s",
                      endpoints=old.endpoint)
        check(len(r.stdout.split()) == 21, "the restarted member holds every write")


if __name__ == "__main__":
    run(test)
