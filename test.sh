#!/usr/bin/env bash
# The project's tests: every Maven module's tests, then the serve playground end to end in
# headless Chromium (Debian's chromium at /usr/bin/chromium, driven by npm playwright-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# llama.cpp's reference dequantisers, the oracle of the GGUF reader tests (they skip without it)
(cd peers/gguf-dequant && npm ci --no-audit --no-fund --loglevel=error)
mvn -B verify
(cd playground-test && npm ci --no-audit --no-fund --loglevel=error)
node playground-test/run.mjs
