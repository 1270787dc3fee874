#!/usr/bin/env bash
# One proof-of-steadiness run: `make test` (what .ci/run does) on a fresh clone of this repository's HEAD,
# timed, with one line appended to tests/STEADY_RUNS.md: UTC date, hour, duration, result, the commit,
# the pytest summary line. Run it at different hours; the file is the record that the suite does not
# fail by the clock. Usage: scripts/steady-run.sh [--load N]   (N busy loops beside it, to run it loaded)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
load=0
if [[ ${1:-} == --load ]]; then load=${2:-0}; fi
work=$(mktemp -d /tmp/einvoice-steady.XXXXXX)
git clone -q "$repo" "$work/clone"
cp -r "$repo/../shared" "$work/shared" 2>/dev/null || true
commit=$(git -C "$work/clone" rev-parse --short HEAD)
pids=()
for _ in $(seq 1 "$load"); do (while :; do :; done) & pids+=($!); done
start=$(date -u +%s); day=$(date -u +%F); hour=$(date -u +%H:%M)
(cd "$work/clone" && CI=true bash .ci/run) >"$work/log" 2>&1; rc=$?
end=$(date -u +%s)
for p in "${pids[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
summary=$(grep -E '^=+ .*(passed|failed|error).* in ' "$work/log" | tail -n 1 | tr -d '=' | sed 's/^ *//;s/ *$//')
result=$([[ $rc == 0 ]] && echo green || echo "red (exit $rc)")
dur=$(( end - start ))
printf '| %s | %s | %dm%02ds | %s | %s | %s | %s |\n' "$day" "$hour" $((dur/60)) $((dur%60)) "$result" \
  "$commit" "$load" "${summary:-no summary}" >> "$repo/tests/STEADY_RUNS.md"
echo "$result in ${dur}s: $summary (log: $work/log)"
[[ $rc == 0 ]] && rm -rf "$work/clone"
exit $rc
