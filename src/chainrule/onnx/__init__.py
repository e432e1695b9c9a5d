"""Export to ONNX (``export``, PyTorch's signature) and import from it (``load``).

Needs the ``onnx`` extra (``pip install chainrule[onnx]``): the ``onnx``
package builds and checks the graphs; ONNX Runtime is the tests' oracle.
"""

from chainrule.onnx.export import ExportError, export
from chainrule.onnx.load import OnnxImportError, OnnxModule, load

__all__ = ["ExportError", "OnnxImportError", "OnnxModule", "export", "load"]
