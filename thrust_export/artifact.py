"""The on-disk format of a numpy policy artifact (numpy and the standard library only).

An artifact is **one** ``.npz`` file (an uncompressed zip of ``.npy`` members, readable with
``np.load(path, allow_pickle=False)``) holding:

- the weight arrays, under names such as ``"policy.0.weight"``;
- ``"__metadata__"``: the JSON metadata, UTF-8 encoded, as a 1-D ``uint8`` array;
- ``"__sha256__"``: the hexadecimal SHA-256 digest (64 ASCII characters as a ``uint8`` array)
  of the metadata bytes and of every weight array (name, dtype, shape and raw bytes).

Reading never unpickles: ``np.load`` is called with ``allow_pickle=False``, members must be stored
uncompressed (as ``np.savez`` writes them) and only little-endian ``float32``, ``float64`` and
``int64`` weight arrays are accepted. The digest detects truncation,
corruption and edits made without recomputing it; it is an integrity check, not a signature
(anyone able to write the file can also rewrite the digest), so only load artifacts from a source
you trust as much as the code that runs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

#: Identifies the file format in the metadata (``metadata["format"]``).
FORMAT_NAME = "thrust-export/numpy-policy"
#: The only format version this package reads and writes (``metadata["format_version"]``).
FORMAT_VERSION = 1

METADATA_KEY = "__metadata__"
DIGEST_KEY = "__sha256__"

#: ``dtype.str`` of the weight arrays an artifact may contain.
ALLOWED_ARRAY_DTYPES = frozenset({"<f4", "<f8", "<i8"})

_DIGEST_DOMAIN = b"thrust-export/numpy-policy/sha256/v1\n"
_MAX_METADATA_BYTES = 4 * 1024 * 1024
_MAX_MEMBER_BYTES = 2**31
_ZIP_MAGIC = b"PK\x03\x04"


class ArtifactError(ValueError):
    """An artifact is missing, truncated, tampered with, of an unknown version or malformed."""


def compute_digest(metadata_bytes: bytes, arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the metadata bytes and every array (sorted by name).

    :param metadata_bytes: the encoded JSON metadata
    :param arrays: weight arrays by name (the reserved ``__metadata__``/``__sha256__`` excluded)
    :return: the digest as 64 lowercase hexadecimal characters
    """
    h = hashlib.sha256()
    h.update(_DIGEST_DOMAIN)
    h.update(len(metadata_bytes).to_bytes(8, "little"))
    h.update(metadata_bytes)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        header = json.dumps([name, array.dtype.str, list(array.shape)]).encode()
        h.update(len(header).to_bytes(8, "little"))
        h.update(header)
        h.update(array.tobytes())
    return h.hexdigest()


def encode_metadata(metadata: Mapping[str, Any]) -> bytes:
    """Canonical JSON encoding (sorted keys, no NaN/Infinity) of the metadata.

    :param metadata: the artifact's JSON metadata
    :return: its UTF-8 bytes
    :raises ValueError: metadata that JSON cannot encode without NaN/Infinity
    """
    try:
        text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON-serialisable without NaN/Infinity: {exc}") from exc
    return text.encode("utf-8")


def check_not_an_input(
    path: str | os.PathLike[str], inputs: Mapping[str, Any], output: str = "out_path"
) -> None:
    """Refuse to write an export at ``path`` when that is one of its input files, which writing
    would destroy: the same path (through links and ``..`` too) or another name of the file.

    :param path: where the export would be written
    :param inputs: the inputs by the name the caller knows them by (``"model_or_path"``,
        ``"MODEL"``); values that are not paths (a model object, None) are skipped
    :param output: the name of ``path`` in the message (``"out_path"``, ``"-o"``)
    :raises ValueError: ``path`` names an input
    """
    target = Path(path)
    for name, given in inputs.items():
        if not isinstance(given, (str, os.PathLike)):
            continue
        same = os.path.realpath(target) == os.path.realpath(given) or (
            target.exists() and Path(given).exists() and os.path.samefile(target, given)
        )
        if same:
            raise ValueError(
                f"{output} {os.fspath(path)} is the input {name} file {os.fspath(given)}: the "
                "export would overwrite it"
            )


