"""Tests of scripts/meanrev_agent.py: the rolling z-score and its signal on a fixed series
(entries exactly where the mid jumps, none otherwise), the tick decoder on the reference
vectors of docs/PROTOCOL.md (JSON and binary), the agent's entries through a stub client
(the fields it sends, no second entry while a position is open), the exact PnL summary, and
the agent as a process against a fake engine and a fake tick feed (bounded: 2 s).

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import unittest
from decimal import Decimal as D
from pathlib import Path

import zmq

SCRIPTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import meanrev_agent as agent_mod  # noqa: E402
import engine_agent_client as eac  # noqa: E402
from test_engine_agent_client import AGENT, TOKEN, FakeEngine  # noqa: E402

# Alternating 100/101, a dip to 95 at index 20, a jump to 106 at index 30.
SERIES = ([D(100 + i % 2) for i in range(20)] + [D(95)] + [D(100 + i % 2) for i in range(9)] + [D(106)]
          + [D(100 + i % 2) for i in range(5)])

# docs/PROTOCOL.md Appendix A, "P tick BTCUSD.s, PUB seq 5000", and its JSON form (5.3).
BINARY_TICK = bytes.fromhex(
    "01000700bebafeca000000008813000000000000000000000000000000405b36ceeb791808000000000000004254435553442e73"
    "80360b4f180900004e012f4f1809000000405b36ceeb79186400000000000000")
JSON_TICK = (b'{"v":1,"type":"tick","session_id":3405691582,"seq":5000,"ack_seq":0,"ts_ns":1763700000000000000,'
             b'"body":{"symbol":"BTCUSD.s","bid":"100000.1","ask":"100000.12345678","ts_ns":1763700000000000000,'
             b'"md_seq":100}}')


def signals(series, window=10, entry_z="2"):
    z = agent_mod.ZScore(window)
    return [(i, agent_mod.signal_for(z.update(x), D(entry_z))) for i, x in enumerate(series)]


class SignalTest(unittest.TestCase):
    def test_entries_where_the_mid_jumps_and_nowhere_else(self):
        fired = [(i, s) for i, s in signals(SERIES) if s]
        self.assertEqual(fired, [(20, "enter_long"), (30, "enter_short")])

    def test_no_entry_while_the_window_fills_or_the_mid_is_flat(self):
        self.assertEqual([s for _, s in signals([D(100)] * 30 + [D(100)])], [None] * 31)
        self.assertEqual([s for _, s in signals([D(100)] * 5 + [D(50)], window=10)], [None] * 6)

    def test_a_higher_threshold_takes_no_entry(self):
        self.assertEqual([s for _, s in signals(SERIES, entry_z="3") if s], [])

    def test_the_threshold_is_inclusive(self):
        self.assertEqual(agent_mod.signal_for(D("-2"), D(2)), "enter_long")
        self.assertEqual(agent_mod.signal_for(D("2"), D(2)), "enter_short")
        self.assertIsNone(agent_mod.signal_for(D("-1.999"), D(2)))
        self.assertIsNone(agent_mod.signal_for(None, D(2)))


class TickTest(unittest.TestCase):
    def test_both_codecs_decode_the_reference_tick(self):
        want = agent_mod.Tick("BTCUSD.s", D("100000.1"), D("100000.12345678"), 1763700000000000000, 100)
        self.assertEqual(agent_mod.decode_tick(BINARY_TICK), want)
        self.assertEqual(agent_mod.decode_tick(JSON_TICK), want)
        self.assertEqual(want.mid, D("100000.11172839"))

    def test_anything_else_is_not_a_tick(self):
        for frame in (b"", BINARY_TICK[:-1], BINARY_TICK + b"\0", b"\x01\x00\x06" + BINARY_TICK[3:], b"{",
                      b'{"type":"heartbeat"}', b'{"type":"tick","body":{}}', b"\xff" * 90):
            with self.subTest(frame=frame[:12]):
                self.assertIsNone(agent_mod.decode_tick(frame))


class StubClient:
    timeout, retries = 2.5, 3

    def __init__(self, refuse=None, silent=False):
        self.sent = []
        self.refuse = refuse
        self.silent = silent

    def submit(self, symbol, action, **fields):
        self.sent.append((symbol, action, fields))
        if self.silent:
            raise eac.NoAnswer("no answer")
        if self.refuse:
            raise eac.Refused({"status": "refused", "reason": self.refuse})
        return {"intent_id": f"id-{len(self.sent)}", "status": "accepted", "order_intent_id": len(self.sent)}


def agent(client, *extra):
    args = agent_mod.parse_args(["--agent-id", "a", "--token-file", "t", "--symbols", "ETHUSD.s", "--window", "10",
                                 "--cooldown-sec", "0", "--retry-after-sec", "0", *extra])
    return agent_mod.MeanRevAgent(args, client)


def ticks(series, symbol="ETHUSD.s"):
    return [agent_mod.Tick(symbol, x, x, i, i + 1) for i, x in enumerate(series)]


class AgentTest(unittest.TestCase):
    def test_an_entry_carries_every_field_as_given(self):
        client = StubClient()
        a = agent(client, "--qty", "0.03", "--tp-pct", "0.5", "--sl-pct", "0.3", "--time-limit-sec", "300")
        before = time.time_ns()
        for t in ticks(SERIES[:21]):
            a.on_tick(t)
        self.assertEqual(len(client.sent), 1)
        symbol, action, f = client.sent[0]
        self.assertEqual((symbol, action), ("ETHUSD.s", "enter_long"))
        self.assertEqual((f["qty"], f["tp_pct"], f["sl_pct"]), ("0.03", "0.5", "0.3"))
        self.assertEqual((f["time_in_trade_limit_sec"], f["cooldown_sec"]), (300, 0))
        self.assertGreater(f["valid_until_ns"], before)
        self.assertIn("z=-2.89", f["thesis"])

    def test_no_second_entry_while_open_and_a_new_one_after_the_close(self):
        client = StubClient()
        a = agent(client)
        for t in ticks(SERIES):
            a.on_tick(t)
        self.assertEqual([s[1] for s in client.sent], ["enter_long"], "the jump at 30 comes while the long is open")
        a.on_event("ETHUSD.s", {"event": "position_closed", "symbol": "ETHUSD.s", "realized": "1.5", "fees": "0.1"})
        for t in ticks(SERIES):
            a.on_tick(t)
        self.assertEqual([s[1] for s in client.sent], ["enter_long", "enter_long"])

    def test_another_symbol_is_ignored(self):
        client = StubClient()
        a = agent(client)
        for t in ticks(SERIES, symbol="BTCUSD.s"):
            a.on_tick(t)
        self.assertEqual(client.sent, [])

    def test_a_refused_entry_is_not_an_open_position(self):
        client = StubClient(refuse="feed_stale")
        a = agent(client)
        for t in ticks(SERIES):
            a.on_tick(t)
        self.assertEqual([s[1] for s in client.sent], ["enter_long", "enter_short"])
        client = StubClient(refuse="position_open")
        a = agent(client)
        for t in ticks(SERIES):
            a.on_tick(t)
        self.assertEqual([s[1] for s in client.sent], ["enter_long"])

    def test_an_engine_that_does_not_answer_is_not_asked_again_on_every_tick(self):
        # Each unanswered intent costs the client's whole timeout: after one, no symbol asks
        # again for that long (ticks kept coming after the engine stopped, and the agent
        # spent a timeout on each).
        client = StubClient(silent=True)
        a = agent(client, "--symbols", "ETHUSD.s,XAUUSD.s")
        for t in ticks(SERIES) + ticks(SERIES, symbol="XAUUSD.s"):
            a.on_tick(t)
        self.assertEqual(len(client.sent), 1, "one unanswered intent, then quiet on every symbol")

    def test_the_pnl_summary_is_exact(self):
        book = agent_mod.PnlBook()
        for symbol, realized in (("ETHUSD.s", "0.1"), ("ETHUSD.s", "0.2"), ("XAUUSD.s", "-0.30000001")):
            book.closed({"symbol": symbol, "realized": realized, "fees": "0.00000001"})
        self.assertEqual(book.summary(), [
            "PNL ETHUSD.s trades=2 realized=0.3 fees=0.00000002",
            "PNL XAUUSD.s trades=1 realized=-0.30000001 fees=0.00000001",
            "PNL TOTAL trades=3 realized=-0.00000001 fees=0.00000003",
        ])


class ProcessTest(unittest.TestCase):
    """The agent as a process: ticks in, an entry out, a close on the stream, the summary."""

    def test_the_agent_trades_and_prints_its_pnl(self):
        engine = FakeEngine()
        ctx = zmq.Context.instance()
        md = ctx.socket(zmq.XPUB)
        md.setsockopt(zmq.LINGER, 0)
        md.bind("tcp://127.0.0.1:*")
        with tempfile.NamedTemporaryFile("w", suffix=".token") as token:
            token.write(TOKEN + "\n")
            token.flush()
            proc = subprocess.Popen(
                [sys.executable, str(SCRIPTS / "meanrev_agent.py"), "--endpoint", engine.endpoint,
                 "--stream", engine.stream, "--market-data", md.getsockopt(zmq.LAST_ENDPOINT).decode(),
                 "--agent-id", AGENT, "--token-file", token.name, "--symbols", "ETHUSD.s", "--window", "10",
                 "--duration", "2.5", "--heartbeat-ms", "100"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                engine.wait_subscribed(2)          # ETHUSD.s and agent.<id> on the stream
                self.assertTrue(md.poll(3000), "the agent subscribed to ticks")
                md.recv()
                for i, x in enumerate(SERIES[:21]):
                    body = {"symbol": "ETHUSD.s", "bid": str(x), "ask": str(x), "ts_ns": i, "md_seq": i + 1}
                    md.send_multipart([b"ETHUSD.s", json.dumps({"v": 1, "type": "tick", "body": body}).encode()])
                deadline = time.monotonic() + 2
                while engine.orders == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                self.assertEqual(engine.orders, 1)
                engine.publish("ETHUSD.s", event="position_closed", exit_reason="take_profit", qty="0.01",
                               entry_price="95", exit_price="96", realized="0.01", fees="0.0005")
                out, err = proc.communicate(timeout=6)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
                md.close(linger=0)
                engine.close()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("ENTRY ETHUSD.s enter_long qty=0.01", out)
        self.assertIn("CLOSED ETHUSD.s take_profit", out)
        self.assertIn("PNL ETHUSD.s trades=1 realized=0.01 fees=0.0005", out)
        self.assertIn("PNL TOTAL trades=1 realized=0.01 fees=0.0005", out)
        with engine.lock:
            kinds = [r["type"] for r in engine.received]
        self.assertIn("heartbeat", kinds)
        self.assertEqual(kinds.count("submit_intent"), 1)


if __name__ == "__main__":
    unittest.main()
