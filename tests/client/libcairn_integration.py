#!/usr/bin/python3
"""libcairn against a real three-member cluster: the driver of
tests/client/integration_test.c.

Starts the cluster (real etcd 3.4.23 by default, cairnd with --cairn), runs
the test program with CAIRN_TEST_ENDPOINTS, and serves its requests to
kill -9 ("KILL i", or "KILL_AFTER i ms" without waiting) or restart
("START i") members, answering "OK".

    libcairn_integration.py [--cairn [--if-built]] [story]
"""

import argparse
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cluster as clusterlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", action="store_true")
    ap.add_argument("--if-built", action="store_true")
    ap.add_argument("story", nargs="?")
    a = ap.parse_args()
    build = os.environ.get("CAIRN_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
    prog = os.path.join(build, "tests", "client", "client_integration_test")
    if a.cairn and not os.path.exists(clusterlib.cairnd_path()):
        print("cairnd not built%s" % (": skipped" if a.if_built else ""))
        return 0 if a.if_built else 1
    kind = "cairn" if a.cairn else "etcd"
    with clusterlib.Cluster(kind, 3) as c:
        c.wait_healthy()
        c.wait_leader()
        env = dict(os.environ, CAIRN_TEST_ENDPOINTS=c.endpoints())
        p = subprocess.Popen([prog] + ([a.story] if a.story else []), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        for line in p.stdout:
            cmd = line.split()
            if not cmd:
                continue
            m = c.members[int(cmd[1])]
            if cmd[0] == "KILL":
                m.kill()
            elif cmd[0] == "KILL_AFTER":
                # answer at once, kill -9 a moment later (calls in flight)
                threading.Timer(int(cmd[2]) / 1000.0, m.kill).start()
            elif cmd[0] == "START":
                m.start()
                c.wait_healthy(timeout=60)
            p.stdin.write("OK\n")
            p.stdin.flush()
        rc = p.wait()
        if rc != 0:
            raise SystemExit("client_integration_test failed (%d) on %s" % (rc, kind))
    print("libcairn integration on %s: all stories passed" % kind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
