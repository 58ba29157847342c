"""gradcheck, composed of parts: result types, entrywise, directional, Taylor, kinks, hints."""

from .gradcheck import assert_gradcheck, gradcheck
from .result import GradcheckError, GradcheckResult
from .taylor import TaylorResult, taylor_test

__all__ = ["GradcheckError", "GradcheckResult", "TaylorResult", "assert_gradcheck", "gradcheck", "taylor_test"]
