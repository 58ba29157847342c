"""gradcheck as a pipeline: settings -> case -> the backend's reference, refined -> one judge -> the result;
and the checks of forward rules (:mod:`.forward`: ``gradcheck(..., jvp=)`` and the adjoint test)."""

from .forward import AdjointError, AdjointResult, adjoint_test
from .gradcheck import assert_gradcheck, gradcheck
from .result import GradcheckError, GradcheckResult
from .taylor import TaylorResult, taylor_test

__all__ = [
    "AdjointError",
    "AdjointResult",
    "GradcheckError",
    "GradcheckResult",
    "TaylorResult",
    "assert_gradcheck",
    "gradcheck",
    "taylor_test",
    "adjoint_test",
]
