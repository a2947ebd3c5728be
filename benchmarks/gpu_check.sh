#!/usr/bin/env bash
# The prepared device check (issue 14), for a lent GPU machine that cannot reach a registry.
# Here, once, from the repository's root:
#   bash ../shared/gpu/fetch-wheels.sh $(cat benchmarks/gpu_wheels.txt)
# (it fills the git-ignored .whl/ with gymnasium, stable-baselines3, sb3-contrib, pettingzoo,
# and the extra wheels named in gpu_wheels.txt). Then one device call, naming .whl in carry:
#   bash benchmarks/gpu_check.sh [--quick]
# It installs the carried wheels offline into /tmp/site (the machine's torch, triton and numba
# stay), puts them and the repository on PYTHONPATH, prints every table of gpu_check.py (within
# 7 minutes, GPU_CHECK_TIMEOUT to change), then runs the CUDA-only tests (about 30 s;
# tests/test_benchmarks_smoke.py checks that it names them all).
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
# numba-cuda warns of low occupancy for small grids (the tests' 256-row envs): a warning that
# the test settings or a capture could turn into an error, for no information here.
export NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0
# The tests import hypothesis (tests/conftest.py, test_algos_gae.py); the machine lacks it.
python3 -c "import hypothesis" 2>/dev/null || echo "gpu_check: hypothesis is not installed:" \
  "the CUDA-only tests cannot run; fetch it with the wheels (benchmarks/gpu_wheels.txt)" >&2
# JAX is on some GPU images: were anything to import it, it must not take 75% of the memory.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
status=0
# The tables start only within the timeout less a margin (--deadline), so that a run cut
# short still prints its summary; a --deadline among the arguments overrides it.
limit=${GPU_CHECK_TIMEOUT:-420}
timeout "$limit" python3 benchmarks/gpu_check.py --deadline "$((limit * 3 / 4))" "$@" || status=$?
# The tests that run only where CUDA is (skipped in CI), in the same call: GPU_CHECK_TESTS=0
# leaves them out.
if [ "${GPU_CHECK_TESTS:-1}" = 1 ] && python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  timeout 120 python3 -m pytest -q -p no:cacheprovider -o addopts= \
    tests/test_algos_buffers.py::test_cuda_storage_and_samples_stay_on_device \
    tests/test_algos_gae.py::test_numba_on_cuda_raises \
    tests/test_algos_gae.py::test_cuda_backends_match_sb3 \
    tests/test_algos_staged.py::test_staged_on_cuda_matches_cpu_observations \
    tests/test_algos_graphed_update.py::test_cuda_graph_update_equals_the_eager_loop \
    tests/test_cuda_device_env.py::test_cuda_graph_steps_equal_the_launched_kernels \
    tests/test_cuda_device_env.py::test_a_step_captured_in_a_callers_graph_is_the_launched_step \
    tests/test_algos_device_env.py::test_views_by_id_on_cuda_agree_with_the_cpu_views \
    tests/test_algos_graphed_update.py::test_a_graph_is_captured_once_unless_a_schedule_moves_its_key \
    || status=$?
fi
exit "$status"
