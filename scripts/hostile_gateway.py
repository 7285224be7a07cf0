#!/usr/bin/env python3
"""A hostile execution gateway: scripts/interop_gateway.py with one scripted fault.

What it is
    The interop gateway (wire protocol v1, JSON codec, docs/PROTOCOL.md), subclassed so that
    one fault, chosen by --fault, hits ONE victim symbol (--victim) once that symbol has sent
    --after orders (default 2) that were handled normally. Every other symbol keeps trading
    normally. The end-to-end tests (stress/tests/e2e_hostile.rs) run the real engine against
    it.

Faults (all on the victim's order channel traffic; market data is never touched)
    wrong_side          the venue executes the order as asked (its ledger is right), but the
                        fill report names the other side.                      [once]
    overfill            a partial_fill of q, then a fill with cum_qty 2q, for an order of q;
                        the venue's ledger books both (2q).                    [once]
    fill_after_terminal after the terminal fill, one more fill with a new exec_id (booked
                        in the venue's ledger too).                            [once]
    unknown_intent      0.3 s after the victim's --after-th order, a fill for an intent the
                        engine never sent, and a second one a second later (both booked).
    absurd_price        the order fills at 1000x the touch (ledger too).        [once]
    duplicate_exec_id   every fill is re-sent with the same exec_id, at once and 0.3 s
                        later (booked once, as it should be).                 [every order]
    seq_dup             every report frame is sent twice with the same envelope seq.
                                                                              [every order]
    seq_gap             one envelope seq is skipped before every report.      [every order]
    silence             the victim's orders and status queries are never answered (ticks,
                        heartbeats, snapshots and other symbols carry on).   [from then on]
    heartbeat_only      from the victim's next order on, the whole order channel (every
                        symbol, snapshots too) answers nothing but heartbeats. It cannot be
                        per symbol: heartbeats are per peer.                 [from then on]

    [once]: only the first order after --after is falsified (if it produced no fill, e.g. a
    reject, the next one is).

Output (stdout; diagnostics on stderr as in the interop gateway)
    READY orders=<endpoint> market_data=<endpoint>
    FAULT fault=<name> symbol=<s> intent=<id> did=<what> lie=<pos> honest=<pos>
          venue=<pos> fills=<sym>:<n>,...
        one line each time the fault acts. Positions are `flat` or `<side>:<qty>:<cost>`:
        `venue` is the venue's ledger, `lie` the position of an engine that booked every
        report as it was written, `honest` that of an engine that booked only the reports
        that match its orders. `fills` counts the venue's fills per symbol at that moment.
    SUMMARY ... fault=<name> fired=<n> victim_orders_after=<n> resent_intents=<n> muted=<n>
        `victim_orders_after`: new victim orders that arrived after a discrepancy fault
        fired (an engine that halts the victim sends none); `resent_intents`: NewOrders
        that repeated a silenced intent (an engine never re-sends one).

Usage
    python3 scripts/hostile_gateway.py --orders tcp://127.0.0.1:* --market-data tcp://127.0.0.1:* \\
        --symbols VICTIM.s,OTHER1.s,OTHER2.s --fault wrong_side --victim VICTIM.s --after 2 \\
        --duration 30 --dump-ledger /tmp/ledger.json
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import interop_gateway as base  # noqa: E402

# Faults that falsify one order's reports (a discrepancy the engine must catch), and those
# that keep acting on every later order of the victim.
ONCE = ("wrong_side", "overfill", "fill_after_terminal", "absurd_price")
EVERY = ("duplicate_exec_id", "seq_dup", "seq_gap", "silence", "heartbeat_only")
FAULTS = ONCE + EVERY + ("unknown_intent",)
DISCREPANCIES = ONCE + ("unknown_intent",)

ABSURD_FACTOR = 1000
UNKNOWN_FIRST_DELAY = 0.3       # s after the victim's --after-th order
UNKNOWN_SPACING = 1.0           # s between the two unknown-intent fills
RESEND_DELAY = 0.3              # s: the delayed copy of a duplicate_exec_id fill
FOREIGN_INTENT_BASE = 9_000_000_000_000_000_000   # far above any µs-since-epoch intent id


class FaultPlan:
    """When the fault acts: pure bookkeeping over the victim's orders and a clock (no I/O)."""

    def __init__(self, fault: str, victim: str, after: int):
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.fault = fault
        self.victim = victim
        self.after = after
        self.victim_orders = 0
        self.fired = 0                 # times the fault acted
        self.mute_all = False          # heartbeat_only: the whole order channel is dead
        self.silent = False            # silence: the victim is never answered
        self.discrepancy_at: int | None = None   # victim order count when a lie was told
        self.timers: list[tuple[float, str]] = []

    def on_order(self, symbol: str, now: float) -> str | None:
        """A new (never seen) NewOrder arrived: the fault to apply to it, or None."""
        if symbol != self.victim:
            return None
        self.victim_orders += 1
        n = self.victim_orders
        if self.fault == "unknown_intent":
            if n == self.after:
                self.timers += [(now + UNKNOWN_FIRST_DELAY, "unknown_fill"),
                                (now + UNKNOWN_FIRST_DELAY + UNKNOWN_SPACING, "unknown_fill")]
            return None
        if n <= self.after:
            return None
        if self.fault in ONCE and self.fired > 0:
            return None
        if self.fault == "silence":
            self.silent = True
        if self.fault == "heartbeat_only":
            self.mute_all = True
        return self.fault

    def not_applied(self) -> None:
        """The order chosen for a once-fault produced no fill: falsify the next one instead."""
        self.victim_orders = self.after

    def acted(self) -> None:
        self.fired += 1
        if self.fault in DISCREPANCIES and self.discrepancy_at is None:
            self.discrepancy_at = self.victim_orders

    @property
    def victim_orders_after(self) -> int:
        """Victim orders that arrived after the first lie (0 if no lie was told yet)."""
        return 0 if self.discrepancy_at is None else self.victim_orders - self.discrepancy_at

    def schedule(self, at: float, what: str) -> None:
        self.timers.append((at, what))

    def due(self, now: float) -> list[str]:
        """Timed actions whose time has come, in time order (each returned once)."""
        ready = sorted(t for t in self.timers if t[0] <= now)
        self.timers = [t for t in self.timers if t[0] > now]
        return [what for _, what in ready]


