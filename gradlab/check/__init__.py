"""gradcheck as a pipeline: settings -> case -> the backend's reference, refined -> one judge -> the result."""

from .gradcheck import assert_gradcheck, gradcheck
from .result import GradcheckError, GradcheckResult
from .taylor import TaylorResult, taylor_test

__all__ = ["GradcheckError", "GradcheckResult", "TaylorResult", "assert_gradcheck", "gradcheck", "taylor_test"]
