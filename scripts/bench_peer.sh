#!/usr/bin/env bash
# bench_peer.sh: the same-run peer comparison. For each symbol count N, in one sitting:
#   1. the bare ZeroMQ DEALER<->ROUTER ping-pong over loopback (`pingpong`: the floor),
#   2. the engine's back-to-back workload (`stress --symbols N --strategy b2b`),
#   3. the Python asyncio + pyzmq peer (../shared/peer/run.sh N ORDERS dealer, ORDERS =
#      max(20, 20000 / N): about 20k round trips per peer run),
# and prints one Markdown table row per N (header first). Compare ratios, not absolute numbers
# across sittings: the machine is shared and noisy.
#
# Run from anywhere, after `cargo build --release -p stress --bin pingpong --bin stress`:
#   bash scripts/bench_peer.sh                # N = 1 3 100 1000
#   BIN=/work/target-lead/release bash scripts/bench_peer.sh 3
# Environment:
#   BIN        directory holding the `stress` and `pingpong` binaries (default: <repo>/target/release)
#   DURATION   seconds of each engine run (default 5)
#   PEER       the peer's run.sh (default: <repo>/../shared/peer/run.sh)
#   KEEP_LOGS  1: keep the engine runs' log directories (their path goes to stderr)
#
# Exit status: 0 when every engine run passed its gate and every engine and pingpong run gave
# numbers; 1 (FAIL, with the reasons after the table) otherwise; 2 on bad usage. A peer that
# cannot run (no run.sh, no pyzmq) or gives no numbers shows "n/a" and is reported on stderr,
# but does not fail the script: it is the yardstick, not the system under test.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${BIN:-$repo/target/release}
DURATION=${DURATION:-5}
PEER=${PEER:-$here/../../shared/peer/run.sh}
KEEP_LOGS=${KEEP_LOGS:-0}

if [ "$#" -eq 0 ]; then
    set -- 1 3 100 1000
fi
for n in "$@"; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
        echo "bench_peer: symbol count '$n' is not a positive integer" >&2
        exit 2
    fi
done
if ! awk -v d="$DURATION" 'BEGIN { exit !(d ~ /^[0-9]+(\.[0-9]+)?$/ && d > 0) }'; then
    echo "bench_peer: DURATION='$DURATION' is not a positive number of seconds" >&2
    exit 2
fi
for b in stress pingpong; do
    if [ ! -x "$BIN/$b" ]; then
        echo "bench_peer: $BIN/$b is not an executable (build: cargo build --release -p stress --bin pingpong --bin stress; or set BIN)" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_peer.XXXXXX")
if [ "$KEEP_LOGS" = 1 ]; then
    echo "bench_peer: logs kept in $tmp" >&2
else
    trap 'rm -rf "$tmp"' EXIT
fi
failures=$tmp/failures
: >"$failures"

# Runs a command under `timeout` when there is one (a hung run must not hang the sitting).
limited() {
    local secs=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=5 "$secs" "$@"
    else
        "$@"
    fi
}

