#!/usr/bin/python3
"""The real etcdctl 3.4, the same script, two clusters: real etcd and cairn.

Starts a fresh three-node real etcd 3.4.23 cluster and a fresh three-node
cairn cluster, runs the same script of etcdctl commands against each
(put/get with every flag, del, txn, compaction, leases, watch, members,
endpoints, alarms, defrag, snapshot, lock, elect), normalizes what
legitimately differs (tests/lib/transcript.py) and requires identical
transcripts. Exit status 0 only if they match.

    etcdctl_compat.py                  etcd vs cairn (the CTest compat tier)
    etcdctl_compat.py --self-check     etcd vs etcd: proves the normalization
    etcdctl_compat.py --only etcd      print one cluster's transcript
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cluster as clusterlib  # noqa: E402
import transcript  # noqa: E402

import json  # noqa: E402
import re  # noqa: E402


def status_simple(s):
    out = []
    for line in s.splitlines():
        f = line.split(", ")
        if len(f) == 10:
            f[3] = f[4] = f[6] = f[7] = f[8] = "<n>"
        out.append(", ".join(f))
    return "\n".join(out) + "\n"


def strip_status_json(s):
    return s  # numbers are normalized by field name; leader by ID mapping


# A step: (args, options). Options: stdin, ep ("one" = first member only,
# "all"), norm (extra normalizer), capture {name: regex}, bg (seconds to run
# in the background while the following steps run, then interrupted),
# sleep (seconds to wait after starting), timeout (kill after seconds);
# stdin with bg is written at start and the pipe kept open (interactive).
STEPS = [
    # --- put / get with every flag
    (["put", "foo", "bar"], {}),
    (["put", "foo1", "bar1"], {}),
    (["put", "foo2", "bar2"], {}),
    (["put", "foo3", "bar3"], {}),
    (["put", "zoo", "zebra", "--prev-kv"], {}),
    (["put", "zoo", "zebra2", "--prev-kv"], {}),
    (["put", "zoo", "--ignore-value"], {}),
    (["put", "missing", "--ignore-value"], {}),
    (["put", "missing", "v", "--ignore-lease"], {}),
    (["put", "k-with-bad-lease", "v", "--lease", "1234abcd"], {}),
    (["get", "foo"], {}),
    (["get", "foo", "--print-value-only"], {}),
    (["get", "foo", "-w", "json"], {}),
    (["get", "foo", "-w", "fields"], {}),
    (["get", "foo", "-w", "table"], {}),
    (["get", "foo", "--hex"], {}),
    (["get", "foo", "foo3"], {}),
    (["get", "foo", "--prefix"], {}),
    (["get", "foo", "--prefix", "--limit", "2"], {}),
    (["get", "foo", "--prefix", "--limit", "2", "-w", "json"], {}),
    (["get", "foo", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"], {}),
    (["get", "foo", "--prefix", "--sort-by", "VALUE", "--order", "ASCEND"], {}),
    (["get", "foo", "--prefix", "--sort-by", "CREATE"], {}),
    (["get", "foo", "--prefix", "--sort-by", "VERSION", "--order", "DESCEND"], {}),
    (["get", "foo", "--prefix", "--keys-only"], {}),
    (["get", "foo", "--prefix", "--count-only", "-w", "json"], {}),
    (["get", "foo", "--from-key"], {}),
    (["get", "", "--from-key", "--keys-only"], {}),
    (["get", "foo", "--rev", "2"], {}),
    (["get", "foo", "--rev", "99"], {}),
    (["get", "foo", "--prefix", "--consistency", "s"], {}),
    (["get", "nothing-here"], {}),
    (["get", "nothing-here", "-w", "json"], {}),
    (["get"], {}),
    (["put", "bin\x01key", "v\x7f\xff"], {}),
    (["get", "bin\x01key", "--hex"], {}),
    # --- del
    (["del", "foo3", "--prev-kv"], {}),
    (["del", "nothing-here"], {}),
    (["del", "foo", "--prefix"], {}),
    (["get", "foo", "--prefix"], {}),
    (["put", "foo", "again"], {}),
    (["get", "foo", "-w", "json"], {}),
    (["del", "zoo", "--from-key", "-w", "json"], {}),
    # --- txn (stdin; interactive prompts go to stdout)
    (["txn"], {"stdin": 'create("foo") > "0"\n\nput foo txn-yes\nget foo\n\nput foo txn-no\n\n'}),
    (["txn", "-w", "json"], {"stdin": 'value("foo") = "nope"\n\nput foo x\n\nget foo\ndel zz\n\n'}),
    (["txn", "-i"], {"stdin": 'mod("foo") > "1"\nversion("foo") < "100"\n\nput a 1\nput b 2\n\n\n'}),
    (["txn"], {"stdin": 'ver("foo") = "1"\n\nput c 3\n\n\n'}),
    (["txn"], {"stdin": '\nput d 4\nput d 5\n\n\n'}),
    (["get", "", "--from-key", "-w", "json"], {}),
    # --- compaction
    (["compaction", "3"], {}),
    (["compaction", "--physical", "5"], {}),
    (["compaction", "4"], {}),
    (["compaction", "100000"], {}),
    (["get", "foo", "--rev", "3"], {}),
    (["get", "foo", "--rev", "4"], {}),
    # --- leases
    (["lease", "grant", "100"], {"capture": {"lease1": r"lease ([0-9a-f]+) granted"}}),
    (["lease", "grant", "1"], {"capture": {"lease2": r"lease ([0-9a-f]+) granted"}}),
    (["put", "leased", "v", "--lease", "{lease1}"], {}),
    (["put", "leased2", "v", "--lease", "{lease1}"], {}),
    (["lease", "timetolive", "{lease1}"], {}),
    (["lease", "timetolive", "{lease1}", "--keys"], {"norm": "sort_keys_line"}),
    (["lease", "timetolive", "{lease1}", "-w", "json"], {}),
    (["lease", "list"], {"norm": "sorted"}),
    (["lease", "keep-alive", "--once", "{lease1}"], {}),
    (["lease", "keep-alive", "--once", "{lease1}", "-w", "json"], {}),
    (["get", "leased", "-w", "fields"], {}),
    (["put", "leased", "v2", "--ignore-lease"], {}),
    (["get", "leased", "-w", "json"], {}),
    (["lease", "revoke", "{lease1}"], {}),
    (["get", "leased", "--prefix"], {}),
    (["lease", "revoke", "{lease1}"], {}),
    (["lease", "timetolive", "{lease1}"], {}),
    (["lease", "grant", "0"], {"capture": {"lease3": r"lease ([0-9a-f]+) granted"}}),
    (["lease", "revoke", "{lease3}"], {}),
    # --- watch
    (["watch", "w", "--prefix", "--prev-kv"], {"bg": 4, "sleep": 1.0}),
    (["put", "w1", "a"], {}),
    (["put", "w1", "b"], {}),
    (["del", "w1"], {}),
    (["put", "w2", "c"], {"sleep": 1.0}),
    (["watch", "w1", "--rev", "1"], {"timeout": 2.0}),
    (["watch", "w", "--prefix", "--rev", "20", "-w", "json"], {"timeout": 2.0}),
    (["watch", "w", "--prefix", "--rev", "21", "--prev-kv"], {"timeout": 2.0}),
    (["watch", "foo", "--rev", "2"], {"timeout": 2.0}),
    # interactive: two watches and a progress request on one stream
    (["watch", "-i"], {"bg": 4, "sleep": 1.0,
                       "stdin": "watch wi\nprogress\nwatch wj --prev-kv\n"}),
    (["put", "wi", "1"], {}),
    (["put", "wj", "1"], {}),
    (["put", "wj", "2"], {"sleep": 0.5}),
    # --- members
    (["member", "list"], {"norm": "sorted"}),
    (["member", "list", "-w", "table"], {"norm": "sorted"}),
    (["member", "list", "-w", "json"], {"norm": "members_json"}),
    (["member", "add", "n4", "--peer-urls", "http://127.0.0.1:{spare1}"],
     {"capture": {"new1": r"Member ([0-9a-f]+) added"}, "norm": "member_add"}),
    (["member", "list"], {"norm": "sorted"}),
    (["member", "update", "{new1}", "--peer-urls", "http://127.0.0.1:{spare3}"], {}),
    (["member", "list"], {"norm": "sorted"}),
    (["member", "add", "n5", "--learner", "--peer-urls", "http://127.0.0.1:{spare2}"], {}),
    (["member", "remove", "{new1}"], {}),
    (["member", "remove", "{new1}"], {}),
    (["member", "add", "n5", "--learner", "--peer-urls", "http://127.0.0.1:{spare2}"],
     {"capture": {"new2": r"Member ([0-9a-f]+) added"}, "norm": "member_add"}),
    (["member", "list", "-w", "table"], {"norm": "sorted"}),
    (["member", "promote", "{new2}"], {}),
    (["member", "add", "n6", "--learner", "--peer-urls", "http://127.0.0.1:{spare3}"], {}),
    (["member", "add", "dup", "--peer-urls", "{peer1}"], {}),
    (["member", "remove", "{new2}"], {}),
    (["member", "list"], {"norm": "sorted"}),
    # --- endpoints, alarms, maintenance
    (["endpoint", "health"], {"norm": "sorted"}),
    (["endpoint", "health", "--cluster"], {"norm": "sorted", "ep": "one"}),
    (["endpoint", "status"], {"norm": "status_simple", "ep": "one"}),
    (["endpoint", "status", "-w", "json"], {"ep": "one", "norm": "status_json"}),
    (["endpoint", "status", "-w", "table", "--cluster"],
     {"norm": "status_table_sorted", "ep": "one"}),
    (["endpoint", "hashkv"], {"ep": "one", "norm": "hashkv"}),
    (["endpoint", "hashkv", "--cluster"], {"ep": "one", "norm": "hashkv"}),
    (["alarm", "list"], {}),
    (["alarm", "list", "-w", "json"], {}),
    (["alarm", "disarm"], {}),
    (["defrag"], {"ep": "one"}),
    (["defrag", "--cluster"], {"ep": "one", "norm": "sorted"}),
    (["snapshot", "save", "{tmp}/snap.db"], {"ep": "one"}),
    (["snapshot", "save", "{tmp}/snap2.db"], {}),
    # --- lock and elect (client recipes over Txn, Range, Watch, leases)
    (["lock", "mylock", "--", "sh", "-c", "echo got $ETCD_LOCK_KEY $ETCD_LOCK_REV"], {}),
    (["lock", "mylock", "--ttl", "5", "--", "echo", "second"], {}),
    (["elect", "myelection", "p1"], {"bg": 3, "sleep": 1.0}),
    (["elect", "-l", "myelection"], {"timeout": 1.5}),
    (["get", "myelection", "--prefix", "--print-value-only"], {}),
    (["elect", "myelection", "p2"], {"timeout": 1.5}),
    (["get", "myelection", "--prefix", "--print-value-only"], {"sleep": 0.5}),
    (["get", "", "--from-key", "--keys-only"], {}),
]

def members_json(s):
    """MemberList order follows etcd's internal map; compare as a set."""
    m = re.search(r'"members":\[(.*)\]', s)
    if not m:
        return s
    items = sorted(re.findall(r'\{[^{}]*\}', m.group(1)))
    return s[:m.start(1)] + ",".join(items) + s[m.end(1):]


