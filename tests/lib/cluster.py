"""Start real etcd-API clusters on 127.0.0.1 for tests: cairnd or real etcd.

cairnd takes etcd's flags, so one harness starts either kind, and the
compatibility tests can run the same script against both. Each member gets
free ports, a data directory under the cluster's work directory and a log
file; members are real processes that tests can kill -9, stop (SIGSTOP),
restart and inspect.

    with Cluster("cairn", 3) as c:
        c.wait_healthy()
        subprocess.run(["etcdctl", "--endpoints", c.endpoints(), "put", "k", "v"])

Environment: CAIRN_BUILD_DIR (set by CTest) locates cairnd; CAIRN_KEEP_DATA=1
keeps the work directory for post-mortems.

Partitions without root (cairn only): start the cluster with
fault_injection=True (it passes --experimental-fault-injection), then

    c.partition([leader], others)   # each side drops the other's peer traffic
    c.heal()

which drive each member's test hook, GET /cairn/fault?drop=<hex ids>&delay_ms=N
and GET /cairn/fault?clear=1 on its client port (server/node_http.c).
"""

import json
import os
import urllib.request
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


def cairnd_path():
    build = os.environ.get("CAIRN_BUILD_DIR")
    if not build:
        here = os.path.dirname(os.path.abspath(__file__))
        build = os.path.join(here, "..", "..", "build")
    return os.path.join(build, "server", "cairnd")


