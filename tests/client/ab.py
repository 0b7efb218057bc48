#!/usr/bin/python3
"""A/B harness for development: the same etcdctl command lines through the
real etcdctl and through cairnctl, each against its own fresh single-node
real etcd, and a diff of stdout, stderr and exit status.

The two servers are made identical where it shows: same name, same
advertised peer and client URLs (they listen on other ports), same cluster
token, so member and cluster IDs match; lease IDs, timestamps, UUIDs and
ports are normalized.

    ab.py 'put foo bar' 'get foo -w json' ...      # shell-split command lines
    ab.py -f cmds.txt                               # one command line per line
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cluster as clusterlib  # noqa: E402

BUILD = os.environ.get("CAIRN_BUILD_DIR", os.path.join(HERE, "..", "..", "build-client"))
CAIRNCTL = os.path.join(BUILD, "client", "cairnctl")
ADV_CLIENT = "http://127.0.0.1:2379"
ADV_PEER = "http://127.0.0.1:2380"


class Etcd:
    def __init__(self, workdir, tag):
        self.cport, self.pport = clusterlib.free_ports(2)
        self.dir = os.path.join(workdir, tag)
        self.log = open(os.path.join(workdir, tag + ".log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/etcd", "--name", "ab", "--data-dir", self.dir,
             "--listen-client-urls", "http://127.0.0.1:%d" % self.cport,
             "--advertise-client-urls", ADV_CLIENT,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.pport,
             "--initial-advertise-peer-urls", ADV_PEER,
             "--initial-cluster", "ab=" + ADV_PEER,
             "--initial-cluster-token", "ab-token"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.ep = "127.0.0.1:%d" % self.cport
        deadline = time.time() + 20
        while time.time() < deadline:
            r = subprocess.run(["etcdctl", "--endpoints", self.ep, "endpoint", "health"],
                               capture_output=True)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited; see " + self.log.name)
            time.sleep(0.2)
        raise RuntimeError("etcd not healthy")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def normalize(s, ep, ids):
    s = s.replace(ep, "<ep>")
    s = re.sub(r'"ts":"[^"]*"', '"ts":<ts>', s)
    s = re.sub(r'"ts":[0-9.e+]+', '"ts":<ts>', s)
    s = re.sub(r"endpoint://client-[0-9a-f-]+/", "endpoint://client-<uuid>/", s)
    s = re.sub(r"took = [0-9.]+[a-zµ]+", "took = <t>", s)
    s = re.sub(r'"took":"?[0-9.a-zµ]+"?', '"took":<t>', s)
    s = re.sub(r'"Took" : [0-9.a-zµ]+', '"Took" : <t>', s)

    for m in re.finditer(r"lease ([0-9a-f]{16}) granted", s):
        h = m.group(1)
        if h not in ids:
            ids[h] = "<lease%d>" % (len(ids) + 1)
            ids[str(int(h, 16))] = ids[h]
            ids[h.lstrip("0")] = ids[h]
    for m in re.finditer(r'"ID":(\d+),"TTL"', s):
        d = m.group(1)
        if d not in ids:
            ids[d] = "<lease%d>" % (len(ids) + 1)
            ids["%016x" % int(d)] = ids[d]
            ids["%x" % int(d)] = ids[d]
    for k in sorted(ids, key=len, reverse=True):
        s = s.replace(k, ids[k])
    return s


def run(ctl, ep, line, stdin, timeout):
    args = shlex.split(line)
    try:
        r = subprocess.run([ctl, "--endpoints", ep] + args, input=stdin, capture_output=True,
                           timeout=timeout)
        return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"), \
            str(r.returncode)
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode(), (e.stderr or b"").decode(), "timeout"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-f")
    ap.add_argument("--timeout", type=float, default=15)
    ap.add_argument("lines", nargs="*")
    a = ap.parse_args()
    lines = list(a.lines)
    if a.f:
        lines += [l.rstrip("\n") for l in open(a.f) if l.strip() and not l.startswith("#")]
    work = tempfile.mkdtemp(prefix="cairn-ab-")
    ea = Etcd(work, "a")
    eb = Etcd(work, "b")
    ids_a, ids_b = {}, {}
    bad = 0
    try:
        for line in lines:
            stdin = None
            if " <<< " in line:
                line, stdin = line.split(" <<< ", 1)
                stdin = stdin.encode().decode("unicode_escape").encode("latin-1")
            oa = run("etcdctl", ea.ep, line, stdin, a.timeout)
            ob = run(CAIRNCTL, eb.ep, line, stdin, a.timeout)
            # cairnctl names itself where etcdctl does
            ob = tuple(x.replace("cairnctl", "etcdctl") for x in ob)
            ta = "".join(normalize(x, ea.ep, ids_a) + "\n--\n" for x in oa)
            tb = "".join(normalize(x, eb.ep, ids_b) + "\n--\n" for x in ob)
            if ta == tb:
                print("same  %s" % line)
            else:
                bad += 1
                print("DIFF  %s" % line)
                import difflib
                sys.stdout.writelines(difflib.unified_diff(
                    ta.splitlines(True), tb.splitlines(True), "etcdctl", "cairnctl"))
    finally:
        ea.stop()
        eb.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("%d of %d differ" % (bad, len(lines)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