def pos_text(p: base.Position | None) -> str:
    if p is None or p.qty == 0:
        return "flat"
    return f"{p.side}:{base.fmt(p.qty)}:{base.fmt(p.cost)}"


class HostileGateway(base.Gateway):
    def __init__(self, args):
        super().__init__(args)
        self.victim: str = args.victim
        self.plan = FaultPlan(args.fault, args.victim, args.after)
        # What an engine would book: every fill report as written (`lie`), or only the
        # reports that match its orders (`honest`). Fed by emit(), i.e. first sends only.
        self.lie_books: dict[str, base.Position] = {}
        self.honest_books: dict[str, base.Position] = {}
        self.lying = False              # the report being emitted contradicts the order
        self.rewrite = None             # report -> report, applied to fills while set
        self.seq_fault: str | None = None
        self.captured: list[dict] = []  # fill reports emitted for the order being faulted
        self.victim_peer: base.Peer | None = None
        self.victim_qty = Decimal(1)
        self.silenced: set[int] = set()
        self.resent_intents = 0
        self.muted = 0
        self.pending_resends: list[tuple[base.Peer, dict]] = []

    # ---------------------------------------------------------------- hooks into the base

    def on_frames(self, frames: list[bytes]) -> None:
        if self.plan.mute_all:
            self.muted += 1             # heartbeat_only: heard, never answered
            return
        super().on_frames(frames)

    def publish_tick(self, feed: base.Feed) -> None:
        # Ticks run every few ms whatever else happens: they are this gateway's clock.
        super().publish_tick(feed)
        for what in self.plan.due(time.monotonic()):
            if what == "unknown_fill":
                self.unknown_fill()
            elif what == "resend" and self.pending_resends:
                peer, rep = self.pending_resends.pop(0)
                self.log(f"duplicate_exec_id: re-sending exec_id={rep['exec_id']} again (delayed)", force=True)
                self.send(peer, "exec_report", dict(rep))

    def emit(self, peer: base.Peer, order: base.Order, rep: dict) -> None:
        is_fill = rep["exec_type"] in ("fill", "partial_fill")
        if is_fill and self.rewrite is not None:
            rep = self.rewrite(rep)
        super().emit(peer, order, rep)
        if is_fill:
            self.captured.append(rep)
            px, q, fee = Decimal(rep["last_px"]), Decimal(rep["last_qty"]), Decimal(rep["fee"])
            self.lie_books.setdefault(rep["symbol"], base.Position(rep["symbol"])).apply_fill(rep["side"], px, q, fee)
            if not self.lying:
                honest = self.honest_books.setdefault(rep["symbol"], base.Position(rep["symbol"]))
                honest.apply_fill(rep["side"], px, q, fee)

    def send(self, peer: base.Peer, msg_type: str, body: dict) -> bool:
        if msg_type != "exec_report" or self.seq_fault is None:
            return super().send(peer, msg_type, body)
        if self.seq_fault == "seq_gap":
            peer.next_seq += 1
            self.log(f"seq_gap: skipped seq {peer.next_seq - 1}", force=True)
            return super().send(peer, msg_type, body)
        seq = peer.next_seq             # seq_dup: the same frame twice under one seq
        ok = super().send(peer, msg_type, body)
        peer.next_seq = seq
        super().send(peer, msg_type, body)
        self.log(f"seq_dup: seq {seq} sent twice (exec_id={body['exec_id']})", force=True)
        return ok

    def on_status_query(self, peer: base.Peer, b: dict) -> None:
        if self.plan.silent and b["symbol"] == self.victim:
            self.log(f"silence: status query intent={b['intent_id']} not answered", force=True)
            return
        super().on_status_query(peer, b)

    def on_new_order(self, peer: base.Peer, b: dict) -> None:
        iid = b["intent_id"]
        if iid in self.silenced:
            self.resent_intents += 1
            self.fault_line("silence", iid, f"silenced intent sent again (NewOrder repeat #{self.resent_intents})")
            return
        if iid in self.orders or iid in self.unknown_answered:
            return super().on_new_order(peer, b)   # repeats are the base's business
        if b["symbol"] == self.victim:
            self.victim_peer, self.victim_qty = peer, b["qty"]
        fault = self.plan.on_order(b["symbol"], time.monotonic())
        if fault is None:
            return super().on_new_order(peer, b)
        getattr(self, f"fault_{fault}")(peer, b)

    def summary(self) -> str:
        return (f"{super().summary()} fault={self.plan.fault} fired={self.plan.fired} "
                f"victim_orders_after={self.plan.victim_orders_after} resent_intents={self.resent_intents} "
                f"muted={self.muted}")

    # ---------------------------------------------------------------- the faults

    def fault_line(self, fault: str, intent: int, did: str) -> None:
        s = self.victim
        fills = ",".join(f"{sym}:{self.ledger[sym].fills if sym in self.ledger else 0}" for sym in self.symbols)
        line = (f"FAULT fault={fault} symbol={s} intent={intent} did={did.replace(' ', '_')} "
                f"lie={pos_text(self.lie_books.get(s))} honest={pos_text(self.honest_books.get(s))} "
                f"venue={pos_text(self.ledger.get(s))} fills={fills}")
        print(line, flush=True)
        self.log(line, force=True)

    def execute(self, peer: base.Peer, b: dict, rewrite=None, lying: bool = False) -> list[dict]:
        """Runs the base's execution of `b`, returning the fill reports it emitted."""
        self.captured, self.rewrite, self.lying = [], rewrite, lying
        try:
            super().on_new_order(peer, b)
        finally:
            self.rewrite, self.lying = None, False
        return self.captured

    def extra_fill(self, peer: base.Peer, order: base.Order, side: str, px: Decimal, q: Decimal,
                   fee: Decimal) -> dict:
        """One more execution of `order`, booked in the venue's ledger, reported as a lie."""
        order.cum_qty += q
        order.leaves_qty = base.ZERO
        self.ledger.setdefault(order.symbol, base.Position(order.symbol)).apply_fill(side, px, q, fee)
        self.stats["fills"] += 1
        rep = self.report(order, "fill", "filled", time.time_ns(), last_qty=q, last_px=px, fee=fee)
        self.lying = True
        try:
            self.emit(peer, order, rep)
        finally:
            self.lying = False
        return rep

    def once(self, fault: str, fills: list[dict]) -> bool:
        if fills:
            self.plan.acted()
            return True
        self.plan.not_applied()
        self.log(f"{fault}: the chosen order produced no fill; the next victim order gets the fault", force=True)
        return False

    def fault_wrong_side(self, peer: base.Peer, b: dict) -> None:
        def flip(rep: dict) -> dict:
            return dict(rep, side="sell" if rep["side"] == "buy" else "buy")
        fills = self.execute(peer, b, rewrite=flip, lying=True)
        if self.once("wrong_side", fills):
            r = fills[0]
            self.fault_line("wrong_side", b["intent_id"],
                            f"executed {b['side']} {base.fmt(b['qty'])}, reported {r['side']} {r['last_qty']} @ {r['last_px']}")

    def fault_overfill(self, peer: base.Peer, b: dict) -> None:
        def as_partial(rep: dict) -> dict:
            return dict(rep, exec_type="partial_fill", ord_status="partially_filled", leaves_qty="0")
        fills = self.execute(peer, b, rewrite=as_partial)
        if self.once("overfill", fills):
            r, order = fills[0], self.orders[b["intent_id"]]
            q = Decimal(r["last_qty"])
            self.extra_fill(peer, order, b["side"], Decimal(r["last_px"]), q, Decimal(r["fee"]))
            self.fault_line("overfill", b["intent_id"],
                            f"order of {base.fmt(b['qty'])}: partial_fill {base.fmt(q)} then fill cum_qty {base.fmt(2 * q)}")

    def fault_fill_after_terminal(self, peer: base.Peer, b: dict) -> None:
        fills = self.execute(peer, b)
        if self.once("fill_after_terminal", fills):
            r, order = fills[-1], self.orders[b["intent_id"]]
            extra = self.extra_fill(peer, order, b["side"], Decimal(r["last_px"]), Decimal(r["last_qty"]),
                                    Decimal(r["fee"]))
            self.fault_line("fill_after_terminal", b["intent_id"],
                            f"after the terminal fill exec_id={r['exec_id']}, one more fill exec_id={extra['exec_id']}")

    def fault_absurd_price(self, peer: base.Peer, b: dict) -> None:
        # The base prices a fill at the touch moved by slippage_ppm: 999,000,000 ppm = 1000x.
        saved = self.slippage_ppm
        self.slippage_ppm = (ABSURD_FACTOR - 1) * 1_000_000 * (1 if b["side"] == "buy" else -1)
        try:
            fills = self.execute(peer, b, lying=True)
        finally:
            self.slippage_ppm = saved
        if self.once("absurd_price", fills):
            feed = self.feeds[b["symbol"]]
            touch = feed.ask if b["side"] == "buy" else feed.bid
            self.fault_line("absurd_price", b["intent_id"],
                            f"{b['side']} filled @ {fills[0]['last_px']} (touch {base.fmt(touch)}, x{ABSURD_FACTOR})")

    def fault_duplicate_exec_id(self, peer: base.Peer, b: dict) -> None:
        fills = self.execute(peer, b)
        for rep in fills:
            self.send(peer, "exec_report", dict(rep))
            self.pending_resends.append((peer, rep))
            self.plan.schedule(time.monotonic() + RESEND_DELAY, "resend")
        if fills:
            self.plan.acted()
            self.fault_line("duplicate_exec_id", b["intent_id"],
                            f"re-sent exec_id(s) {','.join(str(r['exec_id']) for r in fills)} now and in {RESEND_DELAY}s")

    def seq_fault_order(self, fault: str, peer: base.Peer, b: dict) -> None:
        self.seq_fault = fault
        try:
            fills = self.execute(peer, b)
        finally:
            self.seq_fault = None
        self.plan.acted()
        self.fault_line(fault, b["intent_id"], f"{len(fills)} fill report(s) sent with {fault}")

    def fault_seq_dup(self, peer: base.Peer, b: dict) -> None:
        self.seq_fault_order("seq_dup", peer, b)

    def fault_seq_gap(self, peer: base.Peer, b: dict) -> None:
        self.seq_fault_order("seq_gap", peer, b)

    def fault_silence(self, peer: base.Peer, b: dict) -> None:
        self.silenced.add(b["intent_id"])
        self.plan.acted()
        self.fault_line("silence", b["intent_id"], f"order not answered (silenced orders: {len(self.silenced)})")

    def fault_heartbeat_only(self, peer: base.Peer, b: dict) -> None:
        self.plan.acted()
        self.fault_line("heartbeat_only", b["intent_id"], "order channel muted for every symbol; heartbeats only")

    def unknown_fill(self) -> None:
        """A fill for an intent nobody sent: booked in the venue's ledger, reported as a lie."""
        peer, sym = self.victim_peer, self.victim
        feed = self.feeds[sym]
        if peer is None or feed.ask is None:
            return
        iid = FOREIGN_INTENT_BASE + self.plan.fired
        q, px = self.victim_qty, feed.ask
        fee = base.fee_of(base.notional(px, q), self.fee_ppm)
        order = base.Order({"intent_id": iid, "symbol": sym, "side": "buy", "qty": q, "ord_type": "market",
                            "limit_price": None, "expire_at_ns": 0}, self.new_order_id())
        order.leaves_qty = base.ZERO
        self.orders[iid] = order
        self.extra_fill(peer, order, "buy", px, q, fee)
        self.plan.acted()
        self.fault_line("unknown_intent", iid, f"fill buy {base.fmt(q)} @ {base.fmt(px)} for an intent never sent "
                                               f"(#{self.plan.fired})")


def build_parser():
    p = base.build_parser()
    p.description = "Hostile paper gateway (interop gateway + one scripted fault), JSON codec."
    p.add_argument("--fault", required=True, choices=FAULTS)
    p.add_argument("--victim", required=True, help="the one symbol the fault hits")
    p.add_argument("--after", type=int, default=2, help="victim orders handled normally first")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.victim not in args.symbols:
        parser.error(f"--victim {args.victim} is not one of --symbols")
    if args.after < 1:
        parser.error("--after must be >= 1")
    if args.max_fill_qty is not None:
        parser.error("--max-fill-qty is not supported with a fault (faults assume one execution per order)")
    return base.main(argv, parser=parser, gateway_class=HostileGateway)


if __name__ == "__main__":
    sys.exit(main())