def member_add(s):
    """ETCD_INITIAL_CLUSTER lists members in map order; sort its items."""
    out = []
    for line in s.splitlines():
        if line.startswith('ETCD_INITIAL_CLUSTER="'):
            items = sorted(line[len('ETCD_INITIAL_CLUSTER="'):-1].split(","))
            line = 'ETCD_INITIAL_CLUSTER="%s"' % ",".join(items)
        out.append(line)
    return "\n".join(out) + "\n"


def hashkv(s):
    """Hashes cover lease IDs, which are random; what must hold is that
    every member of one cluster reports the same hash."""
    rows = [line.rsplit(", ", 1) for line in s.splitlines() if ", " in line]
    same = len({r[1] for r in rows}) == 1
    tag = "<hash:same>" if same else "<hash:DIFFERENT>"
    return "".join("%s, %s\n" % (r[0], tag) for r in sorted(rows))


def status_table_sorted(s):
    lines = transcript.endpoint_status_table(s).splitlines(True)
    head, body = lines[:3], lines[3:-1]
    return "".join(head + sorted(body) + lines[-1:])


def sort_attached_keys(s):
    """`lease timetolive --keys` lists keys in the order of etcd's lease
    item map (random): compare them as a set."""
    return re.sub(r"attached keys\(\[([^\]]*)\]\)",
                  lambda m: "attached keys([%s])" % " ".join(sorted(m.group(1).split())), s)


