"""The network under study; knows nothing of gradient backends."""

from .activations import ACTIVATIONS
from .losses import LOSSES
from .mlp import MLP, MLPObjective

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "MLPObjective"]
