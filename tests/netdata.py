"""Test data shared by the test modules."""


def make_data(net, m, seed=0):
    """A batch for ``net``: Gaussian inputs and targets that suit its head."""
    return net.random_batch(m, seed=seed)
