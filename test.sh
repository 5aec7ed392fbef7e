#!/usr/bin/env bash
# The project's tests: every Maven module's tests, then the serve playground end to end in
# headless Chromium (Debian's chromium at /usr/bin/chromium, driven by npm playwright-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mvn -B verify
(cd playground-test && npm ci --no-audit --no-fund --loglevel=error)
node playground-test/run.mjs

# Documentation is tested: every ```sh and ```console block of README.md and docs/*.md runs as
# pasted, each page in a fresh copy of the repository, and must print what the page shows
# (the convention: README "Documentation is tested", cli/src/test/java/dev/onnxsteer/cli/docs/DocTest.java).
java -cp 'cli/target/test-classes:cli/target/lib/*' dev.onnxsteer.cli.docs.DocTest
