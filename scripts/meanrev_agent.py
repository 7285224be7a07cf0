#!/usr/bin/env python3
"""Example decision agent (docs/AGENTS.md): mean reversion on the rolling z-score of the mid.

It reads the ticks the engine trades on (the gateway's market-data PUB, docs/PROTOCOL.md
section 2.2; both codecs), keeps a rolling z-score of each symbol's mid, and when the mid
is ``--entry-z`` deviations below (above) its mean sends ``enter_long`` (``enter_short``)
through scripts/engine_agent_client.py, with a take profit, stop loss, time limit,
cooldown, a validity deadline and a thesis. The engine enforces the exits; the agent
heartbeats, follows its symbols on the execution stream and logs each ``position_closed``
with its realized PnL. On SIGINT, SIGTERM or after ``--duration`` it prints the realized
PnL per symbol and in total (exact decimals, as the engine reports them).

    python3 scripts/meanrev_agent.py --agent-id meanrev-1 --token-file agent.token \\
        --symbols ETHUSD.s,XAUUSD.s --duration 60
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_agent_client as eac  # noqa: E402

SCALE = Decimal(100_000_000)  # fixed point: raw i64 = value x 10^8 (docs/PROTOCOL.md 6.1)
HEADER = struct.Struct("<HHQQQQ")  # version, msg_type, session_id, seq, ack_seq, ts_ns
TICK_TYPE = 7


@dataclass(frozen=True)
class Tick:
    symbol: str
    bid: Decimal
    ask: Decimal
    ts_ns: int
    md_seq: int

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def decode_tick(frame: bytes) -> Tick | None:
    """A market-data payload in either codec (a frame starting with ``{`` is JSON); None
    for anything that is not a well-formed tick."""
    try:
        if frame[:1] == b"{":
            body = json.loads(frame.decode("utf-8"))
            if body.get("type") != "tick":
                return None
            b = body["body"]
            return Tick(str(b["symbol"]), Decimal(b["bid"]), Decimal(b["ask"]), int(b["ts_ns"]), int(b["md_seq"]))
        version, msg_type, *_ = HEADER.unpack_from(frame, 0)
        if version != 1 or msg_type != TICK_TYPE:
            return None
        (length,) = struct.unpack_from("<Q", frame, HEADER.size)
        start = HEADER.size + 8
        if length > 23 or len(frame) != start + length + 32:
            return None
        symbol = frame[start:start + length].decode("ascii")
        bid, ask, ts_ns, md_seq = struct.unpack_from("<qqQQ", frame, start + length)
        return Tick(symbol, Decimal(bid) / SCALE, Decimal(ask) / SCALE, ts_ns, md_seq)
    except (ValueError, KeyError, TypeError, AttributeError, struct.error, ArithmeticError):
        return None


class ZScore:
    """Rolling z-score of the last ``window`` values (population deviation), in Decimal."""

    def __init__(self, window: int):
        if window < 2:
            raise ValueError("window: at least 2")
        self.values: deque[Decimal] = deque(maxlen=window)

    def update(self, value: Decimal) -> Decimal | None:
        """Adds ``value``; its z-score against the window including it, or None while the
        window fills or when every value is equal."""
        self.values.append(value)
        if len(self.values) < self.values.maxlen:
            return None
        n = Decimal(len(self.values))
        mean = sum(self.values) / n
        variance = sum((v - mean) ** 2 for v in self.values) / n
        if variance == 0:
            return None
        return (value - mean) / variance.sqrt()


def signal_for(z: Decimal | None, entry_z: Decimal) -> str | None:
    """Mean reversion: far below the mean → enter_long, far above → enter_short."""
    if z is None:
        return None
    if z <= -entry_z:
        return "enter_long"
    if z >= entry_z:
        return "enter_short"
    return None


def plain(d: Decimal) -> str:
    """A decimal as plain digits (never an exponent)."""
    return format(d, "f")


@dataclass
class Pnl:
    trades: int = 0
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass
class PnlBook:
    """Realized PnL folded from position_closed events (each seq counted once)."""

    symbols: dict[str, Pnl] = field(default_factory=dict)

    def closed(self, event: dict) -> Pnl:
        p = self.symbols.setdefault(event["symbol"], Pnl())
        p.trades += 1
        p.realized += Decimal(event["realized"])
        p.fees += Decimal(event.get("fees", "0"))
        return p

    def summary(self) -> list[str]:
        total = Pnl()
        lines = []
        for symbol in sorted(self.symbols):
            p = self.symbols[symbol]
            total.trades += p.trades
            total.realized += p.realized
            total.fees += p.fees
            lines.append(f"PNL {symbol} trades={p.trades} realized={plain(p.realized)} fees={plain(p.fees)}")
        lines.append(f"PNL TOTAL trades={total.trades} realized={plain(total.realized)} fees={plain(total.fees)}")
        return lines


@dataclass
class Slot:
    """One symbol's side of the agent: what it last knows of its position."""

    zscore: ZScore
    state: str = "flat"          # flat | open (an entry accepted, or a position)
    not_before: float = 0.0      # monotonic time before which no entry is sent
    open_until: float = 0.0      # without news from the stream, "open" lapses then


class MeanRevAgent:
    def __init__(self, args: argparse.Namespace, client: eac.AgentClient):
        self.args = args
        self.client = client
        self.entry_z = Decimal(args.entry_z)
        self.slots = {s: Slot(ZScore(args.window)) for s in args.symbols}
        self.book = PnlBook()
        self.sent = self.accepted = self.refused = 0

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def on_tick(self, tick: Tick) -> None:
        slot = self.slots.get(tick.symbol)
        if slot is None:
            return
        z = slot.zscore.update(tick.mid)
        action = signal_for(z, self.entry_z)
        now = time.monotonic()
        if slot.state == "open" and now >= slot.open_until:
            slot.state = "flat"
        if action is None or slot.state != "flat" or now < slot.not_before:
            return
        self.enter(tick, slot, action, z)

    def enter(self, tick: Tick, slot: Slot, action: str, z: Decimal) -> None:
        a = self.args
        thesis = f"mean reversion: z={z:.2f} of the mid {tick.mid} over {a.window} ticks (entry at |z| >= {a.entry_z})"
        self.sent += 1
        try:
            answer = self.client.submit(
                tick.symbol, action, qty=a.qty, tp_pct=a.tp_pct, sl_pct=a.sl_pct,
                time_in_trade_limit_sec=a.time_limit_sec, cooldown_sec=a.cooldown_sec,
                valid_until_ns=time.time_ns() + a.valid_for_ms * 1_000_000, thesis=thesis)
        except eac.Refused as e:
            self.refused += 1
            self.log(f"REFUSED {tick.symbol} {action} {e.reason}{' ' + e.field if e.field else ''}")
            if e.reason in ("position_open", "position_open_opposite", "order_in_flight", "exit_in_flight"):
                self.mark_open(slot)
            slot.not_before = time.monotonic() + a.retry_after_sec
            return
        except eac.NoAnswer as e:
            # Every try timed out: the engine is not answering. No symbol asks again for as
            # long as one unanswered intent took, so a stopped engine is not asked once per
            # tick (each ask costs the whole timeout).
            self.log(f"NO ANSWER {tick.symbol} {action}: {e}")
            quiet = time.monotonic() + max(a.retry_after_sec, self.client.timeout * (self.client.retries + 1))
            for other in self.slots.values():
                other.not_before = max(other.not_before, quiet)
            return
        self.accepted += 1
        self.mark_open(slot)
        self.log(f"ENTRY {tick.symbol} {action} qty={a.qty} z={z:.2f} intent={answer.get('intent_id')} "
                 f"order={answer.get('order_intent_id')}")

    def mark_open(self, slot: Slot) -> None:
        slot.state = "open"
        slot.open_until = time.monotonic() + self.args.time_limit_sec + 5

    def on_event(self, topic: str, event: dict) -> None:
        slot = self.slots.get(topic)
        kind = event.get("event")
        if kind == "position_closed" and slot is not None:
            p = self.book.closed(event)
            slot.state = "flat"
            slot.not_before = time.monotonic() + self.args.cooldown_sec
            self.log(f"CLOSED {topic} {event.get('exit_reason')} qty={event.get('qty')} "
                     f"entry={event.get('entry_price')} exit={event.get('exit_price')} "
                     f"realized={event.get('realized')} fees={event.get('fees')} (symbol total {plain(p.realized)})")
        elif kind == "position_opened" and slot is not None:
            self.mark_open(slot)
        elif kind == "intent_refused" and slot is not None:
            slot.state = "flat"
        elif kind in ("agent_liveness", "symbol_halted", "symbol_resumed", "events_lost"):
            self.log(f"STREAM {topic} {kind} {json.dumps(event, sort_keys=True)}")

    def on_resync(self, r: eac.Resync) -> None:
        self.log(f"STREAM RESYNC {r.kind} stream={r.stream_id} after_seq={r.after_seq} events={r.events}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=eac.DEFAULT_ENDPOINT, help="the engine's intent endpoint (agents.endpoint)")
    p.add_argument("--stream", default=eac.DEFAULT_STREAM, help="the engine's execution stream (agents.stream), or off")
    p.add_argument("--market-data", default="tcp://127.0.0.1:5556",
                   help="the gateway's tick PUB the engine trades on (gateway.market_data_bind for the embedded one)")
    p.add_argument("--agent-id", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--symbols", required=True, type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until SIGINT/SIGTERM")
    p.add_argument("--window", type=int, default=40, help="ticks in the rolling z-score")
    p.add_argument("--entry-z", default="2.0")
    p.add_argument("--qty", default="0.01", help="order size (exact decimal)")
    p.add_argument("--tp-pct", default="0.15")
    p.add_argument("--sl-pct", default="0.15")
    p.add_argument("--time-limit-sec", type=int, default=20)
    p.add_argument("--cooldown-sec", type=int, default=2)
    p.add_argument("--valid-for-ms", type=int, default=500, help="valid_until_ns = now + this")
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    p.add_argument("--retry-after-sec", type=float, default=1.0, help="pause after a refused entry")
    args = p.parse_args(argv)
    if not args.symbols:
        p.error("--symbols: at least one")
    for name in ("entry_z", "qty", "tp_pct", "sl_pct"):
        try:
            eac.exact_decimal(getattr(args, name), "--" + name.replace("_", "-"))
        except eac.InvalidArgument as e:
            p.error(str(e))
    return args


def run(args: argparse.Namespace) -> MeanRevAgent:
    stop = {"now": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ctx = zmq.Context.instance()
    client = eac.AgentClient(args.agent_id, eac.read_token(args.token_file), args.endpoint, context=ctx)
    agent = MeanRevAgent(args, client)
    beat = eac.HeartbeatThread(client, args.heartbeat_ms / 1000)
    beat.start()
    reader = None
    if args.stream != "off":
        topics = list(args.symbols) + [f"agent.{args.agent_id}"]
        reader = eac.StreamReader(client, topics, agent.on_event, args.stream, agent.on_resync, context=ctx)
        try:
            snap = reader.start_from_snapshot()
            agent.log(f"snapshot: stream {snap.get('stream_id')} at seq {snap.get('seq')}")
        except eac.AgentError as e:
            agent.log(f"no snapshot ({e}); following the stream from its next event")
    md = ctx.socket(zmq.SUB)
    md.setsockopt(zmq.LINGER, 0)
    for s in args.symbols:
        md.setsockopt(zmq.SUBSCRIBE, s.encode())
    md.connect(args.market_data)
    poller = zmq.Poller()
    poller.register(md, zmq.POLLIN)
    if reader is not None:
        poller.register(reader.socket, zmq.POLLIN)
    agent.log(f"agent {args.agent_id} on {','.join(args.symbols)}: intents {args.endpoint}, stream {args.stream}, "
              f"ticks {args.market_data}")
    deadline = time.monotonic() + args.duration if args.duration > 0 else math.inf
    try:
        while not stop["now"] and time.monotonic() < deadline:
            ready = dict(poller.poll(100))
            if reader is not None and reader.socket in ready:
                reader.drain()
            if md in ready:
                # Ticks wait in the socket while an intent waits for its answer: stop at the
                # deadline rather than work through them (an engine that has gone costs a
                # full timeout per intent).
                while not stop["now"] and time.monotonic() < deadline:
                    try:
                        frames = md.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    tick = decode_tick(frames[-1]) if len(frames) == 2 else None
                    # Exact topic, and the tick's own symbol must be it (docs/PROTOCOL.md 2.2).
                    if tick is not None and frames[0] == tick.symbol.encode() and tick.symbol in agent.slots:
                        agent.on_tick(tick)
        if reader is not None:
            # The closes that happened up to now (a last look before the summary).
            reader.poll(0.3)
    finally:
        beat.stop()
        if reader is not None:
            reader.close()
        md.close(linger=0)
        client.close()
    agent.log(f"intents sent={agent.sent} accepted={agent.accepted} refused={agent.refused}; "
              f"heartbeats sent={beat.sent} failed={beat.failures}")
    for line in agent.book.summary():
        print(line, flush=True)
    return agent


def main() -> int:
    run(parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
