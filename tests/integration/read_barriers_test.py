#!/usr/bin/python3
"""A write is answered before its LMDB commit makes it visible (early reply,
server/node_apply.c); the read barriers of server/node.h keep what a client
sees the same as on etcd. The fault hook widens the window between the answer
and the commit (commit_delay_ms: the apply thread sleeps there), so each check
below fails for certain if its barrier is missing:

- a serializable Range, a read-only Txn, Status, HashKV at the write's
  revision and a Snapshot on the member that answered a write see it;
- a watch from "now" created right after a write does not replay it, and a
  watch below a compaction just answered is refused as compacted;
- LeaseKeepAlive, LeaseTimeToLive and LeaseLeases right after a grant (or a
  revoke) see it, on every member (followers forward keep-alive and
  time-to-live to the leader, which may not have applied the grant when a
  follower answered it);
- reads under a steady write load all complete (the barrier waits never
  stall), and writes are answered well before the delayed commit."""

import json
import os
import subprocess
import tempfile
import threading
import time

from itlib import check, client, delayed_commits_cluster, run

from etcd3 import etcdrpc

DELAY_MS = 400


def kv(m):
    return client(m, timeout=10)


def put(c, key, value, lease=0):
    return c.kvstub.Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode(), lease=lease),
                        timeout=10)


def get_serializable(c, key):
    r = c.kvstub.Range(etcdrpc.RangeRequest(key=key.encode(), serializable=True), timeout=10)
    return r.kvs[0].value.decode() if r.kvs else None


def txn_read_serializable(c, key):
    op = etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=key.encode(),
                                                              serializable=True))
    r = c.kvstub.Txn(etcdrpc.TxnRequest(success=[op]), timeout=10)
    kvs = r.responses[0].response_range.kvs
    return kvs[0].value.decode() if kvs else None


def keepalive_ttl(c, lease_id):
    it = c.leasestub.LeaseKeepAlive(iter([etcdrpc.LeaseKeepAliveRequest(ID=lease_id)]),
                                    timeout=10)
    return next(it).TTL


def time_to_live(c, lease_id):
    return c.leasestub.LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=lease_id),
                                       timeout=10).TTL


def leases(c):
    return set(x.ID for x in c.leasestub.LeaseLeases(etcdrpc.LeaseLeasesRequest(),
                                                     timeout=10).leases)


def reads_see_answered_writes(c):
    for m in c.members:
        cl = kv(m)
        for i in range(3):
            key = "rb/%s/%d" % (m.name, i)
            t0 = time.time()
            put(cl, key, "v%d" % i)
            took = time.time() - t0
            # Answered before the commit: well under the delay (a follower's
            # put waits for its own apply, which is early too).
            check(took < DELAY_MS / 1000.0,
                  "%s: put answered in %.0f ms, before its commit (delayed %d ms)"
                  % (m.name, took * 1000, DELAY_MS))
            check(get_serializable(cl, key) == "v%d" % i,
                  "%s: a serializable get right after the put sees it" % m.name)
        key = "rb/%s/txn" % m.name
        put(cl, key, "t")
        check(txn_read_serializable(cl, key) == "t",
              "%s: a serializable read-only txn right after the put sees it" % m.name)
        cl.close()


def status_and_hashkv(c):
    m = c.members[0]
    cl = kv(m)
    put(cl, "rb/status", "0")
    time.sleep(3 * DELAY_MS / 1000.0)  # every commit visible
    a0 = c.status(m)["raftAppliedIndex"]
    rev = put(cl, "rb/status", "1").header.revision
    st = c.status(m)
    check(st["raftAppliedIndex"] > a0 and st["header"]["revision"] >= rev,
          "Status right after a put counts it (applied %d -> %d, revision %d >= %d)"
          % (a0, st["raftAppliedIndex"], st["header"]["revision"], rev))
    rev = put(cl, "rb/status", "2").header.revision
    r = cl.maintenancestub.HashKV(etcdrpc.HashKVRequest(revision=rev), timeout=10)
    check(r.header.revision >= rev,
          "HashKV at the revision of a put just answered (not 'future revision')")
    cl.close()


