#!/usr/bin/env bash
# The project's tests: every Maven module's tests, then the serve playground end to end in
# headless Chromium (Debian's chromium at /usr/bin/chromium, driven by npm playwright-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mvn -B verify
(cd playground-test && npm ci --no-audit --no-fund --loglevel=error)
node playground-test/run.mjs
(cd clients/openai-node && npm ci --no-audit --no-fund --loglevel=error)
node --test clients/openai-node/
