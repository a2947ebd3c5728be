#!/usr/bin/env bash
# The prepared device check (issue 14), for a lent GPU machine that cannot reach a registry.
# Here, once, from the repository's root: `bash ../shared/gpu/fetch-wheels.sh` (it fills the
# git-ignored .whl/ with gymnasium, stable-baselines3, sb3-contrib, pettingzoo...). Then one
# device call, naming .whl in carry:  bash benchmarks/gpu_check.sh [--quick]
# It installs the carried wheels offline into /tmp/site (the machine's torch, triton and numba
# stay), puts them and the repository on PYTHONPATH, and prints every table of gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no .whl/ here: using the installed packages" >&2
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
# JAX is on some GPU images: were anything to import it, it must not take 75% of the memory.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
exec timeout "${GPU_CHECK_TIMEOUT:-480}" python3 benchmarks/gpu_check.py "$@"
