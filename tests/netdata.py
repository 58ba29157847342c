"""Test data shared by the test modules."""

import numpy as np


def make_data(net, m, seed=0):
    """A batch for ``net``: Gaussian inputs and targets that suit its head."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, net.sizes[0]))
    n_out = net.sizes[-1]
    if net.loss == "cross_entropy" and net.output == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, m)]
    elif net.loss == "cross_entropy":
        Y = rng.integers(0, 2, size=(m, n_out)).astype(float)
    else:
        Y = rng.normal(size=(m, n_out))
    return X, Y
