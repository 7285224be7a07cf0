"""Python client of the engine's decision-agent link (docs/AGENTS.md): intents and requests
over a DEALER to the intent endpoint, and a gap-free reader of the execution stream (SUB).

pyzmq and the standard library only. Import it from scripts/ (``sys.path``) or copy it.

- ``AgentClient``: ``submit`` (exact decimal strings only: ``Decimal``, ``str`` or ``int``;
  a ``float`` is refused before anything is sent), ``heartbeat``, ``cancel``, ``query``,
  ``snapshot``, ``replay``. Every call waits for its answer with a timeout and re-sends the
  SAME frame (same ``intent_id``) when none comes, or when the engine answers ``busy`` or
  ``rate_limited``: a retry is always safe (docs/AGENTS.md section 5). A refusal raises
  ``Refused`` with its ``reason`` and ``field``; no answer at all raises ``NoAnswer``.
  One lock guards the socket, so a ``HeartbeatThread`` may share the client.
- ``StreamReader``: subscribes to topics (compared exactly: a ZeroMQ subscription is only a
  byte prefix), follows ``seq`` / ``topic_seq`` per topic, fills a gap with ``replay``
  (paging while ``more``), hands each event on once (de-duplicated by ``seq``), takes a
  ``snapshot`` when the engine answers ``too_old``, and starts afresh on a new
  ``stream_id`` (the engine restarted).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

import zmq

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5560"
DEFAULT_STREAM = "tcp://127.0.0.1:5561"

# Answers that say nothing about the decision: the same frame is sent again (section 5).
RETRY_REASONS = ("busy", "rate_limited")
# Fields of submit_intent that are exact decimals, sent as strings.
DECIMAL_FIELDS = ("qty", "equity_fraction", "tp_pct", "sl_pct", "trailing_activation_pct", "trailing_distance_pct")
# Fields of submit_intent that are integers.
INTEGER_FIELDS = ("time_in_trade_limit_sec", "cooldown_sec", "valid_until_ns")
ACTIONS = ("enter_long", "enter_short", "exit")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTENT_ID = re.compile(r"[\x21-\x7e]{1,64}")


class AgentError(Exception):
    """Base of this module's errors."""


class InvalidArgument(AgentError, ValueError):
    """A call's argument cannot be sent (checked before anything goes on the wire)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class Refused(AgentError):
    """The engine refused the request: ``reason`` is its code, ``field`` the field at fault
    (for ``invalid_field``), ``answer`` the whole answer object."""

    def __init__(self, answer: dict):
        self.answer = answer
        self.reason = str(answer.get("reason", "unknown"))
        self.field = answer.get("field")
        self.detail = answer.get("detail")
        self.intent_id = answer.get("intent_id")
        where = f" (field {self.field})" if self.field else ""
        text = f": {self.detail}" if self.detail else ""
        super().__init__(f"refused {self.reason}{where}{text}")


class NoAnswer(AgentError):
    """No answer within the timeout, after every retry (nothing is known of the request)."""


class StreamOff(AgentError):
    """The engine runs without an execution stream (``agents.stream = "off"``)."""


def exact_decimal(value: Any, field_name: str) -> str:
    """``value`` as the exact decimal text the engine expects. Accepts ``Decimal``, ``int``
    and ``str``; refuses ``float`` (not exact), ``bool``, NaN/infinity and exponents."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidArgument(field_name, f"{value!r} is a {type(value).__name__}: pass a Decimal or a str")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidArgument(field_name, f"{value} is not a finite number")
        text = format(value, "f")
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidArgument(field_name, f"{value!r} is a {type(value).__name__}: pass a Decimal or a str")
    if not _DECIMAL_TEXT.fullmatch(text):
        raise InvalidArgument(field_name, f"{text!r} is not a plain decimal (digits, optional '.' and digits)")
    return text


