"""The network under study: activation and loss tables, the MLP and its backprop.

Knows nothing of gradient backends or checks; implements the objective protocol.
"""

from .activations import ACTIVATIONS, OUTPUT_ONLY, Activation, softmax
from .backprop import RULES, Rules, backprop
from .losses import HEADS, LOSSES, Head, Loss
from .mlp import MLP, MLPObjective
from .rop import HVP_RULES, HvpRules

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "HVP_RULES",
    "LOSSES",
    "MLP",
    "OUTPUT_ONLY",
    "RULES",
    "Activation",
    "Head",
    "HvpRules",
    "Loss",
    "MLPObjective",
    "Rules",
    "backprop",
    "softmax",
]
