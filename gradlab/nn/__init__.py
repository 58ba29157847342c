"""The network under study: activation and loss tables, the MLP and its backprop.

Knows nothing of gradient backends or checks; implements the objective protocol.
"""

from .activations import ACTIVATIONS
from .backprop import RULES, Rules, backprop
from .losses import LOSSES
from .mlp import MLP, MLPObjective

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "RULES", "MLPObjective", "Rules", "backprop"]
