"""Tests for scripts/audit_locks.py.

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
SCRIPT = SCRIPTS / "audit_locks.py"
sys.path.insert(0, str(SCRIPTS))

import audit_locks  # noqa: E402


# ----------------------------------------------------------------------------- log builders


def event(message: str, level: str = "INFO", **fields) -> str:
    record = {
        "timestamp": "2026-11-21T10:00:00.000001Z",
        "level": level,
        "target": "engine::bridge",
        "message": message,
        **fields,
    }
    return json.dumps(record)


def acq(lock_id, access, mono_us, symbol="BTCUSD.s", deadline_us=500_000, **extra) -> str:
    fields = dict(symbol=symbol, lock_id=lock_id, access=access, intent_id=lock_id + 100,
                  kind="order", mono_us=mono_us)
    if deadline_us is not None:
        fields["deadline_us"] = deadline_us
    fields.update(extra)
    return event("ZMQ_LOCK_ACQUIRE", **fields)


def rel(lock_id, access, mono_us, symbol="BTCUSD.s", outcome="filled", held_us=None, **extra) -> str:
    fields = dict(symbol=symbol, lock_id=lock_id, access=access, intent_id=lock_id + 100,
                  kind="order", mono_us=mono_us, outcome=outcome)
    if held_us is not None:
        fields["held_us"] = held_us
    fields.update(extra)
    return event("ZMQ_LOCK_RELEASE", **fields)


def efsm_error(symbol="BTCUSD.s") -> str:
    return event("EFSM_ERROR", level="ERROR", symbol=symbol, state="Idle", event="Fill",
                 error="illegal event")


# A clean two-lock run on one symbol.
GOOD = [acq(1, 1, 1_000), rel(1, 2, 2_000), acq(2, 3, 3_000), rel(2, 4, 4_000, outcome="timeout")]


class LogTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.addCleanup(self._dir.cleanup)

    def write(self, lines: list[str], *, trailing_newline: bool = True, name="engine.jsonl") -> str:
        text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
        path = os.path.join(self._dir.name, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path

    def audit(self, lines: list[str], **kwargs) -> audit_locks.Summary:
        trailing = kwargs.pop("trailing_newline", True)
        return audit_locks.audit(self.write(lines, trailing_newline=trailing), **kwargs)

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
        )

    def assertPass(self, summary: audit_locks.Summary) -> None:
        self.assertEqual(summary.verdict, "PASS", summary.failures + summary.details)
        self.assertEqual(summary.failures, [])

    def assertFail(self, summary: audit_locks.Summary, reason_fragment: str) -> None:
        self.assertEqual(summary.verdict, "FAIL")
        self.assertTrue(
            any(reason_fragment in f for f in summary.failures),
            f"{reason_fragment!r} not in {summary.failures}",
        )


# ----------------------------------------------------------------------------- pairing


class PairingTests(LogTestCase):
    def test_clean_run_passes(self):
        s = self.audit(GOOD)
        self.assertPass(s)
        self.assertEqual((s.acquire, s.release, s.orphans), (2, 2, 0))
        self.assertEqual(s.per_symbol["BTCUSD.s"].outcomes, {"filled": 1, "timeout": 1})
        self.assertEqual(s.max_held_us, 1_000)

    def test_orphan_acquire(self):
        s = self.audit(GOOD + [acq(3, 5, 5_000)])
        self.assertFail(s, "orphan ACQUIRE")
        self.assertEqual(s.orphans, 1)
        self.assertEqual(s.per_symbol["BTCUSD.s"].orphans, 1)

    def test_double_release(self):
        s = self.audit([acq(1, 1, 1_000), rel(1, 2, 2_000), rel(1, 3, 2_500)])
        self.assertFail(s, "double RELEASE")
        self.assertEqual(s.double_releases, 1)
        self.assertEqual(s.unmatched_releases, 0)

    def test_release_without_acquire(self):
        s = self.audit(GOOD + [rel(99, 5, 5_000)])
        self.assertFail(s, "RELEASE without ACQUIRE")
        self.assertEqual(s.unmatched_releases, 1)
        self.assertEqual(s.double_releases, 0)

    def test_duplicate_acquire_lock_id(self):
        s = self.audit(GOOD + [acq(1, 5, 5_000), rel(1, 6, 6_000)])
        self.assertFail(s, "duplicate ACQUIRE")
        self.assertEqual(s.duplicate_acquires, 1)


# ----------------------------------------------------------------------------- overlap


class OverlapTests(LogTestCase):
    def test_overlap_in_file_order(self):
        s = self.audit([acq(1, 1, 1_000), acq(2, 2, 1_500), rel(1, 3, 2_000), rel(2, 4, 2_500)])
        self.assertFail(s, "overlapping lock")
        self.assertEqual(s.overlaps, 1)
        self.assertEqual(s.per_symbol["BTCUSD.s"].overlaps, 1)
        self.assertEqual(s.orphans, 0)

    def test_overlap_by_time(self):
        # File order is fine, but lock 2 was acquired (mono 1_500) before lock 1 was released (2_000).
        s = self.audit([acq(1, 1, 1_000), rel(1, 2, 2_000), acq(2, 3, 1_500), rel(2, 4, 3_000)])
        self.assertFail(s, "overlapping lock")
        self.assertEqual(s.overlaps, 1)
        self.assertTrue(any("before previous release" in d for d in s.details), s.details)

    def test_acquire_at_exact_release_time_is_not_overlap(self):
        s = self.audit([acq(1, 1, 1_000), rel(1, 2, 2_000), acq(2, 3, 2_000), rel(2, 4, 3_000)])
        self.assertPass(s)

    def test_interleaved_symbols_pass(self):
        lines = [
            acq(1, 1, 1_000, symbol="BTCUSD.s"),
            acq(2, 2, 1_100, symbol="ETHUSD.s"),
            acq(3, 3, 1_200, symbol="XAUUSD.s"),
            rel(2, 4, 1_300, symbol="ETHUSD.s"),
            rel(1, 5, 1_400, symbol="BTCUSD.s", outcome="rejected"),
            acq(4, 6, 1_500, symbol="ETHUSD.s"),
            acq(5, 7, 1_600, symbol="BTCUSD.s"),
            rel(3, 8, 1_700, symbol="XAUUSD.s", outcome="canceled"),
            rel(5, 9, 1_800, symbol="BTCUSD.s"),
            rel(4, 10, 1_900, symbol="ETHUSD.s", outcome="gateway_down"),
        ]
        s = self.audit(lines)
        self.assertPass(s)
        self.assertEqual(s.overlaps, 0)
        self.assertEqual(sorted(s.per_symbol), ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"])
        self.assertEqual(s.per_symbol["BTCUSD.s"].acquires, 2)
        self.assertEqual(s.per_symbol["ETHUSD.s"].outcomes, {"filled": 1, "gateway_down": 1})


# ----------------------------------------------------------------------------- access / deadline


class AccessAndDeadlineTests(LogTestCase):
    def test_non_increasing_access(self):
        s = self.audit([acq(1, 1, 1_000), rel(1, 2, 2_000), acq(2, 2, 3_000), rel(2, 3, 4_000)])
        self.assertFail(s, "non-increasing access")
        self.assertEqual(s.access_violations, 1)

    def test_decreasing_access(self):
        s = self.audit([acq(1, 5, 1_000), rel(1, 4, 2_000)])
        self.assertFail(s, "non-increasing access")
        self.assertEqual(s.access_violations, 1)

    def test_access_counts_per_shard(self):
        # Two shards' bridges, interleaved in the file: each counts its own access.
        s = self.audit([
            acq(1, 1, 1_000, shard=0), acq(2, 1, 1_100, symbol="ETHUSD.s", shard=1),
            rel(1, 2, 2_000, shard=0), rel(2, 2, 2_100, symbol="ETHUSD.s", shard=1),
        ])
        self.assertPass(s)

    def test_one_shard_going_back_fails(self):
        s = self.audit([
            acq(1, 5, 1_000, shard=1), acq(2, 1, 1_100, symbol="ETHUSD.s", shard=0),
            rel(1, 4, 2_000, shard=1),
        ])
        self.assertFail(s, "non-increasing access")
        self.assertEqual(s.access_violations, 1)

    def test_access_gaps_are_allowed(self):
        s = self.audit([acq(1, 10, 1_000), rel(1, 20, 2_000)])
        self.assertPass(s)

    def test_held_beyond_deadline_plus_slack(self):
        # deadline 500ms + default slack 250ms = 750_000us; held 800_000us.
        s = self.audit([acq(1, 1, 0, deadline_us=500_000), rel(1, 2, 800_000, outcome="timeout")])
        self.assertFail(s, "past deadline")
        self.assertEqual(s.over_deadline, 1)
        self.assertEqual(s.max_held_us, 800_000)

    def test_held_within_slack_passes(self):
        s = self.audit([acq(1, 1, 0, deadline_us=500_000), rel(1, 2, 700_000, outcome="timeout")])
        self.assertPass(s)
        s = self.audit([acq(1, 1, 0, deadline_us=500_000), rel(1, 2, 700_000)], slack_ms=100)
        self.assertFail(s, "past deadline")

    def test_reported_held_us_is_also_checked(self):
        # mono_us says 1ms, but the engine itself reports 900ms held.
        s = self.audit([acq(1, 1, 0, deadline_us=500_000), rel(1, 2, 1_000, held_us=900_000)])
        self.assertFail(s, "past deadline")

    def test_missing_deadline_uses_default(self):
        lines = [acq(1, 1, 0, deadline_us=None), rel(1, 2, 2_100_000)]
        self.assertPass(self.audit(lines))  # 2000ms + 250ms slack
        self.assertFail(self.audit(lines, deadline_ms=1000), "past deadline")


# ----------------------------------------------------------------------------- file robustness


class RobustnessTests(LogTestCase):
    def test_truncated_last_line_is_warning(self):
        cut = acq(3, 5, 5_000)[:40]
        s = self.audit(GOOD + [cut], trailing_newline=False)
        self.assertPass(s)
        self.assertTrue(s.truncated_last_line)
        self.assertEqual(s.unparseable_lines, 0)
        self.assertTrue(any("truncated last line" in w for w in s.warnings), s.warnings)

    def test_garbage_in_middle_fails(self):
        lines = GOOD[:2] + ["this is not json at all"] + GOOD[2:]
        s = self.audit(lines)
        self.assertFail(s, "unparseable line")
        self.assertEqual(s.unparseable_lines, 1)
        self.assertEqual(s.acquire, 2)

    def test_garbage_in_middle_allowed(self):
        lines = GOOD[:2] + ['{"timestamp": "2026-11-21T10:00', "this is not json"] + GOOD[2:]
        s = self.audit(lines, allow_garbage=True)
        self.assertPass(s)
        self.assertEqual(s.unparseable_lines, 2)
        self.assertTrue(any("--allow-garbage" in w for w in s.warnings), s.warnings)

    def test_malformed_lock_event_fails(self):
        bad = event("ZMQ_LOCK_ACQUIRE", symbol="BTCUSD.s", access=5, mono_us=5_000)  # no lock_id
        s = self.audit(GOOD + [bad, event("HEARTBEAT")])
        self.assertFail(s, "malformed lock event")
        self.assertEqual(s.malformed_events, 1)

    def test_unrelated_events_skipped(self):
        noise = [
            event("EFSM_TRANSITION", level="DEBUG", symbol="BTCUSD.s", **{"from": "Idle"}, to="Open"),
            event("CONTROL_CHANGE", level="WARN", scope="global", flag="halt", old=False, new=True),
            event("RUN_SUMMARY", total_pnl=1.5, sum_symbol_pnl=1.5, efsm_errors=0),
            '{"no_message": true}',
        ]
        s = self.audit(noise[:2] + GOOD + noise[2:])
        self.assertPass(s)
        self.assertEqual((s.acquire, s.release, s.unparseable_lines), (2, 2, 0))

    def test_empty_file_passes_with_warning(self):
        s = self.audit([])
        self.assertPass(s)
        self.assertEqual((s.acquire, s.release), (0, 0))
        self.assertIn("no lock events", s.warnings)

    def test_missing_file_raises_oserror(self):
        with self.assertRaises(OSError):
            audit_locks.audit(os.path.join(self._dir.name, "nope.jsonl"))


# ----------------------------------------------------------------------------- error counting


class ErrorCountingTests(LogTestCase):
    def test_efsm_errors_counted_and_thresholded(self):
        lines = GOOD + [efsm_error(), efsm_error("ETHUSD.s")]
        s = self.audit(lines)
        self.assertEqual(s.efsm_errors, 2)
        self.assertEqual(s.error_lines, 0)
        self.assertFail(s, "EFSM_ERROR")
        self.assertPass(self.audit(lines, max_efsm_errors=2))
        self.assertFail(self.audit(lines, max_efsm_errors=1), "EFSM_ERROR")

    def test_other_error_lines_counted_separately(self):
        lines = GOOD + [
            event("socket closed", level="ERROR"),
            event("panic", level="CRITICAL"),
            event("slow", level="WARN"),
            efsm_error(),
        ]
        s = self.audit(lines, max_efsm_errors=1)
        self.assertEqual((s.efsm_errors, s.error_lines), (1, 2))
        self.assertFail(s, "ERROR line")
        self.assertPass(self.audit(lines, max_efsm_errors=1, max_errors=2))


# ----------------------------------------------------------------------------- human-readable


HUMAN = [
    '2026-11-21T10:00:00.000001Z  INFO bridge: ZMQ_LOCK_ACQUIRE symbol="BTCUSD.s" lock_id=1 '
    'access=1 intent_id=42 kind="order" deadline_us=500000 mono_us=1200',
    '2026-11-21T10:00:00.000002Z  INFO bridge: ZMQ_LOCK_ACQUIRE symbol="ETHUSD.s" lock_id=2 '
    'access=2 intent_id=43 kind="status_query" deadline_us=500000 mono_us=1300',
    '2026-11-21T10:00:00.000300Z  INFO bridge: ZMQ_LOCK_RELEASE symbol="BTCUSD.s" lock_id=1 '
    'access=3 intent_id=42 kind="order" mono_us=301200 outcome="partially_filled" held_us=300000',
    '2026-11-21T10:00:00.000301Z ERROR engine::efsm: EFSM_ERROR symbol="BTCUSD.s" state="Idle" '
    'event="Fill" error="illegal: fill while idle"',
    '2026-11-21T10:00:00.000400Z  INFO bridge: ZMQ_LOCK_RELEASE symbol="ETHUSD.s" lock_id=2 '
    'access=4 intent_id=43 kind="status_query" mono_us=401300 outcome="expired" held_us=400000',
]


class HumanFormatTests(LogTestCase):
    def test_parse_line_fields(self):
        rec = audit_locks.parse_line(HUMAN[0])
        self.assertEqual(rec["level"], "INFO")
        self.assertEqual(rec["target"], "bridge")
        self.assertEqual(rec["message"], "ZMQ_LOCK_ACQUIRE")
        self.assertEqual(rec["symbol"], "BTCUSD.s")
        self.assertEqual((rec["lock_id"], rec["access"], rec["mono_us"]), (1, 1, 1200))
        self.assertEqual(rec["kind"], "order")
        rec = audit_locks.parse_line(HUMAN[3])
        self.assertEqual((rec["level"], rec["message"]), ("ERROR", "EFSM_ERROR"))
        self.assertEqual(rec["error"], "illegal: fill while idle")

    def test_human_log_audit(self):
        s = self.audit(HUMAN, max_efsm_errors=1)
        self.assertPass(s)
        self.assertEqual((s.acquire, s.release, s.efsm_errors), (2, 2, 1))
        self.assertEqual(s.max_held_us, 400_000)
        self.assertEqual(s.per_symbol["ETHUSD.s"].outcomes, {"expired": 1})

    def test_human_log_detects_overlap(self):
        lines = [HUMAN[0], HUMAN[0].replace("lock_id=1", "lock_id=9").replace("access=1", "access=2")]
        s = self.audit(lines)
        self.assertEqual(s.overlaps, 1)
        self.assertEqual(s.orphans, 2)

    def test_mixed_json_and_human(self):
        s = self.audit([HUMAN[0], rel(1, 2, 2_000)])
        self.assertPass(s)

    def test_ansi_colours_and_span_prefix(self):
        line = ("\x1b[2m2026-11-21T10:00:00Z\x1b[0m \x1b[32m INFO\x1b[0m run{id=7}: bridge: "
                "ZMQ_LOCK_ACQUIRE symbol=\"X\" lock_id=3 access=1 mono_us=5")
        rec = audit_locks.parse_line(line)
        self.assertEqual((rec["message"], rec["symbol"], rec["lock_id"]), ("ZMQ_LOCK_ACQUIRE", "X", 3))


# ----------------------------------------------------------------------------- internals


class IntervalSetTests(unittest.TestCase):
    def test_membership_and_merging(self):
        ids = audit_locks.IntervalSet()
        for i in [5, 1, 3, 2, 4, 10, 9, 7]:
            ids.add(i)
        for i in [1, 2, 3, 4, 5, 7, 9, 10]:
            self.assertIn(i, ids)
        for i in [0, 6, 8, 11, -1]:
            self.assertNotIn(i, ids)
        self.assertEqual(len(ids), 8)
        self.assertEqual(ids.ranges(), 3)  # 1-5, 7, 9-10

    def test_sequential_ids_stay_compact(self):
        ids = audit_locks.IntervalSet()
        for i in range(1, 10_001):
            ids.add(i)
        self.assertEqual(ids.ranges(), 1)


# ----------------------------------------------------------------------------- CLI (subprocess)


class CliTests(LogTestCase):
    def test_pass_exit_code_and_final_line(self):
        res = self.run_cli(self.write(GOOD))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        lines = res.stdout.strip().splitlines()
        self.assertEqual(lines[-1], "AUDIT PASS")
        self.assertTrue(lines[0].startswith("symbol"), lines[0])
        self.assertTrue(any(l.startswith("BTCUSD.s") for l in lines), res.stdout)

    def test_fail_exit_code_and_final_line(self):
        res = self.run_cli(self.write(GOOD + [acq(3, 5, 5_000), rel(1, 6, 6_000)]))
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        last = res.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("AUDIT FAIL: "), last)
        self.assertIn("1 orphan ACQUIRE", last)
        self.assertIn("1 double RELEASE", last)

    def test_json_output(self):
        res = self.run_cli("--json", self.write(GOOD + [efsm_error()]))
        self.assertEqual(res.returncode, 1, res.stderr)
        data = json.loads(res.stdout)
        for key in ("acquire", "release", "orphans", "unmatched_releases", "double_releases",
                    "overlaps", "access_violations", "over_deadline", "max_held_us", "efsm_errors",
                    "error_lines", "unparseable_lines", "per_symbol", "verdict", "failures"):
            self.assertIn(key, data)
        self.assertEqual(data["verdict"], "FAIL")
        self.assertEqual(data["efsm_errors"], 1)
        self.assertEqual(data["per_symbol"]["BTCUSD.s"]["acquires"], 2)

    def test_flags_reach_the_audit(self):
        path = self.write(GOOD[:2] + ["garbage"] + GOOD[2:] + [efsm_error()])
        self.assertEqual(self.run_cli(path).returncode, 1)
        res = self.run_cli("--allow-garbage", "--max-efsm-errors", "1", path)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(res.stdout.strip().splitlines()[-1], "AUDIT PASS")

    def test_truncated_last_line_cli_warns(self):
        res = self.run_cli(self.write(GOOD + ['{"timestamp": "2026-11'], trailing_newline=False))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("truncated last line", res.stderr)

    def test_empty_file_cli_warns(self):
        res = self.run_cli(self.write([]))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("no lock events", res.stderr)
        self.assertEqual(res.stdout.strip().splitlines()[-1], "AUDIT PASS")

    def test_unknown_path_exit_2(self):
        res = self.run_cli(os.path.join(self._dir.name, "missing.jsonl"))
        self.assertEqual(res.returncode, 2)
        self.assertIn("cannot read", res.stderr)
        self.assertNotIn("Traceback", res.stderr)

    def test_directory_exit_2(self):
        res = self.run_cli(self._dir.name)
        self.assertEqual(res.returncode, 2)
        self.assertNotIn("Traceback", res.stderr)

    def test_usage_error_exit_2(self):
        res = self.run_cli("--slack-ms", "-5", self.write(GOOD))
        self.assertEqual(res.returncode, 2)
        self.assertNotIn("Traceback", res.stderr)


if __name__ == "__main__":
    unittest.main()