def write_file(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], object],
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Put a file at ``path`` only once it is complete and ``check`` accepts it.

    The one way every export (numpy, ONNX, web) writes: ``write`` fills a new temporary file in
    the same folder (``.NAME.<hex>.tmp``, so that the final ``os.replace`` is atomic), ``check``
    (if given) reads that temporary file, and only then does it replace ``path``. On any failure
    (a write error, a full disk, a rejected check, an interrupt) the temporary file and any folder
    created for it are removed and an earlier file at ``path`` is left as it was.

    :param path: the destination (missing parent folders are created)
    :param write: writes the content into the open binary file it is given
    :param check: called with the temporary file's path; raises to refuse the file
    :return: ``path``
    :raises IsADirectoryError: ``path`` is a folder
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file to write")
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        while True:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                f = open(tmp, "xb")  # noqa: SIM115 (closed below, before the check)
            except FileExistsError:  # another writer's temporary file: draw another name
                continue
            break
        try:
            with f:
                write(f)
            if check is not None:
                check(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except BaseException:
        for folder in created:  # innermost first; only the ones this call made, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return path


def write_artifact(
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Write ``metadata`` and ``arrays`` as one ``.npz`` artifact at exactly ``path``.

    Written through :func:`write_file`: ``path`` changes only once the whole artifact is written
    and ``check`` has accepted it.

    :param path: destination file (written as given: no ``.npz`` suffix is appended)
    :param metadata: JSON-serialisable metadata (must name ``format`` and ``format_version``)
    :param arrays: weight arrays by name; dtypes must be in :data:`ALLOWED_ARRAY_DTYPES`
    :param check: as in :func:`write_file` (the exporter's verification)
    :return: the path written
    """
    clean: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if name in (METADATA_KEY, DIGEST_KEY) or not name or "/" in name:
            raise ValueError(f"invalid array name {name!r}")
        array = np.ascontiguousarray(value)
        if array.dtype.str not in ALLOWED_ARRAY_DTYPES:
            raise ValueError(
                f"array {name!r} has dtype {array.dtype.str}; expected one of "
                f"{sorted(ALLOWED_ARRAY_DTYPES)}"
            )
        clean[name] = array
    metadata_bytes = encode_metadata(metadata)
    digest = compute_digest(metadata_bytes, clean)
    members = dict(clean)
    members[METADATA_KEY] = np.frombuffer(metadata_bytes, dtype=np.uint8)
    members[DIGEST_KEY] = np.frombuffer(digest.encode("ascii"), dtype=np.uint8)
    return write_file(path, lambda f: np.savez(f, **members), check)  # type: ignore[arg-type]


def _read_members(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        raise ArtifactError(
            f"{path} is not a thrust_export numpy artifact: expected an .npz (zip) file, "
            f"found leading bytes {magic!r}"
        )
    try:
        # The writer stores members uncompressed; refusing compressed ones rules out zip bombs,
        # and the total size is bounded by the file's own size.
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    raise ArtifactError(f"{path}: member {info.filename!r} is compressed")
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise ArtifactError(f"{path}: member {info.filename!r} is too large")
        with np.load(path, allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
    except ArtifactError:
        raise
    except Exception as exc:
        # Anything the zip/npy parsers raise on an untrusted file (BadZipFile, zlib.error,
        # EOFError, ValueError for pickled members, NotImplementedError/RuntimeError for unusual
        # zip flags, ...) means the file is not a valid artifact.
        raise ArtifactError(f"{path} is truncated or corrupt: {type(exc).__name__}: {exc}") from exc
    for name, value in members.items():
        # NpzFile returns the raw bytes of a member that is not a .npy array.
        if not isinstance(value, np.ndarray):
            raise ArtifactError(f"{path}: member {name!r} is not a .npy array")
    return members


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite constant {name} in metadata JSON")


def _parse_metadata(path: Path, raw: np.ndarray) -> tuple[dict[str, Any], bytes]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ArtifactError(f"{path}: {METADATA_KEY} must be a 1-D uint8 array")
    if raw.size > _MAX_METADATA_BYTES:
        raise ArtifactError(f"{path}: metadata larger than {_MAX_METADATA_BYTES} bytes")
    metadata_bytes = raw.tobytes()
    try:
        metadata = json.loads(metadata_bytes.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path}: metadata is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ArtifactError(
            f"{path}: metadata must be a JSON object, got {type(metadata).__name__}"
        )
    return metadata, metadata_bytes


def check_format(metadata: Mapping[str, Any], where: str = "artifact") -> None:
    """Raise :class:`ArtifactError` unless the metadata names this format and version.

    :param metadata: the artifact's JSON metadata
    :param where: what to name in the error message (the file)
    :raises ArtifactError: another format, or another format version
    """
    if metadata.get("format") != FORMAT_NAME:
        raise ArtifactError(
            f"{where}: not a thrust_export numpy policy (format {metadata.get('format')!r}, "
            f"expected {FORMAT_NAME!r})"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ArtifactError(
            f"{where}: unsupported format version {version!r}; this thrust_export reads "
            f"version {FORMAT_VERSION} only"
        )


def read_artifact(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an artifact without unpickling anything.

    Checks, in order: the file is a zip; every member is a plain ``.npy`` array; the metadata is
    JSON naming :data:`FORMAT_NAME` version :data:`FORMAT_VERSION`; the SHA-256 digest matches;
    weight dtypes are allowed. The metadata's *content* (layers, shapes) is validated by
    :class:`thrust_export.NumpyPolicy`.

    :param path: the ``.npz`` file
    :return: ``(metadata, arrays)``, arrays excluding the reserved members
    :raises FileNotFoundError: if ``path`` does not exist
    :raises ArtifactError: for anything else wrong with the file
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such artifact file: {path}")
    members = _read_members(path)
    for reserved in (METADATA_KEY, DIGEST_KEY):
        if reserved not in members:
            raise ArtifactError(
                f"{path}: missing member {reserved!r}; not a thrust_export artifact"
            )
    metadata, metadata_bytes = _parse_metadata(path, members.pop(METADATA_KEY))
    check_format(metadata, str(path))
    raw_digest = members.pop(DIGEST_KEY)
    if raw_digest.dtype != np.uint8 or raw_digest.shape != (64,):
        raise ArtifactError(f"{path}: {DIGEST_KEY} must be 64 uint8 hexadecimal characters")
    for name, array in members.items():
        if array.dtype.str not in ALLOWED_ARRAY_DTYPES:
            raise ArtifactError(
                f"{path}: array {name!r} has dtype {array.dtype.str}; expected one of "
                f"{sorted(ALLOWED_ARRAY_DTYPES)}"
            )
    expected = raw_digest.tobytes()
    actual = compute_digest(metadata_bytes, members).encode("ascii")
    if not hmac.compare_digest(expected, actual):
        raise ArtifactError(
            f"{path}: SHA-256 mismatch: the artifact was modified or corrupted after export "
            f"(recorded {expected.decode('ascii', 'replace')}, computed {actual.decode()})"
        )
    return metadata, members


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The verified JSON metadata of an artifact (see :func:`read_artifact`).

    :param path: the ``.npz`` artifact
    :return: its metadata
    :raises ArtifactError: a damaged artifact (as :func:`read_artifact`)
    """
    return read_artifact(path)[0]
