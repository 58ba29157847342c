"""The networks under study: activation and loss tables, the MLP and its backprop, and
:class:`Network` of the layers in :mod:`gradlab.nn.layers` (``nn.Activation`` is the layer;
the table's row type is :class:`gradlab.nn.activations.Activation`).

Knows nothing of gradient backends or checks; implements the objective protocol.
"""

from .activations import ACTIVATIONS, OUTPUT_ONLY, softmax
from .backprop import RULES, Rules, backprop
from .layers import (
    LSTM,
    RNN,
    Activation,
    Attention,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    LayerNorm,
    MaxPool2d,
)
from .losses import HEADS, LOSSES, Head, Loss
from .mlp import MLP, MLPObjective
from .network import Network, NetworkObjective
from .rop import HVP_RULES, HvpRules

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "HVP_RULES",
    "LOSSES",
    "MLP",
    "OUTPUT_ONLY",
    "RULES",
    "LSTM",
    "RNN",
    "Activation",
    "Attention",
    "AvgPool2d",
    "BatchNorm",
    "Conv2d",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Head",
    "HvpRules",
    "Layer",
    "LayerNorm",
    "MaxPool2d",
    "Network",
    "NetworkObjective",
    "Loss",
    "MLPObjective",
    "Rules",
    "backprop",
    "softmax",
]
