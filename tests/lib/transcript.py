"""Transcripts of client sessions, normalized so that two clusters' runs of
the same script can be compared line by line.

What legitimately differs between a fresh real etcd cluster and a fresh cairn
cluster running the same script: member and cluster IDs, lease IDs, ports,
raft terms and indexes, database sizes, hashes (unless equal by design),
timings and log timestamps. Everything else (keys, values, revisions,
versions, counts, error texts, exit codes, output layout) must be identical.
"""

import argparse
import difflib
import re
import sys


class Normalizer:
    def __init__(self, cluster):
        self.names = {}      # hex id -> placeholder
        self.ports = {}      # port -> placeholder
        self.counters = {}
        for i, m in enumerate(cluster.members):
            self.ports[str(m.client_port)] = "<client%d>" % (i + 1)
            self.ports[str(m.peer_port)] = "<peer%d>" % (i + 1)

    def learn_members(self, member_list_json):
        """Names member IDs after the member names, so that the order in
        which IDs first appear (random per cluster) does not matter."""
        for m in member_list_json.get("members", []):
            self.names[format(m["ID"], "x")] = "<id:%s>" % (m.get("name") or "?")
        cid = member_list_json["header"]["cluster_id"]
        self.names[format(cid, "x")] = "<cluster>"

    def _id(self, hexid, kind="id"):
        # One ID shows up as %016x (lease IDs in simple output), %x and in
        # decimal (JSON): compare them without leading zeros, or an ID
        # below 2^60 would get two names.
        hexid = hexid.lower().lstrip("0") or "0"
        if hexid not in self.names:
            n = self.counters.get(kind, 0) + 1
            self.counters[kind] = n
            self.names[hexid] = "<%s%d>" % (kind, n)
        return self.names[hexid]

    def port(self, p):
        if p not in self.ports:
            n = self.counters.get("port", 0) + 1
            self.counters["port"] = n
            self.ports[p] = "<port%d>" % n
        return self.ports[p]

    def text(self, s):
        s = re.sub(r"endpoint://client-[0-9a-f-]+/", "endpoint://client-<uuid>/", s)
        s = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: "127.0.0.1:" + self.port(m.group(1)), s)
        # With several endpoints etcdctl asks any of them: which member
        # answered is not part of the behaviour under test.
        s = re.sub(r'"member_id":\d+', '"member_id":<member>', s)
        s = re.sub(r'"MemberID" : \d+', '"MemberID" : <member>', s)
        # Decimal IDs in JSON output (cluster_id, member_id, ID, leader...).
        s = re.sub(r'"(cluster_id|member_id|ID|id|leader|memberID|targetID|lease)":(\d+)',
                   lambda m: '"%s":%s' % (m.group(1), self._id(format(int(m.group(2)), "x"))
                                          if int(m.group(2)) else m.group(2)), s)
        s = re.sub(r'"(ClusterID|MemberID|ID|Lease)" : (\d+)',
                   lambda m: '"%s" : %s' % (m.group(1), self._id(format(int(m.group(2)), "x"))
                                            if int(m.group(2)) else m.group(2)), s)
        # Hex IDs as etcdctl prints them in simple and table output.
        s = re.sub(r"\b([0-9a-f]{12,16})\b", lambda m: self._id(m.group(1)), s)
        s = re.sub(r'("raft_term"|"RaftTerm" :|"raftTerm"|"raft_index"|"raftIndex"|'
                   r'"raftAppliedIndex"|"dbSize"|"dbSizeInUse"|"hash"|"Hash" :)\s*:?\s*\d+',
                   lambda m: m.group(1) + "<n>", s)
        # etcdctl pads hex IDs to 16 columns (%16x); the pad depends on the ID.
        s = re.sub(r" +(<(?:id|cluster)[^>]*>)", r" \1", s)
        s = re.sub(r"took = [0-9.]+[a-zµ]+", "took = <t>", s)
        s = re.sub(r'"ts":[^,]+,', '"ts":<ts>,', s)
        s = re.sub(r'"took":[0-9.e-]+', '"took":<t>', s)
        s = re.sub(r'"size":"[^"]*"', '"size":<size>', s)
        s = re.sub(r"remaining\(-?\d+s\)", "remaining(<n>s)", s)
        # The same remaining TTL in `lease timetolive -w json` (the granted
        # TTL stays compared): seconds left depend on how fast the steps ran.
        s = re.sub(r'"ttl":-?\d+,"granted-ttl"', '"ttl":<n>,"granted-ttl"', s)
        return s


def endpoint_status_table(s):
    """`endpoint status -w table`: sizes, terms, indexes and which row leads
    legitimately differ; the layout and the other columns must not."""
    out = []
    for line in s.splitlines():
        cells = line.split("|")
        if len(cells) == 12 and "ENDPOINT" not in line:
            for i in (4, 5, 7, 8, 9):
                cells[i] = " <n> "
        out.append("|".join(cells))
    return "\n".join(out) + ("\n" if s.endswith("\n") else "")


def sorted_lines(s):
    return "".join(sorted(s.splitlines(True)))


def diff(a, b, name_a, name_b):
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), name_a, name_b))


def compat_main(run, what, argv=None):
    """The command line every compatibility script shares: run(kind) returns
    one cluster's normalized transcript; etcd and cairn (or etcd twice with
    --self-check) must give identical ones. --only prints one."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--self-check", action="store_true",
                    help="etcd against etcd: proves the normalization")
    ap.add_argument("--only", choices=["etcd", "cairn"], help="print one transcript")
    a = ap.parse_args(argv)
    if a.only:
        sys.stdout.write(run(a.only))
        return 0
    second = "etcd" if a.self_check else "cairn"
    ta = run("etcd")
    tb = run(second)
    d = diff(ta, tb, "etcd", second)
    if d:
        sys.stdout.write(d)
        print("%s transcripts differ" % what)
        return 1
    print("%s transcripts identical: %d lines" % (what, len(ta.splitlines())))
    return 0
