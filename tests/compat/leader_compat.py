#!/usr/bin/python3
"""A member that lost its leader, as clients see it: real etcd vs cairn.

Three members; on the first one, two Watch streams (one with the
"hasleader" metadata etcdctl and kube-apiserver send, one without) and a
LeaseKeepAlive stream with "hasleader"; then the other two members are
killed. Recorded: how each open stream ends (or that it stays open), and
what new calls get: a hasleader Watch, a hasleader Range, serializable and
linearizable Ranges, a Put, Status (leader, errors), MemberList.

Raw gRPC (tests/lib/rawpb.py) so that metadata and status codes are exact.

    leader_compat.py                 etcd vs cairn
    leader_compat.py --self-check    etcd vs etcd
    leader_compat.py --only cairn    print one transcript
"""

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
HASLEADER = [("hasleader", "true")]


def watch(ch, key, metadata=None):
    w = rawpb.Bidi(PB, ch, "/etcdserverpb.Watch/Watch", "etcdserverpb.WatchRequest",
                   "etcdserverpb.WatchResponse", metadata)
    r = M("etcdserverpb.WatchRequest")()
    r.create_request.key = key
    w.send(r)
    return w


def call(say, name, fn):
    try:
        r = fn()
        say("%s -> OK %s" % (name, r))
    except grpc.RpcError as e:
        say("%s -> %s %r" % (name, e.code().name, e.details()))


def scenario(c, say):
    m = c.members[0]
    ch = grpc.insecure_channel(m.endpoint)
    unary = lambda svc, meth, req, resp, r, md=None, t=15: PB.unary(  # noqa: E731
        ch, "/etcdserverpb.%s/%s" % (svc, meth), "etcdserverpb." + req, "etcdserverpb." + resp,
        r, timeout=t) if md is None else ch.unary_unary(
        "/etcdserverpb.%s/%s" % (svc, meth), request_serializer=lambda x: x.SerializeToString(),
        response_deserializer=M("etcdserverpb." + resp).FromString)(r, timeout=t, metadata=md)

    lease = unary("Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse",
                  M("etcdserverpb.LeaseGrantRequest")(TTL=60)).ID
    w1 = watch(ch, b"x", HASLEADER)
    w2 = watch(ch, b"x")
    say("hasleader watch created: %s" % w1.next().created)
    say("plain watch created: %s" % w2.next().created)
    k1 = rawpb.Bidi(PB, ch, "/etcdserverpb.Lease/LeaseKeepAlive",
                    "etcdserverpb.LeaseKeepAliveRequest", "etcdserverpb.LeaseKeepAliveResponse",
                    HASLEADER)
    k1.send(M("etcdserverpb.LeaseKeepAliveRequest")(ID=lease))
    say("keep-alive TTL: %d" % k1.next().TTL)

    for other in c.members[1:]:
        other.kill()
    t0 = time.time()
    say("hasleader watch ends: %s" % w1.wait_end(20))
    lost_after = time.time() - t0
    say("hasleader keep-alive ends: %s" % k1.wait_end(5))
    # etcd cancels after 3 leaderless election timeouts (1 s each here) once
    # the leader is lost (one more election timeout without quorum).
    say("ended within 2-8 s: %s" % (2 <= lost_after <= 8))
    say("plain watch after that: %s" % w2.wait_end(1))

    w3 = watch(ch, b"y", HASLEADER)
    say("new hasleader watch: %s" % w3.wait_end(5))
    rng = lambda ser: M("etcdserverpb.RangeRequest")(key=b"x", serializable=ser)  # noqa: E731
    call(say, "hasleader serializable range", lambda: unary(
        "KV", "Range", "RangeRequest", "RangeResponse", rng(True), HASLEADER).count)
    call(say, "serializable range", lambda: unary(
        "KV", "Range", "RangeRequest", "RangeResponse", rng(True)).count)
    st = unary("Maintenance", "Status", "StatusRequest", "StatusResponse",
               M("etcdserverpb.StatusRequest")())
    say("status leader %d errors %s" % (st.leader, list(st.errors)))
    call(say, "member list", lambda: len(unary("Cluster", "MemberList", "MemberListRequest",
                                                "MemberListResponse",
                                                M("etcdserverpb.MemberListRequest")()).members))
    call(say, "linearizable range", lambda: unary(
        "KV", "Range", "RangeRequest", "RangeResponse", rng(False), t=20).count)
    call(say, "put", lambda: unary("KV", "Put", "PutRequest", "PutResponse",
                                   M("etcdserverpb.PutRequest")(key=b"k", value=b"v"),
                                   t=20).header.revision)
    w2.cancel()
    ch.close()


def run(kind):
    with clusterlib.Cluster(kind, 3) as c:
        c.wait_healthy()
        c.wait_leader()
        lines = []
        scenario(c, lines.append)
        return "\n".join(lines) + "\n"


def main():
    return transcript.compat_main(run, "leader-loss")


if __name__ == "__main__":
    sys.exit(main())
