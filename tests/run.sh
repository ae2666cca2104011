#!/usr/bin/env bash
# Run voicechat's whole test suite on a fresh Debian/Ubuntu machine:
#   bash tests/run.sh [pytest args...]
# As root it installs the system packages the tests use (PortAudio, PulseAudio, sox, tmux,
# espeak-ng, Chromium and its driver).
# It creates .venv/ beside the sources, installs torch 2.13.0 first (the CPU build where the
# machine carries it) and then voicechat with its test extras, and runs ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  packages=(python3-venv libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins sox tmux espeak-ng
            chromium chromium-driver)
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
py=.venv/bin/python
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "== installing torch"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q "torch==2.13.0"
fi
echo "== installing voicechat[test,fast,offline]"
"$py" -m pip install -q -e ".[test,fast,offline]"

echo "== ruff"
"$py" -m ruff check voicechat tests benchmarks
"$py" -m ruff format --check voicechat tests benchmarks
echo "== mypy"
"$py" -m mypy
echo "== pytest"
exec "$py" -m pytest "$@"
