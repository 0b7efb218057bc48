#!/usr/bin/python3
"""cairnctl snapshot save / status / restore round trip on cairnd.

A three-member cairn cluster takes writes (keys, a lease, a compaction);
`cairnctl snapshot save` copies one member's store; `snapshot status`
reads it; `snapshot restore` builds three data directories for a new
cluster (new ports, new token, so new member and cluster IDs); cairnd
starts on them, and the new cluster serves the same keys, history and
revision, has exactly the new members, and takes writes.

    snapshot_restore_test.py [--if-built]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cluster as clusterlib  # noqa: E402


def ctl(*args, check=True):
    build = os.environ.get("CAIRN_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
    r = subprocess.run([os.path.join(build, "client", "cairnctl")] + list(args),
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise SystemExit("cairnctl %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                            r.stdout, r.stderr))
    return r


def main():
    if not os.path.exists(clusterlib.cairnd_path()):
        print("cairnd not built%s" % (": skipped" if "--if-built" in sys.argv else ""))
        return 0 if "--if-built" in sys.argv else 1
    work = tempfile.mkdtemp(prefix="cairn-restore-")
    snap = os.path.join(work, "snap.db")
    with clusterlib.Cluster("cairn", 3) as a:
        a.wait_healthy()
        a.wait_leader()
        eps = a.endpoints()
        for i in range(50):
            ctl("--endpoints", eps, "put", "key%02d" % i, "value%d" % i)
        ctl("--endpoints", eps, "put", "key00", "overwritten")
        ctl("--endpoints", eps, "del", "key49")
        before = json.loads(ctl("--endpoints", eps, "get", "", "--from-key", "-w", "json").stdout)
        ctl("--endpoints", a.members[0].endpoint, "snapshot", "save", snap)
    st = ctl("snapshot", "status", snap, "-w", "json")
    status = json.loads(st.stdout)
    assert status["revision"] == before["header"]["revision"], (status, before["header"])
    assert status["totalKey"] == 49, status
    print("snapshot status:", st.stdout.strip())
    # a damaged snapshot is refused
    bad = os.path.join(work, "bad.db")
    data = bytearray(open(snap, "rb").read())
    data[100] ^= 0xff
    open(bad, "wb").write(data)
    r = ctl("snapshot", "restore", bad, "--data-dir", os.path.join(work, "bad"), check=False)
    assert r.returncode == 1 and "expected sha256" in r.stderr, r.stderr

    b = clusterlib.Cluster("cairn", 3, token="restored-%d" % os.getpid())
    try:
        for m in b.members:
            ctl("snapshot", "restore", snap, "--data-dir", m.data_dir, "--name", m.name,
                "--initial-cluster", b.initial_cluster(), "--initial-cluster-token", b.token,
                "--initial-advertise-peer-urls", m.peer_url)
        r = ctl("snapshot", "restore", snap, "--data-dir", b.members[0].data_dir, "--name", "n1",
                "--initial-cluster", b.initial_cluster(), "--initial-cluster-token", b.token,
                "--initial-advertise-peer-urls", b.members[0].peer_url, check=False)
        assert r.returncode == 1 and "exists" in r.stderr, r.stderr
        b.start()
        b.wait_healthy(timeout=60)
        b.wait_leader()
        eps = b.endpoints()
        after = json.loads(ctl("--endpoints", eps, "get", "", "--from-key", "-w", "json").stdout)
        assert after["kvs"] == before["kvs"], "keys differ after restore"
        ml = json.loads(ctl("--endpoints", eps, "member", "list", "-w", "json").stdout)
        names = sorted(m.get("name", "") for m in ml["members"])
        assert len(ml["members"]) == 3, ml
        peer = sorted(u for m in ml["members"] for u in m["peerURLs"])
        assert peer == sorted(m.peer_url for m in b.members), peer
        ctl("--endpoints", eps, "put", "after-restore", "yes")
        got = ctl("--endpoints", eps, "get", "after-restore", "--print-value-only").stdout
        assert got == "yes\n", got
        hist = ctl("--endpoints", eps, "get", "key00", "--rev", "2", "--print-value-only").stdout
        assert hist == "value0\n", hist  # history survives
        print("restored cluster: members", names, "revision", after["header"]["revision"])
    finally:
        b.close()
        shutil.rmtree(work, ignore_errors=True)
    print("snapshot save/status/restore round trip: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
