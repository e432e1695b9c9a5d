"""Files: tensors as safetensors (never pickle, so loading runs no code), written atomically.

``save``/``load`` move named tensors (a ``state_dict``) to and from disk;
``atomic_write`` and ``atomic_path`` give every other writer (checkpoints,
logs, plots) the same all-or-nothing replacement of the target file.
"""

from chainrule.io.atomic import atomic_path, atomic_write
from chainrule.io.safetensors import SafetensorsError, load, load_metadata, save

__all__ = ["SafetensorsError", "atomic_path", "atomic_write", "load", "load_metadata", "save"]
