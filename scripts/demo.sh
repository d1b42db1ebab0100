#!/usr/bin/env bash
# The main job end to end on embedded defaults: starts `dispatcher --dev`
# (embedded NATS with JetStream, the embedded Qdrant-compatible server, the
# local runtime) on free ports, indexes this repository into a collection
# with `submit upload-repo --wait` (bm25, offline), re-indexes it (nothing
# changed: nothing re-embedded), answers a search, and stops the
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
url="" qdrant=""
for _ in $(seq 100); do
  url=$(sed -n 's/.*NATS (embedded, JetStream): *\(nats:\/\/[^ ]*\).*/\1/p' "$out")
  qdrant=$(sed -n 's/.*Qdrant (embedded, gRPC): *\([0-9.]*:[0-9]*\).*/\1/p' "$out")
  [ -n "$url" ] && [ -n "$qdrant" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/dispatcher.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "dispatcher did not start"; cat "$data/dispatcher.log"; exit 1; }
export NATS_URL=$url QDRANT_HOST=${qdrant%:*} QDRANT_PORT=${qdrant##*:}
echo "== dispatcher --dev is up: NATS at $url, Qdrant-compatible server at $qdrant"

# This checkout is the "real repository" (a git clone in CI); anything
# else is indexed as a directory.
here=$(cd "$(dirname "$0")/.." && pwd)
if repo=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null); then
  echo "== submit upload-repo $repo --collection jetrun --wait"
  "$bin/submit" upload-repo "$repo" --collection jetrun --wait
  echo "== again: unchanged files are not re-embedded"
  "$bin/submit" upload-repo "$repo" --collection jetrun --wait
else
  echo "== submit upload-file $here --local --collection jetrun --wait"
  "$bin/submit" upload-file "$here" --local --collection jetrun --wait
fi
echo "== submit collection info jetrun"
"$bin/submit" collection info jetrun
echo '== submit search --collection jetrun "backoff delay for the next attempt"'
"$bin/submit" search --collection jetrun --limit 5 "backoff delay for the next attempt"
