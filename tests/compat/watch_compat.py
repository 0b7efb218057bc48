#!/usr/bin/python3
"""The Watch API byte for byte: the same raw requests against real etcd and
cairn, every WatchResponse field compared.

etcdctl and python3-etcd3 only show what their client libraries make of a
watch; this script speaks the 3.4 protocol itself (messages from proto/,
tests/lib/rawpb.py) and records each response: header revision, watch_id,
created, canceled, compact_revision, cancel_reason, fragment and every
event (type, key, value, create/mod revision, version, lease, prev_kv).
It covers automatic and explicit watch IDs, duplicate IDs, empty ranges,
"\\0" keys and range ends, prefixes, prev_kv, NOPUT/NODELETE filters, txns
(one response per revision), start revisions in the past (one catch-up
response), at and below the compact revision, and in the future, cancel,
progress requests, many watchers on one key, fragmented large responses,
half-close (the stream stays open), progress notifications (a 1 s
interval here) and hasleader metadata.

Responses of different watchers to one write come in map order in etcd,
so each batch is sorted by watch_id (stably: one watcher's own responses
keep their order). The members' IDs and terms are not compared.

    watch_compat.py                 etcd vs cairn
    watch_compat.py --self-check    etcd vs etcd
    watch_compat.py --only cairn    print one transcript
"""

import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cluster as clusterlib  # noqa: E402
import rawpb  # noqa: E402
import transcript  # noqa: E402

import grpc  # noqa: E402

PB = rawpb.RawPB()
M = PB.msg


class Stream(rawpb.Bidi):
    """One Watch stream."""

    def __init__(self, channel, metadata=None):
        super().__init__(PB, channel, "/etcdserverpb.Watch/Watch", "etcdserverpb.WatchRequest",
                         "etcdserverpb.WatchResponse", metadata=metadata)

    def create(self, key, range_end=b"", start=0, watch_id=0, prev_kv=False, filters=(),
               fragment=False, progress_notify=False):
        r = M("etcdserverpb.WatchRequest")()
        c = r.create_request
        c.key = key
        c.range_end = range_end
        c.start_revision = start
        c.watch_id = watch_id
        c.prev_kv = prev_kv
        c.fragment = fragment
        c.progress_notify = progress_notify
        c.filters.extend(filters)
        self.send(r)

    def cancel_watch(self, watch_id):
        r = M("etcdserverpb.WatchRequest")()
        r.cancel_request.watch_id = watch_id
        self.send(r)

    def progress(self):
        r = M("etcdserverpb.WatchRequest")()
        r.progress_request.SetInParent()
        self.send(r)


def short(b):
    if len(b) <= 24:
        return repr(b)
    return "<%d bytes md5:%s>" % (len(b), hashlib.md5(b).hexdigest()[:8])


def kv(k):
    return "%s=%s c%d m%d v%d%s" % (short(k.key), short(k.value), k.create_revision,
                                    k.mod_revision, k.version, " lease" if k.lease else "")


def render(r):
    if isinstance(r, tuple):
        return "stream ended: %s" % r[1]
    h = r.header
    full = h.cluster_id != 0 and h.member_id != 0 and h.raft_term != 0
    s = ["rev=%d" % h.revision, "id=%d" % r.watch_id]
    if not full:
        s.append("header-incomplete")
    for flag in ("created", "canceled", "fragment"):
        if getattr(r, flag):
            s.append(flag)
    if r.compact_revision:
        s.append("compact=%d" % r.compact_revision)
    if r.cancel_reason:
        s.append("reason=%r" % r.cancel_reason)
    for e in r.events:
        t = "DELETE" if e.type == 1 else "PUT"
        s.append("[%s %s%s]" % (t, kv(e.kv), (" prev " + kv(e.prev_kv)) if e.HasField("prev_kv")
                                else ""))
    return " ".join(s)


def batch(rs):
    key = (lambda r: -2 if isinstance(r, tuple) else r.watch_id)
    return sorted(rs, key=key)


