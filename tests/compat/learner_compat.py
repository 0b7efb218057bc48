#!/usr/bin/python3
"""A learner member, as clients see it: real etcd vs cairn.

Three members, then a fourth added as a learner (MemberAdd isLearner) and
started with --initial-cluster-state existing. Against the learner every
call but Status and a serializable Range must fail with Unavailable
"etcdserver: rpc not supported for learner" (etcd's v3rpc/util.go), streams
included; Status says isLearner. After MemberPromote the same calls work.

    learner_compat.py                 etcd vs cairn
    learner_compat.py --self-check    etcd vs etcd
    learner_compat.py --only cairn    print one transcript
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


def calls(ch, say, tag):
    def unary(svc, meth, req, resp, msg):
        return PB.unary(ch, "/etcdserverpb.%s/%s" % (svc, meth), "etcdserverpb." + req,
                        "etcdserverpb." + resp, msg, timeout=10)

    def attempt(name, fn):
        try:
            say("%s %s -> OK %s" % (tag, name, fn()))
        except grpc.RpcError as e:
            say("%s %s -> %s %r" % (tag, name, e.code().name, e.details()))

    attempt("status is learner", lambda: unary("Maintenance", "Status", "StatusRequest",
                                               "StatusResponse",
                                               M("etcdserverpb.StatusRequest")()).isLearner)
    attempt("serializable range", lambda: unary(
        "KV", "Range", "RangeRequest", "RangeResponse",
        M("etcdserverpb.RangeRequest")(key=b"k", serializable=True)).count)
    attempt("range", lambda: unary("KV", "Range", "RangeRequest", "RangeResponse",
                                   M("etcdserverpb.RangeRequest")(key=b"k")).count)
    attempt("put", lambda: unary("KV", "Put", "PutRequest", "PutResponse",
                                 M("etcdserverpb.PutRequest")(key=b"k2", value=b"v")) and "done")
    attempt("txn", lambda: unary("KV", "Txn", "TxnRequest", "TxnResponse",
                                 M("etcdserverpb.TxnRequest")()).succeeded)
    attempt("lease grant", lambda: unary("Lease", "LeaseGrant", "LeaseGrantRequest",
                                         "LeaseGrantResponse",
                                         M("etcdserverpb.LeaseGrantRequest")(TTL=30)).TTL)
    attempt("member list", lambda: len(unary("Cluster", "MemberList", "MemberListRequest",
                                             "MemberListResponse",
                                             M("etcdserverpb.MemberListRequest")()).members))
    attempt("alarm list", lambda: len(unary("Maintenance", "Alarm", "AlarmRequest",
                                            "AlarmResponse",
                                            M("etcdserverpb.AlarmRequest")()).alarms))
    attempt("hashkv", lambda: unary("Maintenance", "HashKV", "HashKVRequest", "HashKVResponse",
                                    M("etcdserverpb.HashKVRequest")()) and "done")
    w = rawpb.Bidi(PB, ch, "/etcdserverpb.Watch/Watch", "etcdserverpb.WatchRequest",
                   "etcdserverpb.WatchResponse")
    r = M("etcdserverpb.WatchRequest")()
    r.create_request.key = b"k"
    w.send(r)
    first = w.next(5)
    say("%s watch -> %s" % (tag, "created" if first not in (None, "nothing") and first.created
                            else w.wait_end(5)))
    w.cancel()


def run(kind):
    with clusterlib.Cluster(kind, 3) as c:
        c.wait_healthy()
        c.wait_leader()
        lines = []
        say = lines.append
        c.etcdctl("put", "k", "v")
        client_port, peer_port = clusterlib.free_ports(2)
        learner = clusterlib.Member(c, "n4", client_port, peer_port)
        c.members.append(learner)
        # etcd refuses reconfiguration ("unhealthy cluster") until every
        # member has been connected for a few seconds: retry.
        deadline = time.time() + 30
        while True:
            r = c.etcdctl("member", "add", "n4", "--learner", "--peer-urls", learner.peer_url,
                          endpoints=c.endpoints(c.members[:3]), check=False)
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        say("member add --learner: exit %d" % r.returncode)
        learner.start(state="existing")
        deadline = time.time() + 30
        while time.time() < deadline:
            st = c.status(learner)
            if st is not None:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # let it catch up with the log
        ch = grpc.insecure_channel(learner.endpoint)
        calls(ch, say, "learner:")
        # Promotion needs the learner in sync; retry while etcd says it is not yet.
        lid = None
        ml = c.etcdctl("member", "list", endpoints=c.endpoints(c.members[:3])).stdout
        for line in ml.splitlines():
            if line.split(", ")[2:3] == ["n4"]:
                lid = line.split(",")[0]
        promoted = "no"
        deadline = time.time() + 30
        while lid and time.time() < deadline:
            r = c.etcdctl("member", "promote", lid, endpoints=c.endpoints(c.members[:3]),
                          check=False)
            if r.returncode == 0:
                promoted = "yes"
                break
            time.sleep(0.5)
        say("promoted: %s" % promoted)
        time.sleep(1.0)
        calls(ch, say, "promoted:")
        ch.close()
        return "\n".join(lines) + "\n"


def main():
    return transcript.compat_main(run, "learner")


if __name__ == "__main__":
    sys.exit(main())