# One table row from the three runs' outputs. Appends the engine's and the ping-pong's failures
# to $failures; says on stderr why peer columns are n/a.
# argv: N pingpong_out pingpong_rc stress_out stress_rc peer_out peer_rc peer_note failures_file
row_py=$(
    cat <<'PY'
import json, sys

n, pp_out, pp_rc, st_out, st_rc, peer_out, peer_rc, peer_note, failures = sys.argv[1:10]
fail = []

def warn(msg):
    print(f"bench_peer: N={n}: {msg}", file=sys.stderr)

def fmt(v):
    # whole numbers and anything from 100 up without decimals; below 100, one decimal
    return "n/a" if v is None else (f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.1f}")

def ratio(a, b):
    return "n/a" if a is None or b is None or b <= 0 else f"{a / b:.2f}"

def number(d, key, positive=False):
    v = d.get(key) if isinstance(d, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (positive and v == 0):
        return None
    return float(v)

def lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []

def last_json(path, key):
    for line in reversed(lines(path)):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and key in d:
                return d
    return None

def triple(vals):
    return "n/a" if None in vals else "/".join(fmt(v) for v in vals)

# pingpong: the floor
pp = last_json(pp_out, "p50_us")
pp_p50 = number(pp, "p50_us", positive=True)
if pp_p50 is None:
    fail.append(f"N={n}: pingpong gave no numbers (exit {pp_rc})")

# the engine: report.json named by the `report: <path>` line of its stdout
report_path = next((l[len("report: "):].strip() for l in reversed(lines(st_out)) if l.startswith("report: ")), None)
report = None
if report_path is None:
    fail.append(f"N={n}: engine run printed no 'report: <path>' line (exit {st_rc})")
else:
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        if not isinstance(report, dict) or not report:
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        report = None
        fail.append(f"N={n}: engine report {report_path} unreadable: {e} (exit {st_rc})")
report = report or {}
e_ops = number(report.get("throughput"), "orders_per_s", positive=True)
rt = report.get("latency_us", {}).get("round_trip") if isinstance(report.get("latency_us"), dict) else None
e_lat = [number(rt, k) for k in ("p50", "p99", "p999")]
e_p50 = e_lat[0]
if report and (e_ops is None or None in e_lat):
    fail.append(f"N={n}: engine run gave no numbers (orders/s {fmt(e_ops)}, round trip p50/p99/p99.9 {triple(e_lat)})")
gate = report.get("gate")
if not isinstance(gate, dict) or not isinstance(gate.get("pass"), bool):
    gate_cell = "n/a"
    if report:
        fail.append(f"N={n}: engine report has no gate verdict")
elif gate["pass"]:
    gate_cell = "PASS"
    if st_rc != "0":
        gate_cell = f"PASS (exit {st_rc})"
        fail.append(f"N={n}: engine gate PASS but stress exited {st_rc}")
else:
    names = [c.get("name", "?") for c in gate.get("criteria", []) if isinstance(c, dict) and c.get("pass") is not True]
    gate_cell = "FAIL: " + (", ".join(names) if names else "?")
    fail.append(f"N={n}: engine gate FAIL ({', '.join(names) if names else 'no failing criterion named'})")

# the peer
p_ops, p_lat = None, [None, None, None]
if peer_note:
    warn(f"peer n/a: {peer_note}")
else:
    peer = last_json(peer_out, "orders_per_s")
    p_ops = number(peer, "orders_per_s", positive=True)
    p_lat = [number(peer, k) for k in ("p50_us", "p99_us", "p999_us")]
    if p_ops is None or None in p_lat:
        p_ops, p_lat = None, [None, None, None]
        warn(f"peer n/a: it printed no JSON line with orders_per_s and percentiles (exit {peer_rc})")

print(f"| {n} | {fmt(e_ops)} | {triple(e_lat)} | {fmt(p_ops)} | {triple(p_lat)} | {ratio(e_ops, p_ops)} "
      f"| {fmt(pp_p50)} | {ratio(e_p50, pp_p50)} | {gate_cell} |")
with open(failures, "a", encoding="utf-8") as f:
    for line in fail:
        f.write(line + "\n")
PY
)

echo "| N | engine orders/s | engine p50/p99/p99.9 µs | peer orders/s | peer p50/p99/p99.9 µs | engine/peer orders/s | pingpong p50 µs | engine p50 / pingpong p50 | engine gate |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"

stress_limit=$(awk -v d="$DURATION" 'BEGIN { printf "%d", d + 120 }')
for n in "$@"; do
    orders=$((20000 / n))
    if [ "$orders" -lt 20 ]; then
        orders=20
    fi

    echo "bench_peer: N=$n: pingpong" >&2
    pp_rc=0
    limited 120 "$BIN/pingpong" >"$tmp/pingpong-$n.out" 2>"$tmp/pingpong-$n.err" || pp_rc=$?
    [ "$pp_rc" = 0 ] || tail -n 5 "$tmp/pingpong-$n.err" >&2

    echo "bench_peer: N=$n: engine, b2b, ${DURATION} s" >&2
    st_rc=0
    limited "$stress_limit" "$BIN/stress" --symbols "$n" --strategy b2b --duration "$DURATION" \
        --log-dir "$tmp/stress-$n" >"$tmp/stress-$n.out" 2>"$tmp/stress-$n.err" || st_rc=$?
    [ "$st_rc" -le 1 ] || tail -n 5 "$tmp/stress-$n.err" >&2

    peer_note=""
    peer_rc=0
    if [ ! -f "$PEER" ]; then
        peer_note="no peer script at $PEER (set PEER)"
    elif ! python3 -c 'import zmq' >/dev/null 2>&1; then
        peer_note="python3 cannot import zmq (pyzmq is not installed)"
    else
        echo "bench_peer: N=$n: peer, $orders orders per symbol" >&2
        limited 300 bash "$PEER" "$n" "$orders" dealer >"$tmp/peer-$n.out" 2>"$tmp/peer-$n.err" || peer_rc=$?
    fi

    python3 -c "$row_py" "$n" "$tmp/pingpong-$n.out" "$pp_rc" "$tmp/stress-$n.out" "$st_rc" \
        "$tmp/peer-$n.out" "$peer_rc" "$peer_note" "$failures"
    if [ -z "$peer_note" ] && ! grep -q orders_per_s "$tmp/peer-$n.out" 2>/dev/null; then
        tail -n 5 "$tmp/peer-$n.err" >&2 || true
    fi
    # An engine run's logs are ~100 MB; keep only what was asked for.
    [ "$KEEP_LOGS" = 1 ] || rm -rf "$tmp/stress-$n"
done

echo
if [ -s "$failures" ]; then
    echo "bench_peer: FAIL"
    sed 's/^/  - /' "$failures"
    exit 1
fi
echo "bench_peer: PASS (every engine gate passed; every engine and pingpong run gave numbers)"
