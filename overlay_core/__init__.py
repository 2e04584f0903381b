"""overlay_core: the engine of the holistic overlay portfolio manager.

Data flows one way: upload -> book -> targets -> optimizer -> trades -> store / reports.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("overlay-core")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
