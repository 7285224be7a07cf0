#!/usr/bin/env python3
"""Audit the ZMQ gateway lock events in an engine log, independently of the engine.

Reads a log written in the format described in ``docs/LOG_FORMAT.md``: either the
JSONL file (``logs/<run-id>/engine.jsonl``) or the human-readable stdout form. The
format is detected per line: a line starting with ``{`` is JSON, anything else is
parsed as ``<timestamp> <LEVEL> <target>: <message> key=value ...``.

Checks:
  * every ZMQ_LOCK_ACQUIRE has exactly one ZMQ_LOCK_RELEASE with the same lock_id
    (no orphan ACQUIRE, no RELEASE without ACQUIRE, no double RELEASE, no
    duplicate ACQUIRE lock_id);
  * per symbol, locks never overlap, neither in file order nor by ``mono_us``;
  * ``access`` strictly increases in file order across the lock events of each
    ``shard`` (a missing ``shard`` is shard 0; each shard's bridge counts its own);
  * no lock is held longer than its ``deadline_us`` (``--deadline-ms`` when the
    field is missing) plus ``--slack-ms``;
  * EFSM_ERROR events and other ERROR/CRITICAL lines stay within
    ``--max-efsm-errors`` / ``--max-errors``;
  * no unparseable line in the middle of the file (unless ``--allow-garbage``).
    An unparseable *last* line is taken to be a write cut short by a killed
    process: it is reported as a warning and ignored.

The file is streamed line by line; memory is O(open locks + symbols).

Usage:
  python3 scripts/audit_locks.py logs/<run-id>/engine.jsonl
  python3 scripts/audit_locks.py --json --slack-ms 500 engine.jsonl
  python3 scripts/audit_locks.py --allow-garbage --max-efsm-errors 3 engine.log

Options: --slack-ms N (default 250), --deadline-ms N (default 2000),
--max-efsm-errors N (default 0), --max-errors N (default 0), --allow-garbage,
--json (print a machine-readable summary instead of the table).

Exit status: 0 when every check holds (prints ``AUDIT PASS``), 1 when one fails
(prints ``AUDIT FAIL: <reasons>``), 2 on a usage error or an unreadable file.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

ACQUIRE = "ZMQ_LOCK_ACQUIRE"
RELEASE = "ZMQ_LOCK_RELEASE"
EFSM_ERROR = "EFSM_ERROR"
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})

DEFAULT_SLACK_MS = 250
DEFAULT_DEADLINE_MS = 2000
MAX_DETAILS = 50  # problem descriptions kept for the report; the counters are exact

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------- parsing

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_HUMAN_RE = re.compile(
    r"^(?:(?P<ts>\d\S*)\s+)?"
    r"(?P<level>TRACE|DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\b\s*"
    r"(?P<rest>.*)$"
)
# "target: " and "span{a=1}: " prefixes before the message.
_PREFIX_RE = re.compile(r"^(?:\S+:\s+)+")
_KV_RE = re.compile(r'(?:^|\s)([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_INT_RE = re.compile(r"^-?\d+$")


def parse_line(text: str) -> dict[str, Any] | None:
    """Parse one log line (JSON or human-readable) into a flat dict, or None."""
    text = text.strip()
    if text.startswith("{"):
        return _parse_json_line(text)
    return _parse_human_line(text)


def _parse_json_line(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    nested = obj.get("fields")
    if isinstance(nested, dict):  # tolerate the non-flattened tracing layout too
        obj = {**obj, **nested}
    return obj


def _parse_human_line(text: str) -> dict[str, Any] | None:
    match = _HUMAN_RE.match(_ANSI_RE.sub("", text))
    if match is None:
        return None
    record: dict[str, Any] = {"level": match["level"]}
    if match["ts"]:
        record["timestamp"] = match["ts"]
    rest = match["rest"]
    prefix = _PREFIX_RE.match(rest)
    if prefix:
        record["target"] = prefix.group(0).strip().split()[-1].rstrip(":")
        rest = rest[prefix.end():]
    message, _, fields = rest.partition(" ")
    record["message"] = message
    for key, raw in _KV_RE.findall(" " + fields):
        record.setdefault(key, _human_value(raw))
    return record


def _human_value(raw: str) -> Any:
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        try:
            return json.loads(raw)
        except ValueError:
            return raw[1:-1]
    if _INT_RE.match(raw):
        return int(raw)
    return {"true": True, "false": False}.get(raw, raw)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class LockEvent:
    """A validated ZMQ_LOCK_ACQUIRE / ZMQ_LOCK_RELEASE."""

    message: str
    lineno: int
    symbol: str
    lock_id: int
    access: int
    mono_us: int
    deadline_us: int | None = None
    held_us: int | None = None
    outcome: str | None = None
    shard: int = 0


def lock_event(record: dict[str, Any], lineno: int) -> LockEvent | str:
    """Build a LockEvent from a parsed record, or return why it is malformed."""
    symbol = record.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        return "missing or invalid 'symbol'"
    ints: dict[str, int] = {}
    for key in ("lock_id", "access", "mono_us"):
        value = _as_int(record.get(key))
        if value is None:
            return f"missing or invalid {key!r}"
        ints[key] = value
    optional = {key: _as_int(record.get(key)) for key in ("deadline_us", "held_us")}
    shard = 0
    if "shard" in record:
        shard_value = _as_int(record.get("shard"))
        if shard_value is None or shard_value < 0:
            return "invalid 'shard'"
        shard = shard_value
    outcome = record.get("outcome")
    return LockEvent(
        message=record["message"],
        lineno=lineno,
        symbol=symbol,
        outcome=outcome if isinstance(outcome, str) else None,
        shard=shard,
        **ints,
        **optional,
    )


# --------------------------------------------------------------------------- state


class IntervalSet:
    """A set of ints stored as sorted disjoint ranges.

    Lock ids are normally handed out sequentially, so the set of every id seen
    in a run collapses to a handful of ranges instead of millions of entries.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []  # inclusive

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and value <= self._ends[i]

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends))

    def ranges(self) -> int:
        return len(self._starts)

    def add(self, value: int) -> None:
        if value in self:
            return
        i = bisect.bisect_right(self._starts, value)  # first range starting after value
        joins_left = i > 0 and self._ends[i - 1] == value - 1
        joins_right = i < len(self._starts) and self._starts[i] == value + 1
        if joins_left and joins_right:
            self._ends[i - 1] = self._ends[i]
            del self._starts[i], self._ends[i]
        elif joins_left:
            self._ends[i - 1] = value
        elif joins_right:
            self._starts[i] = value
        else:
            self._starts.insert(i, value)
            self._ends.insert(i, value)


