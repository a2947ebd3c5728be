#!/usr/bin/env bash
# Thrust's set-up and run script: the README's two commands.
#
#   ./dev.sh quickstart   install what the quickstart needs, then run examples/quickstart.py
#   ./dev.sh test         install everything (all extras + dev tools), lint, run the test suite
#
# It makes a virtual environment in .venv (THRUST_VENV to change) with the Python found as
# python3 (PYTHON to change). PyTorch is only needed by the extras that use it, and a plain
# `pip install torch` can pull a multi-GB CUDA build, so:
#   - if the Python you run this with can already import torch (say, a CUDA build you
#     installed for your GPU), the venv reuses it (--system-site-packages) and installs none;
#   - otherwise it installs torch==$THRUST_TORCH_VERSION (default 2.13.0, which on the
#     project's CPU machines is the CPU build on disk).
# Extra arguments after `test` go to pytest (e.g. `./dev.sh test -m slow`); the suite runs on
# THRUST_TEST_WORKERS (default 2) pytest-xdist workers.
set -euo pipefail
cd "$(dirname "$0")"

target=${1:-}
shift || true
case "$target" in
  quickstart) extras="[algos,export]" ; needs_torch=1 ;;
  test) extras="[all,dev]" ; needs_torch=1 ;;
  *) echo "usage: ./dev.sh quickstart | test [pytest args...]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
venv=${THRUST_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  if "$python" -c "import torch" >/dev/null 2>&1; then
    echo "dev.sh: reusing the torch importable from $python" >&2
    "$python" -m venv --system-site-packages "$venv"
  else
    "$python" -m venv "$venv"
  fi
fi
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

if [ "$needs_torch" = 1 ] && ! "$py" -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" "torch==${THRUST_TORCH_VERSION:-2.13.0}"
fi

# Reinstall only when the project's requirements changed since the last install.
stamp="$venv/.thrust-installed-$target"
digest=$(cat pyproject.toml dev.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$digest" ]; then
  "${pip[@]}" --upgrade pip setuptools wheel
  "${pip[@]}" -e ".$extras"
  echo "$digest" > "$stamp"
fi

case "$target" in
  quickstart)
    exec "$py" examples/quickstart.py "$@"
    ;;
  test)
    "$py" -m ruff check .
    "$py" -m ruff format --check .
    if [ ! -x "${THRUST_CHROMIUM:-/usr/bin/chromium}" ]; then
      echo "dev.sh: no chromium: the web export's browser tests are skipped" \
        "(install it with: sudo apt-get install -y chromium)" >&2
    fi
    # Two pytest workers (pytest-xdist, a dev dependency): most tests use one core, and the
    # suite's budget is 10 minutes on a 2-core machine. A file's tests stay on one worker
    # (module fixtures, one local Ray); THRUST_TEST_WORKERS=0 runs in this process.
    exec "$py" -m pytest -n "${THRUST_TEST_WORKERS:-2}" --dist loadfile "$@"
    ;;
esac
