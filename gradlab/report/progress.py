"""Progress of the report's stages: a line per stage (and per ten seconds of a long one)
when stderr is not a terminal, one line rewritten in place when it is.

The estimate of the time left is work-weighted: each experiment reports progress in its own
units of work (the cost ladder in evaluations x N, so that the large sizes at the end weigh
what they cost), and the rate so far is applied to the work left.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Announces stages ``1/k ... k/k`` and their progress on ``stream``.

    ``enabled`` None: on (a terminal gets a rewritten line, anything else a line per
    stage); False: silent.
    """

    def __init__(self, stages: int, *, enabled: bool | None = None, stream: TextIO | None = None, every: float = 10.0):
        self.stages, self.index = stages, 0
        self.enabled = enabled is not False
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.name, self.t0, self.last = "", 0.0, 0.0

    def _write(self, text: str, *, final: bool = True) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def stage(self, name: str) -> Progress:
        """Start the next stage (ends the previous one)."""
        self.index += 1
        self.name, self.t0 = name, time.monotonic()
        self.last = self.t0
        self._write(f"[{self.index}/{self.stages}] {name} ...", final=not self.tty)
        return self

    def __call__(self, done: float, total: float) -> None:
        """Work ``done`` of ``total`` in the current stage."""
        now = time.monotonic()
        if not self.enabled or total <= 0 or (not self.tty and now - self.last < self.every):
            return
        self.last = now
        elapsed = now - self.t0
        eta = elapsed * (total - done) / done if done > 0 else float("nan")
        left = f", about {_duration(eta)} left" if done < total and eta == eta else ""
        self._write(
            f"[{self.index}/{self.stages}] {self.name}: {100 * done / total:3.0f}% after {_duration(elapsed)}{left}",
            final=not self.tty,
        )

    def done(self) -> None:
        """End the current stage."""
        self._write(f"[{self.index}/{self.stages}] {self.name}: done in {_duration(time.monotonic() - self.t0)}")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