def snapshot_has_answered_write(c):
    m = c.members[1]
    cl = kv(m)
    rev = put(cl, "rb/snap", "s").header.revision
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "snap.db")
        with open(path, "wb") as f:
            cl.snapshot(f)
        ctl = os.path.join(os.environ.get("CAIRN_BUILD_DIR", ""), "client", "cairnctl")
        r = subprocess.run([ctl, "snapshot", "status", path, "-w", "json"],
                           capture_output=True, text=True, timeout=30)
        got = json.loads(r.stdout)["revision"] if r.returncode == 0 else None
    check(got is not None and got >= rev,
          "a snapshot right after a put holds it (revision %s >= %d)" % (got, rev))
    cl.close()


def watch_from_now_skips_answered_write(c):
    m = c.members[2]
    cl = kv(m)
    key = "rb/watch"
    put(cl, key, "before")
    events = []
    got = threading.Event()

    def cb(resp):
        for e in getattr(resp, "events", []):
            events.append(e.value.decode())
        if events:
            got.set()

    wid = cl.add_watch_callback(key, cb)
    put(cl, key, "after")
    got.wait(10)
    cl.cancel_watch(wid)
    check(events and events[0] == "after",
          "a watch from now, created right after a put, starts after it (events %s)" % events)
    cl.close()


def watch_below_answered_compaction_is_refused(c):
    m = c.members[0]
    cl = kv(m)
    first = put(cl, "rb/compact", "1").header.revision
    put(cl, "rb/compact", "2")
    last = put(cl, "rb/compact", "3").header.revision
    cl.kvstub.Compact(etcdrpc.CompactionRequest(revision=last), timeout=10)
    done = threading.Event()

    def requests():
        yield etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(
            key=b"rb/compact", start_revision=first))
        done.wait(15)

    got = []
    for r in etcdrpc.WatchStub(cl.channel).Watch(requests(), timeout=15):
        got.append(r)
        if r.canceled or r.events:
            break
    done.set()
    last_r = got[-1] if got else None
    check(last_r is not None and last_r.canceled and last_r.compact_revision == last,
          "a watch below a compaction just answered is refused as compacted (%s)"
          % ((last_r.canceled, last_r.compact_revision, len(last_r.events)),) if last_r else "")
    cl.close()


def leases_right_after_grant(c):
    for m in c.members:
        cl = kv(m)
        for i in range(3):
            g = cl.leasestub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=10)
            ttl = keepalive_ttl(cl, g.ID)
            check(ttl > 0, "%s: a keep-alive right after a grant finds the lease (TTL %d)"
                  % (m.name, ttl))
            g = cl.leasestub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=10)
            ttl = time_to_live(cl, g.ID)
            check(ttl > 0, "%s: TimeToLive right after a grant finds the lease (TTL %d)"
                  % (m.name, ttl))
            g = cl.leasestub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=10)
            check(g.ID in leases(cl), "%s: LeaseLeases right after a grant lists it" % m.name)
            cl.leasestub.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=g.ID), timeout=10)
            ttl = keepalive_ttl(cl, g.ID)
            check(ttl == 0, "%s: a keep-alive right after a revoke does not renew it (TTL %d)"
                  % (m.name, ttl))
        cl.close()


def reads_under_write_load(c):
    """Serializable reads and keep-alives while writes stream in: every one
    completes, and sees the writes its member answered before it."""
    stop = threading.Event()
    errors = []

    def writer(m):
        cl = kv(m)
        i = 0
        while not stop.is_set():
            try:
                put(cl, "rb/load/%s" % m.name, str(i))
                i += 1
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        cl.close()

    ts = [threading.Thread(target=writer, args=(m,), daemon=True) for m in c.members]
    for t in ts:
        t.start()
    try:
        for m in c.members:
            cl = kv(m)
            lease = cl.leasestub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), timeout=10).ID
            for i in range(5):
                key = "rb/load/read/%s/%d" % (m.name, i)
                put(cl, key, "x")
                check(get_serializable(cl, key) == "x" and keepalive_ttl(cl, lease) > 0,
                      "%s: under write load, read and keep-alive %d see the answered writes"
                      % (m.name, i))
            cl.close()
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    check(not errors, "the writers saw no errors (%s)" % errors[:3])


def test():
    with delayed_commits_cluster(DELAY_MS) as c:
        reads_see_answered_writes(c)
        status_and_hashkv(c)
        snapshot_has_answered_write(c)
        watch_from_now_skips_answered_write(c)
        watch_below_answered_compaction_is_refused(c)
        leases_right_after_grant(c)
        reads_under_write_load(c)


if __name__ == "__main__":
    run(test)
