"""``OnnxPolicy``: run an ONNX export with onnxruntime behind SB3's ``predict`` signature.

Needs numpy and onnxruntime only (no torch). The ONNX model itself is self-contained: any ONNX
runtime can run it; this class only adds the single-observation/batch convention of ``predict``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

__all__ = ["ONNX_FORMAT_NAME", "ONNX_FORMAT_VERSION", "ONNX_METADATA_KEY", "OnnxPolicy"]

ONNX_FORMAT_NAME = "thrust-export/onnx-policy"
ONNX_FORMAT_VERSION = 1
#: Key of the JSON description in the ONNX model's ``metadata_props``.
ONNX_METADATA_KEY = "thrust_export"

_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


class OnnxPolicy:
    """An ONNX policy exported by :func:`thrust_export.export_onnx`, run with onnxruntime.

    :param path_or_bytes: the ``.onnx`` file or its bytes
    :param providers: onnxruntime execution providers (default: CPU)
    :param session_options: an ``onnxruntime.SessionOptions`` (e.g. to set thread counts)
    """

    def __init__(
        self,
        path_or_bytes: str | os.PathLike[str] | bytes,
        providers: list[str] | None = None,
        session_options: Any = None,
    ) -> None:
        import onnxruntime as ort

        source = path_or_bytes if isinstance(path_or_bytes, bytes) else os.fspath(path_or_bytes)
        self.session = ort.InferenceSession(
            source, sess_options=session_options, providers=providers or ["CPUExecutionProvider"]
        )
        props = self.session.get_modelmeta().custom_metadata_map
        if ONNX_METADATA_KEY not in props:
            raise ValueError(f"{path_or_bytes!r}: not a thrust_export ONNX policy (no metadata)")
        self.metadata: dict[str, Any] = json.loads(props[ONNX_METADATA_KEY])
        if (
            self.metadata.get("format") != ONNX_FORMAT_NAME
            or self.metadata.get("format_version") != ONNX_FORMAT_VERSION
        ):
            raise ValueError(
                f"unsupported ONNX policy format {self.metadata.get('format')!r} version "
                f"{self.metadata.get('format_version')!r}; expected {ONNX_FORMAT_NAME!r} "
                f"version {ONNX_FORMAT_VERSION}"
            )
        (inp,) = self.session.get_inputs()
        self.input_name: str = inp.name
        self.input_dtype = np.dtype(_ONNX_TYPES[inp.type])
        self.observation_shape: tuple[int, ...] = tuple(self.metadata["observation_space"]["shape"])
        self.output_names: tuple[str, ...] = tuple(o.name for o in self.session.get_outputs())
        self._action_only = ["action"]

    def _batch(self, observation: Any) -> tuple[np.ndarray, bool]:
        obs = np.asarray(observation)
        if obs.dtype.kind not in "biuf":
            raise TypeError(f"observation dtype {obs.dtype} is not numeric")
        if obs.shape == self.observation_shape:
            return obs.reshape((1, *self.observation_shape)).astype(
                self.input_dtype, copy=False
            ), False
        if obs.shape[1:] == self.observation_shape:
            return obs.astype(self.input_dtype, copy=False), True
        raise ValueError(
            f"Unexpected observation shape {obs.shape}: expected {self.observation_shape} or "
            f"(n_env, {', '.join(map(str, self.observation_shape))})"
        )

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3-style deterministic ``predict`` (see :meth:`thrust_export.NumpyPolicy.predict`).

        The observation is cast to the model's input dtype (the observation space's dtype).
        """
        if not deterministic:
            raise NotImplementedError("the ONNX export computes the deterministic action only")
        obs, vectorized = self._batch(observation)
        (actions,) = self.session.run(self._action_only, {self.input_name: obs})
        return (actions if vectorized else actions.squeeze(axis=0)), state

    def forward(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """All named outputs, batched (a single observation is a batch of one)."""
        obs, _ = self._batch(observation)
        return dict(
            zip(self.output_names, self.session.run(None, {self.input_name: obs}), strict=True)
        )
