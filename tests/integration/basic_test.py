#!/usr/bin/python3
"""A three-node cairn cluster elects a leader; writes through any member are
readable linearizably from every member; HTTP /health, /version, /metrics
answer as etcd's; the command line behaves as etcd's (unknown flag: exit 2;
--version); `cairnd` with no flags serves a one-node cluster on
127.0.0.1:2379 with data in ./default.cairn (only if the ports are free)."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import json

from itlib import check, clusterlib, run, wait_for, client


def port_free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cluster_story():
    with clusterlib.Cluster("cairn", 3) as c:
        t0 = time.time()
        leader = c.wait_leader(timeout=20)
        check(leader is not None, "a leader is elected (%.1fs)" % (time.time() - t0))
        for m in c.members:
            c.etcdctl("put", "k/" + m.name, "via-" + m.name, endpoints=m.endpoint)
        for m in c.members:
            r = c.etcdctl("get", "k/", "--prefix", endpoints=m.endpoint)
            got = r.stdout.split()
            want = []
            for x in c.members:
                want += ["k/" + x.name, "via-" + x.name]
            check(got == want, "%s reads every write linearizably" % m.name)
        # Through the python client (grpcio) too, on a follower.
        f = next(m for m in c.members if m is not leader)
        cl = client(f)
        cl.put("py", "1")
        v, _ = client(leader).get("py")
        check(v == b"1", "a write through a follower is read on the leader")
        base = "http://127.0.0.1:%d" % leader.client_port
        h = json.loads(urllib.request.urlopen(base + "/health", timeout=5).read())
        check(h["health"] == "true", "/health says true")
        v = json.loads(urllib.request.urlopen(base + "/version", timeout=5).read())
        check(v == {"etcdserver": "3.4.23", "etcdcluster": "3.4.0"}, "/version as etcd 3.4")
        check(c.metric(leader, "etcd_server_is_leader") == 1, "/metrics: is_leader 1")
        check(c.metric(f, "etcd_server_has_leader") == 1, "/metrics: follower has_leader 1")
        check(c.metric(f, "etcd_disk_wal_fsync_duration_seconds_count") > 0,
              "/metrics: WAL fsync histogram")
        # Another member's data directory is refused, clearly.
        f.kill()
        args = [clusterlib.cairnd_path(), "--name", "someone-else", "--data-dir", f.data_dir,
                "--listen-client-urls", "http://127.0.0.1:0",
                "--listen-peer-urls", "http://127.0.0.1:0"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "belongs to another member" in r.stderr,
              "another member's data directory is refused (exit %d)" % r.returncode)


def flags_story():
    binary = clusterlib.cairnd_path()
    r = subprocess.run([binary, "--bogus"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "flag provided but not defined: -bogus" in r.stderr,
          "unknown flag: etcd's message, exit 2")
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "3.4.23" in r.stdout, "--version prints a version line")


def default_story():
    if not (port_free(2379) and port_free(2380)):
        print("skip: 127.0.0.1:2379 or :2380 in use; no-flag start not tested", flush=True)
        return
    d = tempfile.mkdtemp(prefix="cairn-default-")
    log = open(os.path.join(d, "log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    p = subprocess.Popen([clusterlib.cairnd_path()], cwd=d, stdout=log, stderr=log, env=env)
    try:
        def put():
            r = subprocess.run([clusterlib.ETCDCTL, "--endpoints", "127.0.0.1:2379", "put",
                                "a", "b"], capture_output=True, text=True, timeout=10)
            return r.returncode == 0
        try:
            wait_for(put, 20, "cairnd with no flags to accept a put on 127.0.0.1:2379")
        except Exception:
            log.flush()
            with open(os.path.join(d, "log"), "rb") as f:
                print(f.read().decode("utf-8", "replace")[-3000:])
            raise
        check(os.path.isdir(os.path.join(d, "default.cairn", "member")),
              "no flags: data in ./default.cairn")
        r = subprocess.run([clusterlib.ETCDCTL, "--endpoints", "127.0.0.1:2379", "member",
                            "list"], capture_output=True, text=True, timeout=10)
        check("8e9e05c52164694d, started, default, http://localhost:2380" in r.stdout,
              "no flags: etcd's default member ID and name")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    check(p.returncode == 0, "SIGTERM: clean exit")


def test():
    flags_story()
    cluster_story()
    default_story()


if __name__ == "__main__":
    run(test)
