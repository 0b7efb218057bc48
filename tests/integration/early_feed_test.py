#!/usr/bin/python3
"""Watchers hear of a write together with its writer, before the LMDB commit
makes it visible (the early feed: server/node_apply.c, node.h, watch.h), and
nothing they see differs from etcd's. The fault hook widens the window
between the answer and the commit (commit_delay_ms: the apply thread sleeps
there), so each check fails for certain if its part is missing:

- a watcher on the member that answered a put gets the event well before the
  delayed commit (etcd notifies watchers when it applies, before its put
  answer; etcd's benchmark `watch-latency` times the event from the answer);
- a serializable Range on that member right after the event sees the value,
  also at the event's revision (not "future revision");
- a watch created inside the window from the revision just written gets that
  revision at once (it is in no read context yet: it comes from the feeds
  pending their commit) and then every later one, live;
- under a steady write load, watches created from old revisions, from the
  middle and from now each receive every revision of theirs exactly once, in
  order, across the handover from history to the pending feeds to the live
  feed."""

import queue
import threading
import time

from itlib import check, client, delay_commits, delayed_commits_cluster, run

from etcd3 import etcdrpc

DELAY_MS = 400


def put(c, key, value):
    return c.kvstub.Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()),
                        timeout=10).header.revision


def get_serializable(c, key, revision=0):
    r = c.kvstub.Range(etcdrpc.RangeRequest(key=key.encode(), serializable=True,
                                            revision=revision), timeout=10)
    return r.kvs[0].value.decode() if r.kvs else None


class Watch:
    """One Watch stream with one watcher; events go to a queue with their
    arrival time."""

    def __init__(self, c, key, start_revision=0, prefix=False):
        self.q = queue.Queue()
        self.created = threading.Event()
        self.done = threading.Event()
        end = b""
        if prefix:
            k = bytearray(key.encode())
            k[-1] += 1
            end = bytes(k)
        self.req = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(
            key=key.encode(), range_end=end, start_revision=start_revision))
        self.stub = etcdrpc.WatchStub(c.channel)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        check(self.created.wait(10), "watch on %s from %d created" % (key, start_revision))

    def _requests(self):
        yield self.req
        self.done.wait(120)

    def _run(self):
        try:
            for r in self.stub.Watch(self._requests(), timeout=120):
                if r.created:
                    self.created.set()
                now = time.time()
                for e in r.events:
                    self.q.put((now, e.kv.mod_revision, e.kv.key.decode(), e.kv.value.decode()))
                if self.done.is_set():
                    break
        except Exception:  # noqa: BLE001 - the stream ends with the test
            pass

    def next(self, timeout=10):
        return self.q.get(timeout=timeout)

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self.done.set()


def event_with_its_writer(c):
    for m in c.members:
        cl = client(m, timeout=10)
        key = "ef/one/%s" % m.name
        w = Watch(cl, key)
        for i in range(3):
            t0 = time.time()
            rev = put(cl, key, "v%d" % i)
            answered = time.time()
            at, erev, _, value = w.next()
            check(erev == rev and value == "v%d" % i,
                  "%s: the watcher gets the put (revision %d)" % (m.name, rev))
            check(at - t0 < DELAY_MS / 2000.0,
                  "%s: ... %.0f ms after the put was sent (%.0f ms after its answer), "
                  "well before its commit (delayed %d ms)"
                  % (m.name, (at - t0) * 1000, (at - answered) * 1000, DELAY_MS))
            check(get_serializable(cl, key) == "v%d" % i and
                  get_serializable(cl, key, revision=rev) == "v%d" % i,
                  "%s: a serializable get right after the event sees it, also at its "
                  "revision" % m.name)
        w.close()
        cl.close()


def watch_from_uncommitted_revision(c):
    m = c.members[0]
    cl = client(m, timeout=10)
    key = "ef/window"
    put(cl, key, "old")
    time.sleep(3 * DELAY_MS / 1000.0)  # every commit visible
    rev = put(cl, key, "new")
    t0 = time.time()
    w = Watch(cl, key, start_revision=rev)
    at, erev, _, value = w.next()
    check(erev == rev and value == "new" and at - t0 < DELAY_MS / 2000.0,
          "a watch from the revision just answered gets it at once, from the pending "
          "feed (%.0f ms; revision %d == %d)" % ((at - t0) * 1000, erev, rev))
    rev2 = put(cl, key, "newer")
    at, erev, _, value = w.next()
    check(erev == rev2 and value == "newer", "... and then the next revision, live")
    time.sleep(3 * DELAY_MS / 1000.0)
    check(not w.drain(), "... and nothing twice")
    w.close()
    cl.close()


def exactly_once_under_load(c):
    m = c.members[1]
    cl = client(m, timeout=10)
    base = put(cl, "ef/load/start", "0")
    stop = threading.Event()
    revs = []
    lock = threading.Lock()
    errors = []

    def writer(i):
        wc = client(m, timeout=10)
        n = 0
        while not stop.is_set():
            try:
                r = put(wc, "ef/load/%d/%d" % (i, n), str(n))
                with lock:
                    revs.append(r)
                n += 1
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        wc.close()

    ts = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for t in ts:
        t.start()
    watches = [Watch(cl, "ef/load/", start_revision=base, prefix=True)]
    for _ in range(3):
        time.sleep(0.7)
        with lock:
            mid = revs[len(revs) // 2] if revs else base
        watches.append(Watch(cl, "ef/load/", start_revision=mid, prefix=True))
        watches.append(Watch(cl, "ef/load/", prefix=True))
    time.sleep(1.0)
    stop.set()
    for t in ts:
        t.join(30)
    check(not errors and len(revs) > 20, "the writers made %d puts without errors (%s)"
          % (len(revs), errors[:3]))
    last = max(revs)
    written = set(revs) | {base}
    for i, w in enumerate(watches):
        got = []
        deadline = time.time() + 20
        while (not got or got[-1] < last) and time.time() < deadline:
            try:
                got.append(w.next(timeout=1)[1])
            except queue.Empty:
                pass
        first = got[0] if got else None
        want = sorted(r for r in written if first is not None and r >= first)
        check(got == want and got[-1] == last,
              "watch %d: every revision from %s to %d once, in order (%d events)"
              % (i, first, last, len(got)))
        if w.req.create_request.start_revision:
            check(first == w.req.create_request.start_revision,
                  "watch %d: starts at its start revision %d"
                  % (i, w.req.create_request.start_revision))
        w.close()
    cl.close()


def test():
    with delayed_commits_cluster(DELAY_MS) as c:
        event_with_its_writer(c)
        watch_from_uncommitted_revision(c)
        exactly_once_under_load(c)
        delay_commits(c, 0)
        # Still exactly once with commits at full speed.
        exactly_once_under_load(c)


if __name__ == "__main__":
    run(test)
