#!/usr/bin/env python3
"""Paper execution gateway for the trading engine, speaking wire protocol v1 (JSON codec).

What it is
    A single-threaded paper-trading gateway (the "gateway" role of docs/PROTOCOL.md §1):

    * binds a ZeroMQ ROUTER for the order channel (ROUTER_MANDATORY, ROUTER_HANDOVER,
      LINGER 0) and a PUB for market data (§2);
    * publishes a seeded random-walk top of book per symbol as `[symbol, Tick]` at jittered
      intervals, with a per-symbol `md_seq` starting at 1 (§9.3);
    * executes `market` / `ioc` NewOrders at the touch (buy at the ask, sell at the bid,
      optional slippage, optional per-execution cap), with idempotency by `intent_id`,
      `expire_at_ns`, finality of `unknown_order` (§10, §11.4);
    * answers OrderStatusQuery (replay + final `order_status` report, §12.1) and
      PositionSnapshotRequest (ledger per §12.3: half-to-even rounding, cost basis,
      gross realized PnL and fees);
    * sends a Heartbeat every second to each engine identity it has heard from, keeps
      per-peer `seq` / `ack_seq` (§9.2, §13.1), and draws a random `session_id` per start;
    * answers every frame it cannot decode with a SessionReject and keeps running (§8.2).

    Money, prices and quantities are `decimal.Decimal` throughout (exact, 8 decimal places,
    rounding half-to-even only where §6.3 says so) and are exact decimal strings on the wire
    and in the ledger dump. Floats are never used for them.

Provenance
    Written from docs/PROTOCOL.md alone (no Rust source was read), to show that the wire
    specification is sufficient to build an interoperable gateway. Only the standard library
    and pyzmq are used. The journal is kept in memory only (§13.4 persistence is not
    implemented); exec_id/order_id counters are seeded from the wall clock so that ids stay
    unique across restarts.

Usage
    python3 scripts/interop_gateway.py \\
        --orders tcp://127.0.0.1:5555 --market-data tcp://127.0.0.1:5556 \\
        --symbols BTCUSD.s,ETHUSD.s,XAUUSD.s --duration 60 --seed 7 --fee-ppm 250 \\
        --interval-ms 5..30 --dump-ledger /tmp/gateway_ledger.json

    Once both sockets are bound it prints `READY orders=<endpoint> market_data=<endpoint>`
    on stdout. It stops after --duration seconds (0 = run until SIGINT/SIGTERM), writes the
    ledger JSON to --dump-ledger if given, and prints a one-line `SUMMARY ...` on stdout.
    Diagnostics go to stderr (--quiet silences the per-event lines).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import sys
import time
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

import zmq

# --------------------------------------------------------------------------- constants (§4-§8)

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 1_048_576
MAX_TEXT_LEN = 256
MAX_LIST_LEN = 10_000
U16_MAX = 2**16 - 1
U64_MAX = 2**64 - 1
RAW_MAX = 2**63 - 1
RAW_MIN = -(2**63)

# Exact decimal arithmetic: 80 significant digits is far more than any product of two
# 8-decimal i64-range values needs (§6.5 warns that the default 28 is too small).
DCTX = Context(prec=80, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
Q8 = Decimal("0.00000001")
ZERO = Decimal(0)
MILLION = Decimal(1_000_000)
FIXED_MAX = Decimal(RAW_MAX).scaleb(-8, context=DCTX)   # 92233720368.54775807
FIXED_MIN = Decimal(RAW_MIN).scaleb(-8, context=DCTX)   # -92233720368.54775808

MSG_TYPES = (
    "new_order", "exec_report", "order_status_query", "position_snapshot_request",
    "position_snapshot", "heartbeat", "tick", "session_reject",
)
SIDES = ("buy", "sell")
ORD_TYPES = ("market", "ioc")
EXEC_TYPES = ("new", "partial_fill", "fill", "canceled", "rejected", "expired", "order_status")
ORD_STATUSES = ("new", "partially_filled", "filled", "canceled", "rejected", "expired")
TERMINAL = frozenset({"filled", "canceled", "rejected", "expired"})
REJECT_CODES = (
    "none", "unknown_symbol", "invalid_qty", "invalid_price", "duplicate_intent_mismatch",
    "expired", "gateway_risk", "no_market", "unknown_order", "malformed_frame",
    "unsupported_version", "other",
)

SYMBOL_RE = re.compile(r"[A-Za-z0-9._\-]{1,23}")
DEC_RE = re.compile(r"-?[0-9]+(?:\.[0-9]{1,8})?")

BASE_PRICES = {"BTCUSD.s": Decimal("100000"), "ETHUSD.s": Decimal("3500"), "XAUUSD.s": Decimal("2650")}
DEFAULT_BASE = Decimal("100")


# --------------------------------------------------------------------------- decimal helpers (§6)

def rhe8(x: Decimal) -> Decimal:
    """Round to the 10^-8 grid, ties to even (§6.3)."""
    return x.quantize(Q8, rounding=ROUND_HALF_EVEN, context=DCTX)


def dmul(a: Decimal, b: Decimal) -> Decimal:
    return DCTX.multiply(a, b)


def ddiv(a: Decimal, b: Decimal) -> Decimal:
    return DCTX.divide(a, b)


def fits(d: Decimal, signed: bool = True) -> bool:
    """True if d is representable as an i64 raw (value x 10^8) of the given signedness."""
    return (FIXED_MIN if signed else ZERO) <= d <= FIXED_MAX and rhe8(d) == d


def notional(px: Decimal, qty: Decimal) -> Decimal:
    """notional(p, x) = rhe(p x x, 10^8) (§6.3, §12.3)."""
    return rhe8(dmul(px, qty))


def fee_of(notional_value: Decimal, fee_ppm: int) -> Decimal:
    """fee = rhe(notional_raw x fee_ppm, 10^6) (§6.3, §11.4)."""
    return rhe8(ddiv(dmul(notional_value, Decimal(fee_ppm)), MILLION))


def offset_ppm(px: Decimal, ppm: int) -> Decimal:
    """rhe(price_raw x (10^6 + ppm), 10^6) (§6.3 slippage)."""
    return rhe8(ddiv(dmul(px, Decimal(1_000_000 + ppm)), MILLION))


def fmt(d: Decimal) -> str:
    """Canonical decimal text (§5.2): no exponent, no trailing zeros, no '.' for integers."""
    if d == 0:
        return "0"
    if rhe8(d) != d:
        raise ValueError(f"value off the 10^-8 grid: {d!r}")
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def truncate_utf8(text: str, limit: int = MAX_TEXT_LEN) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


# --------------------------------------------------------------------------- JSON decoding (§5, §8)

class DecodeError(Exception):
    """One §8.2 decode error. ref_seq/session_id are set when the envelope could be read."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.ref_seq = 0
        self.session_id: int | None = None

    @property
    def code(self) -> str:
        return "unsupported_version" if self.kind == "unsupported_version" else "malformed_frame"

    @property
    def text(self) -> str:
        return truncate_utf8(f"{self.kind}: {self.message}")


