"""``OnnxPolicy``: run an ONNX export with onnxruntime behind SB3's ``predict`` signature.

Needs numpy and onnxruntime only (no torch, no ``onnx`` package). The ONNX model itself is
self-contained: any ONNX runtime can run it; this class adds the single-observation/batch
convention of ``predict``, MaskablePPO's ``action_masks`` and the integrity check.

Integrity: an export is the serialized model (its JSON description in ``metadata_props`` under
:data:`ONNX_METADATA_KEY`) followed by one more ``metadata_props`` entry, :data:`ONNX_DIGEST_KEY`
-> the SHA-256 (hexadecimal) of every byte before that entry. Protobuf merges concatenated
messages, so the file is one valid ONNX model; the digest entry has a fixed length, so a reader
finds it at the end without parsing the model and hashes exactly the bytes the exporter wrote.
Like the ``.npz`` digest it detects corruption and edits made without recomputing it; it is not a
signature. A model re-saved by another tool (which moves the entry) no longer verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thrust_export.artifact import ArtifactError
from thrust_export.numpy_policy import (
    MASKABLE_HEADS,
    VALIDATED_HEADS,
    apply_action_masks,
    categorical_mode,
    check_distribution_parameters,
)

__all__ = [
    "ONNX_DIGEST_KEY",
    "ONNX_FORMAT_NAME",
    "ONNX_FORMAT_VERSION",
    "ONNX_METADATA_KEY",
    "OnnxPolicy",
    "onnx_input_dtype",
    "seal_onnx",
    "verify_onnx",
]

ONNX_FORMAT_NAME = "thrust-export/onnx-policy"
ONNX_FORMAT_VERSION = 1
#: Key of the JSON description in the ONNX model's ``metadata_props``.
ONNX_METADATA_KEY = "thrust_export"
#: Key of the SHA-256 entry, the last ``metadata_props`` entry of an export.
ONNX_DIGEST_KEY = "thrust_export.sha256"
_DIGEST_DOMAIN = b"thrust-export/onnx-policy/sha256/v1\n"
_MAX_ONNX_BYTES = 2**31


def _digest_entry(digest: str) -> bytes:
    """A serialized ``ModelProto`` holding one ``metadata_props`` entry ``ONNX_DIGEST_KEY: digest``.

    Field 14 (``metadata_props``, tag ``0x72``) of a ``StringStringEntryProto`` with its ``key``
    (tag ``0x0a``) and ``value`` (tag ``0x12``); every length is under 128 (one-byte varints).
    """
    key, value = ONNX_DIGEST_KEY.encode(), digest.encode("ascii")
    entry = b"\x0a" + bytes([len(key)]) + key + b"\x12" + bytes([len(value)]) + value
    return b"\x72" + bytes([len(entry)]) + entry


_DIGEST_HEX_CHARS = 64
_ENTRY_PREFIX = _digest_entry("0" * _DIGEST_HEX_CHARS)[:-_DIGEST_HEX_CHARS]
_ENTRY_BYTES = len(_ENTRY_PREFIX) + _DIGEST_HEX_CHARS


def _onnx_digest(body: bytes) -> str:
    return hashlib.sha256(_DIGEST_DOMAIN + body).hexdigest()


def seal_onnx(body: bytes) -> bytes:
    """``body`` (a serialized ONNX model) followed by its SHA-256 ``metadata_props`` entry.

    :param body: ``ModelProto.SerializeToString()`` of the export, its description included
    :return: the bytes of the ``.onnx`` file
    """
    return body + _digest_entry(_onnx_digest(body))


def verify_onnx(data: bytes, source: object = "ONNX policy") -> bytes:
    """Check the SHA-256 entry that ends ``data`` (see the module docstring).

    :param data: the bytes of a ``.onnx`` file written by :func:`thrust_export.export_onnx`
    :param source: what to name in error messages (the path)
    :return: ``data`` unchanged
    :raises ArtifactError: no digest entry at the end (not an export of this package, or
        re-saved), or a digest that does not match the bytes (corrupted or tampered with)
    """
    if len(data) <= _ENTRY_BYTES or not data[-_ENTRY_BYTES:].startswith(_ENTRY_PREFIX):
        raise ArtifactError(
            f"{source}: not a thrust_export ONNX policy: no {ONNX_DIGEST_KEY} digest entry at the "
            "end of the file (exported by another tool, or re-saved after the export)"
        )
    stored = data[-_DIGEST_HEX_CHARS:]
    actual = _onnx_digest(data[:-_ENTRY_BYTES]).encode("ascii")
    if not hmac.compare_digest(stored, actual):
        raise ArtifactError(
            f"{source}: SHA-256 mismatch: the ONNX policy is corrupted or was modified after "
            "the export"
        )
    return data


#: The graph input types an export has (see :func:`onnx_input_dtype`).
_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def onnx_input_dtype(observation_dtype: Any) -> np.dtype:
    """The dtype of the graph input ``obs`` for observations of ``observation_dtype``.

    SB3's ``predict`` converts a (non-image) Box observation to float32 whatever the space's
    dtype, after VecNormalize's float64 arithmetic if any; it never casts it to the space's
    dtype (5.23 stays 5.23 in a uint8 space, -1 stays -1). float32 and float64 spaces keep their
    dtype; any other (integer, bool, float16) takes float64, which holds every value a caller
    passes exactly (the graph then rounds to float32 once, as SB3 does).

    :param observation_dtype: the observation space's dtype
    :return: float32 or float64
    """
    dtype = np.dtype(observation_dtype)
    return dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)


def _parse_metadata(text: str, source: object) -> dict[str, Any]:
    """The export's JSON description, checked for what :class:`OnnxPolicy` reads.

    :raises ArtifactError: invalid JSON, an unknown format or version, missing or ill-typed keys
    """
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"{source}: its {ONNX_METADATA_KEY} metadata is not JSON: {exc}"
        ) from exc
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{source}: its {ONNX_METADATA_KEY} metadata is not a JSON object")
    if (
        metadata.get("format") != ONNX_FORMAT_NAME
        or metadata.get("format_version") != ONNX_FORMAT_VERSION
    ):
        raise ArtifactError(
            f"{source}: unsupported ONNX policy format {metadata.get('format')!r} version "
            f"{metadata.get('format_version')!r}; expected {ONNX_FORMAT_NAME!r} "
            f"version {ONNX_FORMAT_VERSION}"
        )
    observation = metadata.get("observation_space")
    shape = observation.get("shape") if isinstance(observation, dict) else None
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ArtifactError(f"{source}: metadata observation_space.shape must be a list of sizes")
    head = metadata.get("head")
    if not isinstance(head, dict) or not isinstance(head.get("kind"), str):
        raise ArtifactError(f"{source}: metadata head.kind is missing")
    action = metadata.get("action_space")
    if not isinstance(action, dict):
        raise ArtifactError(f"{source}: metadata action_space is missing")
    if head["kind"] == "categorical" and not isinstance(action.get("n"), int):
        raise ArtifactError(f"{source}: metadata action_space.n is missing")
    if head["kind"] == "multi_categorical" and not (
        isinstance(action.get("nvec"), list) and all(isinstance(n, int) for n in action["nvec"])
    ):
        raise ArtifactError(f"{source}: metadata action_space.nvec is missing")
    return metadata


def _is_provider(provider: object) -> bool:
    """A provider as onnxruntime takes it: a name, or a ``(name, options dict)`` pair."""
    if isinstance(provider, str):
        return True
    return (
        isinstance(provider, tuple)
        and len(provider) == 2
        and isinstance(provider[0], str)
        and isinstance(provider[1], dict)
    )


class OnnxPolicy:
    """An ONNX policy exported by :func:`thrust_export.export_onnx`, run with onnxruntime.

    :param path_or_bytes: the ``.onnx`` file or its bytes
    :param providers: onnxruntime execution providers (default: CPU): a list of names, or of
        ``(name, options dict)`` pairs
    :param session_options: an ``onnxruntime.SessionOptions`` (e.g. to set thread counts)
    :raises TypeError: ``providers`` or ``session_options`` of the wrong type (before the file
        is read)
    :raises FileNotFoundError: no such file
    :raises ArtifactError: a file that fails its SHA-256 check, that onnxruntime cannot load, or
        whose metadata is missing or malformed
    """

    def __init__(
        self,
        path_or_bytes: str | os.PathLike[str] | bytes,
        providers: Sequence[str | tuple[str, dict[str, Any]]] | None = None,
        session_options: Any = None,
    ) -> None:
        import onnxruntime as ort

        # Checked first: onnxruntime's own error for a bad option would be reported as a file
        # it cannot load.
        if session_options is not None and not isinstance(session_options, ort.SessionOptions):
            raise TypeError(
                "session_options must be an onnxruntime.SessionOptions or None, got "
                f"{type(session_options).__name__} {session_options!r}"
            )
        if providers is not None and (
            not isinstance(providers, (list, tuple)) or not all(_is_provider(p) for p in providers)
        ):
            raise TypeError(
                "providers must be a list of onnxruntime execution provider names (or "
                f"(name, options dict) pairs), or None; got {providers!r}"
            )
        if isinstance(path_or_bytes, bytes):
            source: object = "ONNX policy bytes"
            data = path_or_bytes
        else:
            path = Path(path_or_bytes)
            source = path
            if not path.is_file():
                raise FileNotFoundError(f"no such ONNX policy file: {path}")
            if path.stat().st_size > _MAX_ONNX_BYTES:
                raise ArtifactError(f"{path}: larger than {_MAX_ONNX_BYTES} bytes")
            data = path.read_bytes()
        verify_onnx(data, source)
        try:
            self.session = ort.InferenceSession(
                data,
                sess_options=session_options,
                providers=list(providers or ["CPUExecutionProvider"]),
            )
        except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, ... (no common base)
            raise ArtifactError(
                f"{source}: onnxruntime cannot load it: {type(exc).__name__}: {exc}"
            ) from exc
        props = self.session.get_modelmeta().custom_metadata_map
        if ONNX_METADATA_KEY not in props:
            raise ArtifactError(f"{source}: not a thrust_export ONNX policy (no metadata)")
        self.metadata: dict[str, Any] = _parse_metadata(props[ONNX_METADATA_KEY], source)
        (inp,) = self.session.get_inputs()
        if inp.type not in _ONNX_TYPES:
            # Exports before float inputs for every space cast observations to the space's
            # integer dtype (5.23 -> 5, -1 -> 255) where SB3 converts them to float: running
            # them would silently differ from SB3.
            raise ArtifactError(
                f"{source}: input {inp.name!r} has type {inp.type}, not float or double: an "
                "export by an older thrust_export, whose graph casts observations to the "
                "observation space's dtype where SB3 converts them to float32; export the model "
                "again"
            )
        self.input_name: str = inp.name
        self.input_dtype = np.dtype(_ONNX_TYPES[inp.type])
        self.observation_shape: tuple[int, ...] = tuple(self.metadata["observation_space"]["shape"])
        self.output_names: tuple[str, ...] = tuple(o.name for o in self.session.get_outputs())
        self.head_kind: str = self.metadata["head"]["kind"]
        # The action and the outputs SB3's distribution validates (see VALIDATED_HEADS).
        validated = ("logits", "mean", "log_std") if self.head_kind in VALIDATED_HEADS else ()
        self._validated = [name for name in self.output_names if name in validated]
        self._action_outputs = ["action", *self._validated]

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
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3-style deterministic ``predict`` (see :meth:`thrust_export.NumpyPolicy.predict`).

        The observation is converted to the graph's float input dtype (see
        :func:`onnx_input_dtype`), as SB3 converts it to float.
        With ``action_masks`` (Discrete and MultiDiscrete actor-critic policies, as
        ``MaskablePPO.predict``) the action is the argmax of the ``logits`` output with the
        forbidden actions' logits set to ``-inf``.

        :param observation: shape ``obs_shape`` or ``(n_env, *obs_shape)``, numeric dtype
        :param state: passed through unchanged (non-recurrent policies)
        :param episode_start: ignored, accepted for SB3 compatibility
        :param deterministic: must be ``True`` (the graph computes the deterministic action)
        :param action_masks: ``True`` for an allowed action, shape ``(n_logits,)`` or
            ``(n_env, n_logits)``; ``None``: no masking
        :return: ``(actions, state)``, actions of shape ``action_shape`` or
            ``(n_env, *action_shape)``
        :raises ValueError: observation or masks of the wrong shape, masks allowing no action,
            masks for a policy without maskable actions; as SB3, an observation giving NaN
            distribution parameters (see
            :func:`thrust_export.numpy_policy.check_distribution_parameters`)
        :raises NotImplementedError: ``deterministic=False``
        """
        if not deterministic:
            raise NotImplementedError("the ONNX export computes the deterministic action only")
        if action_masks is not None and self.head_kind not in MASKABLE_HEADS:
            raise ValueError(
                "action_masks apply to Discrete and MultiDiscrete actor-critic policies only; "
                f"this policy has a {self.head_kind} head"
            )
        obs, vectorized = self._batch(observation)
        actions, *parameters = self.session.run(self._action_outputs, {self.input_name: obs})
        if parameters:
            check_distribution_parameters(parameters, observation, self.observation_shape)
        if action_masks is not None:
            logits = parameters[self._validated.index("logits")]
            action = self.metadata["action_space"]
            nvec = action["nvec"] if self.head_kind == "multi_categorical" else [action["n"]]
            masked = apply_action_masks(logits, action_masks, vectorized, nvec)
            groups = np.split(masked, np.cumsum(nvec)[:-1], axis=1)
            modes = np.stack([categorical_mode(g) for g in groups], axis=1)
            actions = modes[:, 0] if self.head_kind == "categorical" else modes
        return (actions if vectorized else actions.squeeze(axis=0)), state

    def forward(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """All named outputs, batched (a single observation is a batch of one).

        :param observation: shape ``obs_shape`` or ``(batch, *obs_shape)``
        :return: output name -> array with a leading batch axis
        """
        obs, _ = self._batch(observation)
        return dict(
            zip(self.output_names, self.session.run(None, {self.input_name: obs}), strict=True)
        )