@dataclass
class SymbolStats:
    acquires: int = 0
    releases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    max_held_us: int = 0
    overlaps: int = 0
    orphans: int = 0
    over_deadline: int = 0
    # running state, not reported
    open_ids: set[int] = field(default_factory=set)
    last_release_mono: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "acquires": self.acquires,
            "releases": self.releases,
            "outcomes": dict(sorted(self.outcomes.items())),
            "max_held_us": self.max_held_us,
            "overlaps": self.overlaps,
            "orphans": self.orphans,
            "over_deadline": self.over_deadline,
        }


@dataclass
class Summary:
    acquire: int = 0
    release: int = 0
    orphans: int = 0
    unmatched_releases: int = 0
    double_releases: int = 0
    duplicate_acquires: int = 0
    overlaps: int = 0
    access_violations: int = 0
    over_deadline: int = 0
    max_held_us: int = 0
    efsm_errors: int = 0
    error_lines: int = 0
    unparseable_lines: int = 0
    malformed_events: int = 0
    truncated_last_line: bool = False
    lines: int = 0
    per_symbol: dict[str, SymbolStats] = field(default_factory=dict)
    verdict: str = "PASS"
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    details_dropped: int = 0

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "per_symbol"}
        out["per_symbol"] = {s: st.to_dict() for s, st in sorted(self.per_symbol.items())}
        return out


# --------------------------------------------------------------------------- auditor


@dataclass(frozen=True)
class Limits:
    slack_ms: int = DEFAULT_SLACK_MS
    deadline_ms: int = DEFAULT_DEADLINE_MS
    allow_garbage: bool = False
    max_efsm_errors: int = 0
    max_errors: int = 0


