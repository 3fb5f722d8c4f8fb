#!/usr/bin/env bash
# HTTP load benchmark: the example server (release) against the trivial ceiling handler on the
# same stack, then against node-oidc-provider through ../shared/bench/compare.sh.
#
# Scenarios: registrations with a unique body each (ceiling and ours), reads without rotation
# (ours, as node-oidc-provider reads), and reads with token rotation on a second instance of the
# example server that rotates on read (benches/rotate.lua: each read presents the token the
# previous read of that client returned).
#
#   benches/load.sh [SECONDS] [ROUNDS]
#
# LOGGING=1 adds a third instance of the example server, the first one's twin without `--quiet`:
# it logs as the example does by default (one line per request, through its batched writer) into
# /tmp/load-logging.log (emptied after each run), and is measured in the same rounds, right
# before or after the quiet one (alternately), as `ours+log`. The last lines give its throughput
# as a share of the quiet one's (the target: at least 90 %). RUST_LOG applies to it
# (`RUST_LOG=info`: the crate's spans and an event line per operation too).
#
# The servers are built with the `tracing` feature (and any in FEATURES), quiet or not, so that
# both run the same binary: under `--quiet` the crate's spans are disabled callsites, and only
# its warnings and errors are written.
#
# Needs wrk (installed from the system packages if missing) and, for the peer comparison, Node.js
# and npm. Every server listens on loopback only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-8}"; ROUNDS="${2:-3}"; CONNS="${CONNS:-16}"; LOGGING="${LOGGING:-0}"
HERE="$(pwd)"; SHARED="$HERE/../shared/bench"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }

cargo build --release --example server --example ceiling --features "tracing${FEATURES:+,$FEATURES}"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
OURS_PORT=$(port); CEIL_PORT=$(port); ROT_PORT=$(port); LOG_PORT=$(port)
LOG_FILE=/tmp/load-logging.log
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
# Only the logging instance sees RUST_LOG.
RUST_LOG_GIVEN="${RUST_LOG:-}"; unset RUST_LOG
target/release/examples/server --listen "127.0.0.1:$OURS_PORT" --no-rotate-on-read --quiet --no-rate-limits ${STORE:+--store "$STORE"} >/tmp/load-server.log 2>&1 &
PIDS+=($!)
target/release/examples/ceiling "127.0.0.1:$CEIL_PORT" >/tmp/load-ceiling.log 2>&1 &
PIDS+=($!)
target/release/examples/server --listen "127.0.0.1:$ROT_PORT" --quiet --no-rate-limits ${STORE:+--store "$STORE"} >/tmp/load-rotating.log 2>&1 &
PIDS+=($!)
WAIT_FOR=("$OURS_PORT" "$ROT_PORT")
if [ "$LOGGING" = 1 ]; then
  # Appending (O_APPEND), so that emptying the file between runs leaves no hole to write after.
  : >"$LOG_FILE"
  env ${RUST_LOG_GIVEN:+RUST_LOG="$RUST_LOG_GIVEN"} target/release/examples/server --listen "127.0.0.1:$LOG_PORT" --no-rotate-on-read --no-rate-limits ${STORE:+--store "$STORE"} >>"$LOG_FILE" 2>&1 &
  PIDS+=($!)
  WAIT_FOR+=("$LOG_PORT")
fi
for p in "${WAIT_FOR[@]}"; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$p/.well-known/openid-configuration" >/dev/null && break; sleep 0.1
  done
done

