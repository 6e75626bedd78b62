#!/usr/bin/env bash
# Run every benchmark once and regenerate the performance report at the top of
# bench/README.md (bench/report.py). Not part of the test suite: it takes 10-15 minutes and
# wants a machine with nothing else running. Needs PostgreSQL and Redis on 127.0.0.1, as the
# tests do; each bench uses a throwaway database and Redis namespace and removes them.
#
#   bench/run_all.sh                 # all of it
#   SKIP=pages,realtime bench/run_all.sh
#   CLIENTS=100 bench/run_all.sh     # socket counts of the realtime bench (default 100,500)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=bench/results/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SKIP=",${SKIP:-},"
status=0

load() { cut -d' ' -f1-3 /proc/loadavg; }
printf '{"commit": "%s", "cpus": %s, "load_before": "%s"' \
    "$(git rev-parse --short HEAD)" "$(nproc)" "$(load)" > "$OUT/run.json"

bench() {  # name, command...
    local name=$1; shift
    if [[ $SKIP == *",$name,"* ]]; then echo "== $name skipped"; return; fi
    echo "== $name: $*"
    if ! "$@" > "$OUT/$name.log" 2>&1; then
        echo "   $name missed a target or failed (see $OUT/$name.log)"
        status=1
    fi
    tail -n 4 "$OUT/$name.log" | sed 's/^/   /'
}

bench ingest "$PY" bench/ingest.py --json "$OUT/ingest.json"
bench capi "$PY" bench/capi.py --json "$OUT/capi.json"
bench realtime "$PY" bench/realtime.py --clients "${CLIENTS:-100,500}" --json "$OUT/realtime.json"
bench pages "$PY" bench/pages.py --json "$OUT/pages.json"

printf ', "load_after": "%s"}\n' "$(load)" >> "$OUT/run.json"
"$PY" bench/report.py "$OUT"
echo "logs and JSON in $OUT"
exit $status
