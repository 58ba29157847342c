"""Experiments: each runs from parameters held as data and returns a tidy pandas DataFrame."""
