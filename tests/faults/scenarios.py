#!/usr/bin/env python3
"""kwire's fault suite: one scenario per run, against the 3-node cluster of
tests/broker/kafka (KW_BROKER_DIR), with kwverifiable-producer / kwverifiable-consumer
as the clients under test.

    scenarios.py [--producer P] [--consumer C] [--broker-script S] [--proxy X] NAME
    scenarios.py --list

Every scenario creates its own topic (6 partitions, replication factor 3,
min.insync.replicas 2), runs an idempotent acks=all producer (and group consumers where
the scenario says so), applies its fault, stops the producer, then reads the whole topic
with a fresh verifiable consumer and validates it as Kafka's ProduceConsumeValidate does:

  lost        acknowledged values that were not consumed (must be 0)
  duplicated  values consumed more than once (must be 0: the producer is idempotent)
  order       per partition, offsets increase and acknowledged values appear in the
              order they were sent, at the offsets the producer was told

It prints exactly one line `scenario NAME: produced N, acked A, consumed C, lost L,
duplicated D` (details indented below it) and exits 1 if anything failed. Every node it
stops or kills is started again before it returns. Standard library only.
"""

import argparse
import collections
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

PARTITIONS = 6
RATE = 400  # producer messages/s: a steady load that leaves CPU for three JVMs restarting on 2 cores
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def now_ms():
    return int(time.time() * 1000)


T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    """The scenario cannot go on (a step timed out, a tool died)."""


# ---------------------------------------------------------------- a minimal Kafka client
# Old, non-flexible request versions Kafka 4.x still accepts (KIP-896): enough to create
# topics, find leaders, high watermarks and committed offsets without any client library.