def read_token(path: str | Path) -> str:
    """The token of a token file: one line, surrounding whitespace ignored."""
    text = Path(path).read_text(encoding="ascii").strip()
    if not text:
        raise InvalidArgument("token_file", f"{path} is empty")
    return text


def _strict_json(frame: bytes) -> dict | None:
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        value = json.loads(frame.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _matches(answer: dict, expected_type: str, intent_id: str | None) -> bool:
    """Whether ``answer`` answers the request we wait for (a late answer to an earlier
    request that timed out is skipped). A refusal of the endpoint (authentication,
    malformed) keeps the ``intent_answer`` shape whatever the request type."""
    if "intent_id" in answer and answer["intent_id"] != intent_id:
        return False
    kind = answer.get("type")
    if kind == expected_type:
        return True
    return kind == "intent_answer" and answer.get("status") == "refused"


class AgentClient:
    """One agent's DEALER to the intent endpoint (thread safe: one request at a time)."""

    def __init__(
        self,
        agent_id: str,
        token: str,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 2.5,
        retries: int = 3,
        retry_pause: float = 0.2,
        context: zmq.Context | None = None,
    ):
        if timeout <= 0:
            raise InvalidArgument("timeout", "must be > 0 seconds")
        if retries < 0:
            raise InvalidArgument("retries", "must be >= 0")
        self.agent_id = agent_id
        self._token = token
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.retry_pause = retry_pause
        self._context = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._socket = self._connect()
        # How many frames were sent again (no answer in time, busy, rate_limited).
        self.resends = 0

    def _connect(self) -> zmq.Socket:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.endpoint)
        return socket

    def close(self) -> None:
        with self._lock:
            self._socket.close(linger=0)

    def __enter__(self) -> "AgentClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def new_intent_id(self, symbol: str = "") -> str:
        """A fresh id for a new decision: ``<agent>-<ns>-<symbol>-<n>`` (at most 64 chars)."""
        text = f"{self.agent_id}-{time.time_ns()}-{symbol}-{next(self._sequence)}"
        return text[-64:]

    def intent(self, symbol: str, action: str, intent_id: str | None = None, **fields: Any) -> dict:
        """The submit_intent frame of one decision, checked for what the client can check:
        the action, an exact decimal in each decimal field, an integer in each integer field
        (ranges are the engine's to judge: it validates, it never clamps)."""
        if action not in ACTIONS:
            raise InvalidArgument("action", f"{action!r} is not one of {', '.join(ACTIONS)}")
        intent_id = intent_id if intent_id is not None else self.new_intent_id(symbol)
        if not _INTENT_ID.fullmatch(intent_id):
            raise InvalidArgument("intent_id", "1..=64 printable ASCII characters without spaces")
        frame: dict[str, Any] = {"type": "submit_intent", "intent_id": intent_id, "agent_id": self.agent_id,
                                 "token": self._token, "symbol": symbol, "action": action}
        for name, value in fields.items():
            if value is None:
                continue
            if name in DECIMAL_FIELDS:
                frame[name] = exact_decimal(value, name)
            elif name in INTEGER_FIELDS:
                if type(value) is not int:
                    raise InvalidArgument(name, f"{value!r} is not an integer")
                frame[name] = value
            elif name == "thesis":
                if not isinstance(value, str):
                    raise InvalidArgument(name, "must be a str")
                frame[name] = value
            else:
                raise InvalidArgument(name, "is not a field of submit_intent")
        return frame

    def submit(self, symbol: str, action: str, intent_id: str | None = None, **fields: Any) -> dict:
        """Sends one decision and returns its accepted answer (``order_intent_id``...).
        Raises ``Refused`` (reason, field) or ``NoAnswer``. Keyword fields: qty,
        equity_fraction, tp_pct, sl_pct, trailing_activation_pct, trailing_distance_pct,
        time_in_trade_limit_sec, cooldown_sec, valid_until_ns, thesis."""
        frame = self.intent(symbol, action, intent_id, **fields)
        return self.send_intent(frame)

    def send_intent(self, frame: dict) -> dict:
        """Sends a frame built by ``intent`` (again: the same id is safe to resend)."""
        answer = self.request(frame, "intent_answer", frame["intent_id"])
        if answer.get("status") != "accepted":
            raise Refused(answer)
        return answer

    def heartbeat(self) -> dict:
        """A sign of life; returns ``{status, liveness, server_time_ns}``."""
        return self._checked(self.request(self._base("heartbeat"), "heartbeat_answer"))

    def cancel(self, intent_id: str) -> dict:
        """Cancels an intent not yet decided. Returns the answer: ``status`` "cancelled", or
        "refused" with ``reason`` already_refused / on_wire (``order_intent_id``) / deciding
        (ask again). Raises ``Refused`` only for a refusal of the request itself."""
        frame = self._base("cancel_intent")
        frame["intent_id"] = intent_id
        answer = self.request(frame, "cancel_answer", intent_id)
        if answer.get("type") != "cancel_answer":
            raise Refused(answer)
        return answer

    def query(self, intent_id: str) -> dict:
        """One intent's story: ``status`` found/unknown, its ``answer`` and its ``events``."""
        frame = self._base("query_intent")
        frame["intent_id"] = intent_id
        answer = self.request(frame, "query_answer", intent_id)
        if answer.get("type") != "query_answer":
            raise Refused(answer)
        return answer

    def snapshot(self) -> dict:
        """Every symbol's authority, state and position, with the stream ``seq`` it covers."""
        return self._checked(self.request(self._base("snapshot"), "snapshot_answer"))

    def replay(self, after_seq: int, topics: Iterable[str] | None = None, max_events: int | None = None) -> dict:
        """One page of kept stream events with seq > ``after_seq`` (status ok or too_old)."""
        frame = self._base("replay")
        frame["after_seq"] = after_seq
        if topics is not None:
            frame["topics"] = list(topics)
        if max_events is not None:
            frame["max"] = max_events
        answer = self._checked(self.request(frame, "replay_answer"))
        if answer.get("status") == "off":
            raise StreamOff("the engine has no execution stream (agents.stream = \"off\")")
        return answer

    def _base(self, kind: str) -> dict:
        return {"type": kind, "agent_id": self.agent_id, "token": self._token}

    @staticmethod
    def _checked(answer: dict) -> dict:
        if answer.get("type") == "intent_answer" and answer.get("status") == "refused":
            raise Refused(answer)
        return answer

    def request(self, frame: dict, expected_type: str, intent_id: str | None = None) -> dict:
        """Sends ``frame`` and returns its answer, re-sending the same bytes when no answer
        comes within ``timeout`` or the answer is busy / rate_limited (up to ``retries``
        times). Raises ``NoAnswer`` when every try timed out."""
        payload = json.dumps(frame, separators=(",", ":")).encode("utf-8")
        last: dict | None = None
        with self._lock:
            for attempt in range(self.retries + 1):
                if attempt:
                    self.resends += 1
                self._socket.send(payload)
                answer = self._await(expected_type, intent_id)
                if answer is None:
                    continue
                last = answer
                if answer.get("status") == "refused" and answer.get("reason") in RETRY_REASONS:
                    time.sleep(self.retry_pause * (attempt + 1))
                    continue
                return answer
        if last is not None:
            return last
        raise NoAnswer(f"{expected_type}: no answer from {self.endpoint} after {self.retries + 1} tries "
                       f"of {self.timeout} s")

    def _await(self, expected_type: str, intent_id: str | None) -> dict | None:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart()
            answer = _strict_json(frames[-1]) if frames else None
            if answer is not None and _matches(answer, expected_type, intent_id):
                return answer


