#!/usr/bin/python3
"""cairnctl in place of etcdctl: the same script, compared with etcdctl's.

Runs the STEPS of tests/compat/etcdctl_compat.py (imported, not copied)
twice on fresh three-node clusters: once with the real etcdctl 3.4.23, once
with cairnctl, normalizes both transcripts the same way and requires them to
be identical. Exit status 0 only if they match.

    cairnctl_compat.py                   etcdctl on etcd vs cairnctl on etcd
    cairnctl_compat.py --cairn           etcdctl on etcd vs cairnctl on cairnd
    cairnctl_compat.py --cairn --if-built  the same, skipped (exit 0) without cairnd
    cairnctl_compat.py --only cairnctl   print cairnctl's transcript (on etcd)
    cairnctl_compat.py --save DIR        keep both transcripts

Captures ("lease ([0-9a-f]+) granted", "Member ([0-9a-f]+) added") are
matched with runs of spaces collapsed, in both runs alike: etcdctl pads
member IDs to 16 columns (%16x), so an ID with a leading zero digit would
otherwise defeat the capture at random.
"""

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import cluster as clusterlib  # noqa: E402
import etcdctl_compat as ec  # noqa: E402
import transcript  # noqa: E402


def sort_attached_keys(s):
    """etcd lists a lease's keys in Go map order (random between runs):
    compare them as a set."""
    return re.sub(r"attached keys\(\[([^]]*)\]\)",
                  lambda m: "attached keys([%s])" % " ".join(sorted(m.group(1).split(" "))), s)


# Older etcdctl_compat.py left this normalizer the identity.
ec.NORMALIZERS.setdefault("sort_keys_line", sort_attached_keys)


def own_name(s):
    """cairnctl names itself where etcdctl names itself (usage texts,
    "unknown command ... for \"cairnctl\""): the one intended difference."""
    return s.replace("cairnctl", "etcdctl")


def cairnctl_path():
    build = os.environ.get("CAIRN_BUILD_DIR") or os.path.join(HERE, "..", "..", "build")
    return os.path.join(build, "client", "cairnctl")


def run_script(kind, ctl, out, spare_ports):
    with clusterlib.Cluster(kind, 3) as c:
        c.wait_healthy()
        c.wait_leader()
        norm = transcript.Normalizer(c)
        ml = c.etcdctl("member", "list", "-w", "json")
        norm.learn_members(json.loads(ml.stdout))
        tmp = tempfile.mkdtemp(prefix="compat-")
        norm.tmp = tmp
        env = {"tmp": tmp, "peer1": c.members[0].peer_url}
        for i, p in enumerate(spare_ports):
            env["spare%d" % (i + 1)] = str(p)
            norm.ports[str(p)] = "<spare%d>" % (i + 1)
        background = []
        lines = []
        for args, opt in ec.STEPS:
            args = [a.format(**env) for a in args]
            eps = c.members[0].endpoint if opt.get("ep") == "one" else c.endpoints()
            cmd = [ctl, "--endpoints", eps] + args
            shown = " ".join(args).replace(tmp, "<tmp>")
            if "bg" in opt:
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.PIPE if "stdin" in opt else None,
                                     text=True, start_new_session=True)
                if "stdin" in opt:  # kept open: interactive commands
                    p.stdin.write(opt["stdin"])
                    p.stdin.flush()
                background.append([shown, p, opt["bg"], opt])
                time.sleep(opt.get("sleep", 0.5))
                continue
            try:
                r = subprocess.run(cmd, input=opt.get("stdin"), capture_output=True, text=True,
                                   timeout=opt.get("timeout", 30))
                so, se, rc = r.stdout, r.stderr, str(r.returncode)
            except subprocess.TimeoutExpired as e:
                so = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                se = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
                rc = "timeout"
            for name, rx in opt.get("capture", {}).items():
                m = re.search(rx, re.sub(" +", " ", so))
                env[name] = m.group(1) if m else "none"
            if ctl != clusterlib.ETCDCTL:
                so, se = own_name(so), own_name(se)
            lines.append(ec.render(shown, so, se, rc, opt, norm))
            time.sleep(opt.get("sleep", 0.05))
            still = []
            for b in background:
                b[2] -= 1
                if b[2] <= 0:
                    lines.append(ec.finish_bg(b, norm))
                else:
                    still.append(b)
            background = still
        for b in background:
            lines.append(ec.finish_bg(b, norm))
        text = "".join(lines)
        out.write(text)
        shutil.rmtree(tmp, ignore_errors=True)
        return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", action="store_true", help="cairnctl against cairnd")
    ap.add_argument("--if-built", action="store_true", help="skip if cairnd is not built")
    ap.add_argument("--only", choices=["etcdctl", "cairnctl"])
    ap.add_argument("--save", help="directory for the two transcripts")
    a = ap.parse_args()
    ctl = cairnctl_path()
    if not os.path.exists(ctl):
        print("cairnctl not found at %s (build it first)" % ctl)
        return 1
    if a.cairn and not os.path.exists(clusterlib.cairnd_path()):
        print("cairnd not built (%s)%s" % (clusterlib.cairnd_path(),
                                          ": skipped" if a.if_built else ""))
        return 0 if a.if_built else 1
    spare = clusterlib.free_ports(3)
    if a.only:
        run_script("etcd", clusterlib.ETCDCTL if a.only == "etcdctl" else ctl, sys.stdout, spare)
        return 0
    ta = run_script("etcd", clusterlib.ETCDCTL, io.StringIO(), spare)
    tb = run_script("cairn" if a.cairn else "etcd", ctl, io.StringIO(), spare)
    name_b = "cairnctl on " + ("cairn" if a.cairn else "etcd")
    if a.save:
        os.makedirs(a.save, exist_ok=True)
        open(os.path.join(a.save, "etcdctl.txt"), "w").write(ta)
        open(os.path.join(a.save, "cairnctl.txt"), "w").write(tb)
    d = transcript.diff(ta, tb, "etcdctl on etcd", name_b)
    if d:
        sys.stdout.write(d)
        nsteps = len(ec.STEPS)
        ndiff = sum(1 for block in ta.split("\n$ ") if block not in tb)
        print("cairnctl transcript differs from etcdctl's (%d of %d steps)" % (ndiff, nsteps))
        return 1
    print("cairnctl transcript identical to etcdctl's: %d steps (%s)" % (len(ec.STEPS), name_b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
