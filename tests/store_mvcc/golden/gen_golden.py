#!/usr/bin/python3
# tests/store_mvcc/golden/gen_golden.py - records what a real etcd answers,
# for golden_test.c to replay against the MVCC store.
#
# Starts etcd 3.4.23 (/usr/bin/etcd) on 127.0.0.1 with a temporary data
# directory, runs a fixed pseudo-random scenario through the gRPC API
# (python3-etcd3's generated stubs) and writes every request with etcd's
# answer to etcd-3.4.23.golden. What it pins down:
#   - the order of ties when sorting by version, create, mod or value,
#     ascending and descending, with and without limits, for ranges of 1 to
#     250 keys (etcd uses Go's unstable sort.Sort: only the same algorithm
#     gives the same order);
#   - `more` and `count` with limits, filters and sorting;
#   - HashKV after puts, txns, deletes, lease revokes and compactions.
#
# Usage: /usr/bin/python3 gen_golden.py [out]   (regenerate, then commit)
#
# Format, one operation per line, bytes in hex ("-" for empty):
#   P key value                 put
#   T key value key value ...   txn putting several keys at one revision
#   D key end                   delete range
#   L id ttl key ...            grant a lease and put keys with it
#   V id                        revoke the lease
#   C rev                       compact (physical)
#   R key end rev limit order target keys_only count_only minmod maxmod
#     mincreate maxcreate = count more key,key,...
#   H rev = hash compact_rev
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import grpc
from etcd3 import etcdrpc as pb


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def hx(b):
    return b.hex() if b else "-"


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "etcd-3.4.23.golden")
    data = tempfile.mkdtemp(prefix="golden-etcd-")
    cport, pport = free_port(), free_port()
    etcd = subprocess.Popen(
        ["etcd", "--data-dir", data, "--name", "g",
         "--listen-client-urls", "http://127.0.0.1:%d" % cport,
         "--advertise-client-urls", "http://127.0.0.1:%d" % cport,
         "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pport,
         "--initial-cluster", "g=http://127.0.0.1:%d" % pport],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ch = grpc.insecure_channel("127.0.0.1:%d" % cport)
        grpc.channel_ready_future(ch).result(timeout=20)
        kv, lease, maint = pb.KVStub(ch), pb.LeaseStub(ch), pb.MaintenanceStub(ch)
        for _ in range(100):
            try:
                kv.Range(pb.RangeRequest(key=b"x"))
                break
            except grpc.RpcError:
                time.sleep(0.1)
        run(kv, lease, maint, out_path)
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(data, ignore_errors=True)


def run(kv, lease, maint, out_path):
    rnd = random.Random(20240611)
    lines = []
    rev = [1]
    compact = [-1]

    def put(k, v):
        r = kv.Put(pb.PutRequest(key=k, value=v))
        rev[0] = r.header.revision
        lines.append("P %s %s" % (hx(k), hx(v)))

    def txn_puts(pairs):
        ops = [pb.RequestOp(request_put=pb.PutRequest(key=k, value=v)) for k, v in pairs]
        r = kv.Txn(pb.TxnRequest(success=ops))
        rev[0] = r.header.revision
        lines.append("T " + " ".join("%s %s" % (hx(k), hx(v)) for k, v in pairs))

    def delete(k, e):
        r = kv.DeleteRange(pb.DeleteRangeRequest(key=k, range_end=e))
        rev[0] = r.header.revision
        lines.append("D %s %s" % (hx(k), hx(e)))

    def rng(k, e, **o):
        req = pb.RangeRequest(key=k, range_end=e, **o)
        r = kv.Range(req)
        keys = ",".join(x.key.hex() for x in r.kvs) or "-"
        lines.append("R %s %s %d %d %d %d %d %d %d %d %d %d = %d %d %s" % (
            hx(k), hx(e), req.revision, req.limit, req.sort_order, req.sort_target,
            int(req.keys_only), int(req.count_only), req.min_mod_revision,
            req.max_mod_revision, req.min_create_revision, req.max_create_revision,
            r.count, int(r.more), keys))

    def hashkv(r):
        resp = maint.HashKV(pb.HashKVRequest(revision=r))
        lines.append("H %d = %d %d" % (r, resp.hash, resp.compact_revision))

    def do_compact(r):
        kv.Compact(pb.CompactionRequest(revision=r, physical=True))
        compact[0] = r
        lines.append("C %d" % r)

    # Keys in groups of 1..250 under distinct prefixes, values from a tiny
    # alphabet, versions 1..3, some written several per txn (equal create
    # and mod revisions): many ties for every sort target.
    sizes = [1, 2, 5, 8, 12, 13, 20, 49, 50, 51, 90, 250]
    groups = []
    for gi, n in enumerate(sizes):
        prefix = b"g%02d/" % gi
        keys = [prefix + b"%03d" % i for i in range(n)]
        rnd.shuffle(keys)
        groups.append((prefix, keys))
        i = 0
        while i < len(keys):
            if rnd.random() < 0.3:
                chunk = keys[i:i + rnd.randint(2, 6)]
                txn_puts([(k, rnd.choice([b"a", b"b", b"c"])) for k in chunk])
                i += len(chunk)
            else:
                put(keys[i], rnd.choice([b"a", b"b", b"c", b""]))
                i += 1
        for k in rnd.sample(keys, len(keys) // 2):
            put(k, rnd.choice([b"a", b"b", b"c"]))
        for k in rnd.sample(keys, len(keys) // 4):
            put(k, rnd.choice([b"a", b"b"]))
    hashkv(0)

    def prefix_end(p):
        return p[:-1] + bytes([p[-1] + 1])

    for prefix, keys in groups:
        end = prefix_end(prefix)
        for target in range(5):
            for order in range(3):
                for limit in (0, 1, 3, 7, 40):
                    rng(prefix, end, sort_order=order, sort_target=target, limit=limit)
        rng(prefix, end, sort_order=2, sort_target=4, keys_only=True, limit=5)
        rng(prefix, end, count_only=True, limit=2)
        mid = rev[0] // 2
        rng(prefix, end, min_mod_revision=mid, limit=4)
        rng(prefix, end, max_create_revision=mid, sort_order=1, sort_target=1, limit=4)
        rng(prefix, end, min_create_revision=mid // 2, max_mod_revision=mid,
            sort_order=2, sort_target=3)

    # Deletes, a lease with keys, compactions, HashKV along the way.
    l = lease.LeaseGrant(pb.LeaseGrantRequest(ID=4242, TTL=3600))
    lkeys = [b"lease/%d" % i for i in range(7)]
    for k in lkeys:
        r = kv.Put(pb.PutRequest(key=k, value=b"L", lease=l.ID))
        rev[0] = r.header.revision
    lines.append("L %d %d %s" % (l.ID, 3600, " ".join(hx(k) for k in lkeys)))
    delete(b"g03/", b"g03/004")
    delete(b"g11/1", b"g11/2")
    hashkv(0)
    hashkv(rev[0] - 40)
    do_compact(rev[0] - 300)
    hashkv(0)
    hashkv(rev[0] - 10)
    lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=l.ID))
    rev[0] = kv.Range(pb.RangeRequest(key=b"x")).header.revision
    lines.append("V %d" % l.ID)
    for i in range(30):
        put(b"g10/%03d" % rnd.randint(0, 89), b"z")
    delete(b"g05/", b"g05/\xff")
    hashkv(0)
    before = rev[0]
    do_compact(rev[0] - 5)
    hashkv(0)
    hashkv(before)
    rng(b"g", b"h", revision=compact[0], sort_order=1, sort_target=3, limit=20)
    rng(b"\x00", b"\x00", count_only=True)
    # Everything deleted: etcd's keep set is empty at the hashed revision.
    delete(b"\x00", b"\x00")
    hashkv(0)
    do_compact(rev[0])
    hashkv(0)
    put(b"after", b"all")
    hashkv(0)

    with open(out_path, "w") as f:
        f.write("# etcd 3.4.23 answers, recorded by gen_golden.py; do not edit\n")
        f.write("\n".join(lines) + "\n")
    print("wrote %d lines to %s" % (len(lines), out_path))


if __name__ == "__main__":
    main()
