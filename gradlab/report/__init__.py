"""Charts, tables and the report page, from the sweeps' DataFrames."""

from .writer import Config, build, cost_from_benchmark_json

__all__ = ["Config", "build", "cost_from_benchmark_json"]
