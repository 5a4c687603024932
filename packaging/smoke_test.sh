#!/usr/bin/env bash
# Smoke test of the packaged app. Every check runs a FROZEN binary from dist/ip2p; the source
# checkout's Python only prepares inputs (a tiny model) and reads the result's metadata.
#
#   packaging/smoke_test.sh           reuse dist/ip2p if it exists, else build it first
#   packaging/smoke_test.sh --build   (re)build first (packaging/build.sh)
#
# Checks:
#   1. ip2p --self-test passes (one line, exit 0), and also with stdout/stderr closed (windowed case)
#   2. ip2p-edit edits a photo from ../shared/images/photos with a tiny model folder and writes an
#      image whose metadata records the edit; a bad input gives one error line and exit 2
#   3. the app window starts under QT_QPA_PLATFORM=offscreen and quits cleanly (--quit-after-show);
#      again with stdout/stderr closed, where the model must load in the app's engine process (a
#      frozen multiprocessing child) and the app's log stays free of errors
# Linux (bash, GNU date/timeout). SMOKE_STEP_TIMEOUT (s, default 180) bounds each program run.
# Exit status 0 when all pass. Nothing outside a temporary folder is written: HOME and the XDG
# folders point into it, so settings, logs and caches of the person running it stay untouched.
set -uo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"
PYTHON="${PYTHON:-python3}"
bundle="$repo/dist/ip2p"
shared="${IP2P_SHARED:-$repo/../shared}"
photo="$shared/images/photos/chelsea.png"
step_timeout="${SMOKE_STEP_TIMEOUT:-180}"

if [ "${1:-}" = "--build" ] || [ ! -x "$bundle/ip2p" ] || [ ! -x "$bundle/ip2p-edit" ]; then
    packaging/build.sh || { echo "smoke: FAILED: the build failed"; exit 1; }