class HeartbeatThread(threading.Thread):
    """Sends a heartbeat every ``interval`` seconds until ``stop()``; failures are counted
    (``failures``, ``last_error``), never raised: the engine's liveness says the rest."""

    def __init__(self, client: AgentClient, interval: float = 1.0):
        super().__init__(name=f"heartbeat-{client.agent_id}", daemon=True)
        self.client = client
        self.interval = interval
        self.sent = 0
        self.failures = 0
        self.last_error: Exception | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.client.heartbeat()
                self.sent += 1
            except (AgentError, zmq.ZMQError) as e:
                self.failures += 1
                self.last_error = e
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.client.timeout * (self.client.retries + 1) + 1)


@dataclass
class Resync:
    """What the reader did besides handing on events: ``kind`` is "replay" (a gap filled),
    "too_old" (a snapshot taken: ``snapshot`` holds it) or "new_stream" (the engine
    restarted: ``stream_id`` is the new one)."""

    kind: str
    stream_id: str | None
    after_seq: int = 0
    events: int = 0
    snapshot: dict | None = None


@dataclass
class StreamState:
    """Where the reader is in the stream: the highest seq handed on and, per topic, the
    last topic_seq. ``placed`` once the reader knows it has seen everything up to
    ``last_seq`` (from a snapshot, a restart seen at its start, or a replay): a topic's
    first event that is not its first then shows a gap. A reader that joined mid-run
    without a snapshot takes each topic's first event as its baseline."""

    stream_id: str | None = None
    last_seq: int = 0
    topic_seq: dict[str, int] = field(default_factory=dict)
    placed: bool = False

    def reset(self, stream_id: str | None, seq: int = 0) -> None:
        self.stream_id = stream_id
        self.last_seq = seq
        self.topic_seq.clear()
        self.placed = True


