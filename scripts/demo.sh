#!/usr/bin/env bash
# The main demo, on the embedded default back-end (eSpeak NG): synthesize -> a night of traffic with
# injected faults -> tts-analyze names the incidents and causes -> tts-quality passes a clean build and
# flags a degraded one. Everything lands in demo-out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-demo-out}
rm -rf "$OUT"; mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() {  # expect CODE CMD...: run CMD, fail the demo unless it exits with CODE
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "demo: '$*' exited $got, expected $want" >&2; exit 1; fi
}

step "1. Back-ends on this machine"
tts-engine backends

step "2. Speak mixed Mandarin + English"
tts-engine synth "你好,世界。Hello, world." -o "$OUT/hello.wav" --log-dir "$OUT/synth-logs"

step "3. A night of traffic (240 requests on a simulated clock) with seeded fault injection"
# exit 1: the batch holds one bad JSON line and one missing prompt audio, and faults fail requests
expect 1 tts-engine batch data/samples/traffic.jsonl --out "$OUT/night" \
    --inject rate=0.08,seed=11 --simulate-clock --rate 3 -q
echo "audio:    $OUT/night/*.wav ($(ls "$OUT"/night/*.wav | wc -l) files), manifest $OUT/night/manifest.jsonl"
echo "failed:   $OUT/night/failed.jsonl ($(wc -l < "$OUT/night/failed.jsonl") tasks, original lines, ready to retry)"
echo "logs:     $OUT/night/logs/ ($(ls "$OUT/night/logs" | tr '\n' ' '))"
echo "labels:   $OUT/night/logs/labels.jsonl ($(wc -l < "$OUT/night/logs/labels.jsonl") injected faults, the ground truth)"

step "4. tts-analyze: what broke, when, which requests, why, and the fix"
expect 1 tts-analyze "$OUT/night/logs/"
expect 1 tts-analyze "$OUT/night/logs/" --format html -o "$OUT/report.html"
expect 1 tts-analyze "$OUT/night/logs/" --format json -o "$OUT/report.json"
python - "$OUT/report.json" "$OUT/night/logs/labels.jsonl" <<'PY'
import json, sys
from datetime import datetime, timedelta
rep = json.load(open(sys.argv[1]))
labels = [lab for lab in (json.loads(x) for x in open(sys.argv[2]) if x.strip()) if lab.get("observed", True)]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
slack = timedelta(seconds=30)
hit = 0
for lab in labels:
    found = [i for i in rep["incidents"] if t(i["start"]) - slack <= t(lab["end"]) and t(lab["start"]) <= t(i["end"]) + slack
             and i["root_cause"]["kb_id"] == lab["fault"]]
    hit += bool(found)
    print(f"  label {lab['fault']:<24} {lab['start'][11:19]}  ->  {found[0]['id'] + ' ' + found[0]['root_cause']['kb_id'] if found else 'MISSED'}")
print(f"  {hit}/{len(labels)} injected faults named with the right root cause; HTML report: {sys.argv[1][:-4]}html")
PY

step "5. tts-quality: a golden reference set, then a nightly regression check"
tts-quality reference build data/samples/reference_texts.jsonl --out "$OUT/refs"
echo "-- candidate = the current build, re-synthesized: must pass"
expect 0 tts-quality regress --baseline "$OUT/refs" --synthesize \
    --html "$OUT/quality-pass.html" --log-dir "$OUT/quality-logs" --prom "$OUT/quality.prom"
echo "-- candidate = a degraded build (two utterances a semitone sharp, one with 30 dB noise): must fail"
tts-quality degrade "$OUT/refs" "$OUT/degraded" --kind pitch_up_1st --only ref02 --only ref07
tts-quality degrade "$OUT/degraded" "$OUT/degraded" --kind noise_30db --only ref05
expect 1 tts-quality regress --baseline "$OUT/refs" --candidate "$OUT/degraded" \
    --html "$OUT/quality-fail.html" --json-out "$OUT/quality-fail.json" --log-dir "$OUT/quality-logs" --prom "$OUT/quality.prom"
echo "-- the regression's JSON log lines are logs too: tts-analyze reads them"
expect 1 tts-analyze "$OUT/quality-logs/" --format markdown -o "$OUT/quality-incidents.md"
grep -m3 -i "quality\|regression" "$OUT/quality-incidents.md" || true

step "Done"
echo "reports: $OUT/report.html (incidents), $OUT/quality-fail.html (quality), $OUT/quality.prom (node_exporter)"