class Auditor:
    """Consumes log lines one at a time and accumulates a Summary."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.summary = Summary()
        self._open: dict[int, LockEvent] = {}  # lock_id -> its ACQUIRE
        self._seen_ids = IntervalSet()  # every lock_id ever acquired
        self._last_access: dict[int, int] = {}  # shard -> its last access

    # ---- input

    def feed(self, lineno: int, raw: bytes, is_last: bool) -> None:
        try:
            record = parse_line(raw.decode("utf-8"))
        except UnicodeDecodeError:
            record = None
        if record is None:
            self._bad_line(lineno, raw, is_last, "unparseable")
            return
        if is_last and not raw.endswith(b"\n"):
            self._warn(f"line {lineno}: last line is not newline-terminated (used as is)")
        self._count_levels(record)
        message = record.get("message")
        if message not in (ACQUIRE, RELEASE):
            return
        event = lock_event(record, lineno)
        if isinstance(event, str):
            self._bad_line(lineno, raw, is_last, f"malformed {message}: {event}")
        elif message == ACQUIRE:
            self._on_acquire(event)
        else:
            self._on_release(event)

    def _bad_line(self, lineno: int, raw: bytes, is_last: bool, why: str) -> None:
        snippet = raw[:80].decode("utf-8", "replace").rstrip()
        if is_last:
            self.summary.truncated_last_line = True
            self._warn(f"line {lineno}: truncated last line ignored ({why}): {snippet!r}")
        elif why == "unparseable":
            self.summary.unparseable_lines += 1
            self._detail(f"line {lineno}: unparseable line: {snippet!r}")
        else:
            self.summary.malformed_events += 1
            self._detail(f"line {lineno}: {why}")

    def _count_levels(self, record: dict[str, Any]) -> None:
        if record.get("message") == EFSM_ERROR:
            self.summary.efsm_errors += 1
        elif str(record.get("level", "")).upper() in ERROR_LEVELS:
            self.summary.error_lines += 1

    # ---- lock events

    def _on_acquire(self, ev: LockEvent) -> None:
        s, sym = self.summary, self._symbol(ev.symbol)
        s.acquire += 1
        sym.acquires += 1
        self._check_access(ev)
        if ev.lock_id in self._seen_ids:
            s.duplicate_acquires += 1
            self._detail(f"line {ev.lineno}: duplicate ACQUIRE lock_id={ev.lock_id}")
            return
        self._seen_ids.add(ev.lock_id)
        if sym.open_ids:
            held = ", ".join(str(i) for i in sorted(sym.open_ids))
            self._overlap(ev, sym, f"while lock_id {held} still held (file order)")
        elif sym.last_release_mono is not None and ev.mono_us < sym.last_release_mono:
            self._overlap(
                ev, sym, f"at mono_us={ev.mono_us} before previous release at {sym.last_release_mono}"
            )
        sym.open_ids.add(ev.lock_id)
        self._open[ev.lock_id] = ev

    def _on_release(self, ev: LockEvent) -> None:
        s = self.summary
        s.release += 1
        self._check_access(ev)
        acq = self._open.pop(ev.lock_id, None)
        sym = self._symbol(acq.symbol if acq else ev.symbol)
        sym.releases += 1
        sym.outcomes[ev.outcome or "?"] += 1
        if acq is None:
            if ev.lock_id in self._seen_ids:
                s.double_releases += 1
                self._detail(f"line {ev.lineno}: double RELEASE lock_id={ev.lock_id}")
            else:
                s.unmatched_releases += 1
                self._detail(f"line {ev.lineno}: RELEASE lock_id={ev.lock_id} without ACQUIRE")
            return
        sym.open_ids.discard(ev.lock_id)
        if ev.symbol != acq.symbol:
            s.malformed_events += 1
            self._detail(
                f"line {ev.lineno}: RELEASE lock_id={ev.lock_id} symbol={ev.symbol!r} "
                f"but ACQUIRE (line {acq.lineno}) symbol={acq.symbol!r}"
            )
        if sym.last_release_mono is None or ev.mono_us > sym.last_release_mono:
            sym.last_release_mono = ev.mono_us
        self._check_held(acq, ev, sym)

    def _check_held(self, acq: LockEvent, rel: LockEvent, sym: SymbolStats) -> None:
        s = self.summary
        held_mono = rel.mono_us - acq.mono_us
        if held_mono < 0:
            s.malformed_events += 1
            self._detail(
                f"line {rel.lineno}: RELEASE lock_id={rel.lock_id} mono_us={rel.mono_us} "
                f"is before its ACQUIRE mono_us={acq.mono_us}"
            )
        # Trust neither side alone: the engine's held_us and the mono_us difference.
        held = max(held_mono, rel.held_us if rel.held_us is not None else 0)
        sym.max_held_us = max(sym.max_held_us, held)
        s.max_held_us = max(s.max_held_us, held)
        deadline = next(
            (d for d in (acq.deadline_us, rel.deadline_us) if d is not None),
            self.limits.deadline_ms * 1000,
        )
        limit = deadline + self.limits.slack_ms * 1000
        if held > limit:
            s.over_deadline += 1
            sym.over_deadline += 1
            self._detail(
                f"line {rel.lineno}: lock_id={rel.lock_id} ({acq.symbol}) held {held}us "
                f"> deadline {deadline}us + slack {self.limits.slack_ms}ms"
            )

    def _check_access(self, ev: LockEvent) -> None:
        last = self._last_access.get(ev.shard)
        if last is not None and ev.access <= last:
            self.summary.access_violations += 1
            self._detail(
                f"line {ev.lineno}: access={ev.access} not greater than previous {last} (shard {ev.shard})"
            )
        self._last_access[ev.shard] = ev.access

    def _overlap(self, ev: LockEvent, sym: SymbolStats, how: str) -> None:
        self.summary.overlaps += 1
        sym.overlaps += 1
        self._detail(f"line {ev.lineno}: {ev.symbol} ACQUIRE lock_id={ev.lock_id} {how}")

    # ---- bookkeeping

    def _symbol(self, name: str) -> SymbolStats:
        stats = self.summary.per_symbol.get(name)
        if stats is None:
            stats = self.summary.per_symbol[name] = SymbolStats()
        return stats

    def _detail(self, text: str) -> None:
        if len(self.summary.details) < MAX_DETAILS:
            self.summary.details.append(text)
        else:
            self.summary.details_dropped += 1

    def _warn(self, text: str) -> None:
        self.summary.warnings.append(text)

    # ---- verdict

    def finish(self, lines: int) -> Summary:
        s = self.summary
        s.lines = lines
        for lock_id, acq in sorted(self._open.items()):
            s.orphans += 1
            self._symbol(acq.symbol).orphans += 1
            self._detail(f"line {acq.lineno}: orphan ACQUIRE lock_id={lock_id} ({acq.symbol})")
        self._open.clear()
        if s.acquire == 0 and s.release == 0:
            self._warn("no lock events")
        if s.unparseable_lines and self.limits.allow_garbage:
            self._warn(f"{s.unparseable_lines} unparseable line(s) ignored (--allow-garbage)")
        s.failures = self._failures()
        s.verdict = "FAIL" if s.failures else "PASS"
        return s

    def _failures(self) -> list[str]:
        s, lim = self.summary, self.limits
        checks = [
            (s.orphans, "orphan ACQUIRE"),
            (s.unmatched_releases, "RELEASE without ACQUIRE"),
            (s.double_releases, "double RELEASE"),
            (s.duplicate_acquires, "duplicate ACQUIRE lock_id"),
            (s.overlaps, "overlapping lock"),
            (s.access_violations, "non-increasing access"),
            (s.over_deadline, "lock held past deadline+slack"),
            (s.malformed_events, "malformed lock event"),
            (0 if lim.allow_garbage else s.unparseable_lines, "unparseable line"),
        ]
        failures = [f"{n} {what}" for n, what in checks if n]
        if s.efsm_errors > lim.max_efsm_errors:
            failures.append(f"{s.efsm_errors} EFSM_ERROR (max {lim.max_efsm_errors})")
        if s.error_lines > lim.max_errors:
            failures.append(f"{s.error_lines} ERROR line (max {lim.max_errors})")
        return failures


class LineReader:
    """Yields (lineno, raw_line, is_last) for every non-blank line, one line of lookahead."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, bytes, bool]]:
        pending: tuple[int, bytes] | None = None
        for raw in self._fh:
            self.count += 1
            if not raw.strip():
                continue
            if pending is not None:
                yield pending[0], pending[1], False
            pending = (self.count, raw)
        if pending is not None:
            yield pending[0], pending[1], True


