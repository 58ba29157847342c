"""The network under study: activation and loss tables, the MLP and its backprop.

Knows nothing of gradient backends or checks; implements the objective protocol.
"""

from .activations import ACTIVATIONS, OUTPUT_ONLY, Activation, softmax
from .backprop import RULES, Rules, backprop
from .losses import HEADS, LOSSES, Head, Loss
from .mlp import MLP, MLPObjective

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "LOSSES",
    "MLP",
    "OUTPUT_ONLY",
    "RULES",
    "Activation",
    "Head",
    "Loss",
    "MLPObjective",
    "Rules",
    "backprop",
    "softmax",
]
