"""Training methods by name: each builds (optimizer, accelerator or None) from the train spec.

A method is a factory ``(model, spec, problem) -> (optimizer, accelerator)`` registered with
`register_method`; the accelerator follows the protocol documented in `surrogate.accelerator`,
and ``problem`` (`surrogate.problems`) gives the FLOPs of a loss check (``eval_flops(model)``)
and the output-layer refit of a landing (``refit(model)``). All methods of a seed share the
network's initial weights, the data, the learning rate and the batch size, so their FLOP
counts compare like for like.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from surrogate.accelerator import Accelerator, DMDAccelerator, check_horizon, check_int

MethodFactory = Callable[
    [nn.Module, dict, object], tuple[torch.optim.Optimizer, Accelerator | None]
]
# train.dmd.landing: what is done to an extrapolated candidate before its loss check.
LANDINGS = ("none", "refit_output")
METHODS: dict[str, MethodFactory] = {}


def register_method(name: str) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator: make ``factory`` available as training method ``name``."""

    def decorate(factory: MethodFactory) -> MethodFactory:
        if name in METHODS:
            raise ValueError(f"training method {name!r} is already registered")
        METHODS[name] = factory
        return factory

    return decorate


def build_method(
    name: str, model: nn.Module, spec: dict, problem
) -> tuple[torch.optim.Optimizer, Accelerator | None]:
    """The optimizer and accelerator of method ``name``; ValueError for an unknown name."""
    if name not in METHODS:
        raise ValueError(f"unknown training method {name!r}; available: {sorted(METHODS)}")
    return METHODS[name](model, spec, problem)


class _Probe:
    """What a method factory asks of a problem, for checking settings without data."""

    @staticmethod
    def eval_flops(model) -> int:
        return 0

    @staticmethod
    def refit(model) -> int:
        return 0


# Methods whose settings are a section of the train spec (train.<name>).
CONFIGURED = ("dmd", "koopman")


def check_settings(spec: dict) -> None:
    """ValueError naming a bad train.dmd or train.koopman setting, raised as a run would raise
    it when its method is built (here on a one-layer model), so that a bad value fails before
    any data is loaded, whichever methods the spec runs."""
    # Nothing the probe does may advance the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(nn.Linear(2, 1))
        for name in CONFIGURED:
            try:
                build_method(name, model, spec, _Probe())
            except (TypeError, ValueError) as err:
                raise ValueError(f"train.{name}: {err}") from None


def adam_optimizer(model: nn.Module, spec: dict) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with the spec's learning rate and torch's default betas."""
    return torch.optim.Adam(model.parameters(), lr=spec["optimizer"]["lr"])


@register_method("adam")
def _adam(model, spec, problem):
    return adam_optimizer(model, spec), None


def scaled_windows(options: dict, steps: int) -> dict:
    """train.dmd settings for a run of ``steps`` steps (train.steps, the schedule's length,
    even if the run stops earlier): ``stride`` and a finite ``horizon`` times
    steps / ``reference_steps`` when the run is longer than that (the window then spans the
    same fraction of the schedule), as set when shorter or when it is 0; without the key.
    ValueError for a stride or horizon that the accelerator would reject, as it words it.
    """
    options = dict(options)
    reference = check_int("reference_steps", options.pop("reference_steps", 0), 0)
    if reference and steps > reference:
        factor = steps / reference
        # Checked first: scaling would turn a stride of 0 or 0.5 into a valid one.
        options["stride"] = max(1, round(check_int("stride", options["stride"], 1) * factor))
        horizon = check_horizon(options["horizon"])
        if not math.isinf(horizon):
            options["horizon"] = horizon * factor
    return options


@register_method("dmd")
def _dmd(model, spec, problem):
    options = scaled_windows(spec["dmd"], spec["steps"])
    landing = options.pop("landing", "none")
    if landing not in LANDINGS:
        raise ValueError(f"landing must be one of {LANDINGS}, got {landing!r}")
    options["landing"] = (lambda: problem.refit(model)) if landing == "refit_output" else None
    optimizer = adam_optimizer(model, spec)
    return optimizer, DMDAccelerator(
        model, optimizer, eval_flops=problem.eval_flops(model), **options
    )


@register_method("koopman")
def _koopman(model, spec, problem):
    # Imported here: surrogate.koopman builds on surrogate.accelerator, not the reverse.
    from surrogate.koopman.accelerator import build_accelerator

    optimizer = adam_optimizer(model, spec)
    eval_flops = problem.eval_flops(model)
    return optimizer, build_accelerator(model, optimizer, spec.get("koopman", {}), eval_flops)
