#!/usr/bin/python3
"""Watch under load: many watchers, one slow reader, no event lost.

Against a one-member cluster (cairn by default, `--kind etcd` to check the
test itself against real etcd):

  - 1000 watchers on one key, spread over 10 streams, plus prefix watchers
    with prev_kv, created over raw gRPC (tests/lib/rawpb.py);
  - one stream whose client stops reading for a while (grpcio then stops
    granting HTTP/2 flow control, so the server's buffer for it fills)
    while 20 MiB of writes go by;
  - python3-etcd3's own watch iterator on the prefix.

Checked: every watcher receives every event of its key or prefix exactly
once, in revision order, with correct prev_kv; the fast watchers finish
while the slow one is still paused (a slow reader delays nobody else); the
slow one catches up completely once it reads again; the server's resident
memory stays bounded (the slow stream's backlog is not buffered in full);
the watch metrics (cairn only) count the streams and watchers.
"""

import argparse
import os
import queue
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cluster as clusterlib  # noqa: E402
import rawpb  # noqa: E402

import etcd3  # noqa: E402
import grpc  # noqa: E402

PB = rawpb.RawPB()
M = PB.msg

HOT_STREAMS = 10
HOT_PER_STREAM = 100
HOT_PUTS = 50
BIG_PUTS = 2000
BIG_VALUE = 10 * 1024


class Stream:
    def __init__(self, ch, pause=None):
        self.q = queue.Queue()
        self.pause = pause  # threading.Event: read only while set
        self.resps = []
        self.ended = None
        self.lock = threading.Lock()

        def requests():
            while True:
                r = self.q.get()
                if r is None:
                    return
                yield r

        self.call = PB.stream(ch, "/etcdserverpb.Watch/Watch", "etcdserverpb.WatchRequest",
                              "etcdserverpb.WatchResponse", requests())
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            it = iter(self.call)
            while True:
                if self.pause is not None:
                    self.pause.wait()
                r = next(it)
                with self.lock:
                    self.resps.append(r)
        except StopIteration:
            self.ended = "OK"
        except grpc.RpcError as e:
            self.ended = "%s %s" % (e.code().name, e.details())

    def create(self, key, end=b"", prev_kv=False, start=0):
        r = M("etcdserverpb.WatchRequest")()
        r.create_request.key = key
        r.create_request.range_end = end
        r.create_request.prev_kv = prev_kv
        r.create_request.start_revision = start
        self.q.put(r)

    def events_by_watcher(self):
        with self.lock:
            rs = list(self.resps)
        out = {}
        for r in rs:
            if r.created or r.canceled:
                out.setdefault(r.watch_id, [])
                continue
            out.setdefault(r.watch_id, []).extend(r.events)
        return out

    def created(self):
        with self.lock:
            return sum(1 for r in self.resps if r.created)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized():
    """True if cairnd is an ASan build (its memory figures mean little)."""
    cache = os.path.join(os.path.dirname(os.path.dirname(clusterlib.cairnd_path())),
                         "CMakeCache.txt")
    try:
        with open(cache) as f:
            return "CAIRN_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def check_sequence(evs, want_keys, what, prev_kv=False):
    """evs: the events one watcher got; want_keys: [(rev, key, value)] in order."""
    got = [(e.kv.mod_revision, e.kv.key, e.kv.value) for e in evs]
    if got != want_keys:
        missing = sorted(set(want_keys) - set(got))[:3]
        extra = sorted(set(got) - set(want_keys))[:3]
        dup = len(got) - len(set(got))
        raise AssertionError("%s: %d events, want %d (missing %s, extra %s, duplicates %d)" % (
            what, len(got), len(want_keys), missing, extra, dup))
    if prev_kv:
        last = {}
        for e in evs:
            if e.kv.key in last:
                assert e.HasField("prev_kv") and e.prev_kv.value == last[e.kv.key], \
                    "%s: wrong prev_kv at revision %d" % (what, e.kv.mod_revision)
            last[e.kv.key] = e.kv.value


