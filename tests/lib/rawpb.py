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
import subprocess
import tempfile

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
