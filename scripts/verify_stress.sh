#!/usr/bin/env bash
# One command that proves a stress run: run the stress binary, audit its engine.jsonl with
# the independent Python auditor, then check report.json. Prints one final PASS or FAIL.
#
# Usage: scripts/verify_stress.sh [stress flags...]      (default: a 10 s run on 3 symbols)
# Example: scripts/verify_stress.sh --symbols 100 --duration 20 --reject-rate 0.02
set -uo pipefail
cd "$(dirname "$0")/.."

fail() { echo "verify_stress: $*" >&2; echo "FAIL"; exit 1; }

cargo build --release --quiet --bin stress || fail "build failed"
out=$(mktemp)
./target/release/stress "$@" | tee "$out"
stress_status=${PIPESTATUS[0]}
report=$(sed -n 's/^report: //p' "$out" | tail -n 1)
rm -f "$out"
[ -n "$report" ] && [ -f "$report" ] || fail "the stress run wrote no report (exit $stress_status)"
run_dir=$(dirname "$report")

echo "--- audit_locks.py $run_dir/engine.jsonl"
python3 scripts/audit_locks.py "$run_dir/engine.jsonl" --slack-ms 500
audit_status=$?

echo "--- report.json"
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if not r["gate"]["pass"]:
    problems.append("gate: " + ", ".join(c["name"] for c in r["gate"]["criteria"] if not c["pass"]))
if not (r["total_pnl"] == r["sum_symbol_pnl"] == r["gateway_ledger_pnl"]):
    problems.append("pnl differs: total %s sum %s gateway %s" % (r["total_pnl"], r["sum_symbol_pnl"], r["gateway_ledger_pnl"]))
locks = r["locks"]
if locks["acquire"] != locks["release"] or locks["orphans"] or locks["overlaps"]:
    problems.append("locks: %s" % locks)
if r["efsm_errors"]:
    problems.append("efsm_errors: %d" % r["efsm_errors"])
print("report.json:", "ok" if not problems else "; ".join(problems))
sys.exit(1 if problems else 0)
PY
report_status=$?

if [ "$stress_status" -eq 0 ] && [ "$audit_status" -eq 0 ] && [ "$report_status" -eq 0 ]; then
  echo "PASS"
else
  echo "FAIL (stress $stress_status, audit $audit_status, report $report_status)"
  exit 1
fi
