#!/usr/bin/python3
"""Regression test of an rpc/ bug.

etcdctl's --cluster commands (endpoint status/health/hashkv --cluster, defrag
--cluster) dial each member's advertised client URL as a gRPC target
("http://127.0.0.1:P"); grpc-go 1.33's passthrough resolver then sends
":authority: http://127.0.0.1:P". nghttp2's HTTP messaging checks rejected an
authority with '/' (RFC 3986 authority characters) and reset the stream with
PROTOCOL_ERROR, so etcdctl printed "stream terminated by RST_STREAM with error
code: PROTOCOL_ERROR", while real etcd (a grpc-go server) accepts it. rpc/ now
makes nghttp2's checks itself with any :authority accepted (rpc/reqcheck.c;
tests/rpc/headers_test.c)."""

import sys

from itlib import Failure, check, clusterlib


def test():
    with clusterlib.Cluster("cairn", 1) as c:
        c.wait_leader(timeout=20)
        m = c.members[0]
        r = c.etcdctl("endpoint", "status", endpoints=m.client_url, check=False, timeout=30)
        check(r.returncode == 0, "endpoint status with an http:// endpoint (%s)"
              % (r.stderr.strip().splitlines() or [""])[-1][:200])
        r = c.etcdctl("endpoint", "health", "--cluster", endpoints=m.client_url, check=False,
                      timeout=30)
        check(r.returncode == 0, "endpoint health --cluster (%s)"
              % (r.stderr.strip().splitlines() or [""])[-1][:200])


if __name__ == "__main__":
    try:
        test()
    except Failure as e:
        print("rpc/ refuses an http:// :authority again:", e)
        sys.exit(1)
    print("ok: etcdctl's http:// endpoints and --cluster work")