def _jtype(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    return type(v).__name__


def _is_u64(v) -> bool:
    return type(v) is int and 0 <= v <= U64_MAX


def _required(obj: dict, key: str):
    if key not in obj:
        raise DecodeError("malformed", f"missing field `{key}`")
    return obj[key]


def j_u64(obj: dict, key: str) -> int:
    v = _required(obj, key)
    if not _is_u64(v):
        raise DecodeError("malformed", f"field `{key}`: expected u64, got {_jtype(v)} {v!r}"[:200])
    return v


def j_fixed(v, type_name: str) -> Decimal:
    """Price / Qty / Money from a JSON string (§5.2, §6.2, §8.2)."""
    if not isinstance(v, str):
        raise DecodeError("invalid_value",
                          f"field `{type_name}`: expected an exact decimal string, got JSON {_jtype(v)}")
    if not DEC_RE.fullmatch(v):
        raise DecodeError("invalid_value", f"field `{type_name}`: not an exact decimal with <= 8 places: {v[:40]!r}")
    if v.startswith("-") and type_name == "qty":
        raise DecodeError("negative_quantity", f"negative quantity {v[:40]}")
    if v.startswith("-") and type_name == "price":
        raise DecodeError("invalid_value", f"field `price`: negative price {v[:40]}")
    d = Decimal(v)
    if not (FIXED_MIN <= d <= FIXED_MAX):
        raise DecodeError("invalid_value", f"field `{type_name}`: out of range: {v[:40]}")
    return d


def j_fixed_key(obj: dict, key: str, type_name: str) -> Decimal:
    return j_fixed(_required(obj, key), type_name)


def j_enum(obj: dict, key: str, names: tuple, ty: str) -> str:
    v = _required(obj, key)
    if type(v) is int:
        raise DecodeError("unknown_enum_value", f"unknown {ty} value {v}")
    if not isinstance(v, str):
        raise DecodeError("malformed", f"field `{key}`: expected a {ty} name, got {_jtype(v)}")
    if v not in names:
        raise DecodeError("unknown_enum_value", f"unknown {ty} value {v[:40]!r}")
    return v


def j_symbol_value(v, key: str) -> str:
    if not isinstance(v, str):
        raise DecodeError("malformed", f"field `{key}`: expected a string, got {_jtype(v)}")
    if not (v.isascii() and SYMBOL_RE.fullmatch(v)):
        raise DecodeError("invalid_symbol", f"invalid symbol {v[:40]!r}")
    return v


def j_symbol(obj: dict, key: str) -> str:
    return j_symbol_value(_required(obj, key), key)


def j_string(obj: dict, key: str) -> str:
    v = _required(obj, key)
    if not isinstance(v, str):
        raise DecodeError("malformed", f"field `{key}`: expected a string, got {_jtype(v)}")
    return v


def j_bool(obj: dict, key: str) -> bool:
    v = _required(obj, key)
    if not isinstance(v, bool):
        raise DecodeError("malformed", f"field `{key}`: expected a bool, got {_jtype(v)}")
    return v


def j_list(obj: dict, key: str) -> list:
    v = _required(obj, key)
    if not isinstance(v, list):
        raise DecodeError("malformed", f"field `{key}`: expected an array, got {_jtype(v)}")
    return v


def _dec_new_order(b: dict) -> dict:
    out = {
        "intent_id": j_u64(b, "intent_id"),
        "symbol": j_symbol(b, "symbol"),
        "side": j_enum(b, "side", SIDES, "Side"),
        "qty": j_fixed_key(b, "qty", "qty"),
        "ord_type": j_enum(b, "ord_type", ORD_TYPES, "OrdType"),
    }
    lp = b.get("limit_price")
    out["limit_price"] = None if lp is None else j_fixed(lp, "price")
    out["expire_at_ns"] = j_u64(b, "expire_at_ns")
    return out


def _dec_exec_report(b: dict) -> dict:
    return {
        "intent_id": j_u64(b, "intent_id"),
        "order_id": j_u64(b, "order_id"),
        "exec_id": j_u64(b, "exec_id"),
        "symbol": j_symbol(b, "symbol"),
        "side": j_enum(b, "side", SIDES, "Side"),
        "exec_type": j_enum(b, "exec_type", EXEC_TYPES, "ExecType"),
        "ord_status": j_enum(b, "ord_status", ORD_STATUSES, "OrdStatus"),
        "last_qty": j_fixed_key(b, "last_qty", "qty"),
        "last_px": j_fixed_key(b, "last_px", "price"),
        "cum_qty": j_fixed_key(b, "cum_qty", "qty"),
        "leaves_qty": j_fixed_key(b, "leaves_qty", "qty"),
        "fee": j_fixed_key(b, "fee", "money"),
        "reject_code": j_enum(b, "reject_code", REJECT_CODES, "RejectCode"),
        "reject_text": j_string(b, "reject_text"),
        "poss_dup": j_bool(b, "poss_dup"),
        "transact_ns": j_u64(b, "transact_ns"),
    }


def _dec_status_query(b: dict) -> dict:
    iid = b.get("intent_id")
    if iid is not None and not _is_u64(iid):
        raise DecodeError("malformed", f"field `intent_id`: expected u64 or null, got {_jtype(iid)}")
    sym = b.get("symbol")
    return {"intent_id": iid, "symbol": None if sym is None else j_symbol_value(sym, "symbol")}


def _dec_snapshot_request(b: dict) -> dict:
    return {"request_id": j_u64(b, "request_id")}


def _dec_position_entry(e) -> dict:
    if not isinstance(e, dict):
        raise DecodeError("malformed", f"position entry: expected an object, got {_jtype(e)}")
    return {
        "symbol": j_symbol(e, "symbol"),
        "side": j_enum(e, "side", SIDES, "Side"),
        "qty": j_fixed_key(e, "qty", "qty"),
        "cost": j_fixed_key(e, "cost", "money"),
        "realized_pnl": j_fixed_key(e, "realized_pnl", "money"),
        "fees": j_fixed_key(e, "fees", "money"),
        "fills": j_u64(e, "fills"),
    }


def _dec_snapshot(b: dict) -> dict:
    rid = j_u64(b, "request_id")
    positions = [_dec_position_entry(e) for e in j_list(b, "positions")]
    opens = j_list(b, "open_orders")
    for x in opens:
        if not _is_u64(x):
            raise DecodeError("malformed", f"open_orders: expected u64, got {_jtype(x)}")
    return {"request_id": rid, "positions": positions, "open_orders": opens}


def _dec_heartbeat(b: dict) -> dict:
    return {k: j_u64(b, k) for k in ("session_id", "last_seq_sent", "last_seq_received")}


def _dec_tick(b: dict) -> dict:
    return {
        "symbol": j_symbol(b, "symbol"),
        "bid": j_fixed_key(b, "bid", "price"),
        "ask": j_fixed_key(b, "ask", "price"),
        "ts_ns": j_u64(b, "ts_ns"),
        "md_seq": j_u64(b, "md_seq"),
    }


def _dec_session_reject(b: dict) -> dict:
    return {
        "ref_seq": j_u64(b, "ref_seq"),
        "code": j_enum(b, "code", REJECT_CODES, "RejectCode"),
        "text": j_string(b, "text"),
    }


BODY_DECODERS = {
    "new_order": _dec_new_order,
    "exec_report": _dec_exec_report,
    "order_status_query": _dec_status_query,
    "position_snapshot_request": _dec_snapshot_request,
    "position_snapshot": _dec_snapshot,
    "heartbeat": _dec_heartbeat,
    "tick": _dec_tick,
    "session_reject": _dec_session_reject,
}


def _invalid(field: str, message: str) -> DecodeError:
    return DecodeError("invalid_value", f"field `{field}`: {message}")


def validate(msg_type: str, b: dict) -> None:
    """§8.1 semantic rules (Message::validate)."""
    if msg_type == "new_order":
        if b["qty"] <= 0:
            raise _invalid("qty", "must be > 0")
        if b["ord_type"] == "ioc":
            if b["limit_price"] is None:
                raise _invalid("limit_price", "required for ioc")
            if b["limit_price"] <= 0:
                raise _invalid("limit_price", "must be > 0")
        elif b["limit_price"] is not None:
            raise _invalid("limit_price", "must be null for market")
    elif msg_type == "exec_report":
        if b["exec_type"] in ("fill", "partial_fill") and not (b["last_qty"] > 0 and b["last_px"] > 0):
            raise _invalid("last_qty", "fill needs last_qty > 0 and last_px > 0")
        if b["last_qty"] > b["cum_qty"]:
            raise _invalid("cum_qty", "last_qty > cum_qty")
        if len(b["reject_text"].encode("utf-8")) > MAX_TEXT_LEN:
            raise _invalid("reject_text", "longer than 256 bytes")
    elif msg_type == "tick":
        if b["bid"] <= 0:
            raise _invalid("bid", "must be > 0")
        if b["ask"] <= 0:
            raise _invalid("ask", "must be > 0")
        if b["bid"] > b["ask"]:
            raise _invalid("bid", "crossed: bid > ask")
    elif msg_type == "position_snapshot":
        if len(b["positions"]) > MAX_LIST_LEN:
            raise _invalid("positions", "more than 10000 entries")
        if len(b["open_orders"]) > MAX_LIST_LEN:
            raise _invalid("open_orders", "more than 10000 entries")
    elif msg_type == "session_reject":
        if len(b["text"].encode("utf-8")) > MAX_TEXT_LEN:
            raise _invalid("text", "longer than 256 bytes")
    elif msg_type == "order_status_query":
        if b["intent_id"] is not None and b["symbol"] is None:
            raise _invalid("symbol", "required when intent_id is set")


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def decode_json_frame(frame: bytes) -> tuple[dict, str, dict]:
    """Decode one JSON envelope (§5.1) in the §8.2 check order. Returns (header, type, body)."""
    if len(frame) == 0:
        raise DecodeError("empty", "empty frame")
    if len(frame) > MAX_FRAME_BYTES:
        raise DecodeError("oversize", f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    if frame[:1] != b"{":
        # §3 codec detection: not '{' => binary. This gateway is configured for JSON.
        # Answer malformed_frame (in JSON), with the binary header's seq when readable (>= 20 bytes).
        err = DecodeError("malformed", "frame does not start with '{': binary codec frames are not "
                                       "accepted, this gateway speaks the json codec")
        if len(frame) >= 20:
            err.ref_seq = int.from_bytes(frame[12:20], "little")
        raise err
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("malformed", f"invalid UTF-8 at byte {e.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        kind = "truncated" if e.pos >= len(text.rstrip()) else "malformed"
        raise DecodeError(kind, f"JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise DecodeError("malformed", f"JSON: {e}"[:200]) from None
    if not isinstance(obj, dict):
        raise DecodeError("malformed", "envelope is not a JSON object")
    ref_seq = obj.get("seq") if _is_u64(obj.get("seq")) else 0
    sess = obj.get("session_id") if _is_u64(obj.get("session_id")) else None
    try:
        for key in ("v", "type", "session_id", "seq", "ack_seq", "ts_ns", "body"):
            _required(obj, key)
        hdr = {k: j_u64(obj, k) for k in ("session_id", "seq", "ack_seq", "ts_ns")}
        v = obj["v"]
        if type(v) is not int or not (0 <= v <= U16_MAX):
            raise DecodeError("malformed", f"field `v`: expected u16, got {_jtype(v)} {v!r}"[:200])
        if not isinstance(obj["body"], dict):
            raise DecodeError("malformed", f"field `body`: expected an object, got {_jtype(obj['body'])}")
        if v != PROTOCOL_VERSION:
            raise DecodeError("unsupported_version", f"unsupported protocol version {v} (expected {PROTOCOL_VERSION})")
        mtype = obj["type"]
        if not isinstance(mtype, str):
            raise DecodeError("malformed", f"field `type`: expected a string, got {_jtype(mtype)}")
        if mtype not in BODY_DECODERS:
            raise DecodeError("unknown_message_type", f"unknown message type {mtype[:40]!r}")
        body = BODY_DECODERS[mtype](obj["body"])
        validate(mtype, body)
    except DecodeError as err:
        err.ref_seq, err.session_id = ref_seq, sess
        raise
    hdr["v"] = v
    return hdr, mtype, body


# --------------------------------------------------------------------------- ledger (§12.3)

class Position:
    __slots__ = ("symbol", "side", "qty", "cost", "realized", "fees", "fills")

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.side = "buy"
        self.qty = ZERO
        self.cost = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.fills = 0

    def copy(self) -> "Position":
        p = Position(self.symbol)
        for k in self.__slots__:
            setattr(p, k, getattr(self, k))
        return p

    def apply_fill(self, side: str, px: Decimal, q: Decimal, fee: Decimal) -> None:
        """§12.3, exactly: one-way position with a cost basis; realized is gross."""
        self.fees += fee
        self.fills += 1
        if self.qty == 0 or side == self.side:
            self.side = side
            self.qty += q
            self.cost += notional(px, q)
            return
        close = min(q, self.qty)
        n = notional(px, close)
        released = self.cost if close == self.qty else rhe8(ddiv(dmul(self.cost, close), self.qty))
        self.realized += (n - released) if self.side == "buy" else (released - n)
        self.cost -= released
        self.qty -= close
        if q > close:  # overfill: open the rest on the fill's side
            self.side = side
            self.qty = q - close
            self.cost = notional(px, q - close)

    def in_range(self) -> bool:
        return all(fits(v) for v in (self.qty, self.cost, self.realized, self.fees)) and self.fills <= U64_MAX

    @property
    def net(self) -> Decimal:
        return self.realized - self.fees

    def entry(self) -> dict:
        flat = self.qty == 0
        return {
            "symbol": self.symbol,
            "side": "buy" if flat else self.side,
            "qty": fmt(self.qty),
            "cost": "0" if flat else fmt(self.cost),
            "realized_pnl": fmt(self.realized),
            "fees": fmt(self.fees),
            "fills": self.fills,
        }


# --------------------------------------------------------------------------- market data

class Feed:
    """Seeded random walk for one symbol, on a 0.01 price grid."""

    TICK = Decimal("0.01")

    def __init__(self, symbol: str, seed: int):
        self.symbol = symbol
        # Per-symbol generators (str seeds are hashed with SHA-512, so stable across runs):
        # the price path by md_seq depends only on (seed, symbol), never on wall-clock timing.
        self.rng = random.Random(f"{seed}:{symbol}:walk")
        self.jitter_rng = random.Random(f"{seed}:{symbol}:interval")
        base = BASE_PRICES.get(symbol, DEFAULT_BASE)
        self.mid = base
        self.floor = max(rhe8(base / 10), self.TICK * 10)
        # Largest step: ~2 bp of the base price, in ticks. Half spread: ~0.5 bp, >= 1 tick.
        self.max_step = max(1, int(base * Decimal("0.0002") / self.TICK))
        self.half_spread_ticks = max(1, int((base * Decimal("0.00005") / self.TICK).to_integral_value(ROUND_HALF_EVEN)))
        self.md_seq = 0
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.next_due = 0.0

    def step(self) -> tuple[Decimal, Decimal, int]:
        self.mid += self.rng.randint(-self.max_step, self.max_step) * self.TICK
        if self.mid < self.floor:
            self.mid = self.floor
        half = self.half_spread_ticks * self.TICK
        self.bid, self.ask = self.mid - half, self.mid + half
        self.md_seq += 1
        return self.bid, self.ask, self.md_seq


# --------------------------------------------------------------------------- gateway

class Peer:
    __slots__ = ("identity", "session_id", "last_seq_recv", "next_seq", "next_hb", "reachable", "frames_in")

    def __init__(self, identity: bytes, now: float):
        self.identity = identity
        self.session_id: int | None = None
        self.last_seq_recv = 0
        self.next_seq = 1
        self.next_hb = now          # first heartbeat right after the first frame is handled
        self.reachable = True
        self.frames_in = 0


class Order:
    __slots__ = ("intent_id", "key", "symbol", "side", "order_id", "reports", "status", "cum_qty",
                 "leaves_qty", "reject_code", "reject_text")

    def __init__(self, body: dict, order_id: int):
        self.intent_id = body["intent_id"]
        self.key = (body["symbol"], body["side"], body["qty"], body["ord_type"], body["limit_price"],
                    body["expire_at_ns"])
        self.symbol = body["symbol"]
        self.side = body["side"]
        self.order_id = order_id
        self.reports: list[dict] = []
        self.status = "new"
        self.cum_qty = ZERO
        self.leaves_qty = body["qty"]
        self.reject_code = "none"
        self.reject_text = ""


class Gateway:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.symbols: list[str] = args.symbols
        self.symbol_set = set(self.symbols)
        self.fee_ppm: int = args.fee_ppm
        self.slippage_ppm: int = args.slippage_ppm
        self.max_fill_qty: Decimal | None = args.max_fill_qty
        self.iv_min_us, self.iv_max_us = args.interval_ms[0] * 1000, args.interval_ms[1] * 1000
        self.hb_interval = args.heartbeat_ms / 1000.0
        self.quiet = args.quiet

        self.session_id = 0
        while self.session_id == 0:
            self.session_id = int.from_bytes(os.urandom(8), "little")
        self.feeds = {s: Feed(s, args.seed) for s in self.symbols}

        # Journal (in memory). Ids start from the wall clock in microseconds so that they stay
        # unique across restarts without persistence (§10).
        id_base = time.time_ns() // 1000
        self.next_exec_id = id_base
        self.next_order_id = id_base
        self.orders: dict[int, Order] = {}
        self.unknown_answered: set[int] = set()
        self.ledger: dict[str, Position] = {}
        self.peers: dict[bytes, Peer] = {}
        self.pub_seq = 0
        self.stop = False
        self.stats = dict(ticks=0, frames_in=0, orders=0, fills=0, rejects=0, session_rejects=0,
                          queries=0, snapshots=0, heartbeats_in=0, heartbeats_out=0, dropped=0)

        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.router.setsockopt(zmq.LINGER, 0)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)

    # ---------------------------------------------------------------- plumbing

    def log(self, msg: str, force: bool = False) -> None:
        if force or not self.quiet:
            print(f"[gateway {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def new_exec_id(self) -> int:
        self.next_exec_id += 1
        return self.next_exec_id

    def new_order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id

    def envelope(self, msg_type: str, seq: int, ack_seq: int, body: dict) -> bytes:
        env = {"v": PROTOCOL_VERSION, "type": msg_type, "session_id": self.session_id, "seq": seq,
               "ack_seq": ack_seq, "ts_ns": time.time_ns(), "body": body}
        return json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def send(self, peer: Peer, msg_type: str, body: dict) -> bool:
        frame = self.envelope(msg_type, peer.next_seq, peer.last_seq_recv, body)
        if len(frame) > MAX_FRAME_BYTES:   # the encoder refuses; no seq is used up
            self.log(f"refusing to send {msg_type}: {len(frame)} bytes > {MAX_FRAME_BYTES}", force=True)
            return False
        peer.next_seq += 1                 # used up even if the send fails (§9.2)
        try:
            self.router.send_multipart([peer.identity, frame], flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError as e:
            self.stats["dropped"] += 1
            if e.errno == zmq.EHOSTUNREACH:
                if peer.reachable:
                    note = " (kept in the journal)" if msg_type == "exec_report" else ""
                    self.log(f"peer {peer.identity!r} unreachable (EHOSTUNREACH); dropped {msg_type}{note}",
                             force=True)
                peer.reachable = False
            else:
                self.log(f"send {msg_type} to {peer.identity!r} failed: {e}; dropped", force=True)
            return False

    def send_session_reject(self, peer: Peer, ref_seq: int, code: str, text: str) -> None:
        self.stats["session_rejects"] += 1
        self.log(f"session_reject -> {peer.identity!r} ref_seq={ref_seq} code={code} text={text!r}")
        self.send(peer, "session_reject", {"ref_seq": ref_seq, "code": code, "text": truncate_utf8(text)})

    def track(self, peer: Peer, session_id: int, seq: int) -> None:
        """§9.2 baseline / gap / restart bookkeeping for one received frame."""
        if peer.session_id != session_id:
            if peer.session_id is not None:
                self.log(f"peer {peer.identity!r} session changed {peer.session_id} -> {session_id}: "
                         "engine restarted, new baseline", force=True)
            peer.session_id = session_id
            peer.last_seq_recv = seq
            return
        if seq > peer.last_seq_recv + 1:
            self.log(f"seq gap from {peer.identity!r}: {peer.last_seq_recv} -> {seq}", force=True)
        elif seq <= peer.last_seq_recv:
            self.log(f"non-advancing seq from {peer.identity!r}: {seq} after {peer.last_seq_recv}", force=True)
            return
        peer.last_seq_recv = seq

    # ---------------------------------------------------------------- market data

    def publish_tick(self, feed: Feed) -> None:
        bid, ask, md_seq = feed.step()
        now_ns = time.time_ns()
        self.pub_seq += 1
        body = {"symbol": feed.symbol, "bid": fmt(bid), "ask": fmt(ask), "ts_ns": now_ns, "md_seq": md_seq}
        env = {"v": PROTOCOL_VERSION, "type": "tick", "session_id": self.session_id, "seq": self.pub_seq,
               "ack_seq": 0, "ts_ns": now_ns, "body": body}
        payload = json.dumps(env, separators=(",", ":")).encode("utf-8")
        try:
            self.pub.send_multipart([feed.symbol.encode("ascii"), payload], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # PUB drops at the HWM anyway; lossy by design
        self.stats["ticks"] += 1

    def jitter(self, feed: Feed) -> float:
        return feed.jitter_rng.randint(self.iv_min_us, self.iv_max_us) / 1e6

    # ---------------------------------------------------------------- order channel

    def on_frames(self, frames: list[bytes]) -> None:
        if not frames:
            return
        now = time.monotonic()
        identity = frames[0]
        peer = self.peers.get(identity)
        if peer is None:
            peer = self.peers[identity] = Peer(identity, now)
            self.log(f"new peer {identity!r}")
        elif not peer.reachable:
            peer.reachable = True
            peer.next_hb = now
        peer.frames_in += 1
        self.stats["frames_in"] += 1
        if len(frames) != 2:
            self.send_session_reject(peer, 0, "malformed_frame",
                                     f"expected 1 payload frame, got {len(frames) - 1}")
            return
        try:
            hdr, mtype, body = decode_json_frame(frames[1])
        except DecodeError as err:
            if err.session_id is not None and err.ref_seq:
                self.track(peer, err.session_id, err.ref_seq)
            self.send_session_reject(peer, err.ref_seq, err.code, err.text)
            return
        self.track(peer, hdr["session_id"], hdr["seq"])
        if mtype == "new_order":
            self.on_new_order(peer, body)
        elif mtype == "order_status_query":
            self.on_status_query(peer, body)
        elif mtype == "position_snapshot_request":
            self.on_snapshot_request(peer, body)
        elif mtype == "heartbeat":
            self.stats["heartbeats_in"] += 1
            if body["session_id"] != hdr["session_id"]:
                self.log(f"heartbeat from {identity!r}: body session_id {body['session_id']} != header "
                         f"{hdr['session_id']}", force=True)
        elif mtype == "session_reject":
            self.log(f"session_reject from {identity!r}: ref_seq={body['ref_seq']} code={body['code']} "
                     f"text={body['text']!r}", force=True)
        else:  # exec_report, position_snapshot, tick: well formed, wrong direction
            self.send_session_reject(peer, hdr["seq"], "other",
                                     f"other: message type {mtype} is not accepted by the gateway")

    # ---- NewOrder (§10, §11, §14 step 9)

    def report(self, order: Order, exec_type: str, ord_status: str, transact_ns: int, *,
               last_qty: Decimal = ZERO, last_px: Decimal = ZERO, fee: Decimal = ZERO,
               reject_code: str = "none", reject_text: str = "") -> dict:
        return {
            "intent_id": order.intent_id, "order_id": order.order_id, "exec_id": self.new_exec_id(),
            "symbol": order.symbol, "side": order.side, "exec_type": exec_type, "ord_status": ord_status,
            "last_qty": fmt(last_qty), "last_px": fmt(last_px), "cum_qty": fmt(order.cum_qty),
            "leaves_qty": fmt(order.leaves_qty), "fee": fmt(fee), "reject_code": reject_code,
            "reject_text": truncate_utf8(reject_text), "poss_dup": False, "transact_ns": transact_ns,
        }

    def emit(self, peer: Peer, order: Order, rep: dict) -> None:
        """Journal first, then send (§14 9.5)."""
        order.reports.append(rep)
        order.status = rep["ord_status"]
        self.send(peer, "exec_report", rep)

    def reject_new(self, peer: Peer, body: dict, code: str, text: str) -> None:
        order = Order(body, 0)
        order.leaves_qty = ZERO
        order.reject_code, order.reject_text = code, truncate_utf8(text)
        self.orders[order.intent_id] = order
        self.stats["rejects"] += 1
        self.log(f"reject intent={order.intent_id} {code}: {text}")
        self.emit(peer, order, self.report(order, "rejected", "rejected", time.time_ns(),
                                           reject_code=code, reject_text=text))

    def on_new_order(self, peer: Peer, b: dict) -> None:
        self.stats["orders"] += 1
        iid = b["intent_id"]
        now_ns = time.time_ns()
        known = self.orders.get(iid)
        if known is not None:
            key = (b["symbol"], b["side"], b["qty"], b["ord_type"], b["limit_price"], b["expire_at_ns"])
            if key == known.key:
                self.log(f"repeat intent={iid}: replaying {len(known.reports)} report(s) poss_dup")
                for rep in known.reports:
                    self.send(peer, "exec_report", dict(rep, poss_dup=True))
            else:
                self.stats["rejects"] += 1
                self.log(f"intent={iid} reused with a different body: duplicate_intent_mismatch")
                self.send(peer, "exec_report", {
                    "intent_id": iid, "order_id": 0, "exec_id": self.new_exec_id(), "symbol": b["symbol"],
                    "side": b["side"], "exec_type": "rejected", "ord_status": "rejected", "last_qty": "0",
                    "last_px": "0", "cum_qty": "0", "leaves_qty": "0", "fee": "0",
                    "reject_code": "duplicate_intent_mismatch",
                    "reject_text": f"intent {iid} was seen before with a different order",
                    "poss_dup": False, "transact_ns": now_ns,
                })
            return
        if iid in self.unknown_answered:
            return self.reject_new(peer, b, "expired", f"intent {iid} was already answered unknown_order")
        if b["expire_at_ns"] != 0 and now_ns > b["expire_at_ns"]:
            return self.reject_new(peer, b, "expired",
                                   f"arrived {now_ns - b['expire_at_ns']} ns after expire_at_ns")
        sym = b["symbol"]
        if sym not in self.symbol_set:
            return self.reject_new(peer, b, "unknown_symbol", f"symbol {sym} is not traded here")
        feed = self.feeds[sym]
        if feed.bid is None:
            return self.reject_new(peer, b, "no_market", f"no market data for {sym}")
        side, qty = b["side"], b["qty"]
        px = offset_ppm(feed.ask, self.slippage_ppm) if side == "buy" else offset_ppm(feed.bid, -self.slippage_ppm)
        if px <= 0 or not fits(px, signed=False):
            return self.reject_new(peer, b, "gateway_risk", f"no valid execution price for {sym}")
        exec_qty = qty if self.max_fill_qty is None else min(qty, self.max_fill_qty)
        n = notional(px, exec_qty)
        if not fits(n):
            return self.reject_new(peer, b, "invalid_qty", f"notional of {fmt(exec_qty)} @ {fmt(px)} overflows")
        fee = fee_of(n, self.fee_ppm)
        trial = self.ledger.get(sym, Position(sym)).copy()
        trial.apply_fill(side, px, exec_qty, fee)
        if not trial.in_range():
            return self.reject_new(peer, b, "gateway_risk", "fill would overflow the ledger")

        order = Order(b, self.new_order_id())
        self.orders[iid] = order
        t_ns = time.time_ns()
        lim = b["limit_price"]
        if b["ord_type"] == "ioc" and ((side == "buy" and px > lim) or (side == "sell" and px < lim)):
            order.leaves_qty = ZERO
            self.log(f"ioc intent={iid} {side} {fmt(qty)} {sym}: px {fmt(px)} beyond limit {fmt(lim)}: canceled")
            self.emit(peer, order, self.report(order, "canceled", "canceled", t_ns))
            return
        # One execution (the whole quantity unless capped); the ledger is updated as it is sent.
        order.cum_qty = exec_qty
        order.leaves_qty = qty - exec_qty
        complete = order.leaves_qty == 0
        rep = self.report(order, "fill" if complete else "partial_fill", "filled" if complete else "partially_filled",
                          t_ns, last_qty=exec_qty, last_px=px, fee=fee)
        self.ledger.setdefault(sym, Position(sym)).apply_fill(side, px, exec_qty, fee)
        self.stats["fills"] += 1
        self.log(f"fill intent={iid} {side} {fmt(exec_qty)} {sym} @ {fmt(px)} fee {fmt(fee)} exec_id={rep['exec_id']}")
        self.emit(peer, order, rep)
        if not complete:
            order.leaves_qty = ZERO
            expired = b["expire_at_ns"] != 0 and time.time_ns() > b["expire_at_ns"]
            st = "expired" if expired else "canceled"
            self.emit(peer, order, self.report(order, st, st, t_ns))

    # ---- OrderStatusQuery (§12.1)

    def status_answer(self, peer: Peer, order: Order) -> None:
        for rep in order.reports:
            self.send(peer, "exec_report", dict(rep, poss_dup=True))
        leaves = ZERO if order.status in TERMINAL else order.leaves_qty
        self.send(peer, "exec_report", {
            "intent_id": order.intent_id, "order_id": order.order_id, "exec_id": self.new_exec_id(),
            "symbol": order.symbol, "side": order.side, "exec_type": "order_status", "ord_status": order.status,
            "last_qty": "0", "last_px": "0", "cum_qty": fmt(order.cum_qty), "leaves_qty": fmt(leaves),
            "fee": "0", "reject_code": order.reject_code if order.status == "rejected" else "none",
            "reject_text": order.reject_text if order.status == "rejected" else "",
            "poss_dup": False, "transact_ns": time.time_ns(),
        })

    def on_status_query(self, peer: Peer, b: dict) -> None:
        self.stats["queries"] += 1
        iid, sym = b["intent_id"], b["symbol"]
        if iid is None:
            for oid in sorted(self.orders):
                o = self.orders[oid]
                if o.status not in TERMINAL and (sym is None or o.symbol == sym):
                    self.status_answer(peer, o)
            return
        order = self.orders.get(iid)
        if order is not None:
            if order.symbol != sym:
                self.log(f"status query intent={iid}: queried symbol {sym} != order symbol {order.symbol}",
                         force=True)
            self.status_answer(peer, order)
            return
        self.unknown_answered.add(iid)
        self.log(f"status query intent={iid} {sym}: unknown_order (now final)")
        self.send(peer, "exec_report", {
            "intent_id": iid, "order_id": 0, "exec_id": self.new_exec_id(), "symbol": sym, "side": "buy",
            "exec_type": "order_status", "ord_status": "rejected", "last_qty": "0", "last_px": "0",
            "cum_qty": "0", "leaves_qty": "0", "fee": "0", "reject_code": "unknown_order",
            "reject_text": f"intent {iid} never seen", "poss_dup": False, "transact_ns": time.time_ns(),
        })

    # ---- PositionSnapshotRequest (§12.2)

    def on_snapshot_request(self, peer: Peer, b: dict) -> None:
        self.stats["snapshots"] += 1
        positions = [self.ledger[s].entry() for s in sorted(self.ledger, key=lambda s: s.encode("ascii"))]
        open_orders = sorted(i for i, o in self.orders.items() if o.status not in TERMINAL)
        self.send(peer, "position_snapshot",
                  {"request_id": b["request_id"], "positions": positions, "open_orders": open_orders})

    # ---- heartbeats (§13.1)

    def heartbeat(self, peer: Peer, now: float) -> None:
        body = {"session_id": self.session_id, "last_seq_sent": peer.next_seq - 1,
                "last_seq_received": peer.last_seq_recv}
        self.stats["heartbeats_out"] += 1
        self.send(peer, "heartbeat", body)
        peer.next_hb = now + self.hb_interval

    # ---------------------------------------------------------------- loop

    def bind(self) -> tuple[str, str]:
        self.router.bind(self.args.orders)
        self.pub.bind(self.args.market_data)
        return (self.router.getsockopt_string(zmq.LAST_ENDPOINT),
                self.pub.getsockopt_string(zmq.LAST_ENDPOINT))

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        start = time.monotonic()
        end = start + self.args.duration if self.args.duration > 0 else math.inf
        for feed in self.feeds.values():
            feed.next_due = start + self.jitter(feed)
        while not self.stop:
            now = time.monotonic()
            if now >= end:
                break
            for feed in self.feeds.values():
                if now >= feed.next_due:
                    self.publish_tick(feed)
                    feed.next_due = max(feed.next_due + self.jitter(feed), now)
            for peer in self.peers.values():
                if peer.reachable and now >= peer.next_hb:
                    self.heartbeat(peer, now)
            due = min([end] + [f.next_due for f in self.feeds.values()]
                      + [p.next_hb for p in self.peers.values() if p.reachable])
            timeout_ms = max(0, min(250, math.ceil((due - time.monotonic()) * 1000)))
            if poller.poll(timeout_ms):
                for _ in range(1000):       # drain, but let ticks/heartbeats run in between
                    try:
                        frames = self.router.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self.on_frames(frames)
                    except Exception as e:  # never exit on a peer's frame (§14 step 12)
                        self.log(f"internal error handling a frame: {e!r}", force=True)

    def close(self) -> None:
        self.router.close(0)
        self.pub.close(0)
        self.ctx.term()

    # ---------------------------------------------------------------- ledger dump

    def ledger_json(self) -> dict:
        names = list(self.symbols) + sorted(s for s in self.ledger if s not in self.symbol_set)
        symbols = {}
        total = ZERO
        for s in names:
            p = self.ledger.get(s, Position(s))
            total += p.net
            symbols[s] = {"realized": fmt(p.realized), "fees": fmt(p.fees), "net": fmt(p.net),
                          "fills": p.fills, "qty": fmt(p.qty), "side": "buy" if p.qty == 0 else p.side,
                          "cost": "0" if p.qty == 0 else fmt(p.cost)}
        return {"total_net": fmt(total), "symbols": symbols}

    def dump_ledger(self, path: str) -> None:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.ledger_json(), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)

    def summary(self) -> str:
        s = self.stats
        total = fmt(sum((p.net for p in self.ledger.values()), ZERO))
        return (f"SUMMARY session_id={self.session_id} ticks={s['ticks']} frames_in={s['frames_in']} "
                f"orders={s['orders']} fills={s['fills']} rejects={s['rejects']} "
                f"session_rejects={s['session_rejects']} queries={s['queries']} snapshots={s['snapshots']} "
                f"peers={len(self.peers)} total_net={total}")


# --------------------------------------------------------------------------- CLI

def parse_interval(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", text)
    if not m:
        raise argparse.ArgumentTypeError("expected MIN..MAX (milliseconds), e.g. 5..30")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if lo < 1 or hi < lo:
        raise argparse.ArgumentTypeError("need 1 <= MIN <= MAX")
    return lo, hi


def parse_symbols(text: str) -> list[str]:
    out = []
    for s in text.split(","):
        s = s.strip()
        if not s:
            continue
        if not (s.isascii() and SYMBOL_RE.fullmatch(s)):
            raise argparse.ArgumentTypeError(f"invalid symbol {s!r} (§6.4)")
        if s not in out:
            out.append(s)
    if not out:
        raise argparse.ArgumentTypeError("no symbols")
    return out


def parse_qty(text: str) -> Decimal:
    if not DEC_RE.fullmatch(text) or text.startswith("-") or Decimal(text) <= 0:
        raise argparse.ArgumentTypeError("expected a positive decimal with <= 8 places")
    return Decimal(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Paper execution gateway, wire protocol v1, JSON codec.")
    p.add_argument("--orders", default="tcp://127.0.0.1:5555", help="ROUTER bind endpoint")
    p.add_argument("--market-data", default="tcp://127.0.0.1:5556", help="PUB bind endpoint")
    p.add_argument("--symbols", type=parse_symbols, default=parse_symbols("BTCUSD.s,ETHUSD.s,XAUUSD.s"))
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until a signal)")
    p.add_argument("--seed", type=int, default=1, help="seed of the price random walk and tick jitter")
    p.add_argument("--fee-ppm", type=int, default=250)
    p.add_argument("--slippage-ppm", type=int, default=0)
    p.add_argument("--max-fill-qty", type=parse_qty, default=None,
                   help="cap one execution at this quantity (remainder canceled)")
    p.add_argument("--interval-ms", type=parse_interval, default=(5, 30), help="tick interval MIN..MAX")
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    p.add_argument("--dump-ledger", default=None, help="write the ledger JSON here on exit")
    p.add_argument("--quiet", action="store_true", help="no per-event log lines on stderr")
    return p


def main(argv: list[str] | None = None, *, parser: argparse.ArgumentParser | None = None,
         gateway_class: type | None = None) -> int:
    """Runs the gateway. `parser` and `gateway_class` let a variant (scripts/hostile_gateway.py)
    add flags and behaviour; without them this is the plain interop gateway."""
    args = (parser or build_parser()).parse_args(argv)
    if not (0 <= args.fee_ppm <= 1_000_000):
        print("--fee-ppm must be within 0..1000000", file=sys.stderr)
        return 2
    if not (0 <= args.slippage_ppm < 1_000_000):
        print("--slippage-ppm must be within 0..999999", file=sys.stderr)
        return 2
    if args.heartbeat_ms < 1:
        print("--heartbeat-ms must be >= 1", file=sys.stderr)
        return 2
    gw = (gateway_class or Gateway)(args)

    def on_signal(signum, _frame):
        gw.stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        orders_ep, md_ep = gw.bind()
    except zmq.ZMQError as e:
        print(f"bind failed: {e}", file=sys.stderr)
        gw.close()
        return 1
    gw.log(f"session_id={gw.session_id} symbols={','.join(gw.symbols)} fee_ppm={gw.fee_ppm} seed={args.seed}",
           force=True)
    print(f"READY orders={orders_ep} market_data={md_ep}", flush=True)
    try:
        gw.run()
    finally:
        gw.close()
        if args.dump_ledger:
            gw.dump_ledger(args.dump_ledger)
        print(gw.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
