#!/usr/bin/env bash
# Builds onnx-steer and runs the main demo on the real stories260K llama:
# import from GGUF, inspect, extract a happy-minus-sad vector, compile it in,
# generate with and without it, and prove the rewrite with parity.
# Usage: ./demo.sh [OUTPUT_DIR]   (default: demo-out/; replaced on each run, but only if the demo made it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
out="${1:-demo-out}"
gguf="../shared/models/stories260K/stories260K.gguf"
if [ ! -f "$gguf" ]; then
  echo "demo: $gguf is missing; the demo needs ../shared/models beside the repository" >&2
  exit 3
fi
# the demo replaces only a directory it made itself (it leaves a marker file there)
if [ -e "$out" ] && [ ! -e "$out/.onnx-steer-demo" ] && [ -n "$(ls -A "$out" 2>/dev/null || echo file)" ]; then
  echo "demo: $out exists and was not made by the demo; remove it or pass another OUTPUT_DIR" >&2
  exit 2
fi
step() {
  local shown=()
  for arg in "$@"; do
    if [[ "$arg" =~ [[:space:]] ]]; then shown+=("\"$arg\""); else shown+=("$arg"); fi
  done
  if [ -t 1 ]; then printf '\n\033[1m$ %s\033[0m\n' "${shown[*]}"; else printf '\n$ %s\n' "${shown[*]}"; fi
  "$@"
}

echo "building onnx-steer..." >&2
# Maven 3.8 prints colour resets (ESC[0m) even with -B -q; they are noise in the demo's output
mvn -B -q -DskipTests package 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
rm -rf "$out" && mkdir -p "$out" && touch "$out/.onnx-steer-demo"

step ./onnx-steer import "$gguf" -o "$out/stories"
step ./onnx-steer inspect "$out/stories"
step ./onnx-steer sweep "$out/stories" --dataset testdata/happy-sad.jsonl --plot "$out/sweep.png"
step ./onnx-steer extract "$out/stories" --dataset testdata/happy-sad.jsonl --method mean --layers 3 --quiet \
  -o "$out/happy.gguf"
step ./onnx-steer compile "$out/stories" --vector "$out/happy.gguf" --coeff 2 -o "$out/stories-happy"
step ./onnx-steer generate "$out/stories" --vector "$out/happy.gguf:2" --compare --device cpu \
  --max-tokens 60 --prompt "Once upon a time" --prompt "Tom was"
step ./onnx-steer parity "$out/stories" "$out/stories-happy"
