"""``HostReads``: the torch operations a piece of code issues that, on CUDA, make the host wait
for the device, recorded on the CPU.

A CUDA graph cannot contain them (capture fails) and a rollout that issues them every step
stalls every step, yet on a CPU nothing shows it: the same code runs and gives the same numbers.
What does show is the operator torch dispatches: reading a tensor's value on the host
(``.item()``, ``bool(t)``, ``float(t)``, a Python ``if`` on a tensor) is
``aten._local_scalar_dense``; ``nonzero``, boolean-mask indexing and ``unique`` size their
output by the data; ``equal`` and ``allclose`` answer a Python bool. Copies to the host
(``.cpu()``) are no-ops on CPU tensors, so they are not seen here (the device check's sync count,
torch's sync debug mode on a GPU, sees them).

Usage::

    with HostReads() as reads:
        step()
    assert not reads.ops, reads.ops
"""

from __future__ import annotations

from typing import Any

import torch as th
from torch.utils._python_dispatch import TorchDispatchMode

# Overloads' packets (``aten.nonzero``, not ``aten.nonzero.default``) that read device data on
# the host or size an output by it.
HOST_READ_PACKETS = {
    "aten::_local_scalar_dense",
    "aten::nonzero",
    "aten::nonzero_static",
    "aten::is_nonzero",
    "aten::equal",
    "aten::allclose",
    "aten::masked_select",
    "aten::_unique",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::repeat_interleave",
}


def _is_bool_index(func: Any, args: tuple) -> bool:
    """``t[mask]`` with a bool mask (``aten.index`` / ``index_put_`` with a bool index tensor):
    its output's size is the mask's count."""
    if func.overloadpacket.__name__ not in ("index", "index_put_", "index_put"):
        return False
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, th.Tensor) and i.dtype == th.bool for i in indices or ())


class HostReads(TorchDispatchMode):
    """Records (in :attr:`ops`, in order) every dispatched operation that would make the host
    wait for a CUDA device."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket._qualified_op_name
        if name in HOST_READ_PACKETS or _is_bool_index(func, args):
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))