def status_json(s):
    """Which member leads legitimately differs (as in status_simple)."""
    return re.sub(r'"leader":<[^>]*>', '"leader":<leader>', s)


NORMALIZERS = {
    "hashkv": hashkv,
    "status_table_sorted": status_table_sorted,
    "members_json": members_json,
    "member_add": member_add,
    "sorted": transcript.sorted_lines,
    "status_simple": status_simple,
    "status_table": transcript.endpoint_status_table,
    "sort_keys_line": sort_attached_keys,
    "status_json": status_json,
}


def run_script(kind, out, spare_ports):
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
        for args, opt in STEPS:
            args = [a.format(**env) for a in args]
            eps = c.members[0].endpoint if opt.get("ep") == "one" else c.endpoints()
            cmd = [clusterlib.ETCDCTL, "--endpoints", eps] + args
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
            stdin = opt.get("stdin")
            try:
                r = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                   timeout=opt.get("timeout", 30))
                so, se, rc = r.stdout, r.stderr, str(r.returncode)
            except subprocess.TimeoutExpired as e:
                so = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                se = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
                rc = "timeout"
            # etcdctl pads member IDs to 16 columns (%16x): an ID with a
            # leading zero digit is printed after two spaces.
            for name, rx in opt.get("capture", {}).items():
                m = re.search(rx, re.sub(" +", " ", so))
                env[name] = m.group(1) if m else "none"
            lines.append(render(shown, so, se, rc, opt, norm))
            time.sleep(opt.get("sleep", 0.05))
            still = []
            for b in background:
                b[2] -= 1
                if b[2] <= 0:
                    lines.append(finish_bg(b, norm))
                else:
                    still.append(b)
            background = still
        for b in background:
            lines.append(finish_bg(b, norm))
        text = "".join(lines)
        out.write(text)
        return text