def free_ports(n):
    """n distinct ports that were free a moment ago (bound to port 0)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Member:
    def __init__(self, cluster, name, client_port, peer_port):
        self.cluster = cluster
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = os.path.join(cluster.workdir, name)
        self.log_path = os.path.join(cluster.workdir, name + ".log")
        self.proc = None

    @property
    def client_url(self):
        return "http://127.0.0.1:%d" % self.client_port

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.client_port

    def args(self, state):
        c = self.cluster
        a = [c.binary,
             "--name", self.name,
             "--data-dir", self.data_dir,
             "--listen-client-urls", self.client_url,
             "--advertise-client-urls", self.client_url,
             "--listen-peer-urls", self.peer_url,
             "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster-token", c.token,
             "--initial-cluster", c.initial_cluster(),
             "--initial-cluster-state", state,
             "--heartbeat-interval", str(c.heartbeat_ms),
             "--election-timeout", str(c.election_ms)]
        return a + list(c.extra_flags)

    def start(self, state=None):
        assert self.proc is None or self.proc.poll() is not None, self.name + " already running"
        state = state or ("existing" if os.path.isdir(self.data_dir) else self.cluster.state)
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        if self.cluster.kind == "etcd":
            env["ETCD_UNSUPPORTED_ARCH"] = env.get("ETCD_UNSUPPORTED_ARCH", "")
        self.proc = subprocess.Popen(self.args(state), stdout=log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.running():
            try:
                self.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        """Graceful stop (SIGTERM), as an operator would."""
        self.kill(signal.SIGTERM)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Cluster:
    def __init__(self, kind, size=3, workdir=None, heartbeat_ms=100, election_ms=1000,
                 extra_flags=(), token=None, fault_injection=False):
        assert kind in ("cairn", "etcd")
        if fault_injection:
            assert kind == "cairn", "the fault hook is cairn's"
            extra_flags = list(extra_flags) + ["--experimental-fault-injection"]
        self.kind = kind
        self.binary = cairnd_path() if kind == "cairn" else ETCD
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cairn-%s-" % kind)
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.extra_flags = list(extra_flags)
        self.token = token or ("cluster-%d" % os.getpid())
        self.state = "new"
        ports = free_ports(2 * size)
        self.members = [Member(self, "n%d" % (i + 1), ports[2 * i], ports[2 * i + 1])
                        for i in range(size)]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close(failed=exc[0] is not None)
        return False

    def initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)

    def endpoints(self, members=None):
        return ",".join(m.endpoint for m in (members or self.members))

    def start(self):
        if not os.path.exists(self.binary):
            raise RuntimeError("%s not found (build it first)" % self.binary)
        for m in self.members:
            m.start()

    def close(self, failed=False):
        for m in self.members:
            m.kill()
        # A sanitizer build (CAIRN_SANITIZE) reports into the member logs:
        # any report fails the test that ran the cluster.
        reports = [m.name for m in self.members
                   if any(s in m.log_text() for s in ("ERROR: AddressSanitizer",
                                                      "ERROR: LeakSanitizer",
                                                      "runtime error:"))]
        if reports:
            failed = True
        if failed or os.environ.get("CAIRN_KEEP_DATA"):
            sys.stderr.write("cluster work directory kept: %s\n" % self.workdir)
            for m in self.members:
                tail = m.log_text()[-1500:]
                sys.stderr.write("---- %s log (tail) ----\n%s\n" % (m.name, tail))
        elif self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if reports:
            raise RuntimeError("sanitizer reports in the logs of %s (kept in %s)"
                               % (", ".join(reports), self.workdir))

    def etcdctl(self, *args, endpoints=None, timeout=30, check=True, input=None):
        cmd = [ETCDCTL, "--endpoints", endpoints or self.endpoints()] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                           env=dict(os.environ, ETCDCTL_API="3"))
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode,
                                                           r.stdout, r.stderr))
        return r

    def status(self, member):
        """Maintenance/Status of one member as a dict (etcdctl's json)."""
        r = self.etcdctl("endpoint", "status", "-w", "json", endpoints=member.endpoint,
                         check=False, timeout=10)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)[0]["Status"]

    def leader(self, members=None):
        """The member every running member agrees leads, or None."""
        ids = set()
        by_id = {}
        for m in (members or self.members):
            if not m.running():
                continue
            st = self.status(m)
            if st is None:
                return None
            # A member without a leader omits the field (proto3 zero).
            ids.add(st.get("leader", 0))
            by_id[st["header"]["member_id"]] = m
        if len(ids) != 1 or 0 in ids:
            return None
        lid = ids.pop()
        return by_id.get(lid)

    def wait_healthy(self, timeout=30, members=None):
        members = members or [m for m in self.members if m.running()]
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.etcdctl("endpoint", "health", endpoints=self.endpoints(members),
                             check=False, timeout=15)
            if r.returncode == 0:
                return
            last = r.stderr
            time.sleep(0.2)
        raise RuntimeError("cluster not healthy after %ds: %s" % (timeout, last))

    def wait_leader(self, timeout=30, members=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.leader(members)
            if m is not None:
                return m
            time.sleep(0.1)
        raise RuntimeError("no leader after %ds" % timeout)

    # ---- helpers for the integration tier (cairn and etcd alike unless noted)

    def member_id(self, member):
        """The member's ID (int) from its own Status header."""
        st = self.status(member)
        return st["header"]["member_id"] if st else None

    def hashkv(self, member, rev=0):
        """(hash, compact_revision) of Maintenance/HashKV on one member."""
        args = ["endpoint", "hashkv", "-w", "json"]
        if rev:
            args += ["--rev", str(rev)]
        r = self.etcdctl(*args, endpoints=member.endpoint, timeout=10)
        h = json.loads(r.stdout)[0]["HashKV"]
        return h.get("hash", 0), h.get("compact_revision", 0)

    def add_member(self, name, learner=False):
        """Registers a new member (etcdctl member add) and returns a Member
        object for it, to start with state "existing"."""
        port_c, port_p = free_ports(2)
        m = Member(self, name, port_c, port_p)
        args = ["member", "add", name, "--peer-urls", m.peer_url]
        if learner:
            args.append("--learner")
        self.etcdctl(*args, endpoints=self.endpoints([x for x in self.members if x.running()]))
        self.members.append(m)
        return m

    def fault(self, member, query):
        """cairn's fault hook on one member (needs fault_injection=True)."""
        url = "http://127.0.0.1:%d/cairn/fault?%s" % (member.client_port, query)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read().decode())

    def partition(self, *groups):
        """Cuts peer traffic between the groups of members (lists): each
        member drops everything to and from members of other groups."""
        ids = {m.name: self.member_id(m) for g in groups for m in g}
        for g in groups:
            others = [ids[m.name] for h in groups if h is not g for m in h]
            for m in g:
                self.fault(m, "drop=" + ",".join("%x" % i for i in others))

    def heal(self):
        for m in self.members:
            if m.running():
                self.fault(m, "clear=1")

    def metric(self, member, name):
        """A metric's value from /metrics on the client port (cairn and
        etcd both serve it there), or None."""
        url = "http://127.0.0.1:%d/metrics" % member.client_port
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None
