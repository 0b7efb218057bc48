#!/usr/bin/python3
"""A partition isolating the leader (the fault hook drops peer traffic both
ways): the majority elects a new leader and serves reads and writes; the
isolated old leader refuses linearizable reads and writes (errors or
timeouts, never stale data); after healing, every member converges (HashKV
equal) and the old leader serves the majority's writes."""

import subprocess
import time

from itlib import check, client, clusterlib, run, wait_caught_up, wait_for


def etcdctl_fails(c, m, *args):
    r = c.etcdctl("--command-timeout=3s", *args, endpoints=m.endpoint, check=False, timeout=30)
    return r.returncode != 0


def test():
    with clusterlib.Cluster("cairn", 3, fault_injection=True) as c:
        old = c.wait_leader(timeout=20)
        c.etcdctl("put", "before", "1")
        majority = [m for m in c.members if m is not old]
        c.partition([old], majority)
        t0 = time.time()
        new = c.wait_leader(timeout=20, members=majority)
        check(new is not old, "the majority elected %s in %.1fs" % (new.name,
                                                                   time.time() - t0))
        cl = client(new)
        for i in range(20):
            cl.put("during/%02d" % i, str(i))
        v, _ = client(majority[0]).get("during/19")
        check(v == b"19", "the majority serves reads and writes")
        check(etcdctl_fails(c, old, "get", "before"),
              "the isolated old leader refuses a linearizable read")
        check(etcdctl_fails(c, old, "put", "minority", "x"),
              "the isolated old leader refuses a write")
        r = c.etcdctl("get", "before", "--consistency=s", endpoints=old.endpoint, check=False)
        check(r.returncode == 0 and "1" in r.stdout,
              "a serializable read on the minority answers from local state")
        c.heal()
        wait_for(lambda: c.leader() is not None, 20, "one leader agreed by every member")
        wait_caught_up(c, c.members)
        hashes = set(c.hashkv(m)[0] for m in c.members)
        check(len(hashes) == 1, "healed: HashKV equal on every member")
        r = c.etcdctl("get", "during/", "--prefix", "--keys-only", endpoints=old.endpoint)
        check(len(r.stdout.split()) == 20, "the old leader serves the majority's writes")


if __name__ == "__main__":
    run(test)
