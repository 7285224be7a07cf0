"""Black-box tests for scripts/interop_gateway.py (wire protocol v1, JSON codec).

The gateway runs as a subprocess on free loopback ports. The tests talk to it the way an
engine would per docs/PROTOCOL.md: a DEALER with a fixed identity on the order channel
(one frame per message) and a SUB on the market-data channel. A few unit tests import
the module for the §12.3 ledger rule and the JSON decoder.

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import zmq

SCRIPTS = Path(__file__).resolve().parents[1]
SCRIPT = SCRIPTS / "interop_gateway.py"
sys.path.insert(0, str(SCRIPTS))

import interop_gateway as gwmod  # noqa: E402

FEE_PPM = 250
CANONICAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]{0,7}[1-9])?")   # §5.2 canonical form
Q8 = Decimal("0.00000001")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rhe8(d: Decimal) -> Decimal:
    return d.quantize(Q8, rounding=ROUND_HALF_EVEN)


class GatewayProcess:
    """The gateway as a subprocess; stdout is read for READY/SUMMARY, stderr goes to a file."""

    def __init__(self, *extra: str, duration: float = 30.0, dump: str | None = None):
        self.orders = f"tcp://127.0.0.1:{free_port()}"
        self.market_data = f"tcp://127.0.0.1:{free_port()}"
        self.stderr = tempfile.TemporaryFile()
        cmd = [sys.executable, str(SCRIPT), "--orders", self.orders, "--market-data", self.market_data,
               "--symbols", "BTCUSD.s,ETHUSD.s,XAUUSD.s", "--duration", str(duration), "--seed", "7",
               "--fee-ppm", str(FEE_PPM), "--interval-ms", "5..30", *extra]
        if dump:
            cmd += ["--dump-ledger", dump]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.readline(5.0)
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError(f"gateway did not become ready: {line!r} {self.stderr_text()}")
        self.ready_line = line

    def readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else ""

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def terminate(self, timeout: float = 5.0) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc.stdout.close()
        self.stderr.close()


class Engine:
    """A minimal JSON engine: DEALER (one frame per message) + SUB, with seq/ack bookkeeping."""

    session_id = 0xDEADBEEF

    def __init__(self, ctx: zmq.Context, gw: GatewayProcess, identity: bytes, symbol: str | None = None):
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.ROUTING_ID, identity)
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.setsockopt(zmq.SNDTIMEO, 3000)
        self.dealer.connect(gw.orders)
        self.sub = None
        self.ticks: list[dict] = []
        if symbol:
            self.sub = ctx.socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub.setsockopt(zmq.SUBSCRIBE, symbol.encode())
            self.sub.connect(gw.market_data)
        self.seq = 0
        self.last_recv = 0
        self.inbox: list[dict] = []

    def close(self) -> None:
        self.dealer.close(0)
        if self.sub is not None:
            self.sub.close(0)

    def send(self, msg_type: str, body: dict) -> int:
        self.seq += 1
        env = {"v": 1, "type": msg_type, "session_id": self.session_id, "seq": self.seq,
               "ack_seq": self.last_recv, "ts_ns": time.time_ns(), "body": body}
        self.dealer.send(json.dumps(env, separators=(",", ":")).encode())
        return self.seq

    def send_raw(self, *frames: bytes) -> None:
        self.dealer.send_multipart(list(frames))

    def _pump(self, timeout_ms: int) -> None:
        poller = zmq.Poller()
        poller.register(self.dealer, zmq.POLLIN)
        if self.sub is not None:
            poller.register(self.sub, zmq.POLLIN)
        events = dict(poller.poll(timeout_ms))
        if self.dealer in events:
            while True:
                try:
                    frames = self.dealer.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                assert len(frames) == 1, f"gateway sent {len(frames)} frames to a DEALER"
                assert frames[0][:1] == b"{", "expected the JSON codec"
                msg = json.loads(frames[0])
                self.last_recv = msg["seq"]
                self.inbox.append(msg)
        if self.sub is not None and self.sub in events:
            while True:
                try:
                    topic, payload = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                msg = json.loads(payload)
                assert msg["type"] == "tick" and msg["body"]["symbol"] == topic.decode()
                self.ticks.append(msg)

    def wait_tick(self, timeout: float = 3.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self.ticks and time.monotonic() < deadline:
            self._pump(50)
        if not self.ticks:
            raise AssertionError("no tick received")
        return self.ticks[-1]

    def recv(self, pred=None, timeout: float = 2.0) -> dict:
        """Next order-channel message (heartbeats skipped unless pred wants them)."""
        pred = pred or (lambda m: m["type"] != "heartbeat")
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.inbox):
                if pred(m):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; inbox={self.inbox[-5:]}")
            self._pump(max(1, int(left * 1000)))

    def expect_nothing(self, seconds: float = 0.2) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(20)
        extra = [m for m in self.inbox if m["type"] != "heartbeat"]
        if extra:
            raise AssertionError(f"unexpected messages: {extra}")

    def exec_report(self, intent_id: int, timeout: float = 2.0) -> dict:
        return self.recv(lambda m: m["type"] == "exec_report" and m["body"]["intent_id"] == intent_id, timeout)["body"]

    def snapshot(self, request_id: int) -> dict:
        self.send("position_snapshot_request", {"request_id": request_id})
        body = self.recv(lambda m: m["type"] == "position_snapshot")["body"]
        assert body["request_id"] == request_id
        return body


def new_order(intent_id: int, symbol: str, side: str, qty: str, ord_type: str = "market",
              limit_price: str | None = None, expire_at_ns: int = 0) -> dict:
    return {"intent_id": intent_id, "symbol": symbol, "side": side, "qty": qty, "ord_type": ord_type,
            "limit_price": limit_price, "expire_at_ns": expire_at_ns}


REPORT_KEYS = {"intent_id", "order_id", "exec_id", "symbol", "side", "exec_type", "ord_status", "last_qty",
               "last_px", "cum_qty", "leaves_qty", "fee", "reject_code", "reject_text", "poss_dup",
               "transact_ns"}


class LiveGatewayTest(unittest.TestCase):
    """One gateway for the class; each test uses its own engine identity and its own symbol."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dump = os.path.join(cls.tmp.name, "ledger.json")
        cls.gw = GatewayProcess("--quiet", duration=30.0, dump=cls.dump)
        cls.ctx = zmq.Context()

    @classmethod
    def tearDownClass(cls):
        try:
            rc, out = cls.gw.terminate()
            assert rc == 0, f"gateway exit code {rc}: {cls.gw.stderr_text()}"
            assert re.search(r"^SUMMARY .*total_net=", out, re.M), out
            with open(cls.dump) as f:
                ledger = json.load(f)
            assert set(ledger) == {"total_net", "symbols"}
        finally:
            cls.gw.kill()
            cls.ctx.term()
            cls.tmp.cleanup()

    def engine(self, identity: bytes, symbol: str | None = None) -> Engine:
        eng = Engine(self.ctx, self.gw, identity, symbol)
        self.addCleanup(eng.close)
        eng.send("heartbeat", {"session_id": eng.session_id, "last_seq_sent": 0, "last_seq_received": 0})
        return eng

    def assert_canonical(self, *values: str) -> None:
        for v in values:
            self.assertIsInstance(v, str)
            self.assertRegex(v, CANONICAL.pattern + r"\Z")

    def test_ready_line(self):
        self.assertEqual(self.gw.ready_line, f"READY orders={self.gw.orders} market_data={self.gw.market_data}")

    def test_ticks(self):
        eng = self.engine(b"eng-ticks", "XAUUSD.s")
        eng.wait_tick()
        deadline = time.monotonic() + 1.0
        while len(eng.ticks) < 4 and time.monotonic() < deadline:
            eng._pump(50)
        self.assertGreaterEqual(len(eng.ticks), 2)
        seqs = [t["body"]["md_seq"] for t in eng.ticks]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))   # contiguous per symbol
        for t in eng.ticks:
            b = t["body"]
            self.assertEqual(t["ack_seq"], 0)
            self.assertEqual(b["symbol"], "XAUUSD.s")
            self.assert_canonical(b["bid"], b["ask"])
            self.assertTrue(0 < Decimal(b["bid"]) <= Decimal(b["ask"]))
            self.assertLess(abs(Decimal(b["bid"]) - 2650), 200)

    def test_heartbeat_from_gateway(self):
        eng = self.engine(b"eng-hb")
        hb = eng.recv(lambda m: m["type"] == "heartbeat", timeout=2.5)
        self.assertEqual(hb["body"]["session_id"], hb["session_id"])
        self.assertEqual(hb["body"]["last_seq_sent"] + 1, hb["seq"])
        self.assertEqual(hb["body"]["last_seq_received"], hb["ack_seq"])
        self.assertEqual(hb["ack_seq"], 1)  # acknowledges our heartbeat (seq 1)

    def test_fill_idempotency_and_snapshot(self):
        sym = "ETHUSD.s"
        eng = self.engine(b"eng-fill", sym)
        eng.wait_tick()
        qty = "0.37"
        body = new_order(1001, sym, "buy", qty, expire_at_ns=time.time_ns() + 5_000_000_000)
        order_seq = eng.send("new_order", body)
        msg = eng.recv(lambda m: m["type"] == "exec_report")
        self.assertEqual(msg["v"], 1)
        self.assertEqual(msg["ack_seq"], order_seq)
        gw_session = msg["session_id"]
        rep = msg["body"]
        self.assertEqual(set(rep), REPORT_KEYS)
        self.assertEqual((rep["intent_id"], rep["symbol"], rep["side"]), (1001, sym, "buy"))
        self.assertEqual((rep["exec_type"], rep["ord_status"], rep["reject_code"]), ("fill", "filled", "none"))
        self.assertEqual((rep["last_qty"], rep["cum_qty"], rep["leaves_qty"]), (qty, qty, "0"))
        self.assertFalse(rep["poss_dup"])
        self.assertEqual(rep["reject_text"], "")
        for k in ("order_id", "exec_id", "transact_ns"):
            self.assertIsInstance(rep[k], int)
            self.assertGreater(rep[k], 0)
        self.assert_canonical(rep["last_qty"], rep["last_px"], rep["cum_qty"], rep["leaves_qty"], rep["fee"])
        # Market buy fills at the ask of a published tick (no slippage configured).
        eng._pump(50)
        asks = {t["body"]["ask"] for t in eng.ticks}
        self.assertIn(rep["last_px"], asks)
        notional = rhe8(Decimal(rep["last_px"]) * Decimal(qty))
        fee = rhe8(notional * FEE_PPM / Decimal(10**6))
        self.assertEqual(Decimal(rep["fee"]), fee)

        # Same intent, same body: replay with poss_dup, same exec_id, no second fill.
        eng.send("new_order", body)
        dup = eng.exec_report(1001)
        self.assertTrue(dup["poss_dup"])
        self.assertEqual(dup, dict(rep, poss_dup=True))
        eng.expect_nothing(0.1)

        # Same intent, different body: duplicate_intent_mismatch, original unaffected.
        eng.send("new_order", dict(body, qty="0.38"))
        mis = eng.exec_report(1001)
        self.assertEqual((mis["exec_type"], mis["ord_status"], mis["reject_code"], mis["order_id"]),
                         ("rejected", "rejected", "duplicate_intent_mismatch", 0))
        self.assertNotEqual(mis["exec_id"], rep["exec_id"])

        snap = eng.snapshot(5)
        self.assertEqual(snap["open_orders"], [])
        self.assertEqual([p["symbol"] for p in snap["positions"]], sorted(p["symbol"] for p in snap["positions"]))
        pos = next(p for p in snap["positions"] if p["symbol"] == sym)
        self.assertEqual(pos["fills"], 1)
        self.assertEqual((pos["side"], pos["qty"], pos["realized_pnl"]), ("buy", qty, "0"))
        self.assertEqual(Decimal(pos["cost"]), notional)
        self.assertEqual(Decimal(pos["fees"]), fee)

        # Status query: replay (poss_dup) + final order_status report.
        eng.send("order_status_query", {"intent_id": 1001, "symbol": sym})
        replay = eng.exec_report(1001)
        self.assertEqual(replay, dict(rep, poss_dup=True))
        st = eng.exec_report(1001)
        self.assertEqual((st["exec_type"], st["ord_status"], st["cum_qty"], st["leaves_qty"], st["fee"],
                          st["last_qty"], st["last_px"], st["poss_dup"], st["order_id"]),
                         ("order_status", "filled", qty, "0", "0", "0", "0", False, rep["order_id"]))
        self.assertNotEqual(st["exec_id"], rep["exec_id"])
        hb = eng.recv(lambda m: m["type"] == "heartbeat", timeout=2.5)
        self.assertEqual(hb["session_id"], gw_session)   # one gateway session on every frame

    def test_ioc(self):
        sym = "XAUUSD.s"
        eng = self.engine(b"eng-ioc", sym)
        eng.wait_tick()
        eng.send("new_order", new_order(2001, sym, "buy", "1.5", "ioc", limit_price="1"))
        rep = eng.exec_report(2001)
        self.assertEqual((rep["exec_type"], rep["ord_status"], rep["cum_qty"], rep["leaves_qty"], rep["last_qty"]),
                         ("canceled", "canceled", "0", "0", "0"))
        eng.send("new_order", new_order(2002, sym, "sell", "1.5", "ioc", limit_price="1"))
        rep = eng.exec_report(2002)
        self.assertEqual((rep["exec_type"], rep["ord_status"], rep["last_qty"]), ("fill", "filled", "1.5"))
        eng._pump(50)
        self.assertIn(rep["last_px"], {t["body"]["bid"] for t in eng.ticks})   # sell at the bid

    def test_rejects(self):
        eng = self.engine(b"eng-rej")
        eng.send("new_order", new_order(3001, "DOGEUSD.s", "buy", "1"))
        rep = eng.exec_report(3001)
        self.assertEqual((rep["exec_type"], rep["ord_status"], rep["reject_code"], rep["order_id"], rep["symbol"]),
                         ("rejected", "rejected", "unknown_symbol", 0, "DOGEUSD.s"))
        eng.send("new_order", new_order(3002, "BTCUSD.s", "buy", "0.001", expire_at_ns=1))
        rep = eng.exec_report(3002)
        self.assertEqual((rep["exec_type"], rep["reject_code"], rep["cum_qty"]), ("rejected", "expired", "0"))
        # A stored reject is replayed on an identical repeat.
        eng.send("new_order", new_order(3002, "BTCUSD.s", "buy", "0.001", expire_at_ns=1))
        dup = eng.exec_report(3002)
        self.assertEqual(dup, dict(rep, poss_dup=True))

    def test_unknown_order_is_final(self):
        eng = self.engine(b"eng-unk")
        eng.send("order_status_query", {"intent_id": 99, "symbol": "ETHUSD.s"})
        rep = eng.exec_report(99)
        self.assertEqual((rep["exec_type"], rep["ord_status"], rep["reject_code"], rep["order_id"], rep["symbol"],
                          rep["cum_qty"], rep["leaves_qty"], rep["poss_dup"]),
                         ("order_status", "rejected", "unknown_order", 0, "ETHUSD.s", "0", "0", False))
        # The intent is now refused for good.
        eng.send("new_order", new_order(99, "ETHUSD.s", "buy", "0.5"))
        rej = eng.exec_report(99)
        self.assertEqual((rej["exec_type"], rej["reject_code"]), ("rejected", "expired"))
        # ... and the refusal is that intent's history.
        eng.send("order_status_query", {"intent_id": 99, "symbol": "ETHUSD.s"})
        self.assertEqual(eng.exec_report(99), dict(rej, poss_dup=True))
        st = eng.exec_report(99)
        self.assertEqual((st["exec_type"], st["ord_status"], st["reject_code"]), ("order_status", "rejected", "expired"))
        # Open-orders query: nothing open, so no reply.
        eng.send("order_status_query", {"intent_id": None, "symbol": None})
        eng.expect_nothing(0.15)

    def test_malformed_frames(self):
        eng = self.engine(b"eng-bad")
        eng.send_raw(b"{not json")
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual((r["ref_seq"], r["code"]), (0, "malformed_frame"))
        self.assertTrue(r["text"].startswith("malformed: "), r["text"])

        eng.send_raw(b"", b'{"v":1}')   # REQ-style delimiter: 2 payload frames
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual((r["ref_seq"], r["code"], r["text"]), (0, "malformed_frame", "expected 1 payload frame, got 2"))

        bad = dict(new_order(4001, "BTCUSD.s", "buy", "1"), qty=1)   # bare JSON number: refused
        seq = eng.send("new_order", bad)
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual((r["ref_seq"], r["code"]), (seq, "malformed_frame"))
        self.assertTrue(r["text"].startswith("invalid_value: "), r["text"])

        seq = eng.send("new_order", dict(new_order(4002, "BTCUSD.s", "buy", "1"), side=1))
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertTrue(r["text"].startswith("unknown_enum_value: "), r["text"])

        seq = eng.send("order_status_query", {"intent_id": 5})   # symbol missing => invalid_value
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual(r["ref_seq"], seq)
        self.assertTrue(r["text"].startswith("invalid_value: "), r["text"])

        eng.seq += 1
        eng.send_raw(json.dumps({"v": 2, "type": "heartbeat", "session_id": eng.session_id, "seq": eng.seq,
                                 "ack_seq": 0, "ts_ns": 0, "body": {}}).replace(" ", "").encode())
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual((r["ref_seq"], r["code"]), (eng.seq, "unsupported_version"))

        seq = eng.send("tick", {"symbol": "BTCUSD.s", "bid": "1", "ask": "2", "ts_ns": 1, "md_seq": 1})
        r = eng.recv(lambda m: m["type"] == "session_reject")["body"]
        self.assertEqual((r["ref_seq"], r["code"]), (seq, "other"))

        # Nothing from those frames was executed, and the gateway keeps serving.
        eng.send("order_status_query", {"intent_id": 4001, "symbol": "BTCUSD.s"})
        self.assertEqual(eng.exec_report(4001)["reject_code"], "unknown_order")