class StreamReader:
    """Reads the execution stream for ``topics`` and hands every event on once, in seq
    order per topic, with gaps filled from the engine's replay buffer.

    ``on_event(topic, event)`` gets each event; ``on_resync(Resync)`` is told of every gap
    filled, snapshot taken and restart seen. Call ``poll(timeout)`` from one thread (or
    ``start()`` for a thread of its own); ``client`` is used for replay and snapshot."""

    def __init__(
        self,
        client: AgentClient,
        topics: Iterable[str],
        on_event: Callable[[str, dict], None],
        endpoint: str = DEFAULT_STREAM,
        on_resync: Callable[[Resync], None] | None = None,
        page: int = 1000,
        context: zmq.Context | None = None,
    ):
        self.client = client
        self.topics = sorted(set(topics))
        if not self.topics:
            raise InvalidArgument("topics", "at least one topic")
        self.on_event = on_event
        self.on_resync = on_resync or (lambda _r: None)
        self.page = page
        self.state = StreamState()
        self.delivered = 0
        self.duplicates = 0
        self.foreign = 0
        self.resyncs: list[Resync] = []
        self._wanted = set(self.topics)
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        for topic in self.topics:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        self._socket.connect(endpoint)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def socket(self) -> zmq.Socket:
        """The SUB socket, to put in a caller's own ``zmq.Poller`` (then call ``drain()``)."""
        return self._socket

    def start_from_snapshot(self) -> dict:
        """Takes a snapshot and starts from its seq: events up to it are in the snapshot."""
        snap = self.client.snapshot()
        self.state.reset(snap.get("stream_id"), int(snap.get("seq", 0)))
        return snap

    def poll(self, timeout: float) -> int:
        """Waits up to ``timeout`` seconds for stream messages and handles all that came;
        returns how many events were handed on."""
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            return 0
        return self.drain()

    def drain(self) -> int:
        """Handles every message already received, without waiting."""
        before = self.delivered
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return self.delivered - before
            self._message(frames)

    def start(self) -> None:
        """Reads in a thread of its own until ``stop()``."""
        def loop() -> None:
            while not self._stop.is_set():
                self.poll(0.1)

        self._thread = threading.Thread(target=loop, name="stream-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()
        self._socket.close(linger=0)

    # -- one message -------------------------------------------------------------------------

    def _message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.foreign += 1
            return
        try:
            topic = frames[0].decode("utf-8")
        except UnicodeDecodeError:
            self.foreign += 1
            return
        event = _strict_json(frames[1])
        # Exact topic: a subscription to BTCUSD also brings BTCUSD.s.
        if topic not in self._wanted or event is None or not isinstance(event.get("seq"), int):
            self.foreign += 1
            return
        self.handle(topic, event)

    def handle(self, topic: str, event: dict) -> None:
        """One live event: a restart, a gap or a duplicate is dealt with first."""
        stream_id = event.get("stream_id")
        if self.state.stream_id is None:
            self.state.stream_id = stream_id
        elif stream_id != self.state.stream_id:
            self._new_stream(stream_id)
        seq, topic_seq = event["seq"], event.get("topic_seq")
        if seq <= self.state.last_seq:
            self.duplicates += 1
            return
        known = self.state.topic_seq.get(topic)
        if known is not None:
            gap = isinstance(topic_seq, int) and topic_seq > known + 1
        else:
            # A topic's first event: earlier ones of it were missed if it is not the first of
            # the topic and we know where we are in the stream.
            gap = isinstance(topic_seq, int) and topic_seq > 1 and self.state.placed
        if gap:
            self._fill(self.state.last_seq)
            if self.state.stream_id != stream_id:
                return  # the engine restarted meanwhile: this event is of the old run
            if seq <= self.state.last_seq:
                return
        self._deliver(topic, event)

    def _deliver(self, topic: str, event: dict) -> None:
        seq = event["seq"]
        if seq <= self.state.last_seq:
            self.duplicates += 1
            return
        self.state.last_seq = seq
        if isinstance(event.get("topic_seq"), int):
            self.state.topic_seq[topic] = event["topic_seq"]
        self.delivered += 1
        self.on_event(topic, event)

    def _new_stream(self, stream_id: str | None) -> None:
        self.state.reset(stream_id)
        self._report(Resync("new_stream", stream_id))

    def _fill(self, after_seq: int) -> None:
        """Replays every kept event of our topics after ``after_seq``, page by page."""
        start, count = after_seq, 0
        while True:
            answer = self.client.replay(after_seq, self.topics, self.page)
            if answer.get("stream_id") != self.state.stream_id:
                # The engine restarted between the live event and the replay: start over.
                self._new_stream(answer.get("stream_id"))
                return
            if answer.get("status") == "too_old":
                self._too_old(after_seq)
                return
            events = answer.get("events") or []
            for event in events:
                topic = self._topic_of(event)
                if topic in self._wanted and isinstance(event.get("seq"), int):
                    before = self.delivered
                    self._deliver(topic, event)
                    count += self.delivered - before
            next_seq = answer.get("next_seq")
            progressed = max([after_seq] + [e["seq"] for e in events if isinstance(e.get("seq"), int)])
            if isinstance(next_seq, int) and next_seq - 1 > progressed:
                progressed = next_seq - 1
            if not answer.get("more") or progressed <= after_seq:
                break
            after_seq = progressed
        self._report(Resync("replay", self.state.stream_id, start, count))

    def _topic_of(self, event: dict) -> str | None:
        """A replayed event's topic (replay sends bodies only): its symbol when that is one
        of ours, else its agent's topic (an agent-level event)."""
        for topic in (event.get("symbol"), f"agent.{event.get('agent_id')}"):
            if topic in self._wanted:
                return topic
        return None

    def _too_old(self, after_seq: int) -> None:
        snap = self.client.snapshot()
        self.state.reset(snap.get("stream_id"), int(snap.get("seq", 0)))
        self._report(Resync("too_old", self.state.stream_id, after_seq, snapshot=snap))

    def _report(self, resync: Resync) -> None:
        self.resyncs.append(resync)
        self.on_resync(resync)
