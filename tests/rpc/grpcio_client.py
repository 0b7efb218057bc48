#!/usr/bin/python3
"""grpcio (Debian's python3-grpcio 1.51, the stack under python3-etcd3)
against our server: a second HTTP/2 implementation with 4 MiB frames, one
shared connection, and half-close on an empty DATA frame.

Usage: grpcio_client.py PORT. Prints one line per check; exits 1 on the
first failure. Raw bytes only: no generated stubs are needed."""
import sys
import threading

import grpc

port = sys.argv[1]
ch = grpc.insecure_channel("127.0.0.1:" + port)
grpc.channel_ready_future(ch).result(timeout=5)


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (" " + str(detail) if detail else ""))
    if not cond:
        sys.exit(1)


def unary(path):
    return ch.unary_unary(path)


# Unary echo.
r = unary("/test.Echo/Unary")(b"hello", timeout=5)
check("unary echo", r == b"hello", r)

# Metadata reaches the handler (it echoes the token back).
r = unary("/test.Echo/Token")(b"", metadata=(("token", "abc"),), timeout=5)
check("metadata", r == b"abc", r)

# An error status with a percent-encoded message, Trailers-Only.
try:
    unary("/test.Echo/Fail")("100% caf\u00e9".encode(), timeout=5)
    check("error status", False)
except grpc.RpcError as e:
    check("error status", e.code() == grpc.StatusCode.NOT_FOUND and
          e.details() == "100% caf\u00e9", (e.code(), e.details()))

# Unknown method.
try:
    unary("/nope.Svc/Get")(b"", timeout=5)
    check("unimplemented", False)
except grpc.RpcError as e:
    check("unimplemented", e.code() == grpc.StatusCode.UNIMPLEMENTED and
          e.details() == "unknown service nope.Svc", (e.code(), e.details()))

# Deadline: the Hold method never answers.
try:
    unary("/test.Echo/Hold")(b"", timeout=0.2)
    check("deadline", False)
except grpc.RpcError as e:
    check("deadline", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code())

# Oversized request: etcd's limit and text.
try:
    unary("/test.Echo/Unary")(b"x" * (3 << 20), timeout=5)
    check("oversized", False)
except grpc.RpcError as e:
    check("oversized", e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and
          e.details() == "grpc: received message larger than max (3145728 vs. 2097152)",
          (e.code(), e.details()))

# A big response in big frames (grpcio accepts 4 MiB frames).
r = unary("/test.Echo/Unary")(b"y" * (1 << 20), timeout=5)
check("1 MiB echo", r == b"y" * (1 << 20), len(r))

# Server streaming.
rs = list(ch.unary_stream("/test.Echo/Stream")(b"s", timeout=5))
check("server streaming", rs == [b"s", b"s", b"s"], rs)

# Bidi, LeaseKeepAlive shape: one request, half-close (empty DATA frame),
# one reply, then the stream must end with OK or this hangs.
bidi = ch.stream_stream("/test.Echo/Bidi")
rs = list(bidi(iter([b"Eka"]), timeout=5))
check("bidi half-close", rs == [b"Eka"], rs)

# Bidi, watch shape: open, get a reply, cancel from the client.
ev = threading.Event()


def reqs():
    yield b"Ewatch"
    ev.wait(5)


call = bidi(reqs())
first = next(call)
check("watch reply", first == b"Ewatch", first)
call.cancel()
ev.set()
check("cancelled", call.code() == grpc.StatusCode.CANCELLED, call.code())

# Unary calls keep working on the same connection after all that.
r = unary("/test.Echo/Unary")(b"again", timeout=5)
check("connection still fine", r == b"again", r)
ch.close()
print("all ok")