def run(kind):
    with clusterlib.Cluster(kind, 1) as c:
        c.wait_healthy()
        m = c.members[0]
        # etcd answers a catch-up with one response holding the whole
        # backlog (20 MiB here): more than grpcio's 4 MiB default.
        ch = grpc.insecure_channel(m.endpoint,
                                   options=[("grpc.max_receive_message_length", 256 << 20)])
        pid = m.proc.pid
        rss0 = rss_kib(pid)

        hot = [Stream(ch) for _ in range(HOT_STREAMS)]
        for s in hot:
            for _ in range(HOT_PER_STREAM):
                s.create(b"hot")
        fast = Stream(ch)
        fast.create(b"big/", b"big0", prev_kv=True)
        pause = threading.Event()
        slow = Stream(ch, pause=pause)
        slow.create(b"big/", b"big0", prev_kv=True)
        pause.set()
        wait_for(lambda: all(s.created() == HOT_PER_STREAM for s in hot) and
                 fast.created() == 1 and slow.created() == 1, 30, "1002 watchers created")
        pause.clear()  # the slow client stops reading now

        py = etcd3.client(host="127.0.0.1", port=m.client_port)
        py_events = []
        it, cancel = py.watch_prefix("big/")

        def consume():
            for e in it:
                py_events.append((e.mod_revision, e.key, e.value))
                if len(py_events) == BIG_PUTS:
                    return

        pt = threading.Thread(target=consume, daemon=True)
        pt.start()
        time.sleep(0.5)

        kv = etcd3.client(host="127.0.0.1", port=m.client_port)
        hot_want = []
        for i in range(HOT_PUTS):
            v = b"h%d" % i
            r = kv.put("hot", v)
            hot_want.append((r.header.revision, b"hot", v))
        big_want = []
        t0 = time.time()
        for i in range(BIG_PUTS):
            k = b"big/%04d" % (i % 100)
            v = (b"%06d" % i) * (BIG_VALUE // 6)
            r = kv.put(k, v)
            big_want.append((r.header.revision, k, v))
        write_s = time.time() - t0
        rss_peak = rss_kib(pid)

        # Everyone but the slow reader is done while it is still paused.
        wait_for(lambda: all(len(evs) == HOT_PUTS for s in hot
                             for evs in s.events_by_watcher().values()), 60,
                 "1000 hot watchers to get %d events each" % HOT_PUTS)
        wait_for(lambda: sum(len(v) for v in fast.events_by_watcher().values()) == BIG_PUTS,
                 60, "the fast prefix watcher")
        pt.join(60)
        slow_before = sum(len(v) for v in slow.events_by_watcher().values())
        assert slow_before < BIG_PUTS, "the slow reader was not slowed (test too small?)"
        for s in hot:
            byw = s.events_by_watcher()
            assert len(byw) == HOT_PER_STREAM, "a hot stream has %d watchers" % len(byw)
            for wid, evs in byw.items():
                check_sequence(evs, hot_want, "hot watcher %d" % wid)
        check_sequence(list(fast.events_by_watcher().values())[0], big_want, "fast prefix", True)
        assert py_events == big_want, "python3-etcd3 iterator: %d events" % len(py_events)

        metrics = None
        if kind == "cairn":
            import urllib.request
            try:
                metrics = urllib.request.urlopen("http://%s/metrics" % m.endpoint,
                                                 timeout=5).read().decode()
            except OSError:
                metrics = None

        # The slow reader resumes and gets everything, once, in order.
        pause.set()
        try:
            wait_for(lambda: sum(len(v) for v in slow.events_by_watcher().values()) >= BIG_PUTS,
                     120, "the slow reader to catch up")
        except AssertionError:
            print("slow reader: %d events, stream %s" % (
                sum(len(v) for v in slow.events_by_watcher().values()), slow.ended))
            raise
        time.sleep(0.5)
        check_sequence(list(slow.events_by_watcher().values())[0], big_want, "slow prefix", True)

        growth = rss_peak - rss0
        print("%s: %d watchers, %d + %d puts in %.1fs; slow reader had %d/%d events while "
              "paused; RSS %d -> %d KiB" % (kind, HOT_STREAMS * HOT_PER_STREAM + 3, HOT_PUTS,
                                            BIG_PUTS, write_s, slow_before, BIG_PUTS, rss0,
                                            rss_peak))
        # 20 MiB went by the paused reader; its stream may hold its high-water
        # mark plus one catch-up response, not the whole backlog.
        # etcd's Go heap is not ours to bound; ASan's quarantine is not ours.
        if kind == "cairn" and not sanitized():
            assert growth < 64 * 1024, "resident memory grew by %d KiB" % growth
        if metrics is not None:
            for name in ("etcd_debugging_mvcc_watch_stream_total",
                         "etcd_debugging_mvcc_watcher_total"):
                assert name in metrics, name + " missing from /metrics"
        cancel()
        py.close()
        kv.close()
        for s in hot + [fast, slow]:
            s.call.cancel()
        ch.close()


def quiet_closed_channel(args):
    """python3-etcd3's watch thread tries to reopen its stream after the
    client is closed at the end of a run; that is not a finding."""
    if isinstance(args.exc_value, ValueError) and "Channel closed" in str(args.exc_value):
        return
    sys.__excepthook__(args.exc_type, args.exc_value, args.exc_traceback)


def main():
    threading.excepthook = quiet_closed_channel
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["cairn", "etcd"], default="cairn")
    a = ap.parse_args()
    run(a.kind)
    print("watch stress: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
