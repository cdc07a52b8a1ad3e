#!/usr/bin/env python3
"""Kafka capture proxy: records every frame between real clients and a real broker.

usage: capture-proxy.py --listen PORT --broker HOST:PORT --out DIR

Listens on 127.0.0.1:PORT and forwards each connection to the broker. Frames are
split on their int32 size prefix in both directions; a request's header gives the API
key, version and correlation id, and the response with the same correlation id (on the
same connection) is named after it. Each frame body (header + message, without the
4-byte size) is written to DIR/NNN-<ApiName>-v<ver>-request.bin / -response.bin, NNN
counting requests across all connections, so a pair shares its number.

Clients learn broker addresses from Metadata responses and would then go around the
proxy, so a Metadata response's broker ports equal to the broker's port are rewritten
in place (an int32, same length) to the proxy's port before forwarding. The file on
disk keeps the bytes exactly as the broker sent them.

Stdlib only; one thread per direction per connection. Stop it with SIGTERM/SIGINT.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit",
    32: "DescribeConfigs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    60: "DescribeCluster", 68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry",
}
# First flexible version of the APIs whose responses the proxy parses.
METADATA_FLEX_MIN = 9

MAX_FRAME = 64 << 20


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def i16(self):
        v, = struct.unpack_from(">h", self.data, self.pos)
        self.pos += 2
        return v

    def i32(self):
        v, = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return v

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 28:
                raise ValueError("varint too long")

    def skip_string(self, compact):
        n = self.uvarint() - 1 if compact else self.i16()
        if n > 0:
            self.pos += n

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def rewrite_metadata_ports(frame, version, from_port, to_port):
    """Returns the Metadata response frame with broker ports from_port -> to_port."""
    flex = version >= METADATA_FLEX_MIN
    out = bytearray(frame)
    r = Reader(frame, 4)  # after the correlation id
    if flex:
        r.skip_tags()  # response header v1
    if version >= 3:
        r.i32()  # throttle_time_ms
    n = r.uvarint() - 1 if flex else r.i32()
    for _ in range(max(n, 0)):
        r.i32()  # node_id
        r.skip_string(flex)  # host
        if struct.unpack_from(">i", frame, r.pos)[0] == from_port:
            struct.pack_into(">i", out, r.pos, to_port)
        r.i32()  # port
        if version >= 1:
            r.skip_string(flex)  # rack (nullable)
        if flex:
            r.skip_tags()
    return bytes(out)


class Capture:
    def __init__(self, outdir, listen_port, broker_port):
        self.outdir = outdir
        self.listen_port = listen_port
        self.broker_port = broker_port
        self.lock = threading.Lock()
        self.seq = 0

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def write(self, seq, api_key, version, kind, frame):
        name = "%03d-%s-v%d-%s.bin" % (seq, API_NAMES.get(api_key, "Api%d" % api_key), version, kind)
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(frame)
        print("capture: %s (%d bytes)" % (name, len(frame)), file=sys.stderr, flush=True)


def frames(sock):
    """Yields (size_prefix + frame) chunks read from sock until EOF."""
    buf = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return
        buf += data
        while len(buf) >= 4:
            size, = struct.unpack_from(">i", buf, 0)
            if size < 0 or size > MAX_FRAME:
                raise ValueError("bad frame size %d" % size)
            if len(buf) < 4 + size:
                break
            yield buf[4:4 + size]
            buf = buf[4 + size:]


def pump_requests(cap, client, upstream, pending, pending_lock):
    try:
        for frame in frames(client):
            api_key, version, corr = struct.unpack_from(">hhi", frame, 0)
            seq = cap.next_seq()
            with pending_lock:
                pending[corr] = (seq, api_key, version)
            cap.write(seq, api_key, version, "request", frame)
            upstream.sendall(struct.pack(">i", len(frame)) + frame)
    except (OSError, ValueError) as e:
        print("capture: client side: %s" % e, file=sys.stderr, flush=True)
    finally:
        try:
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def pump_responses(cap, client, upstream, pending, pending_lock):
    try:
        for frame in frames(upstream):
            corr, = struct.unpack_from(">i", frame, 0)
            with pending_lock:
                seq, api_key, version = pending.pop(corr, (None, -1, -1))
            if seq is None:  # no request with this correlation id: record it anyway
                seq = cap.next_seq()
            cap.write(seq, api_key, version, "response", frame)
            if api_key == 3:
                frame = rewrite_metadata_ports(frame, version, cap.broker_port, cap.listen_port)
            client.sendall(struct.pack(">i", len(frame)) + frame)
    except (OSError, ValueError, IndexError, struct.error) as e:
        print("capture: broker side: %s" % e, file=sys.stderr, flush=True)
    finally:
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(cap, listen_port, broker):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(16)
    print("capture: listening on 127.0.0.1:%d -> %s:%d" % (listen_port, broker[0], broker[1]),
          file=sys.stderr, flush=True)
    while True:
        client, _ = srv.accept()
        upstream = socket.create_connection(broker)
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending, pending_lock = {}, threading.Lock()
        for fn in (pump_requests, pump_responses):
            threading.Thread(target=fn, args=(cap, client, upstream, pending, pending_lock),
                             daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--broker", required=True, help="HOST:PORT of the real broker")
    ap.add_argument("--out", required=True, help="directory for the captured frames")
    a = ap.parse_args()
    host, port = a.broker.rsplit(":", 1)
    os.makedirs(a.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(Capture(a.out, a.listen, int(port)), a.listen, (host, int(port)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
