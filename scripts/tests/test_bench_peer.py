"""Tests for scripts/bench_peer.sh, hermetic: fake `stress`, `pingpong` and peer scripts.

Run from the repo root:  python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_peer.sh"

# Fake `stress`: writes a canned report.json under --log-dir and prints `report: <path>`, like
# the real one. FAKE_FAIL_N: the symbol count whose gate fails (exit 1); FAKE_NOREPORT_N: the
# one that dies before writing any report (exit 2).
FAKE_STRESS = r"""#!/usr/bin/env bash
set -eu
echo "stress $*" >>"$FAKE_LOG"
while [ $# -gt 0 ]; do
    case "$1" in
        --symbols) n=$2; shift 2;;
        --log-dir) dir=$2; shift 2;;
        *) shift;;
    esac
done
echo "stress: $n symbols, seed 42, run $dir/run-$n"
if [ "$n" = "${FAKE_NOREPORT_N:-}" ]; then
    echo "stress: gateway did not start" >&2
    echo "GATE FAIL: error"
    exit 2
fi
pass=true; timeouts=true; rc=0
if [ "$n" = "${FAKE_FAIL_N:-}" ]; then pass=false; timeouts=false; rc=1; fi
mkdir -p "$dir/run-$n"
cat >"$dir/run-$n/report.json" <<EOF
{
  "throughput": {"seconds": 5.0, "orders_per_s": 30000.4, "fills_per_s": 30000.4},
  "latency_us": {
    "tick_to_intent": {"p50": 1, "p90": 2, "p99": 3, "p999": 4, "max": 5, "count": 9},
    "round_trip": {"p50": 96, "p90": 172, "p99": 420, "p999": 1563, "max": 9695, "count": 150000}
  },
  "gate": {"pass": $pass, "criteria": [
    {"name": "locks_balanced", "pass": true, "value": "", "threshold": ""},
    {"name": "timeouts", "pass": $timeouts, "value": "3", "threshold": "0"}
  ]}
}
EOF
echo "| orders/s | 30000.4 |"
echo "report: $dir/run-$n/report.json"
if [ "$pass" = true ]; then echo "GATE PASS"; else echo "GATE FAIL: timeouts"; fi
exit $rc
"""

FAKE_PINGPONG = r"""#!/usr/bin/env bash
echo "pingpong $*" >>"$FAKE_LOG"
echo '{"what":"zmq_pingpong","round_trips":20000,"wall_s":1.0,"per_s":20000,"p50_us":48.0,"p99_us":177.5,"p999_us":399.4,"max_us":1645.6}'
"""

FAKE_PEER = r"""#!/usr/bin/env bash
echo "peer $*" >>"$FAKE_LOG"
echo "some noise before the JSON line"
echo '{"peer":"python-asyncio-pyzmq","orders_per_s":7500,"p50_us":350.0,"p99_us":900.5,"p999_us":1500.0,"max_us":2000.0}'
"""

FAKE_PEER_BROKEN = r"""#!/usr/bin/env bash
echo "Traceback: something broke" >&2
exit 1
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class BenchPeerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="test_bench_peer."))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.bin = self.dir / "bin"
        self.bin.mkdir()
        executable(self.bin / "stress", FAKE_STRESS)
        executable(self.bin / "pingpong", FAKE_PINGPONG)
        self.peer = self.dir / "peer_run.sh"
        executable(self.peer, FAKE_PEER)
        self.log = self.dir / "calls.log"
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir()

    def run_script(self, *ns: str, **env: str) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.update(
            BIN=str(self.bin),
            PEER=str(self.peer),
            DURATION="2",
            FAKE_LOG=str(self.log),
            TMPDIR=str(self.tmp),
        )
        full_env.pop("KEEP_LOGS", None)
        full_env.update(env)
        return subprocess.run(
            ["bash", str(SCRIPT), *ns], env=full_env, capture_output=True, text=True, timeout=60
        )

    def rows(self, out: str) -> dict[str, list[str]]:
        """Table rows by N, each as its cells."""
        rows = {}
        for line in out.splitlines():
            if line.startswith("| ") and not line.startswith("| N "):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                rows[cells[0]] = cells
        return rows

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def test_all_pass_prints_the_table_and_exits_0(self) -> None:
        r = self.run_script("1", "2000")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("| N | engine orders/s |"), lines[0])
        self.assertTrue(lines[1].startswith("|---"), lines[1])
        rows = self.rows(r.stdout)
        self.assertEqual(set(rows), {"1", "2000"})
        # N | engine/s | engine pct | peer/s | peer pct | ratio | pingpong p50 | engine p50/pingpong p50 | gate
        self.assertEqual(
            rows["1"], ["1", "30000", "96/420/1563", "7500", "350/900/1500", "4.00", "48", "2.00", "PASS"]
        )
        self.assertIn("bench_peer: PASS", r.stdout)
        # Each N: pingpong, then the engine, then the peer; about 20k peer round trips, at least 20/symbol.
        calls = self.calls()
        self.assertEqual([c.split()[0] for c in calls], ["pingpong", "stress", "peer"] * 2)
        self.assertIn("--symbols 1 --strategy b2b --duration 2 --log-dir", calls[1])
        self.assertEqual(calls[2], "peer 1 20000 dealer")
        self.assertEqual(calls[5], "peer 2000 20 dealer")
        # Its temporary directory is gone (engine logs are large).
        self.assertEqual(list(self.tmp.iterdir()), [])

    def test_a_failed_gate_is_shown_and_fails_the_script(self) -> None:
        r = self.run_script("1", "3", FAKE_FAIL_N="3")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        rows = self.rows(r.stdout)
        # The failed run still has its numbers; the gate column names the failing criterion.
        self.assertEqual(rows["1"][-1], "PASS")
        self.assertEqual(rows["3"][1:3], ["30000", "96/420/1563"])
        self.assertEqual(rows["3"][-1], "FAIL: timeouts")
        self.assertIn("bench_peer: FAIL", r.stdout)
        self.assertIn("N=3: engine gate FAIL (timeouts)", r.stdout)
        self.assertNotIn("N=1:", r.stdout.split("bench_peer: FAIL")[1])
        # It went on with the peer and later N after the failing engine run.
        self.assertEqual(len(self.calls()), 6)

    def test_an_engine_run_without_numbers_fails_the_script(self) -> None:
        r = self.run_script("5", FAKE_NOREPORT_N="5")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        row = self.rows(r.stdout)["5"]
        self.assertEqual(row[1:3], ["n/a", "n/a"])
        self.assertEqual(row[5], "n/a")  # no engine/peer ratio
        self.assertEqual(row[-1], "n/a")
        self.assertIn("N=5: engine run printed no 'report: <path>' line (exit 2)", r.stdout)
        self.assertIn("gateway did not start", r.stderr)

    def test_a_missing_peer_is_n_a_not_a_crash(self) -> None:
        r = self.run_script("3", PEER=str(self.dir / "nowhere" / "run.sh"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        row = self.rows(r.stdout)["3"]
        self.assertEqual(row[3:6], ["n/a", "n/a", "n/a"])
        self.assertEqual(row[1], "30000")
        self.assertEqual(row[-1], "PASS")
        self.assertIn("peer n/a: no peer script at", r.stderr)

    def test_a_broken_peer_is_n_a_and_says_why(self) -> None:
        executable(self.peer, FAKE_PEER_BROKEN)
        r = self.run_script("3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.rows(r.stdout)["3"][3:6], ["n/a", "n/a", "n/a"])
        # Either pyzmq is missing here, or the peer ran and printed no numbers: both say so.
        self.assertRegex(r.stderr, r"peer n/a: (python3 cannot import zmq|it printed no JSON line)")

    def test_bad_usage_exits_2(self) -> None:
        self.assertEqual(self.run_script("0").returncode, 2)
        self.assertEqual(self.run_script("3", DURATION="soon").returncode, 2)
        self.assertEqual(self.run_script("3", BIN=str(self.dir / "nobin")).returncode, 2)


if __name__ == "__main__":
    unittest.main()
