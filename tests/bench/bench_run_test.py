"""cairn-bench against a real three-node cluster (etcd 3.4.23 or cairnd).

Each workload runs tiny (a few hundred requests) with --json; the test
checks the last stdout line is one JSON object with the promised fields,
that every request succeeded, and that the requests really reached the
server (the keys a put wrote are there). It also checks --target-leader,
the text summary, --duration and a usage error. Exit 77 (skipped) when the
server binary is missing.

    python3 tests/bench/bench_run_test.py --kind etcd --bench build/bench/cairn-bench/cairn-bench
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from cluster import Cluster, ETCD, cairnd_path  # noqa: E402

FIELDS = ["op", "clients", "conns", "endpoints", "total_secs", "requests", "errors",
          "requests_per_sec", "min_ms", "mean_ms", "stddev_ms", "p50_ms", "p90_ms", "p99_ms",
          "p999_ms", "max_ms", "errors_by_code", "error_messages"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        sys.stderr.write("FAIL: %s\n" % what)


def bench(binary, *args, expect_rc=0):
    cmd = [binary, "--no-progress", "--seed", "7"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    check(r.returncode == expect_rc, "%s exited %d (want %d): %s" % (
        " ".join(cmd), r.returncode, expect_rc, r.stderr[-2000:]))
    return r


def bench_json(binary, *args):
    r = bench(binary, "--json", *args)
    lines = r.stdout.strip().splitlines()
    check(len(lines) >= 1, "no output from %s" % " ".join(args))
    if not lines:
        return {}
    try:
        obj = json.loads(lines[-1])
    except ValueError as e:
        check(False, "last line is not JSON (%s): %r" % (e, lines[-1]))
        return {}
    for f in FIELDS:
        check(f in obj, "%s: field %s missing" % (" ".join(args), f))
    check(obj.get("errors") == 0, "%s: errors %s" % (" ".join(args), obj.get("error_messages")))
    lat = [obj.get(k, -1) for k in ("min_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")]
    check(all(a <= b + 1e-9 for a, b in zip(lat, lat[1:])) and lat[0] > 0,
          "%s: latencies not ordered: %s" % (" ".join(args), lat))
    check(obj.get("requests_per_sec", 0) > 0, "%s: no throughput" % " ".join(args))
    shown = " ".join(x for x in args if "127.0.0.1" not in x and x != "--endpoints")
    sys.stdout.write("ok  %-70s %8.0f req/s  p99 %.2f ms\n" % (
        shown[:70], obj.get("requests_per_sec", 0), obj.get("p99_ms", 0)))
    return obj


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["etcd", "cairn"], default="etcd")
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    server = ETCD if a.kind == "etcd" else cairnd_path()
    if not os.path.exists(server):
        sys.stderr.write("skipped: %s not built\n" % server)
        return 77
    if not os.path.exists(a.bench):
        sys.stderr.write("%s not built\n" % a.bench)
        return 1

    with Cluster(a.kind, 3) as c:
        c.wait_healthy(60)
        leader = c.wait_leader(60)
        ep = c.endpoints()
        B = a.bench

        o = bench_json(B, "--endpoints", ep, "--conns", "2", "--clients", "8", "put",
                       "--total", "300", "--key-space-size", "300", "--sequential-keys",
                       "--val-size", "256")
        check(o.get("op") == "put" and o.get("requests") == 300, "put: %s" % o)
        check(o.get("clients") == 8 and o.get("conns") == 2 and o.get("endpoints") == 3,
              "put: shape %s" % o)
        # The 300 sequential keys are all there.
        r = c.etcdctl("get", "", "--from-key", "--limit", "1", "-w", "json")
        check(json.loads(r.stdout).get("count") == 300, "put wrote 300 keys: %s" % r.stdout)

        o = bench_json(B, "--endpoints", ep, "--target-leader", "--clients", "4", "range",
                       "foo", "--total", "400")
        check(o.get("endpoints") == 1 and o.get("requests") == 400, "range leader: %s" % o)
        bench_json(B, "--endpoints", ep, "--clients", "16", "--conns", "4", "range", "a", "z",
                   "--consistency", "s", "--total", "500", "--limit", "10")
        bench_json(B, "--endpoints", ep, "--clients", "4", "txn-put", "--txn-ops", "3",
                   "--key-space-size", "30", "--total", "100")
        o = bench_json(B, "--endpoints", ep, "--clients", "8", "mixed", "--key-space-size",
                       "100", "--rw-ratio", "3", "--total", "400")
        check(o.get("read", {}).get("requests", 0) + o.get("write", {}).get("requests", 0)
              == 400, "mixed: read + write = total: %s" % o)
        o = bench_json(B, "--endpoints", ep, "--conns", "2", "watch-latency", "--total", "20",
                       "--put-rate", "100", "--streams", "3", "--watchers-per-stream", "4")
        check(o.get("requests") == 20 * 12, "watch-latency: one event per watcher per put: %s"
              % o.get("requests"))
        bench_json(B, "--endpoints", ep, "--clients", "4", "lease-keepalive", "--total", "200")
        o = bench_json(B, "--endpoints", ep, "--clients", "4", "--duration", "1s", "--warmup",
                       "200ms", "range", "foo", "--consistency", "s")
        check(0.9 < o.get("total_secs", 0) < 3, "duration 1s: %s" % o.get("total_secs"))

        # The human summary, as etcd's benchmark prints it.
        r = bench(B, "--endpoints", leader.endpoint, "put", "--total", "20")
        for want in ("Summary:", "Requests/sec:", "Response time histogram:",
                     "Latency distribution:", "99.9% in"):
            check(want in r.stdout, "text summary lacks %r: %s" % (want, r.stdout))

        # Usage errors exit non-zero with cobra's wording.
        r = bench(B, "put", "--consistency", "s", expect_rc=1)
        check("unknown flag: --consistency" in r.stderr, "usage error: %s" % r.stderr)
        # An unreachable endpoint is a dial error, not a hang.
        r = bench(B, "--endpoints", "127.0.0.1:1", "--dial-timeout", "2s", "put", expect_rc=1)
        check("dial error" in r.stderr, "dial error: %s" % r.stderr)

    if failures:
        sys.stderr.write("%d failures\n" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
