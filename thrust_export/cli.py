"""The ``thrust-export`` command line (also ``python -m thrust_export``).

::

    thrust-export MODEL.zip --format numpy|onnx -o OUT [--vec-normalize STATS.pkl] [--check N]
                  [--algo PPO|A2C|DQN|SAC|TD3|TRPO|MaskablePPO] [--opset 17]
    thrust-export MODEL.zip|POLICY.npz --format web --env ENV_ID -o PAGE.html

Exit status: 0 on success; 1 if the export does not reproduce SB3 (the parity check fails:
nothing is written, an earlier file at ``-o`` is left as it was); 2 on a usage error, a
missing or unreadable input, or an unsupported model, reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from thrust_export.parity import ParityReport

PROG = "thrust-export"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


#: ``--algo`` choices, upper-cased (the parser upper-cases the argument; sb3.load_model maps
#: ``MASKABLEPPO`` back to ``MaskablePPO``). A literal: importing sb3.py would import torch.
_ALGORITHMS = ("PPO", "A2C", "DQN", "SAC", "TD3", "TRPO", "MASKABLEPPO")

#: The output suffix each format writes; another known suffix on ``-o`` is refused.
#: ``--opset`` when not given (a literal, as _ALGORITHMS: onnx_export imports torch).
_DEFAULT_OPSET = 17

_SUFFIXES = {"numpy": ".npz", "onnx": ".onnx", "web": ".html"}
_KNOWN_SUFFIXES = frozenset({*_SUFFIXES.values(), ".htm"})


def _check_output_suffix(output: str, output_format: str) -> None:
    """Refuse ``-o`` whose suffix names another format (``--format numpy -o x.onnx``)."""
    suffix = Path(output).suffix.lower()
    expected = _SUFFIXES[output_format]
    if (
        suffix in _KNOWN_SUFFIXES
        and suffix != expected
        and not (output_format == "web" and suffix == ".htm")
    ):
        raise ValueError(
            f"-o {output}: a {suffix} name contradicts --format {output_format}, which writes "
            f"{expected} files"
        )


def _check_output_is_no_input(args: argparse.Namespace) -> None:
    """Refuse ``-o`` naming an input file (the model or the statistics), which writing the export
    would destroy (:func:`thrust_export.artifact.check_not_an_input`)."""
    from thrust_export.artifact import check_not_an_input

    inputs = {"MODEL": args.model, "--vec-normalize": args.vec_normalize}
    check_not_an_input(args.output, inputs, "-o")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``thrust-export``."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Export a trained Stable-Baselines3 policy to a torch-free numpy artifact (.npz) or "
            "to ONNX, optionally checking it against SB3's predict on random observations; or "
            "write a web page (--format web) where the policy plays its env."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL.zip",
        help="model saved with model.save() (or, with --format web, a .npz numpy artifact)",
    )
    parser.add_argument(
        "--format", required=True, choices=("numpy", "onnx", "web"), help="output format"
    )
    parser.add_argument(
        "--env",
        metavar="ENV_ID",
        help="with --format web: the env the page runs (e.g. Thrust/CartPole-v1)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")
    parser.add_argument(
        "--vec-normalize",
        metavar="STATS.pkl",
        help="VecNormalize statistics (VecNormalize.save) to fold into the exported policy",
    )
    parser.add_argument(
        "--check",
        type=_positive_int,
        metavar="N",
        help="compare the export with SB3's predict on N random observations and print the "
        "largest deviation (exit status 1 if it does not match)",
    )
    parser.add_argument(
        "--algo",
        choices=_ALGORITHMS,
        type=str.upper,
        metavar="ALGO",
        help="algorithm that saved MODEL.zip: PPO, A2C, DQN, SAC, TD3, TRPO or MaskablePPO "
        "(detected by default; any case)",
    )
    parser.add_argument(
        "--opset", type=int, help=f"with --format onnx: the ONNX opset (default {_DEFAULT_OPSET})"
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    # Fail fast on missing inputs, before importing torch.
    for path in (args.model, args.vec_normalize):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
    _check_output_is_no_input(args)
    _check_output_suffix(args.output, args.format)
    if args.opset is not None and args.format != "onnx":
        raise ValueError("--opset applies to --format onnx only")
    if args.format == "web":
        return _run_web(args)
    if args.env is not None:
        raise ValueError("--env applies to --format web only")
    from thrust_export.sb3 import load_model, load_vec_normalize

    model = load_model(args.model, args.algo)
    vec_normalize = load_vec_normalize(args.vec_normalize)
    # --check N is the exporter's own verification on N observations: the file is put at -o only
    # if it passes (a failed check leaves an earlier file there as it was).
    reports: list[ParityReport] = []
    options: dict[str, Any] = {"verify": args.check or 256, "on_report": reports.append}
    try:
        if args.format == "numpy":
            from thrust_export.numpy_export import export_numpy

            path = export_numpy(model, args.output, vec_normalize, **options)
        else:
            from thrust_export.onnx_export import export_onnx

            opset = _DEFAULT_OPSET if args.opset is None else args.opset
            path = export_onnx(model, args.output, opset, vec_normalize, **options)
    except RuntimeError:
        if args.check and reports:
            print(reports[-1].summary())
        raise
    size = path.stat().st_size
    print(
        f"wrote {path} ({args.format}, {size / 1024:.1f} KiB) "
        f"from {type(model).__name__} {args.model}"
    )
    if args.check:
        print(reports[-1].summary())
    return 0


def _run_web(args: argparse.Namespace) -> int:
    from thrust_export.web import export_web

    if args.env is None:
        raise ValueError("--format web needs --env ENV_ID, the env the page runs")
    if args.check:
        raise ValueError("--check applies to --format numpy and onnx")
    path = export_web(
        args.model, args.output, args.env, vec_normalize=args.vec_normalize, algo=args.algo
    )
    size = path.stat().st_size
    print(f"wrote {path} (web page for {args.env}, {size / 1024:.1f} KiB) from {args.model}")
    return 0


def _report(message: str) -> None:
    """Print ``message`` as one line on stderr."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``thrust-export`` on ``argv``.

    :param argv: the arguments (default ``sys.argv[1:]``)
    :return: the exit status: 0 success, 1 failed parity check, 2 user error
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _report(str(exc))
        return 2
    try:
        return _run(args)
    except NotImplementedError as exc:
        _report(f"unsupported model: {exc}")
        return 2
    except (OSError, ValueError, TypeError) as exc:
        # Missing/unreadable files, damaged archives, mismatched statistics, bad options.
        _report(str(exc))
        return 2
    except RuntimeError as exc:
        # The export does not reproduce SB3 (raised by the built-in verification).
        _report(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
