#!/usr/bin/python3
"""Every unary etcd v3 call, raw: real etcd vs cairn, whole responses.

etcdctl and python3-etcd3 print only parts of what the server answers;
here each call's full response (protobuf text) or its exact status code
and message is recorded: header fields present or absent (Alarm,
Defragment, MoveLeader and Snapshot answer without one in etcd 3.4,
Cluster calls without a revision), inner Txn headers, lease and member
errors, the maintenance calls, auth without auth enabled, the gRPC health
service, unknown methods, request size limits, LeaseKeepAlive on unknown
leases and half-close, the Snapshot stream's framing, and the space quota
(a second cluster with a quota smaller than an empty database: the NOSPACE
alarm, what it blocks, Status errors, disarm).

Normalized: cluster and member IDs, terms, raft indexes, database sizes,
hashes, lease IDs the server picked, ports.

    api_compat.py                 etcd vs cairn
    api_compat.py --self-check    etcd vs etcd
    api_compat.py --only cairn    print one transcript
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cluster as clusterlib  # noqa: E402
import rawpb  # noqa: E402
import transcript  # noqa: E402

import grpc  # noqa: E402

PB = rawpb.RawPB()
M = PB.msg


class Caller:
    def __init__(self, ch, say):
        self.ch = ch
        self.say = say

    def __call__(self, title, svc, meth, req_type, resp_type, **fields):
        msg = M("etcdserverpb." + req_type)(**fields)
        return self.send(title, "/etcdserverpb.%s/%s" % (svc, meth), msg,
                         "etcdserverpb." + resp_type)

    def send(self, title, path, msg, resp_type, timeout=10):
        call = self.ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=M(resp_type).FromString)
        try:
            r = call(msg, timeout=timeout)
            self.say("%s -> %s" % (title, PB.text(r) or "(empty)"))
            return r
        except grpc.RpcError as e:
            self.say("%s -> %s %r" % (title, e.code().name, e.details()))
            return None


def txn_op(kind, **f):
    op = M("etcdserverpb.RequestOp")()
    getattr(op, "request_" + kind).CopyFrom(
        M("etcdserverpb.%sRequest" % {"range": "Range", "put": "Put",
                                      "delete_range": "DeleteRange", "txn": "Txn"}[kind])(**f))
    return op


def kv_calls(c):
    c("put a", "KV", "Put", "PutRequest", "PutResponse", key=b"a", value=b"1")
    c("put a prev_kv", "KV", "Put", "PutRequest", "PutResponse", key=b"a", value=b"2",
      prev_kv=True)
    c("put empty key", "KV", "Put", "PutRequest", "PutResponse", key=b"", value=b"1")
    c("put ignore_value with value", "KV", "Put", "PutRequest", "PutResponse", key=b"a",
      value=b"x", ignore_value=True)
    c("put ignore_lease missing", "KV", "Put", "PutRequest", "PutResponse", key=b"zz",
      ignore_lease=True)
    c("put unknown lease", "KV", "Put", "PutRequest", "PutResponse", key=b"a", lease=12345)
    for k in (b"b", b"c", b"d"):
        c("put " + k.decode(), "KV", "Put", "PutRequest", "PutResponse", key=k, value=k)
    c("range a", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a")
    c("range a..c limit 1", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a",
      range_end=b"c", limit=1)
    c("range all keys_only desc by mod", "KV", "Range", "RangeRequest", "RangeResponse",
      key=b"\0", range_end=b"\0", keys_only=True, sort_order=2, sort_target=3)
    c("range count_only", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a",
      range_end=b"\xff", count_only=True)
    c("range rev 2", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a", revision=2)
    c("range future rev", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a",
      revision=1000)
    c("range serializable", "KV", "Range", "RangeRequest", "RangeResponse", key=b"b",
      serializable=True)
    c("range empty key", "KV", "Range", "RangeRequest", "RangeResponse", key=b"")
    c("range min_mod_revision", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a",
      range_end=b"z", min_mod_revision=4)
    c("delete b prev_kv", "KV", "DeleteRange", "DeleteRangeRequest", "DeleteRangeResponse",
      key=b"b", prev_kv=True)
    c("delete nothing", "KV", "DeleteRange", "DeleteRangeRequest", "DeleteRangeResponse",
      key=b"nothing")

    cmp = M("etcdserverpb.Compare")(result=0, target=3, key=b"a", value=b"2")
    c("txn value(a)=2: put, range, delete, nested", "KV", "Txn", "TxnRequest", "TxnResponse",
      compare=[cmp],
      success=[txn_op("put", key=b"t1", value=b"v"), txn_op("range", key=b"a"),
               txn_op("delete_range", key=b"c"),
               txn_op("txn", success=[txn_op("range", key=b"t1")])],
      failure=[txn_op("put", key=b"t2", value=b"v")])
    cmp2 = M("etcdserverpb.Compare")(result=3, target=3, key=b"missing", value=b"x")
    c("txn value(missing)!=x is false", "KV", "Txn", "TxnRequest", "TxnResponse",
      compare=[cmp2], success=[txn_op("put", key=b"t3", value=b"v")],
      failure=[txn_op("range", key=b"t1")])
    c("txn read-only", "KV", "Txn", "TxnRequest", "TxnResponse",
      success=[txn_op("range", key=b"a"), txn_op("range", key=b"t1", serializable=True)])
    c("txn duplicate put", "KV", "Txn", "TxnRequest", "TxnResponse",
      success=[txn_op("put", key=b"x", value=b"1"), txn_op("put", key=b"x", value=b"2")])
    c("txn empty op", "KV", "Txn", "TxnRequest", "TxnResponse",
      success=[M("etcdserverpb.RequestOp")()])
    c("txn 129 ops", "KV", "Txn", "TxnRequest", "TxnResponse",
      success=[txn_op("range", key=b"k%d" % i) for i in range(129)])
    c("txn empty", "KV", "Txn", "TxnRequest", "TxnResponse")

    c("compact 3", "KV", "Compact", "CompactionRequest", "CompactionResponse", revision=3)
    c("compact 3 again", "KV", "Compact", "CompactionRequest", "CompactionResponse", revision=3)
    c("compact future", "KV", "Compact", "CompactionRequest", "CompactionResponse",
      revision=100000)
    c("compact 4 physical", "KV", "Compact", "CompactionRequest", "CompactionResponse",
      revision=4, physical=True)
    c("range compacted rev", "KV", "Range", "RangeRequest", "RangeResponse", key=b"a",
      revision=2)
    c("put 1.6 MiB", "KV", "Put", "PutRequest", "PutResponse", key=b"big",
      value=b"x" * (1600 * 1024))
    c("put 2.1 MiB (over the gRPC limit)", "KV", "Put", "PutRequest", "PutResponse",
      key=b"big", value=b"x" * (2100 * 1024))


def lease_calls(c, ch, say):
    c("grant ttl 1 (raised)", "Lease", "LeaseGrant", "LeaseGrantRequest",
      "LeaseGrantResponse", TTL=1)
    c("grant id 42", "Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse", TTL=60,
      ID=42)
    c("grant id 42 again", "Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse",
      TTL=60, ID=42)
    c("grant ttl too large", "Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse",
      TTL=9000000001)
    c("put with lease 42", "KV", "Put", "PutRequest", "PutResponse", key=b"l1", value=b"v",
      lease=42)
    c("ttl 42 keys", "Lease", "LeaseTimeToLive", "LeaseTimeToLiveRequest",
      "LeaseTimeToLiveResponse", ID=42, keys=True)
    c("ttl unknown", "Lease", "LeaseTimeToLive", "LeaseTimeToLiveRequest",
      "LeaseTimeToLiveResponse", ID=7)
    c("revoke unknown", "Lease", "LeaseRevoke", "LeaseRevokeRequest", "LeaseRevokeResponse",
      ID=7)
    k = rawpb.Bidi(PB, ch, "/etcdserverpb.Lease/LeaseKeepAlive",
                   "etcdserverpb.LeaseKeepAliveRequest", "etcdserverpb.LeaseKeepAliveResponse")
    k.send(M("etcdserverpb.LeaseKeepAliveRequest")(ID=42))
    k.send(M("etcdserverpb.LeaseKeepAliveRequest")(ID=7))
    say("keepalive 42 -> %s" % PB.text(k.next()))
    say("keepalive unknown -> %s" % PB.text(k.next()))
    k.half_close()
    say("keepalive after half-close: %r, ends %s" % (k.next(), k.wait_end(5)))
    c("revoke 42", "Lease", "LeaseRevoke", "LeaseRevokeRequest", "LeaseRevokeResponse", ID=42)
    c("range l1 after revoke", "KV", "Range", "RangeRequest", "RangeResponse", key=b"l1")


def cluster_calls(c):
    c("member list", "Cluster", "MemberList", "MemberListRequest", "MemberListResponse")
    c("member update unknown", "Cluster", "MemberUpdate", "MemberUpdateRequest",
      "MemberUpdateResponse", ID=1, peerURLs=["http://127.0.0.1:1"])
    c("member remove unknown", "Cluster", "MemberRemove", "MemberRemoveRequest",
      "MemberRemoveResponse", ID=1)
    c("member promote unknown", "Cluster", "MemberPromote", "MemberPromoteRequest",
      "MemberPromoteResponse", ID=1)
    c("member add bad url", "Cluster", "MemberAdd", "MemberAddRequest", "MemberAddResponse",
      peerURLs=["not a url"])


def maintenance_calls(c, ch, say):
    st = c("status", "Maintenance", "Status", "StatusRequest", "StatusResponse")
    if st is not None:
        c("promote self (a voter)", "Cluster", "MemberPromote", "MemberPromoteRequest",
          "MemberPromoteResponse", ID=st.header.member_id)
    c("alarm get", "Maintenance", "Alarm", "AlarmRequest", "AlarmResponse")
    c("hash", "Maintenance", "Hash", "HashRequest", "HashResponse")
    c("hashkv 0", "Maintenance", "HashKV", "HashKVRequest", "HashKVResponse")
    c("hashkv compacted", "Maintenance", "HashKV", "HashKVRequest", "HashKVResponse", revision=2)
    c("hashkv future", "Maintenance", "HashKV", "HashKVRequest", "HashKVResponse",
      revision=100000)
    c("defragment", "Maintenance", "Defragment", "DefragmentRequest", "DefragmentResponse")
    c("move leader to unknown", "Maintenance", "MoveLeader", "MoveLeaderRequest",
      "MoveLeaderResponse", targetID=1)
    snap = PB.server_stream(ch, "/etcdserverpb.Maintenance/Snapshot",
                            "etcdserverpb.SnapshotRequest", "etcdserverpb.SnapshotResponse",
                            M("etcdserverpb.SnapshotRequest")(), timeout=30)
    parts = list(snap)
    total = sum(len(p.blob) for p in parts)
    say("snapshot: %s messages, total %% 512 = %d, last blob %d bytes, remaining 0 at the end: "
        "%s, any header: %s, chunks of 32 KiB: %s" % (
            "several" if len(parts) > 1 else "one", total % 512, len(parts[-1].blob),
            parts[-1].remaining_bytes == 0 and parts[-2].remaining_bytes == 0,
            any(p.HasField("header") for p in parts),
            all(len(p.blob) == 32768 for p in parts[:-2])))
    for meth in ("AuthEnable", "AuthDisable", "UserList", "RoleList"):
        c("auth " + meth, "Auth", meth, "Auth%sRequest" % meth.replace("Auth", "")
          if meth.startswith("Auth") else "Auth%sRequest" % meth,
          "Auth%sResponse" % meth.replace("Auth", "") if meth.startswith("Auth")
          else "Auth%sResponse" % meth)
    c("authenticate", "Auth", "Authenticate", "AuthenticateRequest", "AuthenticateResponse",
      name="root", password="x")
    c("user get", "Auth", "UserGet", "AuthUserGetRequest", "AuthUserGetResponse", name="u")
    c("user add empty", "Auth", "UserAdd", "AuthUserAddRequest", "AuthUserAddResponse", name="")
    c("role get", "Auth", "RoleGet", "AuthRoleGetRequest", "AuthRoleGetResponse", role="r")
    c("role revoke", "Auth", "RoleRevokePermission", "AuthRoleRevokePermissionRequest",
      "AuthRoleRevokePermissionResponse", role="r", key=b"k")
    health = ch.unary_unary("/grpc.health.v1.Health/Check")
    try:
        say("health check -> %r" % health(b"", timeout=5))
    except grpc.RpcError as e:
        say("health check -> %s %r" % (e.code().name, e.details()))
    try:
        ch.unary_unary("/etcdserverpb.KV/NoSuch")(b"", timeout=5)
    except grpc.RpcError as e:
        say("unknown method -> %s" % e.code().name)


def quota_calls(c):
    c("put over quota", "KV", "Put", "PutRequest", "PutResponse", key=b"q", value=b"1")
    c("alarm get", "Maintenance", "Alarm", "AlarmRequest", "AlarmResponse")
    st = c("status", "Maintenance", "Status", "StatusRequest", "StatusResponse")
    c("lease grant", "Lease", "LeaseGrant", "LeaseGrantRequest", "LeaseGrantResponse", TTL=60)
    c("txn read-only", "KV", "Txn", "TxnRequest", "TxnResponse",
      success=[txn_op("range", key=b"q")])
    c("delete", "KV", "DeleteRange", "DeleteRangeRequest", "DeleteRangeResponse", key=b"q")
    c("range", "KV", "Range", "RangeRequest", "RangeResponse", key=b"q")
    if st is not None:
        c("disarm", "Maintenance", "Alarm", "AlarmRequest", "AlarmResponse", action=2,
          memberID=st.header.member_id, alarm=1)
    c("alarm get after disarm", "Maintenance", "Alarm", "AlarmRequest", "AlarmResponse")


class Norm:
    def __init__(self, c):
        self.base = transcript.Normalizer(c)
        self.ids = {}

    def lease(self, m):
        v = m.group(2)
        if int(v) < 1000:  # lease IDs the script chose
            return m.group(0)
        if v not in self.ids:
            self.ids[v] = "<id%d>" % (len(self.ids) + 1)
        return "%s: %s" % (m.group(1), self.ids[v])

    def __call__(self, s):
        s = re.sub(r"(cluster_id|member_id|memberID|leader): \d+", r"\1: <id>", s)
        s = re.sub(r"\b(ID): (\d+)", self.lease, s)
        s = re.sub(r"(raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|hash): "
                   r"\d+", r"\1: <n>", s)
        s = re.sub(r"memberID:\d+ ", "memberID:<id> ", s)
        s = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: "127.0.0.1:" + self.base.port(m.group(1)), s)
        return s


def run(kind):
    lines = []
    with clusterlib.Cluster(kind, 1) as cl:
        cl.wait_healthy()
        ch = grpc.insecure_channel(cl.members[0].endpoint,
                                   options=[("grpc.max_send_message_length", 8 << 20)])
        c = Caller(ch, lines.append)
        kv_calls(c)
        lease_calls(c, ch, lines.append)
        cluster_calls(c)
        maintenance_calls(c, ch, lines.append)
        ch.close()
        out = Norm(cl)("\n".join(lines) + "\n")
    lines = ["# quota smaller than an empty database"]
    with clusterlib.Cluster(kind, 1, extra_flags=["--quota-backend-bytes", "16384"]) as cl:
        cl.wait_healthy()
        ch = grpc.insecure_channel(cl.members[0].endpoint)
        quota_calls(Caller(ch, lines.append))
        ch.close()
        out += Norm(cl)("\n".join(lines) + "\n")
    return out


def main():
    return transcript.compat_main(run, "api")


if __name__ == "__main__":
    sys.exit(main())
