"""The machine the report was measured on: versions, processor, BLAS."""

from __future__ import annotations

import os
import platform

import numpy as np
import pandas as pd

from ...timing import blas_info
from . import Data, Section


def machine() -> dict[str, str]:
    info = blas_info()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "BLAS": str(info["blas"]),
        "BLAS threads while timing": "1",
    }


class Machine(Section):
    name = "machine"
    title = "Machine"
    order = 90

    def run(self, config, progress) -> Data:
        return {"machine": pd.DataFrame(list(machine().items()), columns=["", ""])}

    def text(self, data: Data, config) -> str:
        return data["machine"].to_markdown(index=False)


SECTION = Machine()