def finish_bg(b, norm):
    shown, p, _, opt = b
    p.send_signal(signal.SIGINT)
    try:
        if p.stdin:
            # Closing an interactive command's stdin before it has seen the
            # signal makes it print an EOF error first, at random.
            p.wait(timeout=10)
        so, se = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        so, se = p.communicate()
    return render(shown + "  [background, interrupted]", so, se, "-", opt, norm)


def render(shown, so, se, rc, opt, norm):
    extra = NORMALIZERS.get(opt.get("norm"), lambda s: s)
    so = extra(norm.text(so.replace(norm.tmp, "<tmp>")))
    se = norm.text(se.replace(norm.tmp, "<tmp>"))
    if opt.get("norm") == "sorted":
        se = transcript.sorted_lines(se)
    return "$ etcdctl %s\n%s[stderr]\n%s[exit %s]\n\n" % (norm.text(shown), so, se, rc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--only", choices=["etcd", "cairn"])
    ap.add_argument("--save", help="directory for the two transcripts")
    a = ap.parse_args()
    spare = clusterlib.free_ports(3)
    if a.only:
        run_script(a.only, sys.stdout, spare)
        return 0
    second = "etcd" if a.self_check else "cairn"
    import io
    ta = run_script("etcd", io.StringIO(), spare)
    tb = run_script(second, io.StringIO(), spare)
    if a.save:
        os.makedirs(a.save, exist_ok=True)
        open(os.path.join(a.save, "etcd.txt"), "w").write(ta)
        open(os.path.join(a.save, second + ".txt"), "w").write(tb)
    d = transcript.diff(ta, tb, "etcd", second)
    if d:
        sys.stdout.write(d)
        print("etcdctl transcripts differ (%d steps)" % len(STEPS))
        return 1
    print("etcdctl transcripts identical: %d steps" % len(STEPS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
