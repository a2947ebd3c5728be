"""thrust_export: trained Stable-Baselines3 policies to pure numpy and to ONNX.

Export (needs torch and stable-baselines3)::

    import thrust_export
    thrust_export.export_numpy(model, "policy.npz", vec_normalize="vecnormalize.pkl")
    thrust_export.export_onnx(model, "policy.onnx")

Run (numpy only; importing ``thrust_export`` never imports torch)::

    policy = thrust_export.load("policy.npz")
    action, _ = policy.predict(obs)          # == model.predict(obs, deterministic=True)

- :func:`export_numpy` writes one ``.npz`` (weights + JSON metadata + SHA-256 digest) that loads
  with ``allow_pickle=False``; :func:`load` verifies it and returns a :class:`NumpyPolicy`;
  :func:`to_numpy_policy` builds the same policy in memory.
- :func:`export_onnx` writes an ONNX model with a dynamic batch axis and named outputs
  (``action``, then ``value``/``logits``/``mean``/``log_std``/``q_values``), checked with
  ``onnx.checker`` and onnxruntime; :class:`OnnxPolicy` runs it with ``predict``.
- :func:`export_web` writes one self-contained HTML page where the policy plays its env in
  JavaScript (``thrust-export MODEL --format web --env ENV_ID -o page.html``).
- :func:`check_parity` compares an export with SB3's ``predict`` on random observations.
- ``thrust-export MODEL.zip --format numpy|onnx -o OUT [--vec-normalize STATS.pkl] [--check N]``
  (also ``python -m thrust_export``).

Supported: PPO, A2C and sb3-contrib's TRPO ``MlpPolicy`` (Discrete, MultiDiscrete, MultiBinary
and Box actions, including gSDE with and without ``squash_output``), sb3-contrib's MaskablePPO
``MlpPolicy`` (Discrete and MultiDiscrete actions; ``predict`` takes its ``action_masks``), DQN,
and the SAC and TD3 actors, over Box observations, with any ``net_arch`` and the usual
activation functions. Anything else (CNN policies, Dict observations, recurrent policies, custom
extractors or layers) raises ``NotImplementedError`` naming what is unsupported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from thrust_export.artifact import FORMAT_VERSION, ArtifactError, read_metadata
from thrust_export.numpy_policy import NumpyPolicy, load
from thrust_export.onnx_policy import OnnxPolicy

if TYPE_CHECKING:
    from thrust_export.numpy_export import export_numpy, to_numpy_policy
    from thrust_export.onnx_export import export_onnx
    from thrust_export.parity import ParityReport, check_parity
    from thrust_export.web import export_web

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "NumpyPolicy",
    "OnnxPolicy",
    "ParityReport",
    "check_parity",
    "export_numpy",
    "export_onnx",
    "export_web",
    "load",
    "read_metadata",
    "to_numpy_policy",
]

# Exporting needs torch and stable-baselines3; running does not. These names are imported on
# first use so that `import thrust_export` stays torch-free.
_LAZY = {
    "export_numpy": "thrust_export.numpy_export",
    "to_numpy_policy": "thrust_export.numpy_export",
    "export_onnx": "thrust_export.onnx_export",
    "check_parity": "thrust_export.parity",
    "ParityReport": "thrust_export.parity",
    "export_web": "thrust_export.web",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'thrust_export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
