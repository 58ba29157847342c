"""gradlab inside your own test suite.

- :mod:`gradlab.testing.plugin`: the pytest plugin (registered through the ``pytest11`` entry
  point when gradlab is installed): the ``gradcheck`` fixture, the ``@pytest.mark.gradcheck``
  marker, ``--gradcheck-fast`` / ``--gradcheck-full`` and a summary line of every check run;
- :mod:`gradlab.testing.strategies`: hypothesis strategies for points, parameter structures and
  networks to check (needs ``hypothesis``: ``pip install gradlab[testing]``).

Nothing is imported here: the strategies need hypothesis, which is optional, and the plugin is
pytest's to load.
"""
