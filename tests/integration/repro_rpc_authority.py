#!/usr/bin/python3
"""Reproducer of a known rpc/ bug (registered with WILL_FAIL: CTest passes it
while the bug exists; once rpc/ is fixed it "fails": drop WILL_FAIL then).

etcdctl's --cluster commands (endpoint status/hashkv --cluster, defrag
--cluster) dial each member's advertised client URL as a gRPC target
("http://127.0.0.1:P"); grpc-go 1.33's passthrough resolver then sends
":authority: http://127.0.0.1:P". nghttp2's HTTP messaging checks reject an
authority with '/' (RFC 3986 authority characters) and reset the stream with
PROTOCOL_ERROR, so etcdctl prints "stream terminated by RST_STREAM with error
code: PROTOCOL_ERROR". Real etcd (grpc-go server) accepts it. The fix belongs
in rpc/ (accept any :authority, e.g. nghttp2_option_set_no_http_messaging
with rpc/'s own request checks)."""

import sys

from itlib import Failure, check, clusterlib


def test():
    with clusterlib.Cluster("cairn", 1) as c:
        c.wait_leader(timeout=20)
        m = c.members[0]
        r = c.etcdctl("endpoint", "status", endpoints=m.client_url, check=False, timeout=30)
        check(r.returncode == 0, "endpoint status with an http:// endpoint (%s)"
              % (r.stderr.strip().splitlines() or [""])[-1][:200])


if __name__ == "__main__":
    try:
        test()
    except Failure as e:
        print("known rpc/ bug reproduced:", e)
        sys.exit(1)
    print("not reproduced: rpc/ accepts the authority now; remove WILL_FAIL")