class DurationExitTest(unittest.TestCase):
    """--duration ends the run; the ledger dump matches the snapshot and the §12.3 rule."""

    def test_exit_dump_and_summary(self):
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "ledger.json")
            gw = GatewayProcess("--quiet", duration=1.5, dump=dump)
            ctx = zmq.Context()
            eng = Engine(ctx, gw, b"eng-exit", "BTCUSD.s")
            try:
                eng.wait_tick()
                eng.send("new_order", new_order(1, "BTCUSD.s", "buy", "0.3"))
                buy = eng.exec_report(1)
                eng.send("new_order", new_order(2, "BTCUSD.s", "sell", "0.5"))   # overfill: flip short
                sell = eng.exec_report(2)
                snap = eng.snapshot(1)
            finally:
                eng.close()
                ctx.term()
            out, _ = gw.proc.communicate(timeout=5)
            err = gw.stderr_text()
            gw.kill()
            self.assertEqual(gw.proc.returncode, 0, err)
            self.assertRegex(out, r"(?m)^SUMMARY .*orders=2 fills=2 .*total_net=-?[0-9.]+$")
            with open(dump) as f:
                ledger = json.load(f)
        pos = gwmod.Position("BTCUSD.s")
        for r in (buy, sell):
            pos.apply_fill(r["side"], Decimal(r["last_px"]), Decimal(r["last_qty"]), Decimal(r["fee"]))
        entry = ledger["symbols"]["BTCUSD.s"]
        self.assertEqual(entry["fills"], 2)
        self.assertEqual((entry["side"], entry["qty"]), ("sell", "0.2"))
        self.assertEqual(Decimal(entry["realized"]), pos.realized)
        self.assertEqual(Decimal(entry["fees"]), Decimal(buy["fee"]) + Decimal(sell["fee"]))
        self.assertEqual(Decimal(entry["net"]), Decimal(entry["realized"]) - Decimal(entry["fees"]))
        self.assertEqual(Decimal(ledger["total_net"]), Decimal(entry["net"]))
        sp = snap["positions"][0]
        self.assertEqual((sp["realized_pnl"], sp["fees"], sp["qty"], sp["side"]),
                         (entry["realized"], entry["fees"], entry["qty"], entry["side"]))
        for s in ("ETHUSD.s", "XAUUSD.s"):
            self.assertEqual(ledger["symbols"][s]["fills"], 0)


