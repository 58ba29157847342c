"""The layers of :class:`gradlab.nn.Network`: each one file (or close family), a forward and
a hand-written backward, the derivation in the module docstring.

See :mod:`.base` for the contract every layer implements.
"""

from .activation import Activation
from .attention import Attention
from .base import Layer, ShapeError
from .conv import Conv2d, col2im, conv2d_naive, im2col
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .norm import BatchNorm, LayerNorm
from .pool import AvgPool2d, MaxPool2d
from .recurrent import LSTM, RNN

__all__ = [
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
    "Layer",
    "LayerNorm",
    "MaxPool2d",
    "ShapeError",
    "col2im",
    "conv2d_naive",
    "im2col",
]
