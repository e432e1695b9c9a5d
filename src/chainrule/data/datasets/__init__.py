"""Real datasets: loaders that return TensorDatasets, and the checked, cached downloader they share."""

from chainrule.data.datasets.digits import load_digits
from chainrule.data.datasets.download import ChecksumError, check_sha256, data_root, download, file_sha256

__all__ = ["ChecksumError", "check_sha256", "data_root", "download", "file_sha256", "load_digits"]
