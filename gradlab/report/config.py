"""What one report run measures: a frozen :class:`Config`, built from a mode and overrides."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from .. import _validate as v
from ..experiments.bugzoo import BugZooParams
from ..nn import ACTIVATIONS

#: mode -> settings: "quick" (the default, about two minutes here), "full" (N up to 10^6, long),
#: "smoke" (seconds: every file and section, from tiny experiments).  The trust_* settings are
#: the adversarial zoo's grid of conditions (smoke: one; quick: the hard ones; full: the grid;
#: batches of 2,000 too take about 13 minutes: ``Config.make("full", trust_batches=(16, 2000))``).
MODES: dict[str, dict] = {
    "quick": dict(
        widths=(2, 4, 8, 12, 16, 24, 32, 64, 128, 256),
        fd_max_params=1_500,
        repeats=5,
        steps_per_decade=3,
        bug_seeds=1,
        clean_seeds=1,
        # 12 epochs show the one trajectory and the orders of magnitude between backends as 20 did;
        # 2 repeats keep a fastest-of and a median per epoch (the band)
        epochs=12,
        training_repeats=2,
        training_points=200,
        trust_activations=("tanh", "relu"),
        trust_input_scales=(1.0, 1e3),
        trust_weight_scales=(1.0,),
        trust_dtypes=("float64", "float32"),
        trust_batches=(16,),
        trust_steps=(None,),
        # the options zoo reduced: the defaults, TensorFlow's step and a step far too large
        options_steps=(None, 1e-3, 0.3),
        options_references=("auto", "central", "forward"),
    ),
    "full": dict(
        widths=(2, 4, 8, 16, 24, 32, 47, 64, 128, 256, 512, 700),
        fd_max_params=9_000,
        repeats=7,
        bug_seeds=4,
        clean_seeds=6,
        epochs=60,
        training_repeats=5,
        trust_activations=("tanh", "relu", "hard_tanh"),
        trust_input_scales=(1e-3, 1.0, 1e3),
        trust_weight_scales=(1.0, 10.0),
        trust_dtypes=("float64", "float32"),
        trust_batches=(16,),
        trust_steps=(None, 0.3),
        options_steps=(None, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.3, 1.0),
        options_references=None,
    ),
    "smoke": dict(
        widths=(2, 3),
        fd_max_params=5_000,
        repeats=2,
        bug_seeds=1,
        clean_seeds=1,
        epochs=2,
        training_repeats=1,
        steps_per_decade=1,
        dtypes=("float64", "float32"),
        bug_activations=("tanh",),
        clean_activations=("relu",),
        zoo_activations=("tanh", "relu"),
        accuracy_sizes=(3, 4, 2),
        accuracy_batch=8,
        bugs=("missing_batch_mean", "last_layer_0.1pct", "probe: dW[L] x (1 + 1e-7)"),
        min_seconds=2e-4,
        training_points=64,
        dpi=30,
        trust_activations=("relu",),
        trust_input_scales=(1.0,),
        trust_weight_scales=(1.0,),
        trust_dtypes=("float64",),
        trust_batches=(16,),
        trust_steps=(None,),
        options_steps=(None,),
        options_references=("auto",),
    ),
}


@dataclass(frozen=True)
class Config:
    """What one report run measures (each section turns it into its experiment's parameters)."""

    seed: int = 0
    mode: str = "quick"
    widths: tuple[int, ...] = ()
    fd_max_params: int = 0
    repeats: int = 0
    bug_seeds: int = 0
    clean_seeds: int = 0
    epochs: int = 0
    training_repeats: int = 1
    training_points: int = 400
    steps_per_decade: int = 4
    dtypes: tuple[str, ...] = ("float64", "float32")
    bug_activations: tuple[str, ...] = BugZooParams.activations
    clean_activations: tuple[str, ...] = BugZooParams.clean_activations
    accuracy_sizes: tuple[int, ...] = (4, 8, 8, 3)
    accuracy_batch: int = 32
    #: None: every bug of the zoo
    bugs: tuple[str, ...] | None = None
    #: None: every activation of the table
    zoo_activations: tuple[str, ...] | None = None
    #: the adversarial zoo's conditions: every combination of these (quick's grid by default)
    trust_activations: tuple[str, ...] = ("tanh", "relu")
    trust_input_scales: tuple[float, ...] = (1.0, 1e3)
    trust_weight_scales: tuple[float, ...] = (1.0,)
    trust_dtypes: tuple[str, ...] = ("float64", "float32")
    trust_batches: tuple[int, ...] = (16,)
    #: None: gradcheck's default step
    trust_steps: tuple[float | None, ...] = (None,)
    #: the user steps of the options zoo (None: the default step)
    options_steps: tuple[float | None, ...] = (None,)
    #: its references; None: "auto" and every registered reference
    options_references: tuple[str, ...] | None = ("auto",)
    #: each timed call is looped to last at least this long
    min_seconds: float = 2e-3
    #: an exponent is stated only when its uncertainty is at most this
    exponent_tolerance: float = 0.1
    #: a speed-up is stated only when the fastest and slowest round differ by at most this factor
    ratio_tolerance: float = 1.5
    benchmark_json: Path | None = None
    #: passed to gradlab.parallel.use() where that module exists
    scheduler: str | None = None
    progress: bool | None = None
    dpi: int = 110

    @classmethod
    def make(cls, mode: str = "quick", **overrides) -> Config:
        """The settings of ``mode`` ("quick", "full", "smoke") with ``overrides`` on top."""
        v.choice("mode", mode, MODES)
        known = {f.name for f in fields(cls)}
        for key in overrides:
            if key not in known:
                raise TypeError(f"Config has no setting {key!r}; settings: {', '.join(sorted(known))}")
        config = cls(mode=mode, **(MODES[mode] | overrides))
        return config.validated()

    def validated(self) -> Config:
        """``self``, with every setting checked (messages name the setting and the value)."""
        v.seed("seed", self.seed)
        for name in ("fd_max_params", "repeats", "bug_seeds", "clean_seeds", "epochs", "training_repeats"):
            v.positive_int(name, getattr(self, name))
        if not self.widths:
            raise v.fail("widths", "at least one positive width", self.widths)
        for w in self.widths:
            v.positive_int("widths", w)
        v.positive_float("min_seconds", self.min_seconds)
        for name in self.trust_activations:
            v.choice("trust_activations", name, ACTIVATIONS)
        for name in ("trust_input_scales", "trust_weight_scales"):
            for x in getattr(self, name):
                v.positive_float(name, x)
        for d in self.trust_dtypes:
            v.float_dtype("trust_dtypes", d)
        for m in self.trust_batches:
            v.positive_int("trust_batches", m)
        for h in self.trust_steps:
            if h is not None:
                v.positive_float("trust_steps", h)
        return replace(self, widths=tuple(int(w) for w in self.widths))

    @property
    def command(self) -> str:
        """The command line that reproduces this run."""
        parts = ["gradlab report"]
        if self.mode != "quick":
            parts.append(f"--{self.mode}")
        parts.append(f"--seed {self.seed}")
        if self.widths != MODES[self.mode]["widths"]:
            parts.append("--widths " + ",".join(str(w) for w in self.widths))
        if self.repeats != MODES[self.mode]["repeats"]:
            parts.append(f"--repeats {self.repeats}")
        if self.benchmark_json:
            parts.append(f"--benchmark-json {self.benchmark_json}")
        return " ".join(parts)
