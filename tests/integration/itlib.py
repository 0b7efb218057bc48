"""Shared pieces of the integration tier: real cairnd processes on 127.0.0.1
(tests/lib/cluster.py), a writer that records which writes were
acknowledged, and small assertion helpers. Each test script is a story:
start a cluster, do what an operator or a fault would do, assert what a
client sees."""

import contextlib
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cluster as clusterlib  # noqa: E402

import etcd3  # noqa: E402


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok:", what, flush=True)


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise Failure("timed out (%ss) waiting for %s%s" % (timeout, what,
                                                       ": %r" % last if last else ""))


def client(member, timeout=3):
    return etcd3.client(host="127.0.0.1", port=member.client_port, timeout=timeout)


class Writer(threading.Thread):
    """Puts w/<n> = <n> in a loop, through the members in turn, and records
    every write the cluster acknowledged."""

    def __init__(self, members, prefix="w/"):
        super().__init__(daemon=True)
        self.members = list(members)
        self.prefix = prefix
        self.acked = []
        self.errors = 0
        self.stop_flag = False
        self.n = 0

    def run(self):
        clients = {}
        i = 0
        while not self.stop_flag:
            m = self.members[i % len(self.members)]
            i += 1
            if not m.running():
                continue
            try:
                c = clients.get(m.name) or client(m, timeout=2)
                clients[m.name] = c
                self.n += 1
                k = "%s%06d" % (self.prefix, self.n)
                c.put(k, str(self.n))
                self.acked.append(k)
            except Exception:  # noqa: BLE001 - a failed write is simply not acked
                self.errors += 1
                clients.pop(m.name, None)
                time.sleep(0.05)
        for c in clients.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    def stop(self):
        self.stop_flag = True
        self.join(30)


def applied(c, m):
    st = c.status(m)
    return st.get("raftAppliedIndex", 0) if st else -1


def wait_caught_up(c, members, timeout=30):
    """Every member has applied the same index (no writes running)."""
    def same():
        idx = [applied(c, m) for m in members]
        return len(set(idx)) == 1 and idx[0] > 0
    wait_for(same, timeout, "members to apply the same index")


def delay_commits(c, ms):
    """The fault hook's commit_delay_ms on every member: each apply thread
    sleeps that long between answering a batch and committing it."""
    for m in c.members:
        c.fault(m, "commit_delay_ms=%d" % ms)


@contextlib.contextmanager
def delayed_commits_cluster(delay_ms):
    """A three-member cluster with the fault hook, every member answering,
    its commits delayed by delay_ms."""
    with clusterlib.Cluster("cairn", 3, fault_injection=True) as c:
        c.wait_leader(timeout=20)
        wait_for(lambda: all(c.status(m) for m in c.members), 20, "every member to answer")
        delay_commits(c, delay_ms)
        yield c


def run(test):
    """Runs test(), prints the verdict; exit status for CTest."""
    t0 = time.time()
    try:
        test()
    except Failure as e:
        print("FAIL:", e, flush=True)
        print("0 passed, 1 failed")
        sys.exit(1)
    print("%s passed in %.1fs" % (os.path.basename(sys.argv[0]), time.time() - t0))
    print("1 passed, 0 failed")
