"""thrust_export: trained Stable-Baselines3 policies to pure numpy and to ONNX.

What this package is for (filled in by its own issue):

- ``export_numpy``: a torch-free artifact (an ``.npz`` of weights that loads with
  ``allow_pickle=False`` plus JSON metadata), and ``load`` returning a ``NumpyPolicy`` whose
  ``predict`` matches SB3's ``model.predict`` without importing torch;
- ``export_onnx``: an ONNX model with a dynamic batch axis, checked with ``onnx.checker`` and
  onnxruntime;
- the ``thrust-export`` command-line tool with a parity check.

Running an exported policy needs numpy (or onnxruntime) only; exporting reads an SB3 model and
so needs torch and stable-baselines3. Nothing is exported yet: this package holds no public
API until its issue lands.
"""

__all__: list[str] = []
