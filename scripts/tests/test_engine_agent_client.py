"""Tests of scripts/engine_agent_client.py against a fake engine written here: a ROUTER
(the intent endpoint) answering in a thread and an XPUB (the execution stream) driven by
the test, both on 127.0.0.1 free ports, following docs/AGENTS.md and the slice-2 wire
spec: submit and its answer, a retry with the same id after a lost answer, refusals as
exceptions with code and field, a float refused before sending, gap detection and replay
(each seq handed on once, pages followed), too_old answered by a snapshot, a new stream_id
taken as a restart, and exact topic filtering (BTCUSD is not BTCUSD.s).

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import json
import sys
import threading
import time
import unittest
from decimal import Decimal
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine_agent_client as eac  # noqa: E402

AGENT = "agent-1"
TOKEN = "fake-engine-token-0123456789"
WAIT = 3.0  # the longest any test waits for one thing


class FakeEngine:
    """The engine's two sockets, as far as an agent can see them."""

    def __init__(self, keep: int = 1000):
        self.ctx = zmq.Context.instance()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:*")
        self.endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.pub = self.ctx.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind("tcp://127.0.0.1:*")
        self.stream = self.pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.keep = keep
        self.lock = threading.Lock()
        self.stream_id = "run-A"
        self.events: list[dict] = []      # the replay buffer (the last `keep` events)
        self.seq = 0
        self.topic_seq: dict[str, int] = {}
        self.received: list[dict] = []    # every request, in order
        self.answers: dict[str, tuple[dict, dict]] = {}  # intent_id -> (body, answer)
        self.drop_answers: dict[str, int] = {}  # intent_id -> answers still to drop
        self.busy_first: set[str] = set()
        self.delay: dict[str, float] = {}  # intent_id -> seconds its answers are held back
        self._held: list[tuple[float, bytes, bytes]] = []
        self.drop_first_of_each = False   # ids not known in advance: each one's first answer is lost
        self._dropped: set[str] = set()
        self.orders = 0
        self._halt = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._halt.set()
        self.thread.join(timeout=2)
        self.router.close(linger=0)
        self.pub.close(linger=0)

    # -- the stream (test thread only) ------------------------------------------------------

    def wait_subscribed(self, count: int) -> None:
        """Waits until `count` subscriptions reached the XPUB (no slow-joiner loss)."""
        deadline = time.monotonic() + WAIT
        seen = 0
        while seen < count:
            left = deadline - time.monotonic()
            if left <= 0 or not self.pub.poll(int(left * 1000)):
                raise AssertionError(f"only {seen} of {count} subscriptions arrived")
            if self.pub.recv()[:1] == b"\x01":
                seen += 1

    def publish(self, topic: str, event: str = "fill", send: bool = True, **extra) -> dict:
        """Numbers and keeps one event; `send=False` loses it on the way (a gap)."""
        with self.lock:
            self.seq += 1
            self.topic_seq[topic] = self.topic_seq.get(topic, 0) + 1
            body = {"stream_id": self.stream_id, "seq": self.seq, "topic_seq": self.topic_seq[topic],
                    "ts_ns": time.time_ns(), "event": event, **extra}
            if not topic.startswith("agent."):
                body["symbol"] = topic
            else:
                body["agent_id"] = topic[len("agent."):]
            self.events.append(body)
            del self.events[:-self.keep]
        if send:
            self.pub.send_multipart([topic.encode(), json.dumps(body).encode()])
        return body

    def restart(self, stream_id: str) -> None:
        with self.lock:
            self.stream_id = stream_id
            self.events.clear()
            self.seq = 0
            self.topic_seq.clear()

    # -- the intent endpoint (its own thread) -----------------------------------------------

    def _serve(self) -> None:
        while not self._halt.is_set():
            now = time.monotonic()
            for held in [h for h in self._held if h[0] <= now]:
                self._held.remove(held)
                self.router.send_multipart([held[1], held[2]])
            if not self.router.poll(10):
                continue
            frames = self.router.recv_multipart()
            request = json.loads(frames[-1])
            with self.lock:
                self.received.append(request)
                answer = self._answer(request)
                hold = self.delay.get(str(request.get("intent_id")))
            if answer is None:
                continue
            payload = json.dumps(answer).encode()
            if hold:
                self._held.append((time.monotonic() + hold, frames[0], payload))
            else:
                self.router.send_multipart([frames[0], payload])

    def _answer(self, r: dict) -> dict | None:
        refusal = {"type": "intent_answer", "status": "refused"}
        if r.get("agent_id") != AGENT:
            return {**refusal, "reason": "unknown_agent"}
        if r.get("token") != TOKEN:
            return {**refusal, "reason": "bad_token"}
        kind = r.get("type")
        if kind == "submit_intent":
            return self._submit(r)
        if kind == "heartbeat":
            return {"type": "heartbeat_answer", "status": "ok", "liveness": "alive", "server_time_ns": time.time_ns()}
        if kind == "replay":
            return self._replay(r)
        if kind == "snapshot":
            return {"type": "snapshot_answer", "stream_id": self.stream_id, "seq": self.seq, "symbols": []}
        if kind == "cancel_intent":
            return {"type": "cancel_answer", "intent_id": r["intent_id"], "status": "cancelled"}
        if kind == "query_intent":
            kept = self.answers.get(r["intent_id"])
            if kept is None:
                return {"type": "query_answer", "intent_id": r["intent_id"], "status": "unknown", "events": []}
            return {"type": "query_answer", "intent_id": r["intent_id"], "status": "found", "answer": kept[1],
                    "events": [e for e in self.events if e.get("intent_id") == r["intent_id"]]}
        return {**refusal, "reason": "malformed", "detail": f"unknown type {kind}"}

    def _submit(self, r: dict) -> dict | None:
        iid = r["intent_id"]
        body = {k: v for k, v in r.items() if k != "token"}
        if iid in self.busy_first:
            self.busy_first.discard(iid)
            return {"type": "intent_answer", "intent_id": iid, "status": "refused", "reason": "busy"}
        if iid in self.answers:
            kept_body, kept = self.answers[iid]
            answer = kept if kept_body == body else {"type": "intent_answer", "intent_id": iid, "status": "refused",
                                                      "reason": "duplicate_mismatch"}
        else:
            answer = self._decide(r)
            self.answers[iid] = (body, answer)
        if self.drop_answers.get(iid, 0) > 0:
            self.drop_answers[iid] -= 1
            return None
        if self.drop_first_of_each and iid not in self._dropped:
            self._dropped.add(iid)
            return None
        return answer

    def _decide(self, r: dict) -> dict:
        iid = r["intent_id"]
        if r["symbol"] == "DOGEUSD.s":
            return {"type": "intent_answer", "intent_id": iid, "status": "refused", "reason": "symbol_unknown"}
        tp = r.get("tp_pct")
        if tp is not None and Decimal(tp) > 50:
            return {"type": "intent_answer", "intent_id": iid, "status": "refused", "reason": "invalid_field",
                    "field": "tp_pct", "detail": f"tp_pct = {tp}% is out of range"}
        self.orders += 1
        return {"type": "intent_answer", "intent_id": iid, "status": "accepted", "order_intent_id": 1000 + self.orders}

    def _replay(self, r: dict) -> dict:
        after, topics, most = r["after_seq"], r.get("topics"), r.get("max", 1000)
        oldest = self.events[0]["seq"] if self.events else self.seq + 1
        if after + 1 < oldest:
            return {"type": "replay_answer", "status": "too_old", "stream_id": self.stream_id, "oldest_seq": oldest}
        chosen = [e for e in self.events if e["seq"] > after and (topics is None or self._topic(e) in topics)]
        page, more = chosen[:most], len(chosen) > most
        next_seq = (page[-1]["seq"] if more else self.seq) + 1
        return {"type": "replay_answer", "status": "ok", "stream_id": self.stream_id, "events": page,
                "next_seq": next_seq, "more": more}

    @staticmethod
    def _topic(e: dict) -> str:
        return e.get("symbol") or f"agent.{e.get('agent_id')}"


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.engine = FakeEngine()
        self.client = eac.AgentClient(AGENT, TOKEN, self.engine.endpoint, timeout=0.4, retries=2, retry_pause=0.01)

    def tearDown(self) -> None:
        self.client.close()
        self.engine.close()

    def submits(self) -> list[dict]:
        with self.engine.lock:
            return [r for r in self.engine.received if r["type"] == "submit_intent"]

    def entry(self, **extra) -> dict:
        fields = {"qty": Decimal("0.03"), "tp_pct": "0.5", "sl_pct": Decimal("0.30"),
                  "time_in_trade_limit_sec": 300, "cooldown_sec": 30, "thesis": "z -2.4"}
        fields.update(extra)
        return fields

    def test_submit_sends_exact_decimal_strings_and_returns_the_answer(self):
        answer = self.client.submit("ETHUSD.s", "enter_long", intent_id="i-1", **self.entry())
        self.assertEqual(answer["status"], "accepted")
        self.assertEqual(answer["order_intent_id"], 1001)
        sent = self.submits()[0]
        self.assertEqual((sent["qty"], sent["tp_pct"], sent["sl_pct"]), ("0.03", "0.5", "0.30"))
        self.assertEqual(sent["time_in_trade_limit_sec"], 300)
        self.assertEqual((sent["agent_id"], sent["token"], sent["action"]), (AGENT, TOKEN, "enter_long"))

    def test_a_lost_answer_is_retried_with_the_same_id_and_one_decision(self):
        self.engine.drop_answers["i-2"] = 1
        answer = self.client.submit("ETHUSD.s", "enter_long", intent_id="i-2", **self.entry())
        self.assertEqual(answer["status"], "accepted")
        sent = self.submits()
        self.assertEqual([s["intent_id"] for s in sent], ["i-2", "i-2"])
        self.assertEqual(sent[0], sent[1], "the retry is the same frame")
        self.assertEqual(self.engine.orders, 1)
        self.assertEqual(self.client.resends, 1)

    def test_a_generated_id_is_kept_for_the_retry(self):
        self.engine.drop_first_of_each = True
        self.client.submit("ETHUSD.s", "enter_long", **self.entry())
        ids = [s["intent_id"] for s in self.submits()]
        self.assertEqual(len(ids), 2)
        self.assertEqual(ids[0], ids[1])

    def test_busy_is_retried_with_the_same_id(self):
        self.engine.busy_first.add("i-3")
        self.assertEqual(self.client.submit("ETHUSD.s", "enter_long", intent_id="i-3", **self.entry())["status"],
                         "accepted")
        self.assertEqual([s["intent_id"] for s in self.submits()], ["i-3", "i-3"])

    def test_no_answer_at_all_raises_after_the_bounded_retries(self):
        self.engine.drop_answers["i-4"] = 99
        started = time.monotonic()
        with self.assertRaises(eac.NoAnswer):
            self.client.submit("ETHUSD.s", "enter_long", intent_id="i-4", **self.entry())
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertEqual([s["intent_id"] for s in self.submits()], ["i-4"] * 3)

    def test_a_late_answer_is_not_taken_for_the_next_requests(self):
        late = eac.AgentClient(AGENT, TOKEN, self.engine.endpoint, timeout=0.2, retries=0)
        try:
            # A refusal that comes too late is not the refusal of the next request...
            self.engine.delay["late-1"] = 0.3
            with self.assertRaises(eac.NoAnswer):
                late.submit("DOGEUSD.s", "exit", intent_id="late-1")
            time.sleep(0.2)  # the answer to late-1 is now waiting in the socket
            self.assertEqual(late.heartbeat()["type"], "heartbeat_answer")
            # ... nor an acceptance the answer to another intent.
            self.engine.delay["late-2"] = 0.3
            with self.assertRaises(eac.NoAnswer):
                late.submit("ETHUSD.s", "exit", intent_id="late-2")
            time.sleep(0.2)
            self.assertEqual(late.submit("ETHUSD.s", "exit", intent_id="late-3")["intent_id"], "late-3")
        finally:
            late.close()

    def test_a_refusal_raises_with_its_code_and_field(self):
        with self.assertRaises(eac.Refused) as caught:
            self.client.submit("ETHUSD.s", "enter_long", intent_id="i-5", **self.entry(tp_pct="90"))
        self.assertEqual((caught.exception.reason, caught.exception.field), ("invalid_field", "tp_pct"))
        self.assertEqual(caught.exception.intent_id, "i-5")
        with self.assertRaises(eac.Refused) as caught:
            self.client.submit("DOGEUSD.s", "enter_long", intent_id="i-6", **self.entry())
        self.assertEqual((caught.exception.reason, caught.exception.field), ("symbol_unknown", None))
        # The same id with another body.
        with self.assertRaises(eac.Refused) as caught:
            self.client.submit("DOGEUSD.s", "enter_long", intent_id="i-6", **self.entry(qty="0.04"))
        self.assertEqual(caught.exception.reason, "duplicate_mismatch")

    def test_a_wrong_token_refuses_every_request(self):
        stranger = eac.AgentClient(AGENT, "not-the-token-0000000", self.engine.endpoint, timeout=0.4, retries=0)
        try:
            for call in (stranger.heartbeat, stranger.snapshot, lambda: stranger.query("x")):
                with self.assertRaises(eac.Refused) as caught:
                    call()
                self.assertEqual(caught.exception.reason, "bad_token")
        finally:
            stranger.close()

    def test_a_float_or_a_bad_field_is_refused_before_sending(self):
        cases = [({"qty": 0.03}, "qty"), ({"tp_pct": 0.5}, "tp_pct"), ({"qty": True}, "qty"),
                 ({"qty": Decimal("NaN")}, "qty"), ({"qty": "1e-3"}, "qty"), ({"cooldown_sec": 3.0}, "cooldown_sec"),
                 ({"size": "1"}, "size")]
        for extra, name in cases:
            with self.subTest(extra=extra):
                with self.assertRaises(eac.InvalidArgument) as caught:
                    self.client.submit("ETHUSD.s", "enter_long", intent_id="f-1", **self.entry(**extra))
                self.assertEqual(caught.exception.field, name)
        with self.assertRaises(eac.InvalidArgument):
            self.client.submit("ETHUSD.s", "buy", intent_id="f-2", qty="1")
        with self.assertRaises(eac.InvalidArgument):
            self.client.submit("ETHUSD.s", "exit", intent_id="has space")
        time.sleep(0.05)
        self.assertEqual(self.submits(), [], "nothing was sent")

    def test_heartbeat_cancel_query(self):
        self.assertEqual(self.client.heartbeat()["liveness"], "alive")
        self.assertEqual(self.client.cancel("c-1")["status"], "cancelled")
        self.assertEqual(self.client.query("nope")["status"], "unknown")
        self.client.submit("ETHUSD.s", "exit", intent_id="q-1")
        found = self.client.query("q-1")
        self.assertEqual((found["status"], found["answer"]["order_intent_id"]), ("found", 1001))

    def test_the_heartbeat_thread_beats_until_stopped(self):
        beat = eac.HeartbeatThread(self.client, interval=0.05)
        beat.start()
        deadline = time.monotonic() + WAIT
        while beat.sent < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        beat.stop()
        self.assertGreaterEqual(beat.sent, 3)
        self.assertEqual(beat.failures, 0)
        self.assertFalse(beat.is_alive())


