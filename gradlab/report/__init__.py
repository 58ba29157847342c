"""The report: sections (experiment -> DataFrames -> figure -> page text), written as one set."""

from .assemble import build, destination, files_of, measure
from .config import MODES, Config
from .publish import FolderRefused, ReportBusyError, verify

__all__ = [
    "MODES",
    "Config",
    "FolderRefused",
    "ReportBusyError",
    "build",
    "destination",
    "files_of",
    "measure",
    "verify",
]
