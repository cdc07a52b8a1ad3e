#!/usr/bin/env python3
"""kwfaultproxy's self-test: the proxy in front of the fixture broker, driven through
its stdin protocol, with Debian's kcat (librdkafka) as the client.

usage: selftest.py PATH/TO/kwfaultproxy      (KW_BROKER_DIR names the running broker)

Checks: metadata shows only proxy addresses; produce + consume through it; an injected
NOT_LEADER_OR_FOLLOWER on Produce is seen and retried by librdkafka without a duplicate;
a consumer group's FindCoordinator answer is rewritten; latency delays answers and
keeps order; blackhole makes requests time out; cut-all and cut-random close
connections that the client then re-opens; bad commands get 'error ...'; quit and
stdin EOF exit 0.
"""
import os
import re
import selectors
import socket
import struct
import subprocess
import sys
import time

KCAT = "kcat"
N_MSGS = 20
PASSED = []


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    print(f"{len(PASSED)} passed, 1 failed", flush=True)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)
    PASSED.append(what)
    print(f"ok: {what}", flush=True)


class Proxy:
    def __init__(self, binary, upstream, log_path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([binary, "--upstream", upstream, "--seed", "1", "-v"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        ready = self.line(10)
        if not ready.startswith("ready "):
            fail(f"proxy's first line is not 'ready ...': {ready!r}")
        self.addrs = ready.split()[1].split(",")

    def line(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                fail("proxy did not answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                fail(f"proxy exited (status {self.proc.wait()})")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def cmd(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()
        return self.line()

    def stats(self):
        answer = self.cmd("stats")
        if not answer.startswith("ok "):
            fail(f"stats answered {answer!r}")
        return {k: int(v) for k, v in (kv.split("=") for kv in answer.split()[1:])}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sel.close()
        for f in (self.proc.stdin, self.proc.stdout, self.log):
            try:
                f.close()
            except BrokenPipeError:
                pass


def kcat(args, stdin=None, timeout=60):
    start = time.monotonic()
    try:
        r = subprocess.run([KCAT] + args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"kcat {' '.join(args)} did not finish in {timeout} s")
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), time.monotonic() - start


def metadata_brokers(bootstrap):
    rc, out, err, _ = kcat(["-L", "-b", bootstrap, "-m", "10"])
    if rc != 0:
        fail(f"kcat -L failed: {err}")
    return re.findall(r"broker (\d+) at ([^:\s]+):(\d+)", out)


def consume_all(bootstrap, topic):
    rc, out, err, _ = kcat(["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n"])
    if rc != 0:
        fail(f"kcat -C failed: {err}")
    return out.splitlines()


# ---- just enough of the Kafka protocol to ask what kcat never asks

def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def cstr(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


class Rd:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.b):
            fail("truncated response")
        v, self.p = self.b[self.p:self.p + n], self.p + n
        return v

    def int(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def uvarint(self):
        n = shift = 0
        while True:
            c = self.take(1)[0]
            n |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return n

    def cstr(self):
        n = self.uvarint() - 1
        return None if n < 0 else self.take(n).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            fail("connection closed mid-response")
        b += c
    return b


def kafka_call(addr, key, ver, body):
    """One flexible-version request (header v2) on a new connection; the body reader."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        hdr = struct.pack(">hhih", key, ver, 7, 8) + b"selftest" + b"\x00"
        s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        r = Rd(recvn(s, struct.unpack(">i", recvn(s, 4))[0]))
        if r.int(">i") != 7:
            fail("wrong correlation id")
        r.tags()
        return r


def describe_cluster_brokers(addr):
    r = kafka_call(addr, 60, 0, b"\x00\x00")  # v0: include_cluster_authorized_operations=false
    r.int(">i"), r.int(">h"), r.cstr(), r.cstr(), r.int(">i")
    brokers = []
    for _ in range(r.uvarint() - 1):
        r.int(">i")
        brokers.append((r.cstr(), str(r.int(">i"))))
        r.cstr(), r.tags()
    return brokers


def find_coordinator_v4(addr, group):
    """(error_code, host, port) of the group's coordinator, asked the KIP-699 way."""
    r = kafka_call(addr, 10, 4, b"\x00" + uvarint(2) + cstr(group) + b"\x00")
    r.int(">i")
    n = r.uvarint() - 1
    if n != 1:
        fail(f"FindCoordinator v4 answered {n} coordinators")
    r.cstr(), r.int(">i")
    host, port, err = r.cstr(), str(r.int(">i")), r.int(">h")
    return err, host, port


def closed_by_peer(addr, data):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    fail(what)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    broker_dir = os.environ.get("KW_BROKER_DIR")
    if not broker_dir:
        fail("KW_BROKER_DIR is not set")
    with open(os.path.join(broker_dir, "bootstrap")) as f:
        upstream = f.read().strip()
    up_ports = {a.rsplit(":", 1)[1] for a in upstream.split(",")}
    topic = f"faultproxy-selftest-{os.getpid()}-{int(time.time())}"
    px = Proxy(binary, upstream, os.path.join(broker_dir, "faultproxy-selftest.log"))
    try:
        run(px, upstream, up_ports, topic, binary, broker_dir)
    finally:
        px.stop()
    print(f"{len(PASSED)} passed, 0 failed", flush=True)
    return 0


def run(px, upstream, up_ports, topic, binary, broker_dir):
    boot = ",".join(px.addrs)
    ports = {a.rsplit(":", 1)[1] for a in px.addrs}
    check(len(px.addrs) == len(upstream.split(",")) and all(a.startswith("127.0.0.1:") for a in px.addrs)
          and not ports & up_ports, f"ready line lists one proxy address per upstream: {boot}")

    brokers = metadata_brokers(boot)
    check(brokers and all(h == "127.0.0.1" and p in ports for _, h, p in brokers),
          f"kcat -L sees only proxy addresses: {brokers}")
    check(px.stats()["rewritten"] >= 1, "stats count the rewritten Metadata answer")

    # An injected NOT_LEADER_OR_FOLLOWER on the first Produce answer: librdkafka refreshes
    # metadata and retries; idempotence keeps the retried batch from being written twice.
    check(px.cmd("inject 0 6 1") == "ok", "inject 0 6 1 answers ok")
    msgs = [f"m{i:03d}" for i in range(N_MSGS)]
    rc, _, err, _ = kcat(["-P", "-b", boot, "-t", topic, "-X", "enable.idempotence=true", "-X", "acks=all",
                          "-d", "msg"], stdin=("\n".join(msgs) + "\n").encode())
    check(rc == 0, "kcat -P through the proxy succeeds")
    check(re.search(r"[Nn]ot leader", err) is not None, "librdkafka saw the injected NOT_LEADER_OR_FOLLOWER")
    check(px.stats()["injected"] == 1, "stats: injected=1")
    check(consume_all(boot, topic) == msgs, f"all {N_MSGS} messages delivered once, in order")

    # A consumer group: FindCoordinator's answer must point at the proxy too, and two
    # injected COORDINATOR_NOT_AVAILABLE answers only make librdkafka look again.
    check(px.cmd("inject 10 15 2") == "ok", "inject 10 15 2 answers ok")
    rc, out, err, _ = kcat(["-b", boot, "-G", f"{topic}-group", topic, "-X", "auto.offset.reset=earliest", "-e",
                            "-q", "-f", "%s\n"], timeout=90)
    check(rc == 0 and out.splitlines() == msgs, "kcat -G consumes everything through the proxy")
    with open(os.path.join(broker_dir, "faultproxy-selftest.log"), errors="replace") as f:
        log = f.read()
    check(px.stats()["injected"] == 3, "stats: both FindCoordinator errors were injected")
    check("FindCoordinator" in log and "broker addresses rewritten" in log,
          "the FindCoordinator answer was rewritten")

    # What kcat never asks: DescribeCluster, FindCoordinator v4+ (coordinators[]).
    dc = describe_cluster_brokers(px.addrs[0])
    check(dc and all(h == "127.0.0.1" and p in ports for h, p in dc), f"DescribeCluster lists proxy addresses: {dc}")
    for _ in range(50):
        err, host, port = find_coordinator_v4(px.addrs[0], f"{topic}-group")
        if err == 0:
            break
        time.sleep(0.2)
    check(err == 0 and host == "127.0.0.1" and port in ports, f"FindCoordinator v4 answers a proxy address: {host}:{port}")

    # Odd frames close that one connection; the proxy goes on.
    check(closed_by_peer(px.addrs[0], struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 8), "a 2 GB request frame is refused")
    check(closed_by_peer(px.addrs[0], struct.pack(">i", -5) + b"\x00" * 8), "a negative frame size is refused")
    wait_for(lambda: px.stats()["conns"] == 0, 5, "connections left open")
    check(True, "the refused connections are closed")

    # A broker address not in the upstream map ("localhost" here, the broker says 127.0.0.1)
    # gets a listener made on the fly.
    first = upstream.split(",")[0].rsplit(":", 1)[1]
    px2 = Proxy(binary, f"localhost:{first}", os.path.join(broker_dir, "faultproxy-selftest-2.log"))
    try:
        b2 = metadata_brokers(px2.addrs[0])
        p2 = {p for _, _, p in b2}
        check(b2 and all(h == "127.0.0.1" for _, h, _ in b2) and not p2 & up_ports
              and px2.addrs[0].rsplit(":", 1)[1] not in p2, f"brokers not in the map get new listeners: {b2}")
        check(consume_all(",".join(f"127.0.0.1:{p}" for p in sorted(p2)), topic) == msgs,
              "a client bootstrapped on the new listeners consumes everything")
        check(px2.cmd("quit") == "ok" and px2.proc.wait(timeout=10) == 0, "the second proxy quits")
    finally:
        px2.stop()

    # An injected Fetch error: the partition's records are withheld, the consumer fetches again.
    check(px.cmd("inject 1 6 1") == "ok", "inject 1 6 1 answers ok")
    check(consume_all(boot, topic) == msgs, "after an injected Fetch error every message is read once")
    check(px.stats()["injected"] == 4, "stats: the Fetch error was injected")

    # Latency: ApiVersions + Metadata, each answer held 400 ms; data keeps its order.
    _, _, _, fast = kcat(["-L", "-b", boot, "-m", "10"])
    check(px.cmd("latency 400") == "ok", "latency 400 answers ok")
    rc, _, _, slow = kcat(["-L", "-b", boot, "-m", "10"])
    check(rc == 0 and slow >= 0.75 and slow > fast, f"latency holds answers (kcat -L {fast:.2f} s -> {slow:.2f} s)")
    check(consume_all(boot, topic) == msgs, "with latency, consumed messages keep their order")
    check(px.cmd("latency 0") == "ok", "latency 0 answers ok")

    # Blackhole: nothing comes back, the client's request times out; off restores it.
    check(px.cmd("blackhole on") == "ok", "blackhole on answers ok")
    rc, _, _, took = kcat(["-L", "-b", boot, "-m", "2"], timeout=30)
    check(rc != 0, f"under blackhole kcat -L times out (exit {rc} after {took:.1f} s)")
    check(px.cmd("blackhole off") == "ok", "blackhole off answers ok")
    check(len(metadata_brokers(boot)) >= 1, "after blackhole off kcat -L works again")

    # cut-all: a running consumer loses its connections, reconnects, and gets what follows.
    before = px.stats()
    out_path = os.path.join(broker_dir, "faultproxy-selftest.consumer")
    with open(out_path, "wb") as out_f:
        # -E: kcat would otherwise quit on "all brokers down", which a cut makes true for a moment.
        args = ["-C", "-E", "-b", boot, "-t", topic, "-o", "beginning", "-q", "-u", "-f", "%s\n"]
        consumer = subprocess.Popen([KCAT] + args, stdout=out_f, stderr=subprocess.DEVNULL)
        try:
            def lines():
                with open(out_path, errors="replace") as f:
                    return f.read().splitlines()

            wait_for(lambda: len(lines()) >= N_MSGS, 30, "the long-running consumer did not read the messages")
            answer = px.cmd("cut-all")
            m = re.fullmatch(r"ok cut=(\d+)", answer)
            check(m is not None and int(m.group(1)) >= 1, f"cut-all closed the consumer's connections: {answer!r}")
            extra = [f"x{i:03d}" for i in range(5)]
            rc, _, err, _ = kcat(["-P", "-b", boot, "-t", topic], stdin=("\n".join(extra) + "\n").encode())
            check(rc == 0, "produce after cut-all succeeds")
            wait_for(lambda: lines() == msgs + extra, 60, "the consumer did not read exactly what followed cut-all")
            check(True, "the consumer reconnected and read what was produced after cut-all")

            # cut-random: connections keep being cut while it runs; the client keeps coming back.
            check(px.cmd("cut-random 150") == "ok", "cut-random 150 answers ok")
            cut0 = px.stats()["cut"]
            wait_for(lambda: px.stats()["cut"] >= cut0 + 2, 20, "cut-random cut nothing")
            check(px.cmd("cut-random 0") == "ok", "cut-random 0 answers ok")
            check(consumer.poll() is None, "the consumer lived through every cut")
        finally:
            consumer.terminate()
            consumer.wait()
    after = px.stats()
    check(after["cut"] >= before["cut"] + 3 and after["accepted"] > before["accepted"],
          f"stats count cuts and reconnects: {after}")
    check(len(metadata_brokers(boot)) >= 1, "after cut-random 0 the proxy still serves")

    # The command protocol's errors, clear, stats fields.
    check(px.cmd("inject 4 6 1").startswith("error unsupported api"), "inject of an unknown api is refused")
    check(px.cmd("inject 0 x 1").startswith("error"), "inject with a bad code is refused")
    check(px.cmd("latency -5").startswith("error"), "negative latency is refused")
    check(px.cmd("frobnicate").startswith("error"), "an unknown command gets 'error ...'")
    check(px.cmd("inject 3 5 3") == "ok" and px.cmd("clear") == "ok", "clear answers ok")
    rc, _, _, _ = kcat(["-L", "-b", boot, "-m", "10"])
    st = px.stats()
    check(rc == 0 and st["injected"] == 4, "clear dropped the pending injection (Metadata answered unchanged)")
    for key in ("conns", "accepted", "cut", "injected", "rewritten", "bytes_up", "bytes_down"):
        check(key in st, f"stats has {key}")
    check(st["passthrough_undecodable"] == 0, "every answer that needed rewriting was decoded")

    check(px.cmd("quit") == "ok", "quit answers ok")
    check(px.proc.wait(timeout=10) == 0, "quit exits 0")

    # stdin EOF means quit too.
    p2 = subprocess.Popen([binary, "--upstream", upstream], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    first = p2.stdout.readline().decode()
    p2.stdin.close()
    code = p2.wait(timeout=10)
    p2.stdout.close()
    check(first.startswith("ready ") and code == 0, "stdin EOF exits 0")


if __name__ == "__main__":
    sys.exit(main())
