"""etcd v3 messages and raw gRPC calls built from cairn's own proto/ files.

python3-etcd3 bundles an old rpc.proto (no watch_id, fragment or
progress_request in watches, no raftAppliedIndex in Status). For tests that
must speak the whole 3.4 API, this module compiles proto/*.proto with
protoc-c into a descriptor set, loads it into a private descriptor pool
(so it never clashes with etcd3's registrations), and offers message
classes plus unary and streaming calls on a grpcio channel.

    pb = RawPB()
    req = pb.msg("etcdserverpb.WatchRequest")()
    req.create_request.key = b"a"
    stream = pb.stream(channel, "/etcdserverpb.Watch/Watch",
                       "etcdserverpb.WatchRequest", "etcdserverpb.WatchResponse", iterator)
"""

import os
import queue
import subprocess
import tempfile
import threading
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto")


class RawPB:
    def __init__(self, proto_dir=PROTO_DIR):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "set.pb")
            subprocess.run(["protoc-c", "-o", out, "--include_imports", "-I", proto_dir,
                            "rpc.proto", "kv.proto", "auth.proto"], check=True)
            with open(out, "rb") as f:
                fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            self.pool.Add(fd)
        self._classes = {}

    def msg(self, name):
        cls = self._classes.get(name)
        if cls is None:
            d = self.pool.FindMessageTypeByName(name)
            if hasattr(message_factory, "GetMessageClass"):
                cls = message_factory.GetMessageClass(d)
            else:
                cls = message_factory.MessageFactory(self.pool).GetPrototype(d)
            self._classes[name] = cls
        return cls

    def unary(self, channel, path, req_type, resp_type, request, timeout=10):
        call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=self.msg(resp_type).FromString)
        return call(request, timeout=timeout)

    def stream(self, channel, path, req_type, resp_type, requests, metadata=None):
        call = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.msg(resp_type).FromString)
        return call(requests, metadata=metadata)

    def server_stream(self, channel, path, req_type, resp_type, request, timeout=None):
        call = channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=self.msg(resp_type).FromString)
        return call(request, timeout=timeout)

    @staticmethod
    def text(m):
        return text_format.MessageToString(m, as_one_line=True)


class Bidi:
    """A bidirectional call (Watch, LeaseKeepAlive): requests are queued and
    sent as they come, responses are read by a thread into `out` (a queue,
    for tests that wait for the next one) and `received` (a list, for tests
    that look at all of them). `end` becomes "OK" or "CODE 'details'" when
    the call ends. With `pause` (a threading.Event) the reader takes a
    response only while the event is set: a slow client, whose unread
    responses stop HTTP/2 flow control."""

    def __init__(self, pb, channel, path, req_type, resp_type, metadata=None, pause=None):
        self.requests = queue.Queue()
        self.out = queue.Queue()
        self.received = []
        self.lock = threading.Lock()
        self.pause = pause
        self.end = None

        def requests():
            while True:
                r = self.requests.get()
                if r is None:
                    return
                yield r

        self.call = pb.stream(channel, path, req_type, resp_type, requests(), metadata=metadata)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        import grpc
        try:
            it = iter(self.call)
            while True:
                if self.pause is not None:
                    self.pause.wait()
                r = next(it)
                with self.lock:
                    self.received.append(r)
                self.out.put(r)
        except StopIteration:
            self.end = "OK"
        except grpc.RpcError as e:
            self.end = "%s %r" % (e.code().name, e.details())
        self.out.put(None)

    def send(self, msg):
        self.requests.put(msg)

    def half_close(self):
        self.requests.put(None)

    def cancel(self):
        self.call.cancel()

    def next(self, timeout=5):
        """The next response, None once the call ended, "nothing" on timeout."""
        try:
            return self.out.get(timeout=timeout)
        except queue.Empty:
            return "nothing"

    def drain(self, want=None, quiet=0.6, limit=10.0):
        """Responses until `want` arrived (then a short grace period for
        anything unexpected), or until none came for `quiet` seconds. The
        end of the call shows as ("end", status)."""
        got = []
        deadline = time.time() + limit
        while time.time() < deadline:
            wait = 0.2 if want is not None and len(got) >= want else quiet
            try:
                r = self.out.get(timeout=wait)
            except queue.Empty:
                if want is None or len(got) >= want:
                    break
                continue
            got.append(("end", self.end) if r is None else r)
        return got

    def wait_end(self, timeout):
        deadline = time.time() + timeout
        while self.end is None and time.time() < deadline:
            time.sleep(0.05)
        return self.end or "still open"