class StreamTest(unittest.TestCase):
    def setUp(self) -> None:
        self.engine = FakeEngine()
        self.client = eac.AgentClient(AGENT, TOKEN, self.engine.endpoint, timeout=0.5, retries=1)
        self.got: list[tuple[str, str, int]] = []
        self.resyncs: list[eac.Resync] = []
        self.readers: list[eac.StreamReader] = []

    def tearDown(self) -> None:
        for r in self.readers:
            r.close()
        self.client.close()
        self.engine.close()

    def reader(self, *topics: str, page: int = 1000) -> eac.StreamReader:
        r = eac.StreamReader(self.client, topics, lambda t, e: self.got.append((e["stream_id"], t, e["seq"])),
                             endpoint=self.engine.stream, on_resync=self.resyncs.append, page=page)
        self.readers.append(r)
        self.engine.wait_subscribed(len(topics))
        return r

    def pump(self, r: eac.StreamReader, count: int) -> None:
        """Reads until `count` events in all were handed on, then a little longer."""
        deadline = time.monotonic() + WAIT
        while len(self.got) < count and time.monotonic() < deadline:
            r.poll(0.05)
        for _ in range(3):
            r.poll(0.02)

    def seqs(self) -> list[int]:
        return [s for _, _, s in self.got]

    def test_a_gap_is_filled_by_replay_and_each_seq_is_handed_on_once(self):
        r = self.reader("BTCUSD.s", page=2)
        for i in range(1, 10):
            # 3, 4, 5 and 7 are lost on the way; ETHUSD.s events are another topic's.
            self.engine.publish("BTCUSD.s", send=i not in (3, 4, 5, 7))
            self.engine.publish("ETHUSD.s")
            if i == 6:
                self.pump(r, 6)  # the first gap is filled before the second one happens
        self.pump(r, 9)
        btc = [e["seq"] for e in self.engine.events if e["symbol"] == "BTCUSD.s"]
        self.assertEqual(self.seqs(), btc)
        self.assertEqual(len(set(self.seqs())), 9)
        self.assertTrue(all(t == "BTCUSD.s" for _, t, _ in self.got))
        self.assertEqual([x.kind for x in self.resyncs], ["replay", "replay"])
        self.assertEqual(r.state.topic_seq, {"BTCUSD.s": 9})
        with self.engine.lock:
            replays = [q for q in self.engine.received if q["type"] == "replay"]
        self.assertGreaterEqual(len(replays), 3, "the first gap took two pages (max 2)")
        self.assertTrue(all(q["topics"] == ["BTCUSD.s"] and q["max"] == 2 for q in replays))

    def test_without_a_gap_there_is_no_replay(self):
        r = self.reader("BTCUSD.s", "agent.agent-1")
        for _ in range(5):
            self.engine.publish("BTCUSD.s")
            self.engine.publish("agent.agent-1", event="agent_liveness", liveness="alive")
        self.pump(r, 10)
        self.assertEqual(self.seqs(), list(range(1, 11)))
        self.assertEqual(self.resyncs, [])

    def test_a_lost_agent_event_is_replayed_under_its_topic(self):
        r = self.reader("ETHUSD.s", "agent.agent-1")
        self.engine.publish("agent.agent-1", event="agent_liveness", liveness="alive")
        self.engine.publish("agent.agent-1", event="agent_liveness", liveness="silent", send=False)
        self.engine.publish("agent.agent-1", event="agent_liveness", liveness="alive")
        self.pump(r, 3)
        self.assertEqual([(t, s) for _, t, s in self.got], [("agent.agent-1", 1), ("agent.agent-1", 2),
                                                          ("agent.agent-1", 3)])

    def test_too_old_takes_a_snapshot_and_goes_on_from_it(self):
        self.engine.keep = 3
        r = self.reader("BTCUSD.s")
        self.engine.publish("BTCUSD.s")
        for _ in range(5):
            self.engine.publish("BTCUSD.s", send=False)      # 2..6 lost; only 4..6 are kept
        self.engine.publish("BTCUSD.s")                      # 7: shows the gap
        self.pump(r, 1)
        self.assertEqual([x.kind for x in self.resyncs], ["too_old"])
        self.assertEqual(self.resyncs[0].snapshot["seq"], 7)
        self.engine.publish("BTCUSD.s")                      # 8: after the snapshot
        self.pump(r, 2)
        self.assertEqual(self.seqs(), [1, 8], "events up to the snapshot's seq are in the snapshot")
        self.assertEqual(r.state.last_seq, 8)

    def test_a_new_stream_id_resets_the_reader(self):
        r = self.reader("BTCUSD.s")
        self.engine.publish("BTCUSD.s")
        self.engine.publish("BTCUSD.s")
        self.pump(r, 2)
        self.engine.restart("run-B")
        self.engine.publish("BTCUSD.s")
        self.engine.publish("BTCUSD.s")
        self.pump(r, 4)
        self.assertEqual(self.got, [("run-A", "BTCUSD.s", 1), ("run-A", "BTCUSD.s", 2),
                                    ("run-B", "BTCUSD.s", 1), ("run-B", "BTCUSD.s", 2)])
        self.assertEqual([(x.kind, x.stream_id) for x in self.resyncs], [("new_stream", "run-B")])

    def test_a_restart_seen_late_catches_up_from_the_new_runs_start(self):
        r = self.reader("BTCUSD.s")
        self.engine.publish("BTCUSD.s")
        self.pump(r, 1)
        self.engine.restart("run-B")
        self.engine.publish("BTCUSD.s", send=False)
        self.engine.publish("BTCUSD.s")
        self.pump(r, 3)
        self.assertEqual(self.got, [("run-A", "BTCUSD.s", 1), ("run-B", "BTCUSD.s", 1), ("run-B", "BTCUSD.s", 2)])

    def test_topics_are_compared_exactly(self):
        r = self.reader("BTCUSD")
        self.engine.publish("BTCUSD.s")
        self.engine.publish("BTCUSD")
        self.engine.publish("BTCUSD.s")
        self.engine.publish("BTCUSD")
        self.pump(r, 2)
        self.assertEqual([(t, s) for _, t, s in self.got], [("BTCUSD", 2), ("BTCUSD", 4)])
        self.assertEqual(r.foreign, 2, "BTCUSD.s came through the prefix subscription and was dropped")
        self.assertEqual(self.resyncs, [])

    def test_start_from_snapshot_hands_on_only_later_events(self):
        self.engine.publish("BTCUSD.s", send=False)
        self.engine.publish("BTCUSD.s", send=False)
        r = self.reader("BTCUSD.s")
        self.assertEqual(r.start_from_snapshot()["seq"], 2)
        self.engine.publish("BTCUSD.s")
        self.pump(r, 1)
        self.assertEqual(self.seqs(), [3])


if __name__ == "__main__":
    unittest.main()
