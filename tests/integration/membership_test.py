#!/usr/bin/python3
"""Membership as etcd does it: a new member is added as a learner (etcdctl
member add --learner), started with --initial-cluster-state existing, catches
up, is promoted to voter; then a voter is removed and the removed member's
process stops by itself; the three remaining voters keep serving."""

import time

from itlib import check, client, clusterlib, run, wait_caught_up, wait_for


def members(c):
    r = c.etcdctl("member", "list", "-w", "json",
                  endpoints=c.endpoints([m for m in c.members if m.running()]))
    import json
    return json.loads(r.stdout)["members"]


def test():
    with clusterlib.Cluster("cairn", 3) as c:
        c.wait_leader(timeout=20)
        cl = client(c.members[0])
        for i in range(30):
            cl.put("m/%02d" % i, str(i))
        # etcd's strict reconfiguration check wants every voter connected
        # for 5 s before a voting change; a learner needs that too.
        time.sleep(5.5)
        n4 = wait_for(lambda: c.add_member("n4", learner=True), 20, "member add --learner")
        ms = members(c)
        check(any(m.get("isLearner") and not m.get("name") for m in ms),
              "the learner is listed, unstarted, as a learner")
        n4.start(state="existing")
        wait_for(lambda: c.status(n4) is not None, 30, "the learner to start")
        wait_caught_up(c, c.members)
        check(any(m.get("name") == "n4" and m.get("isLearner") for m in members(c)),
              "the learner published its name")
        n4id = c.member_id(n4)
        wait_for(lambda: c.etcdctl("member", "promote", "%x" % n4id, check=False).returncode == 0,
                 30, "member promote")
        check(all(not m.get("isLearner") for m in members(c)), "the learner was promoted")
        cl.put("after-promote", "1")
        wait_caught_up(c, c.members)
        r = c.etcdctl("get", "m/", "--prefix", "--keys-only", "--consistency=s",
                      endpoints=n4.endpoint)
        check(len(r.stdout.split()) == 30, "the new voter holds the data")
        # Remove a voter (not n4); it stops by itself.
        victim = c.members[1]
        vid = c.member_id(victim)
        others = [m for m in c.members if m is not victim]
        time.sleep(1)
        wait_for(lambda: c.etcdctl("member", "remove", "%x" % vid, endpoints=c.endpoints(others),
                                   check=False).returncode == 0, 30, "member remove")
        wait_for(lambda: not victim.running(), 20, "the removed member to stop by itself")
        check(True, "the removed member stopped")
        ms = members(c)
        check(len(ms) == 3 and all(m["ID"] != vid for m in ms), "three members remain")
        client(others[0]).put("after-remove", "1")
        wait_caught_up(c, others)
        hashes = set(c.hashkv(m)[0] for m in others)
        check(len(hashes) == 1, "HashKV equal on the remaining members")


if __name__ == "__main__":
    run(test)
