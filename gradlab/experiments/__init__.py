"""Experiments: each one a frozen dataclass of parameters and a ``run`` that returns tidy DataFrames.

- :mod:`.accuracy` -- error of every step-taking backend against the step ``h``, with each
  backend's own error model beside the measurement;
- :mod:`.cost` -- time and evaluation count of every backend over a ladder of network sizes,
  every repeat kept;
- :mod:`.gradcheck_zoo` -- gradcheck of backprop for every activation under every head;
- :mod:`.bugzoo` -- which gradient checker catches which realistic backprop bug;
- :mod:`.training` -- the same descent with every backend, per epoch and per second.

Experiments use backends and the network; they know nothing of charts or pages (the report
draws and writes them).  The submodules are imported by name, not from here.
"""
