"""The Triton GAE kernel compiled ahead of time for real GPUs, without one (issue 14 item 1).

Triton's interpreter, which CI runs the kernel under, computes without fusing multiplies and
adds; compiled for a GPU, Triton fuses them into ``fma`` by default, and SB3's bit-exact
rounding is lost. The kernel is launched with ``LAUNCH_OPTIONS`` (``enable_fp_fusion=False``):
compiled with them for sm_80 and sm_90 its PTX holds no ``fma`` and every float multiply, add
and subtract rounds on its own (``.rn``, which ptxas does not contract), and the machine code
(when Triton's bundled ``nvdisasm`` is there) holds no ``FFMA``. The same compile with fusion
on shows FMAs, so the check can fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import pytest

triton = pytest.importorskip("triton")

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from thrust_algos import _triton_gae  # noqa: E402

if _triton_gae.interpreter_active():
    pytest.skip("the kernel was decorated under TRITON_INTERPRET=1", allow_module_level=True)

POINTERS = (
    "rewards_ptr",
    "values_ptr",
    "episode_starts_ptr",
    "last_values_ptr",
    "dones_ptr",
    "advantages_ptr",
    "returns_ptr",
)
# The types gae_triton's launch passes: float32 tensors, int sizes, float scalars.
SIGNATURE = {
    **dict.fromkeys(POINTERS, "*fp32"),
    "n_steps": "i32",
    "n_envs": "i32",
    "gamma": "fp32",
    "gamma_lambda": "fp32",
    "BLOCK": "constexpr",
}


def compile_kernel(capability: int, **overrides):
    """The kernel compiled for ``sm_<capability>`` with the launch's options (and overrides)."""
    options = {**_triton_gae.LAUNCH_OPTIONS, **overrides}
    source = ASTSource(
        fn=_triton_gae._gae_kernel,
        signature=SIGNATURE,
        constexprs={"BLOCK": _triton_gae.BLOCK_ENVS},
    )
    try:
        return triton.compile(source, target=GPUTarget("cuda", capability, 32), options=options)
    except Exception as error:  # e.g. a triton without its NVIDIA backend or ptxas
        pytest.skip(f"triton cannot compile for sm_{capability} here: {error}")


def sass_of(kernel) -> str | None:
    """The cubin's machine code through Triton's bundled nvdisasm, or None without it."""
    nvdisasm = os.path.join(
        os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "nvdisasm"
    )
    if not os.path.exists(nvdisasm):
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gae.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        result = subprocess.run([nvdisasm, path], capture_output=True, text=True, timeout=120)
    return result.stdout if result.returncode == 0 else None


def fma_count(ptx: str) -> int:
    return len(re.findall(r"\bfma\.", ptx))


@pytest.mark.parametrize("capability", [80, 90])
def test_launch_options_compile_to_no_fma(capability: int) -> None:
    assert _triton_gae.LAUNCH_OPTIONS["enable_fp_fusion"] is False
    kernel = compile_kernel(capability)
    ptx = kernel.asm["ptx"]
    assert fma_count(ptx) == 0, f"sm_{capability} PTX fuses multiply-adds"
    arithmetic = re.findall(r"\b(?:mul|add|sub)(?:\.\w+)*\.f32\b", ptx)
    assert arithmetic, "no float arithmetic found in the PTX: the check reads the wrong text"
    assert all(".rn." in op for op in arithmetic), sorted(set(arithmetic))
    assert ".ftz" not in ptx, "denormals flushed: numpy keeps them"
    sass = sass_of(kernel)
    if sass is not None:
        assert "FFMA" not in sass and ("FMUL" in sass or "FADD" in sass)


@pytest.mark.parametrize("capability", [80, 90])
def test_fusion_on_does_fuse(capability: int) -> None:
    """The check above can fail: Triton's default (fusion on) gives FMAs in the same kernel."""
    kernel = compile_kernel(capability, enable_fp_fusion=True)
    assert fma_count(kernel.asm["ptx"]) > 0
    sass = sass_of(kernel)
    if sass is not None:
        assert "FFMA" in sass
