#!/usr/bin/env bash
# The project's tests: every Maven module's tests (the llama.cpp and transformers.js peers under peers/
# and the PyTorch peer among them), then the serve playground end to end in headless Chromium (Debian's
# chromium at /usr/bin/chromium, driven by npm playwright-core). On a fresh machine it first installs what
# the tests need and is missing, one line on stderr for each thing it installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# ---- install: Debian packages and npm packages the tests need, only where missing ----
apt_updated=""
apt_install() { # PACKAGE... (with sudo when not root)
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "test.sh: installing $* needs root or sudo; install it by hand (apt-get install $*)" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  # through env: sudo does not pass the caller's environment on
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ ! -x /usr/bin/chromium ]; then
  echo "test.sh: installing Debian chromium (the playground test's browser)" >&2
  apt_install chromium
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "test.sh: installing Debian python3-torch (the PyTorch peer)" >&2
  apt_install python3-torch
fi
if ! /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
  echo "test.sh: installing Debian python3-onnx (the PyTorch peer's exporter)" >&2
  apt_install python3-onnx
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test.sh: installing Debian nodejs and npm (the peers and the playground test)" >&2
  apt_install nodejs npm
fi
for dir in peers/llamacpp peers/transformersjs peers/gguf-dequant playground-test clients/openai-node; do
  # npm ci records what it installed in node_modules/.package-lock.json; reinstall when the lockfile is newer
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "test.sh: installing npm packages of $dir (npm ci)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
# ---- end of install ----

mvn -B verify
node playground-test/run.mjs
node --test clients/openai-node/

# Documentation is tested: every ```sh and ```console block of README.md and docs/*.md runs as
# pasted, each page in a fresh copy of the repository, and must print what the page shows
# (the convention: README "Documentation is tested", cli/src/test/java/dev/onnxsteer/cli/docs/DocTest.java).
java -cp 'cli/target/test-classes:cli/target/lib/*' dev.onnxsteer.cli.docs.DocTest