run() {  # url script env...  (a script name without a slash is one of ../shared/bench/wrk)
  local url=$1 script=$2; shift 2
  case "$script" in */*) ;; *) script="$SHARED/wrk/$script" ;; esac
  env "$@" timeout $((SECS + 30)) wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 5s -s "$script" "$url" 2>&1 | sed -n 's/^WRKJSON //p'
}
OUT=$(mktemp)
python3 "$SHARED/wrk/readset.py" "http://127.0.0.1:$OURS_PORT" 100 /tmp/load-readset.txt
if [ "$LOGGING" = 1 ]; then
  python3 "$SHARED/wrk/readset.py" "http://127.0.0.1:$LOG_PORT" 100 /tmp/load-logset.txt
  sleep 1; : >"$LOG_FILE"
fi
logged() {  # scenario script env...: the logging instance, then its log counted and emptied
  local scen=$1; shift
  [ "$LOGGING" = 1 ] || return 0
  echo "ours+log $scen $(run "http://127.0.0.1:$LOG_PORT" "$@")" >>"$OUT"
  sleep 1  # the writer thread's last batch
  echo "ours+log $scen-lines $(wc -l <"$LOG_FILE")" >>"$OUT"
  : >"$LOG_FILE"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "ceiling register $(run "http://127.0.0.1:$CEIL_PORT" reg.lua REG_PATH=/register BODY=unique)" >>"$OUT"
  # The logging instance goes first in every other round: whichever of the two ran second
  # measured a few per cent slower on this machine.
  if [ $((r % 2)) = 0 ]; then logged register reg.lua REG_PATH=/register BODY=unique; fi
  echo "ours register $(run "http://127.0.0.1:$OURS_PORT" reg.lua REG_PATH=/register BODY=unique)" >>"$OUT"
  if [ $((r % 2)) = 1 ]; then logged register reg.lua REG_PATH=/register BODY=unique; fi
  if [ $((r % 2)) = 0 ]; then logged read read.lua READ_FILE=/tmp/load-logset.txt; fi
  echo "ours read $(run "http://127.0.0.1:$OURS_PORT" read.lua READ_FILE=/tmp/load-readset.txt)" >>"$OUT"
  if [ $((r % 2)) = 1 ]; then logged read read.lua READ_FILE=/tmp/load-logset.txt; fi
  # Fresh clients each round: the last round's reads rotated the tokens of the previous ones away.
  python3 "$SHARED/wrk/readset.py" "http://127.0.0.1:$ROT_PORT" 100 /tmp/load-rotset.txt
  echo "ours read-rotating $(run "http://127.0.0.1:$ROT_PORT" "$HERE/benches/rotate.lua" READ_FILE=/tmp/load-rotset.txt)" >>"$OUT"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, scen, j = line.rstrip("\n").split(" ", 2)
    try: rows.setdefault((who, scen), []).append(json.loads(j))
    except ValueError: pass
med = lambda ds, k: statistics.median(d[k] for d in ds)
lines = {scen[:-len("-lines")]: ds for (who, scen), ds in rows.items() if scen.endswith("-lines")}
print("| server | scenario | req/s (median) | p50 ms | p99 ms | non-2xx |")
print("|---|---|---:|---:|---:|---:|")
for (who, scen), ds in sorted(rows.items()):
    if scen.endswith("-lines"): continue
    print(f"| {who} | {scen} | {med(ds,'rps'):,.0f} | {med(ds,'p50_us')/1000:.2f} | {med(ds,'p99_us')/1000:.2f} | {sum(d['err_status'] for d in ds)} |")
c, o = rows.get(("ceiling", "register")), rows.get(("ours", "register"))
if c and o:
    print(f"register throughput: {med(o,'rps')/med(c,'rps'):.0%} of the ceiling; p99 {med(o,'p99_us')/med(c,'p99_us'):.2f}x the ceiling's")
for scen in ("register", "read"):
    q, l = rows.get(("ours", scen)), rows.get(("ours+log", scen))
    if q and l:
        written, answered = sum(lines.get(scen, [])), sum(d["requests"] for d in l)
        print(f"logging on, {scen}: {med(l,'rps')/med(q,'rps'):.0%} of --quiet's throughput "
              f"(p99 {med(l,'p99_us')/1000:.2f} ms against {med(q,'p99_us')/1000:.2f} ms); "
              f"{written:,} log lines for {answered:,} requests ({written/max(answered,1):.2f} a request)")
PY
rm -f "$OUT"

if [ "${PEER:-1}" = 1 ] && command -v node >/dev/null; then
  echo
  echo "against node-oidc-provider (../shared/bench/compare.sh):"
  CONNS="$CONNS" "$SHARED/compare.sh" "http://127.0.0.1:$OURS_PORT" "$ROUNDS" "$SECS"
fi
