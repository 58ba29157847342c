"""The report: sections (experiment -> DataFrames -> figure -> page text), written as one set."""

from .assemble import build, files_of, measure
from .config import MODES, Config
from .publish import ReportBusyError, verify

__all__ = ["MODES", "Config", "ReportBusyError", "build", "files_of", "measure", "verify"]
