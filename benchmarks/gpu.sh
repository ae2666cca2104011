#!/usr/bin/env bash
# The GPU figures on a bare machine with an NVIDIA GPU and torch:
#   bash benchmarks/gpu.sh [OUT_DIR] [benchmarks/gpu.py options]
# Wheels for what the machine lacks (openai-whisper, soundfile, soxr, silero-vad, piper-tts,
# torchao, bitsandbytes, ...) are installed from .whl/ when it is there, with no network
# (benchmarks/gpu_wheels.sh fills it, with an int8 copy of the offline voice: pass
# --piper-voice .whl/voice/joe-int8.onnx); otherwise voicechat and its extras must already
# be installed. Writes OUT_DIR/gpu.json and OUT_DIR/gpu.md (default gpu-figures/) after every
# step. On a CPU, as a check (run gpu.py itself where .whl/ holds another Python's wheels):
#   bash benchmarks/gpu.sh out --device cpu --layers 2
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-figures}
shift || true
py=${PYTHON:-python3}  # the interpreter with torch
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
"$py" -c "import torch, transformers, whisper, soundfile, soxr, silero_vad, piper" || {
  echo "gpu.sh: a package voicechat needs is missing (see the line above)" >&2
  exit 1
}
export PYTHONUNBUFFERED=1
exec "$py" benchmarks/gpu.py --out "$out" "$@"