def scenario(ep, say):
    ch = grpc.insecure_channel(ep, options=[("grpc.max_receive_message_length", 64 << 20),
                                            ("grpc.max_send_message_length", 64 << 20)])
    kvs = lambda path, req, resp, r: PB.unary(ch, "/etcdserverpb.KV/" + path,  # noqa: E731
                                              "etcdserverpb." + req, "etcdserverpb." + resp, r)

    def put(k, v, lease=0):
        r = M("etcdserverpb.PutRequest")(key=k, value=v, lease=lease)
        return kvs("Put", "PutRequest", "PutResponse", r).header.revision

    def delete(k, end=b""):
        r = M("etcdserverpb.DeleteRangeRequest")(key=k, range_end=end)
        return kvs("DeleteRange", "DeleteRangeRequest", "DeleteRangeResponse", r).header.revision

    def txn_puts(pairs):
        r = M("etcdserverpb.TxnRequest")()
        for k, v in pairs:
            op = r.success.add()
            op.request_put.key = k
            op.request_put.value = v
        return kvs("Txn", "TxnRequest", "TxnResponse", r).header.revision

    def compact(rev):
        r = M("etcdserverpb.CompactionRequest")(revision=rev, physical=True)
        kvs("Compact", "CompactionRequest", "CompactionResponse", r)

    def show(title, rs):
        say("# " + title)
        for r in batch(rs):
            say("  " + render(r))

    s = Stream(ch)
    s.create(b"a")
    show("auto id on a fresh stream", s.drain(1))
    s.create(b"a", watch_id=5)
    show("explicit id 5", s.drain(1))
    s.create(b"a", watch_id=5)
    show("duplicate id 5", s.drain(1))
    s.create(b"b", range_end=b"a")
    show("range end before key", s.drain(1))
    s.create(b"b", range_end=b"b")
    show("range end equal to key", s.drain(1))
    s.create(b"", range_end=b"\0")
    show("every key (empty key, \\0 end)", s.drain(1))
    s.create(b"p", range_end=b"q", prev_kv=True)
    show("prefix p with prev_kv", s.drain(1))
    s.create(b"p", range_end=b"q", filters=[0])
    show("prefix p, NOPUT", s.drain(1))
    s.create(b"p", range_end=b"q", filters=[1])
    show("prefix p, NODELETE (auto id skips 5)", s.drain(1))
    s.create(b"p", range_end=b"q")
    show("prefix p, plain", s.drain(1))
    s.create(b"", range_end=b"")
    show("empty key alone (means \\0)", s.drain(1))

    put(b"a", b"1")
    show("put a", s.drain(3))
    put(b"p1", b"x")
    put(b"p1", b"y")
    delete(b"p1")
    show("put p1 twice, delete p1", s.drain())
    txn_puts([(b"p2", b"1"), (b"p3", b"2"), (b"zz", b"3")])
    show("one txn, three keys", s.drain())
    put(b"\0", b"zero")
    show("put \\0", s.drain())

    s.progress()
    show("progress request", s.drain(1))
    s.cancel_watch(0)
    show("cancel 0", s.drain(1))
    s.cancel_watch(99)
    show("cancel unknown 99", s.drain(quiet=0.5))
    put(b"a", b"2")
    show("put a after cancel of 0", s.drain())

    # history
    s2 = Stream(ch)
    s2.create(b"a", start=2)
    show("a from revision 2 (catch-up)", s2.drain())
    s2.create(b"p", range_end=b"q", start=1, prev_kv=True)
    show("prefix p from 1 with prev_kv", s2.drain())
    s2.create(b"", range_end=b"\0", start=1, filters=[1])
    show("everything from 1, NODELETE", s2.drain())
    rev = put(b"a", b"3")
    show("live after catch-up", s2.drain())

    # future start
    s2.create(b"f", start=rev + 2)
    show("f from a future revision", s2.drain(1))
    put(b"f", b"1")
    put(b"f", b"2")
    show("f put twice", s2.drain())

    # compaction
    c = put(b"c", b"1")
    put(b"c", b"2")
    compact(c + 1)
    s3 = Stream(ch)
    s3.create(b"c", start=c)
    show("c below the compact revision", s3.drain())
    s3.create(b"c", start=c + 1)
    show("c at the compact revision", s3.drain())

    # many watchers on one key
    s4 = Stream(ch)
    for i in range(50):
        s4.create(b"hot")
    created = s4.drain(50)
    say("# 50 watchers on hot: %d created, ids %s" % (
        len(created), sorted(r.watch_id for r in created if not isinstance(r, tuple)) ==
        list(range(50))))
    put(b"hot", b"!")
    got = s4.drain(50)
    say("# put hot: %d responses, distinct ids %d, all one event: %s" % (
        len(got), len({r.watch_id for r in got}), all(len(r.events) == 1 for r in got)))

    # large responses: fragments
    big = b"v" * (1024 * 1024)
    first = put(b"big", big)
    put(b"big", big + b"2")
    put(b"big", big + b"3")
    s5 = Stream(ch)
    s5.create(b"big", start=first, fragment=True)
    show("3 x 1 MiB from history, fragment", s5.drain())
    s5.create(b"big", start=first)
    show("3 x 1 MiB from history, whole", s5.drain())

    # half-close keeps the stream
    s.half_close()
    time.sleep(0.3)
    put(b"a", b"after-half-close")
    show("put a after the client half-closed", s.drain())

    # progress notifications (the cluster runs with a 1 s interval)
    s7 = Stream(ch)
    s7.create(b"pn", progress_notify=True)
    s7.create(b"pn")
    s7.drain(2)
    time.sleep(3.2)
    got = s7.drain(quiet=0.3)
    say("# quiet watcher with progress_notify, 3.2 s: %d or more progress responses: %s" % (
        2, len(got) >= 2))
    say("  " + " | ".join(sorted({render(r) for r in got})))
    for _ in range(13):
        put(b"pn", b"x")
        time.sleep(0.25)
    got = s7.drain(quiet=0.3)
    say("# 13 writes 0.25 s apart: progress responses among them: %d" % sum(
        1 for r in got if not isinstance(r, tuple) and not r.events))

    # hasleader on a healthy member
    s6 = Stream(ch, metadata=[("hasleader", "true")])
    s6.create(b"h")
    show("hasleader with a leader", s6.drain(1))

    for st in (s, s2, s3, s4, s5, s6, s7):
        st.cancel()
    ch.close()


def run(kind):
    flags = ["--experimental-watch-progress-notify-interval", "1s"]
    with clusterlib.Cluster(kind, 1, extra_flags=flags) as c:
        c.wait_healthy()
        lines = []
        scenario(c.members[0].endpoint, lines.append)
        return "\n".join(lines) + "\n"


def main():
    return transcript.compat_main(run, "watch")


if __name__ == "__main__":
    sys.exit(main())