class Wire:
    def __init__(self, bootstrap):
        self.bootstrap = [(h, int(p)) for h, p in (x.rsplit(":", 1) for x in bootstrap.split(","))]
        self.corr = 0

    def call(self, addr, key, ver, body, timeout=5.0):
        self.corr += 1
        hdr = struct.pack(">hhih", key, ver, self.corr, 12) + b"kwire-faults"
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
            size = struct.unpack(">i", self._recvn(s, 4))[0]
            resp = self._recvn(s, size)
        if struct.unpack_from(">i", resp)[0] != self.corr:
            raise OSError("correlation id mismatch")
        return Reader(resp[4:])

    @staticmethod
    def _recvn(s, n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise OSError("connection closed")
            b += c
        return b

    def any_call(self, key, ver, body, addrs=None):
        err = None
        for addr in addrs or self.bootstrap:
            try:
                return self.call(addr, key, ver, body)
            except (OSError, struct.error) as e:
                err = e
        raise OSError(f"no broker answered api {key}: {err}")

    def metadata(self, topics=None):
        """{'brokers': {id: (host, port)}, 'topics': {name: {p: (leader, replicas, isr)}}}"""
        body = struct.pack(">i", -1) if topics is None else struct.pack(">i", len(topics)) + b"".join(
            string(t) for t in topics)
        r = self.any_call(3, 1, body)
        brokers = {}
        for _ in range(r.i32()):
            nid, host, port = r.i32(), r.str(), r.i32()
            r.str()  # rack
            brokers[nid] = (host, port)
        r.i32()  # controller
        out = {}
        for _ in range(r.i32()):
            terr, name, _internal = r.i16(), r.str(), r.i8()
            parts = {}
            for _ in range(r.i32()):
                _perr, p, leader = r.i16(), r.i32(), r.i32()
                replicas = [r.i32() for _ in range(r.i32())]
                isr = [r.i32() for _ in range(r.i32())]
                parts[p] = (leader, replicas, isr)
            out[name] = {"error": terr, "parts": parts}
        return {"brokers": brokers, "topics": out}

    def create_topic(self, name, partitions, rf, configs):
        body = struct.pack(">i", 1) + string(name) + struct.pack(">ih", partitions, rf) + struct.pack(">i", 0)
        body += struct.pack(">i", len(configs)) + b"".join(string(k) + string(v) for k, v in configs.items())
        body += struct.pack(">ib", 30000, 0)
        r = self.any_call(19, 2, body)
        r.i32()  # throttle
        for _ in range(r.i32()):
            _name, err, msg = r.str(), r.i16(), r.str()
            if err:
                raise Failed(f"CreateTopics {name}: error {err}: {msg}")

    def end_offsets(self, topic):
        """High watermark of every partition, asked from its leader."""
        md = self.metadata([topic])
        parts = md["topics"][topic]["parts"]
        out = {}
        by_leader = collections.defaultdict(list)
        for p, (leader, _, _) in parts.items():
            by_leader[leader].append(p)
        for leader, ps in by_leader.items():
            body = struct.pack(">ii", -1, 1) + string(topic) + struct.pack(">i", len(ps))
            body += b"".join(struct.pack(">iq", p, -1) for p in ps)
            r = self.call(md["brokers"][leader], 2, 1, body)
            for _ in range(r.i32()):
                r.str()
                for _ in range(r.i32()):
                    p, err, _ts, off = r.i32(), r.i16(), r.i64(), r.i64()
                    if err:
                        raise OSError(f"ListOffsets {topic} [{p}]: error {err}")
                    out[p] = off
        return out

    def committed(self, group, topic, partitions):
        """The group's committed offset per partition (-1: none), from its coordinator."""
        r = self.any_call(10, 0, string(group))
        err, _node, host, port = r.i16(), r.i32(), r.str(), r.i32()
        if err:
            raise OSError(f"FindCoordinator {group}: error {err}")
        body = string(group) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
        body += b"".join(struct.pack(">i", p) for p in partitions)
        r = self.call((host, port), 9, 1, body)
        out = {}
        for _ in range(r.i32()):
            r.str()
            for _ in range(r.i32()):
                p, off, _meta, perr = r.i32(), r.i64(), r.str(), r.i16()
                if perr:
                    raise OSError(f"OffsetFetch {group} [{p}]: error {perr}")
                out[p] = off
        return out


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.b[self.o:self.o + n].decode()
        self.o += n
        return v


# ---------------------------------------------------------------- tool processes

class Tool:
    """A verifiable client as a subprocess; its JSON lines are parsed as they come
    (and kept, with everything else it printed, under the scenario's log directory)."""

    def __init__(self, name, argv, logdir):
        self.name = name
        self.raw = open(os.path.join(logdir, name + ".out"), "w")
        self.err = open(os.path.join(logdir, name + ".err"), "w")
        self.events = []
        self.cond = threading.Condition()
        self.done = False
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL,
                                  text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.p.stdout:
            self.raw.write(line)
            if not line.startswith("{"):
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(e)
                self.on_event(e)
                self.cond.notify_all()
        with self.cond:
            self.done = True
            self.cond.notify_all()
        self.raw.flush()

    def on_event(self, e):
        pass

    def wait_for(self, pred, timeout, what):
        """Waits until pred() (called under the lock) is true; Failed on timeout."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    raise Failed(f"{self.name}: timed out after {timeout} s waiting for {what}")
                if self.done and not pred():
                    raise Failed(f"{self.name}: exited (code {self.p.poll()}) while waiting for {what}")
                self.cond.wait(min(left, 0.5))

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM, and wait for a clean exit (SIGKILL after timeout)."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name}: no exit {timeout} s after SIGTERM: SIGKILL")
            self.p.kill()
            self.p.wait()
        self.thread.join(10)
        return self.p.returncode

    def wait_exit(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.thread.join(10)
        return self.p.returncode


class Producer(Tool):
    def __init__(self, *a):
        self.acked = 0
        self.acked_by_part = collections.Counter()
        self.last_ack_ms = collections.defaultdict(int)  # partition -> time of its newest ack
        self.errors = 0
        super().__init__(*a)

    def on_event(self, e):
        n = e["name"]
        if n == "producer_send_success":
            self.acked += 1
            self.acked_by_part[e["partition"]] += 1
            self.last_ack_ms[e["partition"]] = e["timestamp"]
        elif n == "producer_send_error":
            self.errors += 1

    def summary(self):
        sent = None
        for e in self.events:
            if e["name"] == "tool_data":
                sent = e["sent"]
        acked = {}
        dup_acks = 0
        for e in self.events:
            if e["name"] == "producer_send_success":
                v = int(e["value"])
                if v in acked:
                    dup_acks += 1
                acked[v] = (e["partition"], e["offset"])
        if sent is None:  # no tool_data (killed): every value up to the largest reported
            sent = 1 + max([int(e["value"]) for e in self.events if "value" in e] or [-1])
        return sent, acked, dup_acks


class Consumer(Tool):
    def __init__(self, *a):
        self.assignment = set()
        self.consumed = 0
        self.max_offset = {}  # partition -> largest offset consumed
        self.committed = {}   # partition -> largest offset committed successfully
        super().__init__(*a)

    def on_event(self, e):
        n = e["name"]
        if n == "partitions_assigned":
            # replaced, not changed in place: other threads read it unlocked
            self.assignment = self.assignment | {x["partition"] for x in e["partitions"]}
        elif n == "partitions_revoked":
            self.assignment = self.assignment - {x["partition"] for x in e["partitions"]}
        elif n == "records_consumed":
            self.consumed += e["count"]
            for x in e["partitions"]:
                self.max_offset[x["partition"]] = max(self.max_offset.get(x["partition"], -1), x["maxOffset"])
        elif n == "offsets_committed" and e["success"]:
            for x in e["offsets"]:
                self.committed[x["partition"]] = max(self.committed.get(x["partition"], -1), x["offset"])

    def records(self):
        with self.cond:
            return [e for e in self.events if e["name"] == "record_data"]


# ---------------------------------------------------------------- the scenario frame

class Scenario:
    def __init__(self, args, name):
        self.args = args
        self.name = name
        self.dir = os.environ.get("KW_BROKER_DIR") or sys.exit("KW_BROKER_DIR is not set")
        self.logdir = os.path.join(self.dir, "faults-logs", name)
        os.makedirs(self.logdir, exist_ok=True)
        for f in os.listdir(self.logdir):
            os.unlink(os.path.join(self.logdir, f))
        self.bootstrap = open(os.path.join(self.dir, "bootstrap")).read().strip()
        self.wire = Wire(self.bootstrap)
        self.topic = f"faults-{name}-{now_ms()}"
        self.tools = []
        self.problems = []   # failed checks, printed under the result line
        self.notes = []      # facts worth printing
        self.client_bootstrap = self.bootstrap  # the proxy's address in proxy scenarios

    # -- the cluster

    def script(self, *args, timeout=180):
        t = time.monotonic()
        r = subprocess.run([self.args.broker_script, *map(str, args)], env=dict(os.environ, KW_BROKER_DIR=self.dir),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        said = "; ".join(x.removeprefix("kafka: ") for x in r.stderr.splitlines())
        log(f"kafka {' '.join(map(str, args))}: exit {r.returncode} after {time.monotonic() - t:.1f} s ({said})")
        if r.returncode:
            raise Failed(f"tests/broker/kafka {' '.join(map(str, args))} failed: {r.stderr.strip()[-500:]}")
        return r.stdout

    def node_ids(self):
        return sorted(int(d.split("-")[1]) for d in os.listdir(self.dir) if d.startswith("node-"))

    def stopped_nodes(self):
        out = subprocess.run([self.args.broker_script, "status"], env=dict(os.environ, KW_BROKER_DIR=self.dir),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        return [int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.endswith("stopped")]

    def ensure_all_running(self):
        for n in self.stopped_nodes():
            log(f"node {n} is down: starting it")
            self.script("start-node", n)

    def wait_healthy(self, timeout=90, topics=None):
        """Every node registered, every partition (of `topics`, or of every topic) led and
        fully in sync: the state a scenario starts from and leaves behind."""
        end = time.monotonic() + timeout
        why = "no answer"
        while time.monotonic() < end:
            try:
                md = self.wire.metadata(topics)
                if len(md["brokers"]) < len(self.node_ids()):
                    why = f"{len(md['brokers'])} brokers registered"
                else:
                    bad = [f"{t}[{p}]" for t, ti in md["topics"].items() for p, (leader, reps, isr) in ti["parts"].items()
                           if leader < 0 or len(isr) < len(reps)]
                    if not bad:
                        return
                    why = f"{len(bad)} partition(s) without leader or full ISR, e.g. {bad[0]}"
            except (OSError, struct.error) as e:
                why = str(e)
            time.sleep(0.5)
        raise Failed(f"cluster not healthy after {timeout} s: {why}")

    def leader(self, partition):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            parts = self.wire.metadata([self.topic])["topics"][self.topic]["parts"]
            if parts.get(partition, (-1,))[0] >= 0:
                return parts[partition][0]
            time.sleep(0.3)
        raise Failed(f"no leader for {self.topic} [{partition}]")

    def create_topic(self):
        self.wire.create_topic(self.topic, PARTITIONS, 3, {"min.insync.replicas": "2"})
        self.wait_healthy(60, [self.topic])
        log(f"topic {self.topic}: {PARTITIONS} partitions, RF 3, min.insync.replicas 2")

    # -- the clients

    def producer(self, rate=RATE, extra=()):
        argv = [self.args.producer, "--topic", self.topic, "--bootstrap-server", self.client_bootstrap,
                "--max-messages", "-1", "--throughput", str(rate), "--acks", "-1",
                "-X", "enable.idempotence=true", "-X", "delivery.timeout.ms=120000", "-X", "linger.ms=5", *extra]
        t = Producer("producer", argv, self.logdir)
        self.tools.append(t)
        t.wait_for(lambda: t.acked > 0, 30, "a first acknowledgement")
        return t

    def consumer(self, label, group, extra=(), bootstrap=None):
        argv = [self.args.consumer, "--topic", self.topic, "--group-id", group, "--bootstrap-server",
                bootstrap or self.client_bootstrap, "--verbose", "--reset-policy", "earliest", *extra]
        t = Consumer(label, argv, self.logdir)
        self.tools.append(t)
        return t

    def stop_producer(self, p):
        rc = p.stop(timeout=150)
        if rc != 0:
            self.problems.append(f"producer exited with code {rc}")
        p.wait_for(lambda: any(e["name"] == "shutdown_complete" for e in p.events), 5, "shutdown_complete")
        log(f"producer stopped: {p.acked} acked, {p.errors} send errors")

    def wait_caught_up(self, consumers, group, timeout=60):
        """Until the group's committed offsets (as the broker has them) reach the end of
        every partition."""
        ends = self.wire.end_offsets(self.topic)
        end = time.monotonic() + timeout
        committed = {}
        while time.monotonic() < end:
            try:
                committed = self.wire.committed(group, self.topic, list(ends))
                if all(committed.get(p, -1) >= ends[p] for p in ends):
                    log(f"group {group} committed up to the end of every partition: {ends}")
                    return ends, committed
            except (OSError, struct.error):
                pass
            for c in consumers:
                if c.done:
                    raise Failed(f"{c.name} exited before the group caught up")
            time.sleep(0.5)
        behind = {p: (committed.get(p, -1), ends[p]) for p in ends if committed.get(p, -1) < ends[p]}
        self.problems.append(f"group {group}: committed offsets behind the end after {timeout} s "
                             f"(partition: (committed, end)): {behind}")
        return ends, committed

    # -- the verdict

    def final_check(self, producer):
        """A fresh consumer reads the whole topic; ProduceConsumeValidate's checks."""
        self.wait_healthy(90)
        ends = self.wire.end_offsets(self.topic)
        total = sum(ends.values())
        v = self.consumer("verifier", f"verify-{self.topic}", ["--max-messages", str(total), "--enable-autocommit"])
        if v.wait_exit(90) is None:
            log("verifier: not done after 90 s: SIGTERM")
            v.stop()
            self.problems.append(f"verifier consumed {v.consumed} of {total} records in 90 s")
        records = v.records()
        sent, acked, dup_acks = producer.summary()
        if dup_acks:
            self.problems.append(f"{dup_acks} value(s) acknowledged twice by the producer")
        seen = collections.Counter(int(r["value"]) for r in records)
        lost = sorted(set(acked) - set(seen))
        duplicated = sum(n - 1 for n in seen.values() if n > 1)
        # order: offsets increase per partition; acked values sit at their acked offsets,
        # in the order they were sent
        last_off, last_val = {}, {}
        misplaced = disorder = 0
        for r in records:
            p, off, val = r["partition"], r["offset"], int(r["value"])
            if off <= last_off.get(p, -1):
                disorder += 1
            last_off[p] = off
            if val in acked:
                if acked[val] != (p, off):
                    misplaced += 1
                if val <= last_val.get(p, -1):
                    disorder += 1
                last_val[p] = val
        if lost:
            self.problems.append(f"lost: {len(lost)} acked value(s) never consumed, e.g. {lost[:10]}")
        if duplicated:
            dups = [x for x, n in seen.items() if n > 1]
            self.problems.append(f"duplicated: {duplicated} extra copies, e.g. {sorted(dups)[:10]}")
        if misplaced:
            self.problems.append(f"{misplaced} acked value(s) found at another partition/offset than acknowledged")
        if disorder:
            self.problems.append(f"{disorder} record(s) out of order within their partition")
        if len(records) != total:
            self.problems.append(f"verifier consumed {len(records)} records, the partitions hold {total}")
        self.notes.append(f"producer: {producer.errors} send error(s); topic holds {total} records, "
                          f"{total - len(acked)} of them written but not acknowledged")
        return sent, len(acked), len(records), len(lost), duplicated

    def report(self, counts, t_start):
        sent, acked, consumed, lost, dup = counts
        print(f"scenario {self.name}: produced {sent}, acked {acked}, consumed {consumed}, lost {lost}, "
              f"duplicated {dup}", flush=True)
        for n in self.notes:
            print(f"  {n}")
        for p in self.problems:
            print(f"  FAILED: {p}")
        print(f"  run time {time.monotonic() - t_start:.1f} s; logs in {self.logdir}", flush=True)
        return 1 if self.problems or lost or dup else 0

    def cleanup(self):
        for t in self.tools:
            if t.p.poll() is None:
                t.signal(signal.SIGCONT)
                t.p.kill()
                t.p.wait()


# ---------------------------------------------------------------- group bookkeeping

def group_check(sc, members, paused=None, t_stop=None, t_cont=None):
    """What a consumer group did, from its members' events:

    - redelivered: a record (partition, offset) handed out again (to another member, or
      the same one) at a time when no successful commit covered it: at-least-once at
      work (a killed member's uncommitted records), allowed;
    - after commit: a record handed out again after a commit covering it had succeeded:
      committed progress went back, a failure;
    - the paused member (SIGSTOP at t_stop, SIGCONT at t_cont): after t_cont it must
      neither hand out nor commit a record of a partition before it has been assigned
      that partition again (it was fenced while stopped: what it held went to others).
      A commit it had in flight when it was stopped may still report success after
      SIGCONT; it only carries what it consumed before t_stop, so commits up to that
      are not counted.
    Returns the values the group consumed."""
    commits = collections.defaultdict(list)  # partition -> [(time, offset)] successful
    for m in members:
        for e in m.events:
            if e["name"] == "offsets_committed" and e["success"]:
                for x in e["offsets"]:
                    commits[x["partition"]].append((e["timestamp"], x["offset"]))
    for c in commits.values():
        c.sort()

    def committed_before(p, t):
        best = -1
        for ts, off in commits[p]:
            if ts >= t:
                break
            best = max(best, off)
        return best

    deliveries = collections.defaultdict(list)  # (p, off) -> [(time, member)]
    values = set()
    for m in members:
        for r in m.records():
            deliveries[(r["partition"], r["offset"])].append((r["timestamp"], m.name))
            values.add(int(r["value"]))
    redelivered = after_commit = 0
    examples = []
    for (p, off), ds in deliveries.items():
        ds.sort()
        for t, who in ds[1:]:
            if committed_before(p, t) > off:
                after_commit += 1
                if len(examples) < 5:
                    examples.append(f"[{p}]@{off} to {who} at {t} (first to {ds[0][1]} at {ds[0][0]})")
            else:
                redelivered += 1
    sc.notes.append(f"group: {sum(len(d) for d in deliveries.values())} records handed out to "
                    f"{len(members)} member(s), {redelivered} redelivered before being committed (allowed), "
                    f"{after_commit} redelivered after a commit covered them")
    if after_commit:
        sc.problems.append(f"{after_commit} record(s) redelivered after their commit succeeded: {examples}")

    if paused is not None:
        owned = set()     # the paused member's assignment as its events tell, from t_cont on
        fenced_seen = False
        reassigned = False
        before_stop = {}  # partition -> largest offset it consumed before t_stop
        violations = []
        for e in paused.events:
            n, t = e["name"], e["timestamp"]
            if t < t_cont:
                if n == "record_data" and t <= t_stop:
                    before_stop[e["partition"]] = max(before_stop.get(e["partition"], -1), e["offset"])
                continue
            if n == "partitions_revoked":
                fenced_seen = True
                owned -= {x["partition"] for x in e["partitions"]}
            elif n == "partitions_assigned":
                reassigned = True
                owned |= {x["partition"] for x in e["partitions"]}
            elif n == "record_data" and e["partition"] not in owned:
                violations.append(f"handed out [{e['partition']}]@{e['offset']} at {t} before owning it again")
            elif n == "offsets_committed" and e["success"]:
                for x in e["offsets"]:
                    if x["partition"] not in owned and x["offset"] > before_stop.get(x["partition"], -1) + 1:
                        violations.append(f"committed [{x['partition']}]@{x['offset']} at {t} without owning it")
        if not fenced_seen:
            sc.problems.append(f"{paused.name} never reported its partitions revoked after SIGCONT (not fenced?)")
        if not reassigned:
            sc.problems.append(f"{paused.name} was not assigned partitions again after SIGCONT")
        if violations:
            sc.problems.append(f"{paused.name} after SIGCONT: {len(violations)} violation(s): {violations[:5]}")
        sc.notes.append(f"{paused.name}: revoked after SIGCONT {fenced_seen}, rejoined {reassigned}, "
                        f"{len(violations)} record(s)/commit(s) of partitions it no longer owned")
    return values


def check_group_got_acked(sc, producer, values):
    _, acked, _ = producer.summary()
    missing = sorted(set(acked) - values)
    if missing:
        sc.problems.append(f"the group never consumed {len(missing)} acked value(s), e.g. {missing[:10]}")


# ---------------------------------------------------------------- broker scenarios

def leader_fault(sc, how):
    """The leader of partition 0 goes away during produce (SIGKILL, or a clean shutdown),
    then comes back. Produce must go on at the new leader and nothing acked is lost."""
    sc.create_topic()
    p = sc.producer()
    p.wait_for(lambda: p.acked >= 2 * RATE, 30, f"{2 * RATE} acks")
    victim = sc.leader(0)
    t_fault = now_ms()
    if how == "kill":
        log(f"SIGKILL node {victim}, leader of partition 0")
        sc.script("kill", victim)
        # the cluster sees it gone after broker.session.timeout.ms (9 s): leaders move then
        p.wait_for(lambda: p.last_ack_ms[0] > t_fault + 1000, 40, "acks on partition 0 from a new leader")
        log(f"partition 0 acked again; new leader {sc.leader(0)}")
        sc.script("start-node", victim)
    else:
        log(f"clean restart of node {victim}, leader of partition 0")
        sc.script("restart", victim)  # returns when the node is back
    t_back = now_ms()
    p.wait_for(lambda: p.last_ack_ms[0] > t_back + 1000, 30, "acks after the node came back")
    sc.stop_producer(p)
    # how long partition 0 went without an acknowledgement around the fault
    acks = sorted(e["timestamp"] for e in p.events if e["name"] == "producer_send_success" and e["partition"] == 0)
    window = [t for t in acks if t_fault - 1000 <= t <= t_back + 1000]
    gap = max((b - a for a, b in zip(window, window[1:])), default=0)
    sc.notes.append(f"node {victim} (leader of partition 0) {'SIGKILLed' if how == 'kill' else 'shut down'} and "
                    f"started again; longest pause between partition 0 acks: {gap} ms")
    return sc.final_check(p)


def leader_kill(sc):
    """The leader of partition 0 is SIGKILLed during produce, then started again: produce
    goes on at the new leader; nothing acked is lost or duplicated."""
    return leader_fault(sc, "kill")


def leader_shutdown(sc):
    """The leader of partition 0 is shut down cleanly (SIGTERM: controlled shutdown moves
    its leaderships) during produce, then started again: nothing acked is lost or
    duplicated."""
    return leader_fault(sc, "shutdown")


def rolling_restart(sc):
    """All three brokers restarted cleanly one after the other while a producer and a
    group consumer (sync commit after each batch) run. At the end the group's committed
    offsets reach the end of every partition, and the group consumed every acked value."""
    sc.create_topic()
    group = f"group-{sc.topic}"
    c = sc.consumer("member", group, ["--session-timeout", "10000", "-X", "heartbeat.interval.ms=1000"])
    c.wait_for(lambda: len(c.assignment) == PARTITIONS, 30, "the group's assignment")
    p = sc.producer()
    p.wait_for(lambda: p.acked >= RATE, 30, f"{RATE} acks")
    for n in sc.node_ids():
        # the next node only when the last one is back in every ISR: min.insync.replicas 2
        sc.wait_healthy(60)
        t = now_ms()
        sc.script("restart", n)
        p.wait_for(lambda: any(p.last_ack_ms[x] > t for x in p.last_ack_ms), 30, f"acks after restarting node {n}")
    time.sleep(2)
    sc.stop_producer(p)
    sc.wait_healthy(60)
    ends, committed = sc.wait_caught_up([c], group)
    sc.notes.append(f"group committed {sum(committed.values())} of {sum(ends.values())} offsets")
    c.stop()
    values = group_check(sc, [c])
    check_group_got_acked(sc, p, values)
    return sc.final_check(p)


def member_kill_and_pause(sc):
    """A 2-member group (manual sync commits). Member a is SIGKILLed: its partitions move
    to b after the session timeout. A new member c joins. Then b is SIGSTOPped for longer
    than session.timeout.ms (c takes everything) and SIGCONTed: b must notice it was
    fenced, give its partitions up, rejoin, and never hand out or commit records of
    partitions it no longer owns. Nothing committed is redelivered; the group consumes
    every acked value. With kwfaultproxy built, b talks through it, and answers to b are
    held 300 ms around the stop, so that b wakes up to a heartbeat answered before its
    session expired (a stale confirmation) and to fetched records."""
    session = 6000  # the broker's group.min.session.timeout.ms
    sc.create_topic()
    group = f"group-{sc.topic}"
    opts = ["--session-timeout", str(session), "-X", "heartbeat.interval.ms=200"]
    proxy = None
    if sc.args.proxy and os.access(sc.args.proxy, os.X_OK):
        proxy = Proxy(sc.args.proxy, sc.bootstrap, sc.logdir)
    try:
        p = sc.producer(rate=RATE // 2)
        a = sc.consumer("member-a", group, opts)
        b = sc.consumer("member-b", group, opts, bootstrap=proxy.bootstrap if proxy else None)

        def split(*ms):
            return lambda: (sum(len(m.assignment) for m in ms) == PARTITIONS and all(m.assignment for m in ms) and
                            all(m.consumed > 0 for m in ms))

        a.wait_for(split(a, b), 40, "a and b sharing the partitions")
        b.wait_for(split(a, b), 5, "a and b sharing the partitions")
        log(f"a has {sorted(a.assignment)}, b has {sorted(b.assignment)}: SIGKILL a")
        a.signal(signal.SIGKILL)
        a.wait_exit(10)
        b.wait_for(lambda: len(b.assignment) == PARTITIONS, session / 1000 + 30, "b taking a's partitions")
        log("b has every partition; c joins")
        c = sc.consumer("member-c", group, opts)
        c.wait_for(split(b, c), 40, "b and c sharing the partitions")
        if proxy:  # from now on b always has a heartbeat (and a fetch) in flight
            proxy.cmd("latency 300")
        time.sleep(1)
        t_stop = now_ms()
        log(f"b has {sorted(b.assignment)}, c has {sorted(c.assignment)}: SIGSTOP b")
        b.signal(signal.SIGSTOP)
        c.wait_for(lambda: len(c.assignment) == PARTITIONS, session / 1000 + 30, "c taking b's partitions")
        stopped_at = {x: c.max_offset.get(x, -1) for x in range(PARTITIONS)}
        c.wait_for(lambda: sum(c.max_offset.get(x, -1) > stopped_at[x] for x in range(PARTITIONS)) == PARTITIONS,
                   20, "c consuming every partition")
        if proxy:  # what was held reaches b's sockets now: it reads it first thing after SIGCONT
            proxy.cmd("latency 0")
        time.sleep(1)
        t_cont = now_ms()
        log(f"b stopped for {t_cont - t_stop} ms (session timeout {session} ms): SIGCONT b")
        b.signal(signal.SIGCONT)
        b.wait_for(lambda: any(e["name"] == "partitions_assigned" and e["timestamp"] >= t_cont for e in b.events),
                   40, "b rejoining after SIGCONT")
        c.wait_for(split(b, c), 30, "b and c sharing the partitions again")
        time.sleep(2)
        sc.stop_producer(p)
        sc.wait_caught_up([b, c], group)
        for m in (b, c):
            m.stop()
    finally:
        if proxy:
            proxy.close()
    values = group_check(sc, [a, b, c], paused=b, t_stop=t_stop, t_cont=t_cont)
    check_group_got_acked(sc, p, values)
    return sc.final_check(p)


# ---------------------------------------------------------------- proxy scenarios

class Proxy:
    """tests/faultproxy/kwfaultproxy: `ready LIST` once listening, then one `ok...` line
    per command read from stdin."""

    def __init__(self, path, upstream, logdir):
        self.err = open(os.path.join(logdir, "proxy.err"), "w")
        self.p = subprocess.Popen([path, "--upstream", upstream], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True, bufsize=1)
        line = self._line(30)
        if not line.startswith("ready "):
            raise Failed(f"kwfaultproxy said {line!r}, not 'ready ...'")
        self.bootstrap = line.split(None, 1)[1].strip()
        log(f"proxy ready at {self.bootstrap}")

    def _line(self, timeout):
        box = []
        t = threading.Thread(target=lambda: box.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box or not box[0]:
            raise Failed(f"kwfaultproxy: no answer within {timeout} s (exit code {self.p.poll()})")
        return box[0].rstrip("\n")

    def stats(self):
        """The `stats` counters as a dict."""
        return {k: int(v) for k, v in (x.split("=") for x in self.cmd("stats").split()[1:])}

    def cmd(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        answer = self._line(10)
        if not answer.startswith("ok"):
            raise Failed(f"kwfaultproxy: '{text}' answered {answer!r}")
        log(f"proxy: {text}: {answer}")
        return answer

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


def with_proxy(fn):
    def run(sc):
        if not sc.args.proxy or not os.access(sc.args.proxy, os.X_OK):
            print(f"scenario {sc.name}: skipped (no kwfaultproxy: tests/faultproxy not built)", flush=True)
            raise SystemExit(77)
        proxy = Proxy(sc.args.proxy, sc.bootstrap, sc.logdir)
        sc.client_bootstrap = proxy.bootstrap
        try:
            return fn(sc, proxy)
        finally:
            proxy.close()
    run.__doc__ = fn.__doc__
    return run


def proxied_run(sc, proxy, fault, effect, producer_extra=(), consumer_extra=()):
    """Producer and a group consumer through the proxy; `fault(proxy, group)` while they
    run (it may return more group members it started); `effect(delta)` checks with the
    proxy's counters that the fault did happen (a list of problems); then the group must
    catch up (committed offsets at the end of every partition) and the final check,
    direct to the brokers, must find nothing lost or duplicated."""
    sc.create_topic()
    group = f"group-{sc.topic}"
    c = sc.consumer("member", group, ["--session-timeout", "10000", "-X", "heartbeat.interval.ms=1000",
                                      *consumer_extra])
    c.wait_for(lambda: len(c.assignment) == PARTITIONS, 30, "the group's assignment")
    p = sc.producer(extra=producer_extra)
    p.wait_for(lambda: p.acked >= RATE, 30, f"{RATE} acks")
    before = proxy.stats()
    members = [c] + list(fault(proxy, group) or [])
    proxy.cmd("clear")
    after = proxy.stats()
    delta = {k: after[k] - before.get(k, 0) for k in after}
    sc.notes.append("during the fault: " + ", ".join(f"{k} +{delta[k]}" for k in ("accepted", "cut", "injected")))
    sc.problems.extend(effect(delta))
    t = now_ms()
    p.wait_for(lambda: any(p.last_ack_ms[x] > t for x in p.last_ack_ms), 40, "acks after the faults cleared")
    time.sleep(2)
    sc.stop_producer(p)
    sc.wait_caught_up(members, group)
    for m in members:
        m.stop()
    values = group_check(sc, members)
    check_group_got_acked(sc, p, values)
    return sc.final_check(p)


@with_proxy
def network_cuts(sc, proxy):
    """Connections cut at random (cut-random) while producing and consuming, plus two
    cuts of everything: clients reconnect; nothing acked is lost or duplicated."""
    def fault(proxy, group):
        proxy.cmd("cut-random 500")
        time.sleep(8)
        proxy.cmd("cut-all")
        time.sleep(3)
        proxy.cmd("cut-all")
        time.sleep(3)

    def effect(d):
        return [] if d["cut"] >= 10 and d["accepted"] >= 10 else [f"too few cuts or reconnections: {d}"]
    return proxied_run(sc, proxy, fault, effect)


@with_proxy
def slow_broker(sc, proxy):
    """Every response delayed beyond request.timeout.ms (3 s) for 10 s: requests time
    out, connections are dropped and requests retried (idempotence keeps retried
    batches single); then the latency is cleared and everything flows again."""
    def fault(proxy, group):
        proxy.cmd("latency 4000")
        time.sleep(10)

    def effect(d):  # a request timeout closes its connection: the clients connect again
        return [] if d["accepted"] > 0 else [f"no request timed out (no reconnection): {d}"]
    return proxied_run(sc, proxy, fault, effect, producer_extra=["-X", "request.timeout.ms=3000"],
                       consumer_extra=["-X", "request.timeout.ms=3000", "--commit-timeout", "10000"])


@with_proxy
def error_injection(sc, proxy):
    """Produce answers rewritten to NOT_LEADER_OR_FOLLOWER (6) and REQUEST_TIMED_OUT (7)
    although the broker wrote the batch: the producer retries and idempotence makes the
    retry a no-op. A second member joins while FindCoordinator and OffsetFetch answer
    COORDINATOR_LOAD_IN_PROGRESS (14): it retries and the group consumes everything."""
    def fault(proxy, group):
        proxy.cmd("inject 0 6 5")
        time.sleep(3)
        proxy.cmd("inject 0 7 5")
        time.sleep(3)
        proxy.cmd("inject 10 14 3")
        proxy.cmd("inject 9 14 3")
        c2 = sc.consumer("member-2", group, ["--session-timeout", "10000", "-X", "heartbeat.interval.ms=1000"])
        c2.wait_for(lambda: len(c2.assignment) > 0 and c2.consumed > 0, 40, "a second member consuming")
        return [c2]

    def effect(d):
        return [] if d["injected"] == 16 else [f"{d['injected']} of the 16 injected errors were delivered"]
    return proxied_run(sc, proxy, fault, effect)


SCENARIOS = {
    "leader_kill": leader_kill,
    "leader_shutdown": leader_shutdown,
    "rolling_restart": rolling_restart,
    "member_kill_and_pause": member_kill_and_pause,
    "network_cuts": network_cuts,
    "slow_broker": slow_broker,
    "error_injection": error_injection,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?", choices=sorted(SCENARIOS))
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--producer", default=os.environ.get("KW_VPRODUCER", "kwverifiable-producer"))
    ap.add_argument("--consumer", default=os.environ.get("KW_VCONSUMER", "kwverifiable-consumer"))
    ap.add_argument("--broker-script", default=os.environ.get("KW_BROKER_SCRIPT",
                                                              os.path.join(ROOT, "tests", "broker", "kafka")))
    ap.add_argument("--proxy", default=os.environ.get("KW_FAULTPROXY", ""))
    args = ap.parse_args()
    if args.list:
        for n, fn in SCENARIOS.items():
            print(f"{n}: {' '.join(fn.__doc__.split())}")
        return 0
    if not args.name:
        ap.error("a scenario name is required")
    random.seed()
    sc = Scenario(args, args.name)
    t_start = time.monotonic()
    code = 1
    try:
        sc.ensure_all_running()
        sc.wait_healthy(90)
        counts = SCENARIOS[args.name](sc)
        code = sc.report(counts, t_start)
    except SystemExit:
        raise
    except Failed as e:
        print(f"scenario {args.name}: FAILED: {e}", flush=True)
        print(f"  run time {time.monotonic() - t_start:.1f} s; logs in {sc.logdir}", flush=True)
    finally:
        sc.cleanup()
        try:  # leave all nodes running for the next scenario, whatever happened
            sc.ensure_all_running()
        except Failed as e:
            print(f"  FAILED to restart the cluster: {e}", flush=True)
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
