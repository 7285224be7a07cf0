"""Unit tests for scripts/hostile_gateway.py: when each fault acts (FaultPlan, no sockets),
and one short run of the gateway process for its command line.

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import subprocess
import sys
import unittest
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SCRIPTS))

import hostile_gateway as hg  # noqa: E402

V, A = "VICTIM.s", "OTHER.s"


def feed(plan: hg.FaultPlan, symbols: list[str], now: float = 0.0) -> list[str | None]:
    return [plan.on_order(s, now) for s in symbols]


class FaultPlanTests(unittest.TestCase):
    def test_once_faults_hit_only_the_victims_order_after_n(self):
        for fault in hg.ONCE:
            plan = hg.FaultPlan(fault, V, after=2)
            got = feed(plan, [A, V, A, V, A, V])
            self.assertEqual(got, [None, None, None, None, None, fault], fault)
            plan.acted()
            self.assertEqual(feed(plan, [V, A, V]), [None, None, None], f"{fault}: once only")
            self.assertEqual(plan.victim_orders_after, 2, "orders after the lie are counted")

    def test_once_fault_moves_to_the_next_order_if_nothing_filled(self):
        plan = hg.FaultPlan("wrong_side", V, after=1)
        self.assertEqual(feed(plan, [V, V]), [None, "wrong_side"])
        plan.not_applied()
        self.assertEqual(plan.victim_orders_after, 0)
        self.assertEqual(feed(plan, [V]), ["wrong_side"])
        plan.acted()
        self.assertEqual(plan.fired, 1)
        self.assertEqual(plan.victim_orders_after, 0)

    def test_every_faults_keep_acting(self):
        for fault in ("duplicate_exec_id", "seq_dup", "seq_gap", "silence"):
            plan = hg.FaultPlan(fault, V, after=2)
            self.assertEqual(feed(plan, [V, V, V, A, V]), [None, None, fault, None, fault], fault)
            self.assertFalse(plan.mute_all)
            self.assertEqual(plan.victim_orders_after, 0, "not a discrepancy fault")
        self.assertTrue(plan.silent)

    def test_heartbeat_only_mutes_the_whole_channel_from_the_victims_next_order(self):
        plan = hg.FaultPlan("heartbeat_only", V, after=2)
        feed(plan, [V, A, V, A])
        self.assertFalse(plan.mute_all)
        self.assertEqual(feed(plan, [V]), ["heartbeat_only"])
        self.assertTrue(plan.mute_all)

    def test_unknown_intent_is_two_timed_fills_a_second_apart(self):
        plan = hg.FaultPlan("unknown_intent", V, after=2)
        self.assertEqual(feed(plan, [V, A], now=10.0), [None, None])
        self.assertEqual(plan.due(100.0), [], "nothing before the victim's n-th order")
        self.assertEqual(feed(plan, [V, V], now=20.0), [None, None], "no order is falsified")
        first = 20.0 + hg.UNKNOWN_FIRST_DELAY
        self.assertEqual(plan.due(first - 0.01), [])
        self.assertEqual(plan.due(first), ["unknown_fill"])
        self.assertEqual(plan.due(first + hg.UNKNOWN_SPACING - 0.01), [])
        self.assertEqual(plan.due(first + hg.UNKNOWN_SPACING), ["unknown_fill"])
        self.assertEqual(plan.due(1e9), [], "each timer fires once")

    def test_timers_come_out_in_time_order(self):
        plan = hg.FaultPlan("duplicate_exec_id", V, after=1)
        plan.schedule(2.0, "b")
        plan.schedule(1.0, "a")
        self.assertEqual(plan.due(5.0), ["a", "b"])

    def test_unknown_fault_is_refused(self):
        with self.assertRaises(ValueError):
            hg.FaultPlan("bogus", V, after=1)


class CommandLineTests(unittest.TestCase):
    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPTS / "hostile_gateway.py"), *args],
                              capture_output=True, text=True, timeout=20)

    def test_victim_must_be_a_traded_symbol(self):
        r = self.run_cli("--symbols", "A.s,B.s", "--fault", "silence", "--victim", "C.s")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--victim C.s is not one of --symbols", r.stderr)

    def test_runs_ready_and_summary_with_the_fault(self):
        r = self.run_cli("--orders", "tcp://127.0.0.1:*", "--market-data", "tcp://127.0.0.1:*",
                         "--symbols", "A.s,B.s", "--fault", "seq_gap", "--victim", "A.s",
                         "--duration", "0.3", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("READY orders=tcp://127.0.0.1:"), lines)
        self.assertIn("fault=seq_gap fired=0 victim_orders_after=0", lines[-1])


if __name__ == "__main__":
    unittest.main()