fi
[ -f "$photo" ] || { echo "smoke: FAILED: test photo $photo is missing (set IP2P_SHARED)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/ip2p-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" \
       XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state" \
       XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen
unset PYTHONPATH  # the frozen programs must not see the source checkout

failures=0
started_all=$(date +%s.%N)
now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
pass() { echo "smoke: ok    $1 ($(seconds_since "$2") s)"; }
fail() { echo "smoke: FAIL  $1"; failures=$((failures + 1)); }
show() { [ -s "$1" ] && sed 's/^/    | /' "$1" | tail -n 15; return 0; }

# -- 1. self-test -----------------------------------------------------------------------------
t=$(now)
timeout "$step_timeout" "$bundle/ip2p" --self-test > "$work/selftest.out" 2> "$work/selftest.err"
code=$?
if [ $code -eq 0 ] && [ "$(wc -l < "$work/selftest.out")" -eq 1 ] && grep -q '^self-test passed: ' "$work/selftest.out"; then
    pass "ip2p --self-test: $(cat "$work/selftest.out")" "$t"
else
    fail "ip2p --self-test (exit $code)"; show "$work/selftest.out"; show "$work/selftest.err"
fi

t=$(now)
# No standard streams at all, as a windowed app gets on Windows/macOS: nothing may write to them.
( exec timeout "$step_timeout" "$bundle/ip2p" --self-test >&- 2>&- )
code=$?
if [ $code -eq 0 ]; then
    pass "ip2p --self-test with stdout/stderr closed" "$t"
else
    fail "ip2p --self-test with stdout/stderr closed (exit $code)"
fi

# -- 2. ip2p-edit -----------------------------------------------------------------------------
"$PYTHON" -c "import sys; from pathlib import Path; from ip2p_core.tiny_model import write_tiny_model; write_tiny_model(Path(sys.argv[1]))" \
    "$work/tiny-model" > "$work/tiny.log" 2>&1 || { fail "writing the tiny model with $PYTHON"; show "$work/tiny.log"; }

t=$(now)
timeout "$step_timeout" "$bundle/ip2p-edit" "$photo" -i "make it winter" -o "$work/edited.png" \
    --model "$work/tiny-model" --steps 2 --resolution 128 --seed 7 --device cpu \
    > "$work/edit.out" 2> "$work/edit.err"
code=$?
if [ $code -eq 0 ] && [ -f "$work/edited.png" ] && "$PYTHON" - "$photo" "$work/edited.png" > "$work/meta.out" 2>&1 <<'EOF'
import sys
from PIL import Image
from ip2p_core.metadata import read_provenance

source, edited = sys.argv[1:]
with Image.open(source) as a, Image.open(edited) as b:
    assert a.size == b.size, f"size {b.size} != input {a.size}"
provenance = read_provenance(edited)
assert provenance is not None, "no edit metadata in the result"
step = provenance.last
assert step.instruction == "make it winter" and step.steps == 2 and step.seed == 7, step
print(f"metadata: {step.instruction!r}, {step.steps} steps, seed {step.seed}")
EOF
then
    pass "ip2p-edit wrote $(basename "$work/edited.png") with $(cat "$work/meta.out")" "$t"
else
    fail "ip2p-edit (exit $code)"; show "$work/edit.out"; show "$work/edit.err"; show "$work/meta.out"
fi

t=$(now)
timeout "$step_timeout" "$bundle/ip2p-edit" "$work/no-such-photo.jpg" -i "make it winter" -o "$work/x.png" \
    --model "$work/tiny-model" > "$work/bad.out" 2> "$work/bad.err"
code=$?
if [ $code -eq 2 ] && [ "$(wc -l < "$work/bad.err")" -eq 1 ] && [ ! -e "$work/x.png" ]; then
    pass "ip2p-edit on a missing photo: one line, exit 2" "$t"
else
    fail "ip2p-edit on a missing photo (exit $code, expected 2 and one line)"; show "$work/bad.err"
fi

# -- 3. the app window ------------------------------------------------------------------------
t=$(now)
timeout "$step_timeout" "$bundle/ip2p" --quit-after-show --model "$work/tiny-model" \
    > "$work/window.out" 2> "$work/window.err"
code=$?
if [ $code -eq 0 ]; then
    pass "ip2p window shown offscreen and closed cleanly: $(tail -n 1 "$work/window.out")" "$t"
else
    if grep -q "unrecognized arguments: --quit-after-show" "$work/window.err"; then
        fail "ip2p does not know --quit-after-show (ip2p_desktop/app.py)"
    else
        fail "ip2p --quit-after-show (exit $code)"
    fi
    show "$work/window.out"; show "$work/window.err"
fi

find "$HOME" -name '*.log' -type f -delete 2>/dev/null  # judge this run's log alone
t=$(now)
# The windowed case for real: the app without standard streams; afterwards its log must hold no
# error. With IP2P_QUIT_AFTER_SHOW_MS the app keeps the window up until the tiny model has loaded
# in its engine process (with transformers' progress bars), at most that long, then closes.
( export IP2P_QUIT_AFTER_SHOW_MS="${SMOKE_WINDOW_MS:-60000}"
  exec timeout "$step_timeout" "$bundle/ip2p" --quit-after-show --model "$work/tiny-model" >&- 2>&- )
code=$?
logs=$(find "$HOME" -name '*.log' -type f 2>/dev/null)
# The model loads in the app's engine process (a frozen child started by multiprocessing), so the
# "loaded" line proves that the packaged engine process starts, imports torch and answers.
loaded=$(grep -h -o -E 'Model .* loaded in [0-9.]+ s' $logs 2>/dev/null | tail -n 1)
if [ $code -eq 0 ] && [ -n "$logs" ] && [ -n "$loaded" ] && ! grep -q -E 'Traceback|ERROR' $logs; then
    pass "ip2p window with stdout/stderr closed, model loaded in its engine process, log clean ($loaded)" "$t"
else
    fail "ip2p window with stdout/stderr closed (exit $code${loaded:+; $loaded}${loaded:-; the model did not load within ${SMOKE_WINDOW_MS:-60000} ms})"
    for f in $logs; do show "$f"; done
fi

echo "smoke: $([ $failures -eq 0 ] && echo passed || echo "$failures check(s) FAILED") in $(seconds_since "$started_all") s"
[ $failures -eq 0 ]
