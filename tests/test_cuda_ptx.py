"""Every env's and game's CUDA kernels compile to PTX for sm_80 and sm_90, ahead of time: no
driver and no GPU needed (numba-cuda's NVVM from the gpu extra's wheels)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba.cuda", reason="the gpu extra (numba-cuda) is not installed")

from thrust_envs.cuda import targets as T
from thrust_envs.registration import definitions, game_definitions

CCS = ((8, 0), (9, 0))


def _check(ptx: dict, names: tuple[str, ...]) -> None:
    assert sorted(ptx) == sorted((name, cc) for name in names for cc in CCS)
    for (name, (major, minor)), code in ptx.items():
        assert re.search(rf"^\.target sm_{major}{minor}\b", code, re.M), name
        # One kernel entry, no call left to a function NVVM could not resolve.
        assert len(re.findall(r"^\.visible \.entry ", code, re.M)) == 1, name
        assert ".extern .func" not in code, name


@pytest.mark.parametrize("name", sorted(definitions()))
def test_env_kernels_compile_to_ptx(name):
    definition = definitions()[name]
    kind, signatures = T.env_signatures(definition, definition.default_params)
    _check(T.compile_ptx(T.env_kernels(definition, kind), signatures, CCS), tuple(signatures))


@pytest.mark.parametrize("game_id", sorted(game_definitions()))
def test_game_kernels_compile_to_ptx(game_id):
    definition = game_definitions()[game_id]
    signatures = T.game_signatures(definition, definition.params_type())
    _check(T.compile_ptx(T.game_kernels(definition), signatures, CCS), tuple(signatures))


def test_kernels_compile_on_a_numpy_without_row_stack():
    """numpy 2.5 removed ``np.row_stack``, which numba-cuda 0.30 overloads when its target first
    loads: ``import thrust_envs.cuda`` restores the alias, so kernels still compile (a
    subprocess, since numba-cuda loads its target once per process)."""
    code = (
        "import numpy\n"
        "del numpy.row_stack\n"
        "from thrust_envs.cuda import targets as T\n"
        "from thrust_envs.registration import lookup\n"
        "d, _ = lookup('Thrust/CartPole-v1')\n"
        "kind, signatures = T.env_signatures(d, d.default_params)\n"
        "ptx = T.compile_ptx(T.env_kernels(d, kind), signatures, ((9, 0),))\n"
        "print(len(ptx))\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 3  # validate, step and reset at least