class UnitTest(unittest.TestCase):
    def test_ledger_worked_example(self):
        """The §12.3 worked ledger, row by row."""
        rows = [
            ("buy", "0.3", "3000.1", "0.2250075", "buy", "0.3", "900.03", "0", "0.2250075"),
            ("buy", "0.2", "3001.05", "0.1500525", "buy", "0.5", "1500.24", "0", "0.37506"),
            ("sell", "0.35", "3005.55", "0.26298562", "buy", "0.15", "450.072", "1.7745", "0.63804562"),
            ("sell", "0.25", "2999.99", "0.18749938", "sell", "0.1", "299.999", "1.701", "0.825545"),
        ]
        pos = gwmod.Position("ETHUSD.s")
        for n, (side, q, px, fee, pside, pqty, cost, real, fees) in enumerate(rows, 1):
            f = gwmod.fee_of(gwmod.notional(Decimal(px), Decimal(q)), 250)
            self.assertEqual(gwmod.fmt(f), fee)
            pos.apply_fill(side, Decimal(px), Decimal(q), f)
            self.assertEqual((pos.side, gwmod.fmt(pos.qty), gwmod.fmt(pos.cost), gwmod.fmt(pos.realized),
                              gwmod.fmt(pos.fees), pos.fills), (pside, pqty, cost, real, fees, n))
        self.assertEqual(gwmod.fmt(pos.net), "0.875455")

    def test_rounding_and_format(self):
        self.assertEqual(gwmod.fmt(gwmod.notional(Decimal("100000.12345678"), Decimal("0.001"))), "100.00012346")
        self.assertEqual(gwmod.fmt(gwmod.notional(Decimal("0.00000001"), Decimal("0.5"))), "0")
        self.assertEqual(gwmod.fmt(gwmod.notional(Decimal("0.00000003"), Decimal("0.5"))), "0.00000002")
        self.assertEqual(gwmod.fmt(Decimal("1.50000000")), "1.5")
        self.assertEqual(gwmod.fmt(Decimal("-0")), "0")
        self.assertEqual(gwmod.fmt(Decimal("2650")), "2650")

    def test_decoder_examples(self):
        ok = (b'{"v":1,"type":"new_order","session_id":3735928559,"seq":3,"ack_seq":2,"ts_ns":1763700000001000000,'
              b'"body":{"intent_id":43,"symbol":"XAUUSD.s","side":"sell","qty":"1.5","ord_type":"ioc",'
              b'"limit_price":"2650.25","expire_at_ns":1763700001200000000}}')
        hdr, mtype, body = gwmod.decode_json_frame(ok)
        self.assertEqual((mtype, hdr["seq"], body["qty"], body["limit_price"]),
                         ("new_order", 3, Decimal("1.5"), Decimal("2650.25")))
        cases = {
            b"": "empty",
            b'{"v":1,"type":"heartbeat"': "truncated",
            b'{"v":1}': "malformed",
            ok.replace(b'"qty":"1.5"', b'"qty":"-1.5"'): "negative_quantity",
            ok.replace(b'"qty":"1.5"', b'"qty":"0.000000001"'): "invalid_value",
            ok.replace(b'"qty":"1.5"', b'"qty":"0"'): "invalid_value",
            ok.replace(b'"limit_price":"2650.25"', b'"limit_price":null'): "invalid_value",
            ok.replace(b'"symbol":"XAUUSD.s"', b'"symbol":"BTC/USDT"'): "invalid_symbol",
            ok.replace(b'"type":"new_order"', b'"type":"cancel"'): "unknown_message_type",
            ok.replace(b'"seq":3', b'"seq":-3'): "malformed",
        }
        for frame, kind in cases.items():
            with self.assertRaises(gwmod.DecodeError, msg=frame) as cm:
                gwmod.decode_json_frame(frame)
            self.assertEqual(cm.exception.kind, kind, frame)


if __name__ == "__main__":
    unittest.main()