def audit(
    path: str,
    *,
    slack_ms: int = DEFAULT_SLACK_MS,
    deadline_ms: int = DEFAULT_DEADLINE_MS,
    allow_garbage: bool = False,
    max_efsm_errors: int = 0,
    max_errors: int = 0,
) -> Summary:
    """Audit the log at ``path``. Raises OSError if it cannot be read."""
    limits = Limits(slack_ms, deadline_ms, allow_garbage, max_efsm_errors, max_errors)
    auditor = Auditor(limits)
    with open(path, "rb") as fh:
        reader = LineReader(fh)
        for lineno, raw, is_last in reader:
            auditor.feed(lineno, raw, is_last)
    return auditor.finish(reader.count)


# --------------------------------------------------------------------------- output


def format_table(summary: Summary) -> str:
    header = ("symbol", "acquires", "releases", "outcomes", "max_held_us", "overlaps")
    rows = [
        (
            name,
            str(st.acquires),
            str(st.releases),
            ",".join(f"{k}={v}" for k, v in sorted(st.outcomes.items())) or "-",
            str(st.max_held_us),
            str(st.overlaps),
        )
        for name, st in sorted(summary.per_symbol.items())
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {1, 2, 4, 5}

    def fmt(row: tuple[str, ...]) -> str:
        cells = (c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "  ".join(cells).rstrip()

    lines = [fmt(header), fmt(tuple("-" * w for w in widths))]
    lines += [fmt(r) for r in rows] or ["(no lock events)"]
    return "\n".join(lines)


def format_report(summary: Summary) -> str:
    s = summary
    out = [
        format_table(s),
        "",
        f"lines={s.lines} acquire={s.acquire} release={s.release} orphans={s.orphans} "
        f"unmatched_releases={s.unmatched_releases} double_releases={s.double_releases} "
        f"overlaps={s.overlaps} access_violations={s.access_violations} "
        f"over_deadline={s.over_deadline} max_held_us={s.max_held_us} "
        f"efsm_errors={s.efsm_errors} error_lines={s.error_lines} "
        f"unparseable_lines={s.unparseable_lines}",
    ]
    if s.details:
        out += ["", "problems:"] + [f"  {d}" for d in s.details]
        if s.details_dropped:
            out.append(f"  ... and {s.details_dropped} more")
    out.append("AUDIT PASS" if s.passed else "AUDIT FAIL: " + ", ".join(s.failures))
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="audit_locks.py",
        description="Audit ZMQ_LOCK_ACQUIRE/RELEASE invariants in an engine log.",
    )
    p.add_argument("log", help="engine.jsonl or a human-readable engine log")
    p.add_argument("--slack-ms", type=_non_negative, default=DEFAULT_SLACK_MS,
                   help="tolerance added to each lock's deadline (default %(default)s)")
    p.add_argument("--deadline-ms", type=_non_negative, default=DEFAULT_DEADLINE_MS,
                   help="deadline for locks without deadline_us (default %(default)s)")
    p.add_argument("--max-efsm-errors", type=_non_negative, default=0,
                   help="EFSM_ERROR events allowed (default %(default)s)")
    p.add_argument("--max-errors", type=_non_negative, default=0,
                   help="other ERROR/CRITICAL lines allowed (default %(default)s)")
    p.add_argument("--allow-garbage", action="store_true",
                   help="do not fail on unparseable lines in the middle of the file")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on usage errors
    try:
        summary = audit(
            args.log,
            slack_ms=args.slack_ms,
            deadline_ms=args.deadline_ms,
            allow_garbage=args.allow_garbage,
            max_efsm_errors=args.max_efsm_errors,
            max_errors=args.max_errors,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"audit_locks.py: error: cannot read {args.log!r}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    for warning in summary.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_report(summary))
    return EXIT_PASS if summary.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
