#!/usr/bin/env bash
# The main job end to end on embedded defaults: starts `dispatcher --dev`
# (embedded NATS with JetStream, the local runtime) on a free port, submits
# a job with `submit --wait`, shows its status and logs, and stops the
# dispatcher. Usage: scripts/demo.sh [BIN_DIR]
set -euo pipefail
bin=${1:-bin}
data=$(mktemp -d "${TMPDIR:-/tmp}/jetrun-demo.XXXXXX")
out="$data/dispatcher.out"
"$bin/dispatcher" --dev --data-dir "$data" --dev-nats-listen 127.0.0.1:0 --dev-qdrant-listen 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --log-format json >"$out" 2>"$data/dispatcher.log" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 100); do
  url=$(sed -n 's/.*NATS (embedded, JetStream): *\(nats:\/\/[^ ]*\).*/\1/p' "$out")
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/dispatcher.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "dispatcher did not start"; cat "$data/dispatcher.log"; exit 1; }
export NATS_URL=$url
echo "== dispatcher --dev is up: NATS at $url"
id="demo-$(date +%s)-$$"
echo "== submit smoke --wait --id $id"
"$bin/submit" smoke --wait --id "$id" --sleep 2s --progress 5 --message "hello from jetrun"
echo "== submit status $id"
"$bin/submit" status "$id"
echo "== submit logs $id"
"$bin/submit" logs "$id"
