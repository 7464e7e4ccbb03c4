"""POD-DMD jumps of network weights: an add-on around any torch.optim optimizer.

After Tano, Portwood & Ragusa, "Accelerating training in artificial neural networks with
dynamic mode decomposition" (arXiv:2006.14371), with the safeguards their naive form lacks:

1. Every ``stride`` optimizer steps, each layer's parameters (weight and bias of one module
   form one group) are copied into a preallocated ring buffer of ``window`` snapshots on the
   parameters' device (no host synchronisation). With ``snapshots="mean"`` a snapshot is the
   mean of the parameters over the ``stride`` steps it closes instead (mini-batch noise
   averages out of the increments); a jump then extrapolates that averaged trajectory from its
   newest point.
2. When the window is full, per layer: POD of the weight *increments* between snapshots by the
   method of snapshots (`surrogate.pod.POD`, float64 Gram matrix, rank policy
   `surrogate.pod.select_rank`), optionally in the inner product of Adam's preconditioner
   (``coordinates="preconditioned"``: weights sqrt(v) + eps, the metric in which Adam is plain
   gradient descent).
3. DMD of the r POD coefficients (`surrogate.dmd.DMD`, exact or total-least-squares).
4. Extrapolation: with increments d_{k+1} = A d_k the weights h snapshot intervals ahead are
   w + sum_i phi_i b_i lambda_i (1 - lambda_i^h) / (1 - lambda_i); for ``horizon="inf"`` the
   fixed point w + sum phi_i b_i lambda_i / (1 - lambda_i) over decaying modes only
   (|lambda| < 1 - unit_tol; modes on the unit circle would drift without bound). Eigenvalues
   with |lambda| > 1 are projected onto the unit circle (``unstable="clip"``) or dropped
   (``"drop"``), never extrapolated as they are.
5. Choice of the horizon and safeguard: the horizons h, backtrack h, ..., backtrack^k h
   (k = ``max_backtracks``; for the fixed point, step scales 1, backtrack, ...) are tried with
   one charged training-loss evaluation each, and a jump is kept only if its loss is finite and
   not higher than before. ``search="backtrack"`` keeps the first such horizon, longest first;
   ``"best"`` evaluates them all and keeps the lowest loss, a line search along the DMD
   trajectory (QuACK restarts from the lowest-loss predicted point, Luo et al., NeurIPS 2023);
   ``"scan"`` searches shortest first and stops at the first rise; ``"longest"`` makes the
   choice of ``"backtrack"`` shortest first, stopping at the first horizon that raises the
   loss above its value before the jump (cheap when long jumps fail, as most do); ``"warm"``
   searches from the horizon accepted last time, upwards while the loss stays acceptable,
   else downwards to the first acceptable one: the choice of ``"longest"`` when the loss along
   the trajectory has one minimum, with fewer checks once the accepted horizons have grown.
   ``max_climb`` caps how many horizons longer than the start ``"longest"`` and ``"warm"``
   try, so that the accepted horizon grows by a bounded factor from one attempt to the next.
   Without an
   acceptable horizon the jump is rejected: the weights are restored bit for bit from the
   buffer. Non-finite weights are never evaluated, let alone kept.
   With a ``landing`` (a callable given by the training loop), every extrapolated candidate
   is first adjusted by it before its loss is checked, e.g. the output layer solved by least
   squares for the extrapolated hidden layers (`surrogate.problems.refit_output_layer`); the
   landing returns the FLOPs it spent, which are charged.
   With ``apply="spread"`` an accepted jump is not written at once: the weights go back to
   where they were, and the jump's displacement is added in equal parts after each optimizer
   step up to the next attempt (``stride`` x ``every`` steps with mean snapshots; ``every``
   is the new snapshots an attempt waits for after an accepted jump, by default the whole
   window). The next window then sees the optimizer's own drift plus the spread jump, and its
   DMD extrapolates both, so the accepted horizons act on a trajectory that is already
   faster: a momentum along the directions the DMD models, checked at every attempt. With
   ``restart``, an attempt whose checked loss rose by more than that factor since the attempt
   that made the last accepted jump stops that momentum (no jump, a fresh window), as
   accelerated gradient methods restart theirs (O'Donoghue & Candes 2015); with
   ``patience``, so does a run of that many attempts without a new lowest checked loss.
6. Optimizer state after an accepted jump (``moments``): ``keep``; ``reset`` (cleared, as
   freshly constructed); ``zero_first`` (first moment / momentum zeroed, second moment kept);
   ``rescale`` (first moment times sqrt(L_after / L_before), second moment times the ratio,
   since near a minimum |grad| scales like sqrt(L)).

Every FLOP spent here (loss evaluations for the checks, increments, Gram matrices, eigh, DMD,
lifts, finiteness checks) is added to ``flops``; the training loop charges it.

The accelerator protocol (what the training loop of `surrogate.train` relies on, and what
other accelerators such as the node-Koopman predictor in `surrogate.koopman` implement)::

    class Accelerator(Protocol):
        flops: int                 # cumulative FLOPs the accelerator itself has spent
        diagnostics: list[dict]    # JSON-serialisable, written to diagnostics.json
        def step(self, loss_fn: Callable[[], torch.Tensor]) -> Event | None: ...
        def state_dict(self) -> dict: ...
        def load_state_dict(self, state: dict) -> None: ...

``step`` is called once after every ``optimizer.step()``; ``loss_fn()`` returns the training
loss (a 0-d tensor) of the model's current weights and costs ``eval_flops`` FLOPs, which the
accelerator must add to ``flops`` for every call. ``step`` returns None, or an `Event` whose
``kind`` is ``"jump_accepted"``, ``"jump_rejected"`` or ``"restart"`` with JSON-serialisable
``info``. ``state_dict`` holds everything needed for a resumed run to continue identically.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from surrogate.dmd import DMD, DMD_METHODS, dmd_flops
from surrogate.pod import POD, check_rank_policy, lift_flops, pod_flops

EVENT_KINDS = ("jump_accepted", "jump_rejected", "restart")
MOMENT_POLICIES = ("keep", "reset", "zero_first", "rescale")
UNSTABLE_POLICIES = ("clip", "drop")
COORDINATES = ("raw", "preconditioned")
SEARCHES = ("backtrack", "best", "scan", "longest", "warm")
SNAPSHOTS = ("sample", "mean")
APPLY = ("at_once", "spread")


@dataclass
class Event:
    """Something an accelerator did to the weights at one step."""

    kind: str
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {self.kind!r}")


class Accelerator(Protocol):
    """Interface of a training accelerator (see the module docstring)."""

    flops: int
    diagnostics: list[dict]

    def step(self, loss_fn: Callable[[], torch.Tensor]) -> Event | None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def parameter_groups(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """(module name, its own trainable parameters) for every module that has some."""
    groups = []
    for name, module in model.named_modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if params:
            groups.append((name or "model", params))
    return groups


def check_int(name: str, value, minimum: int = 1) -> int:
    """`value` as an int if it is an integer >= `minimum`; ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_horizon(horizon) -> float:
    """A horizon as a float: training steps (> 0), or math.inf for ``"inf"`` (the fixed point);
    ValueError naming the value otherwise."""
    if horizon == "inf" or horizon == math.inf:
        return math.inf
    if isinstance(horizon, int | float) and not isinstance(horizon, bool) and 0 < horizon:
        return float(horizon)
    raise ValueError(f"horizon must be > 0 (training steps) or 'inf', got {horizon!r}")


def _check_choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def horizon_factors(eigs: np.ndarray, horizon: float, unit_tol: float) -> np.ndarray:
    """Sum of eigs**j for j = 1..horizon (per eigenvalue); for inf only over decaying modes.

    The geometric sum lambda (1 - lambda^h) / (1 - lambda) tends to h as lambda -> 1 (a steady
    drift continued linearly), which is used where |1 - lambda| is at round-off level.
    """
    eigs = np.asarray(eigs, dtype=np.complex128)
    one_minus = 1.0 - eigs
    if math.isinf(horizon):
        decaying = np.abs(eigs) < 1.0 - unit_tol
        safe = np.where(decaying, one_minus, 1.0)
        return np.where(decaying, eigs / safe, 0.0)
    near_one = np.abs(one_minus) < 1e-10
    safe = np.where(near_one, 1.0, one_minus)
    return np.where(near_one, horizon, eigs * (1.0 - eigs**horizon) / safe)


class LayerDMD:
    """POD-DMD model of one layer's weight trajectory, extrapolating from its last snapshot.

    ``increments`` (n x (m-1)) are the differences of m consecutive snapshots, ``last`` the
    newest snapshot (n). POD of the increments with the rank policy, exact or TLS DMD of the POD
    coefficients (keeping every direction the POD kept), amplitudes of the last increment;
    eigenvalues with |lambda| > 1 are projected onto the unit circle (``unstable="clip"``) or
    their modes dropped (``"drop"``). ``fit_flops`` is what the fit cost, ``extrapolate_flops``
    what one `extrapolate` costs (surrogate.flops conventions).
    """

    def __init__(
        self,
        increments: torch.Tensor,
        last: torch.Tensor,
        *,
        rank_policy: str = "energy",
        rank: float = 0.99999,
        dmd: str = "exact",
        unstable: str = "clip",
        weights: torch.Tensor | None = None,
    ):
        n, m1 = increments.shape
        self.pod = POD(rank_policy, rank).fit(increments, weights)
        coefficients = self.pod.coefficients.numpy()
        # The POD already truncated; DMD keeps every numerically nonzero direction.
        fitted = DMD(dmd, "energy", 1.0).fit(coefficients)
        self.raw_eigs = fitted.eigs
        self.modes = fitted.modes
        self.eigs = fitted.eigs.copy()
        self.amplitudes = fitted.project(coefficients[:, -1])
        unstable_modes = np.abs(self.eigs) > 1.0
        if unstable == "clip":
            self.eigs[unstable_modes] /= np.abs(self.eigs[unstable_modes])
        else:
            self.amplitudes[unstable_modes] = 0.0
        self.last = last
        self.fit_flops = pod_flops(n, m1, self.pod.rank, weights is not None) + dmd_flops(
            self.pod.rank, m1, fitted.rank, dmd
        )
        # Lift, add to the last snapshot, scale and a finiteness check.
        self.extrapolate_flops = lift_flops(n, m1, self.pod.rank) + 4 * n

    def extrapolate(self, horizon: float, scale: float = 1.0, unit_tol: float = 1e-3):
        """The weights ``horizon`` snapshot intervals ahead (or the fixed point for inf)."""
        factors = horizon_factors(self.eigs, horizon, unit_tol)
        z = scale * (self.modes @ (factors * self.amplitudes)).real
        return self.last + self.pod.lift(torch.from_numpy(z))

    def summary(self) -> dict:
        """Rank, POD singular values and (unprojected) DMD eigenvalues, JSON-serialisable."""
        return {
            "rank": self.pod.rank,
            "singular_values": self.pod.singular_values.tolist(),
            "eigs_real": self.raw_eigs.real.tolist(),
            "eigs_imag": self.raw_eigs.imag.tolist(),
        }


class DMDAccelerator:
    """POD-DMD weight jumps for any module and optimizer (Tano et al., arXiv:2006.14371).

    Args:
        model: the network whose parameters the ``optimizer`` updates.
        optimizer: any torch.optim optimizer (``coordinates="preconditioned"`` needs Adam/AdamW).
        stride: optimizer steps between snapshots (>= 1).
        snapshots: ``"sample"``: a snapshot is the parameters at its step; ``"mean"``: their
            mean over the ``stride`` steps up to it (the first snapshot after a jump averages
            the ``stride`` steps after it, so snapshots stay evenly spaced). The same with a
            stride of 1.
        window: snapshots per DMD model (>= 3: m snapshots give m - 1 increments, and DMD needs
            at least two of them).
        start: first training step at which snapshots are taken (>= 1), to skip the initial
            transient (with mean snapshots, the first one averages steps start .. start +
            stride - 1).
        warmup: steps after a jump (accepted or not) before snapshots resume (>= 0).
        every: new snapshots needed before the next attempt after an accepted jump
            (1..window); None means a fresh window (``window``). Below ``window`` the window
            slides over the jump, which needs ``apply="spread"`` (a jump written at once would
            put a step into the trajectory the next DMD fits).
        retry: new snapshots needed before trying again after a rejected jump (1..window; the
            window slides); None means ``every`` (a fresh window by default).
        restart: at an attempt that follows an accepted jump, if the checked loss is more than
            ``restart`` times (>= 1) the one checked (before jumping) at the attempt that made
            the jump (whose spread has just ended), no jump and a fresh window starts, as
            accelerated gradient methods restart their momentum when the objective rises
            (O'Donoghue and Candes, 2015). The event's kind is ``"restart"`` (``info`` as
            for a rejection, ``reason="restart"``), at the cost of that one check. None: never.
        patience: also restart (``reason="patience"``) at an attempt that follows an accepted
            jump when this many attempts in a row (>= 1; the restarts of ``restart`` not
            counted) have not checked a loss below the lowest one since the start or the last
            such restart: momentum that no longer makes progress, though no single check rose
            by ``restart``. None: never.
        rank_policy, rank: POD and DMD truncation, see `surrogate.pod.select_rank`.
        dmd: ``"exact"`` or ``"tls"`` (noise-robust).
        horizon: training steps to extrapolate (> 0), or ``"inf"`` for the fixed point.
        backtrack: factor (0 < backtrack < 1) between successive horizons tried (or, for
            ``"inf"``, successive step scales).
        max_backtracks: horizons tried after the first (>= 0).
        search: ``"backtrack"``: keep the first horizon (largest first) whose training loss is
            not higher than before the jump; ``"best"``: a line search along the DMD
            trajectory: evaluate every horizon and keep the lowest-loss one (QuACK's restart
            from the best predicted point, Luo et al., NeurIPS 2023); ``"scan"``: the same line
            search from the shortest horizon up, stopped at the first loss that is higher than
            the best so far (or than before the jump), which assumes the loss along the
            trajectory has one minimum and spends one check on a jump that fails at once;
            ``"longest"``: shortest first, keep the longest horizon whose loss is not higher
            than before, stop at the first that is (the choice of ``"backtrack"`` when the loss
            along the trajectory has one minimum); ``"warm"``: searched from the horizon
            accepted at the last jump (up while the loss is not higher than before, else down
            to the first horizon where it is not; the shortest at the first jump and after a
            rejection), the choice of ``"longest"`` when the loss along the trajectory has one
            minimum. The lowest loss right after a jump is not the
            best criterion: a long jump excites fast modes that Adam damps within a few steps.
        max_climb: with ``search="longest"`` or ``"warm"``, at most this many horizons longer
            than the first one tried at an attempt (>= 1), so that the accepted horizon grows
            by at most that many backtrack factors from one attempt to the next; None: no
            limit.
        unit_tol: |lambda| >= 1 - unit_tol counts as non-decaying (>= 0).
        unstable: ``"clip"`` or ``"drop"`` eigenvalues with |lambda| > 1.
        moments: optimizer state after an accepted jump, one of MOMENT_POLICIES.
        coordinates: ``"raw"`` or ``"preconditioned"`` POD inner product.
        eval_flops: FLOPs of one ``loss_fn()`` call (>= 0).
        landing: None, or a callable run on every extrapolated candidate before its loss
            check; it may change any parameters in place (a rejected jump restores them all)
            and returns the FLOPs it spent (an int >= 0).
        apply: ``"at_once"``: an accepted jump writes the extrapolated weights;
            ``"spread"``: its displacement is added in equal parts, one after each optimizer
            step up to the next attempt (``stride`` x ``every`` steps with mean snapshots;
            the loss check is the same, on the whole displacement from the weights at the
            attempt).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        stride: int = 1,
        snapshots: str = "sample",
        window: int = 10,
        start: int = 1,
        warmup: int = 0,
        every: int | None = None,
        retry: int | None = None,
        restart: float | None = None,
        patience: int | None = None,
        rank_policy: str = "energy",
        rank: float = 0.99999,
        dmd: str = "exact",
        horizon: float | str = "inf",
        backtrack: float = 0.5,
        max_backtracks: int = 3,
        search: str = "backtrack",
        max_climb: int | None = None,
        unit_tol: float = 1e-3,
        unstable: str = "clip",
        moments: str = "keep",
        coordinates: str = "raw",
        eval_flops: int = 0,
        landing: Callable[[], int] | None = None,
        apply: str = "at_once",
    ):
        self.stride = check_int("stride", stride, 1)
        self.snapshots = _check_choice("snapshots", snapshots, SNAPSHOTS)
        # m snapshots give m - 1 increments, and DMD needs at least two of them.
        self.window = check_int("window", window, 3)
        self.start = check_int("start", start, 1)
        self.warmup = check_int("warmup", warmup, 0)
        self.every = self.window if every is None else check_int("every", every, 1)
        if self.every > self.window:
            raise ValueError(
                f"every must be <= window ({self.window}), got {every} (None: a fresh window)"
            )
        self.retry = self.every if retry is None else check_int("retry", retry, 1)
        if self.retry > self.window:
            raise ValueError(f"retry must be <= window ({self.window}), got {retry}")
        if restart is not None and (
            isinstance(restart, bool) or not isinstance(restart, int | float) or not restart >= 1
        ):
            raise ValueError(f"restart must be a number >= 1 or None, got {restart!r}")
        self.restart = None if restart is None else float(restart)
        self.patience = None if patience is None else check_int("patience", patience, 1)
        check_rank_policy(rank_policy, rank)
        self.rank_policy, self.rank = rank_policy, rank
        self.dmd = _check_choice("dmd", dmd, DMD_METHODS)
        self.horizon = check_horizon(horizon)
        if not (isinstance(backtrack, int | float) and 0.0 < backtrack < 1.0):
            raise ValueError(f"backtrack must be in (0, 1), got {backtrack!r}")
        self.backtrack = float(backtrack)
        self.max_backtracks = check_int("max_backtracks", max_backtracks, 0)
        self.search = _check_choice("search", search, SEARCHES)
        self.max_climb = None if max_climb is None else check_int("max_climb", max_climb, 1)
        if not (isinstance(unit_tol, int | float) and 0.0 <= unit_tol < 1.0):
            raise ValueError(f"unit_tol must be in [0, 1), got {unit_tol!r}")
        self.unit_tol = float(unit_tol)
        self.unstable = _check_choice("unstable", unstable, UNSTABLE_POLICIES)
        self.moments = _check_choice("moments", moments, MOMENT_POLICIES)
        self.coordinates = _check_choice("coordinates", coordinates, COORDINATES)
        if coordinates == "preconditioned" and not isinstance(optimizer, torch.optim.Adam):
            raise ValueError(
                "coordinates='preconditioned' needs an Adam or AdamW optimizer, got "
                f"{type(optimizer).__name__}"
            )
        self.eval_flops = check_int("eval_flops", eval_flops, 0)
        if landing is not None and not callable(landing):
            raise ValueError(f"landing must be None or a callable, got {landing!r}")
        self.landing = landing
        self.apply = _check_choice("apply", apply, APPLY)
        if self.every < self.window and self.apply != "spread":
            raise ValueError(
                f"every={self.every} < window={self.window} needs apply='spread' (a jump "
                f"written at once would fall inside the next window), got apply={apply!r}; "
                "every=None (null in the config) waits for a fresh window"
            )

        self.model, self.optimizer = model, optimizer
        self.groups = parameter_groups(model)
        if not self.groups:
            raise ValueError(f"{type(model).__name__} has no trainable parameters")
        optimized = {id(p) for g in optimizer.param_groups for p in g["params"]}
        for name, params in self.groups:
            if any(id(p) not in optimized for p in params):
                raise ValueError(f"parameters of layer {name!r} are not in the optimizer")
        self.buffers = [
            torch.empty(
                self.window,
                sum(p.numel() for p in params),
                device=params[0].device,
                dtype=params[0].dtype,
            )
            for _, params in self.groups
        ]
        # Running sums of the parameters since the last snapshot (snapshots="mean" only; the
        # mean over a stride of 1 is the sample).
        averaged = self.snapshots == "mean" and self.stride > 1
        self.sums = [torch.zeros_like(b[0]) for b in self.buffers] if averaged else []
        # The sums as views shaped like the parameters: one fused add a step on a GPU.
        self._sum_views = self._param_views(self.sums) if averaged else ([], [])
        self._summed = 0
        self.flops = 0
        self.diagnostics: list[dict] = []
        self._step = 0
        # A mean snapshot closes the stride steps from `start` on.
        self._next_snapshot = self.start + (self.stride - 1 if self.sums else 0)
        self._head = 0  # slot of the next snapshot
        self._count = 0  # valid snapshots in the buffer
        self._since = 0  # snapshots since the last jump attempt
        self._needed = self.window
        self._warm = 0  # index (shortest first) of the last accepted horizon; search="warm"
        # The loss checked at the last attempt and whether that attempt accepted a jump, for
        # the restart rule.
        self._last_check: float | None = None
        self._last_accepted = False
        # The patience rule: the lowest loss checked since the start or its last restart, and
        # the attempts since that have not gone below it.
        self._lowest = math.inf
        self._no_low = 0
        # apply="spread": per-step increments of the last accepted jump (one per group; None
        # for a group it did not move) and the steps they are still to be added.
        self._push: list[torch.Tensor | None] = [None] * len(self.groups)
        self._push_views: tuple[list, list] = ([], [])
        self._push_left = 0

    # ------------------------------------------------------------------ protocol
    def step(self, loss_fn: Callable[[], torch.Tensor]) -> Event | None:
        """Record a snapshot when due; when the window is full, try a jump."""
        self._step += 1
        if self._push_left:
            self._spread()
        if self.sums and self._step > self._next_snapshot - self.stride:
            self._accumulate()
        if self._step < self._next_snapshot:
            return None
        self._snapshot()
        self._next_snapshot = self._step + self.stride
        if self._count < self.window or self._since < self._needed:
            return None
        return self._jump(loss_fn)

    def state_dict(self) -> dict:
        return {
            "step": self._step,
            "next_snapshot": self._next_snapshot,
            "head": self._head,
            "count": self._count,
            "since": self._since,
            "needed": self._needed,
            "warm": self._warm,
            "last_check": self._last_check,
            "last_accepted": self._last_accepted,
            "lowest": self._lowest,
            "no_low": self._no_low,
            "push": [None if d is None else d.clone() for d in self._push],
            "push_left": self._push_left,
            "flops": self.flops,
            "buffers": [b.clone() for b in self.buffers],
            "sums": [b.clone() for b in self.sums],
            "summed": self._summed,
            "diagnostics": [dict(d) for d in self.diagnostics],
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["buffers"]) != len(self.buffers) or any(
            a.shape != b.shape for a, b in zip(state["buffers"], self.buffers, strict=True)
        ):
            raise ValueError("accelerator state does not match this model and window")
        sums = state.get("sums", [])
        if len(sums) != len(self.sums):
            raise ValueError(f"accelerator state was not saved with snapshots={self.snapshots!r}")
        for mine, saved in zip(self.buffers + self.sums, state["buffers"] + sums, strict=True):
            mine.copy_(saved)
        self._summed = int(state.get("summed", 0))
        self._step = int(state["step"])
        self._next_snapshot = int(state["next_snapshot"])
        self._head, self._count = int(state["head"]), int(state["count"])
        self._since, self._needed = int(state["since"]), int(state["needed"])
        self._warm = int(state.get("warm", 0))
        self._last_check = state.get("last_check")
        self._last_accepted = bool(state.get("last_accepted", False))
        self._lowest = float(state.get("lowest", math.inf))
        self._no_low = int(state.get("no_low", 0))
        push = state.get("push", [None] * len(self.groups))
        if len(push) != len(self.groups):
            raise ValueError("accelerator state does not match this model")
        self._push = [
            None if d is None else d.clone().to(b.device)
            for d, b in zip(push, self.buffers, strict=True)
        ]
        self._push_views = self._param_views(self._push)
        self._push_left = int(state.get("push_left", 0))
        self.flops = int(state["flops"])
        self.diagnostics = [dict(d) for d in state["diagnostics"]]

    # ------------------------------------------------------------------ internals
    @staticmethod
    @torch.no_grad()
    def _flat(params: list[nn.Parameter], out: torch.Tensor):
        """Write the parameters into the flat vector ``out``."""
        offset = 0
        for p in params:
            out[offset : offset + p.numel()].copy_(p.reshape(-1))
            offset += p.numel()

    def _param_views(self, flats: list[torch.Tensor | None]) -> tuple[list, list]:
        """The parameters of the groups whose flat vector in ``flats`` is not None, and views
        of those vectors shaped like them (for one ``torch._foreach_add_`` over all)."""
        params_out, views = [], []
        for (_, params), flat in zip(self.groups, flats, strict=True):
            if flat is None:
                continue
            offset = 0
            for p in params:
                params_out.append(p)
                views.append(flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        return params_out, views

    @torch.no_grad()
    def _spread(self):
        """Add one step's part of a spread jump to the weights."""
        params, views = self._push_views
        torch._foreach_add_(params, views)
        self.flops += sum(v.numel() for v in views)
        self._push_left -= 1
        if not self._push_left:
            self._push = [None] * len(self.groups)
            self._push_views = ([], [])

    @torch.no_grad()
    def _accumulate(self):
        params, views = self._sum_views
        torch._foreach_add_(views, params)
        self.flops += sum(v.numel() for v in views)
        self._summed += 1

    @torch.no_grad()
    def _snapshot(self):
        if self.sums:
            for total, buffer in zip(self.sums, self.buffers, strict=True):
                torch.div(total, self._summed, out=buffer[self._head])
                total.zero_()
                self.flops += total.numel()
            self._summed = 0
        else:
            for (_, params), buffer in zip(self.groups, self.buffers, strict=True):
                self._flat(params, buffer[self._head])
        self._head = (self._head + 1) % self.window
        self._count = min(self._count + 1, self.window)
        self._since += 1

    def _read(self, params: list[nn.Parameter]) -> torch.Tensor:
        flat = torch.empty(
            sum(p.numel() for p in params), device=params[0].device, dtype=params[0].dtype
        )
        self._flat(params, flat)
        return flat

    @torch.no_grad()
    def _write(self, params: list[nn.Parameter], flat: torch.Tensor):
        """Write the flat vector ``flat`` into the parameters, in place."""
        offset = 0
        for p in params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def _preconditioner(self, params: list[nn.Parameter]) -> torch.Tensor | None:
        states = [self.optimizer.state.get(p, {}) for p in params]
        if any("exp_avg_sq" not in s for s in states):
            return None
        eps = self.optimizer.param_groups[0]["eps"]
        return torch.cat([s["exp_avg_sq"].reshape(-1) for s in states]).sqrt() + eps

    def _trials(self) -> list[tuple[float, float]]:
        """(horizon in snapshot intervals, step scale) for the first try and each backtrack."""
        tries = []
        for k in range(self.max_backtracks + 1):
            if math.isinf(self.horizon):
                tries.append((math.inf, self.backtrack**k))
            else:
                steps = self.horizon * self.backtrack**k
                intervals = max(1.0, round(steps / self.stride))
                if not tries or intervals != tries[-1][0]:
                    tries.append((intervals, 1.0))
        return tries

    @torch.no_grad()
    def _jump(self, loss_fn: Callable[[], torch.Tensor]) -> Event:
        spent_before = self.flops
        loss_before = float(loss_fn())
        self.flops += self.eval_flops
        previous, self._last_check = self._last_check, loss_before
        after_jump, self._last_accepted = self._last_accepted, False
        if (
            self.restart is not None
            and after_jump
            and previous is not None
            and math.isfinite(loss_before)
            and loss_before > previous * self.restart
        ):
            return self._restart(loss_before, spent_before)
        if self.patience is not None and math.isfinite(loss_before):
            if loss_before < self._lowest:
                self._lowest, self._no_low = loss_before, 0
            else:
                self._no_low += 1
                if self._no_low >= self.patience and after_jump:
                    self._lowest, self._no_low = loss_before, 0
                    return self._restart(loss_before, spent_before, "patience")
        order = [(self._head + i) % self.window for i in range(self.window)]
        models, layers = [], []
        for (name, params), buffer in zip(self.groups, self.buffers, strict=True):
            snapshots = buffer[order]
            n, m = snapshots.shape[1], self.window
            increments = (snapshots[1:] - snapshots[:-1]).T
            weights = self._preconditioner(params) if self.coordinates != "raw" else None
            self.flops += n * (m - 1) + (n if weights is not None else 0)
            if not bool(torch.isfinite(increments).all()):
                # Diverged weights: nothing trustworthy to extrapolate, and the loss check
                # below could not restore finite weights either.
                return self._reject_unusable(
                    f"non-finite snapshots in layer {name!r}", loss_before, spent_before
                )
            if not bool(torch.any(increments != 0)):
                # A layer that did not move has nothing to extrapolate.
                models.append(None)
                layers.append(
                    {
                        "name": name,
                        "rank": 0,
                        "singular_values": [],
                        "eigs_real": [],
                        "eigs_imag": [],
                    }
                )
                continue
            # The weights now, which a rejected jump restores: with mean snapshots they are not
            # the newest snapshot (the point the averaged trajectory is extrapolated from).
            current = self._read(params) if self.sums else snapshots[-1]
            model = LayerDMD(
                increments,
                snapshots[-1],
                rank_policy=self.rank_policy,
                rank=self.rank,
                dmd=self.dmd,
                unstable=self.unstable,
                weights=weights,
            )
            self.flops += model.fit_flops
            models.append((params, model, current))
            layers.append({"name": name} | model.summary())

        if all(model is None for model in models):
            return self._reject_unusable(
                "no layer moved over the window", loss_before, spent_before
            )

        # What a rejected jump writes back: the layers that move, or, with a landing (which
        # may change any layer), every layer.
        restore = [(model[0], model[2]) for model in models if model is not None]
        if self.landing is not None:
            restore = [(params, self._read(params)) for _, params in self.groups]

        tried, losses, written = [], [], None

        def attempt(horizon: float, scale: float) -> tuple[float | None, list]:
            """Write (and land) the candidate at one horizon; its checked loss (None if not
            finite, never evaluated on non-finite weights) and its parameters."""
            nonlocal written
            candidates = []
            for model in models:
                if model is None:
                    continue
                params, layer, _ = model
                candidates.append((params, layer.extrapolate(horizon, scale, self.unit_tol)))
                self.flops += layer.extrapolate_flops
            tried.append("inf" if math.isinf(horizon) else horizon * self.stride)
            finite = all(bool(torch.isfinite(new).all()) for _, new in candidates)
            if finite:
                for params, new in candidates:
                    self._write(params, new)
                if self.landing is not None:
                    self.flops += check_int("landing FLOPs", self.landing(), 0)
                    candidates = [(params, self._read(params)) for _, params in self.groups]
                    finite = all(bool(torch.isfinite(new).all()) for _, new in candidates)
                written = candidates
            if not finite:
                losses.append(None)
                return None, candidates
            loss = float(loss_fn())
            self.flops += self.eval_flops
            losses.append(loss if math.isfinite(loss) else None)
            return losses[-1], candidates

        def acceptable(loss: float | None) -> bool:
            return loss is not None and loss <= loss_before

        best = None  # (loss, horizon label, candidates) of the jump to keep
        trials = self._trials()  # longest first
        if self.search in ("longest", "warm"):
            # Up the horizons while the loss stays acceptable, from the shortest ("longest") or
            # from the one accepted last time ("warm"); from a start that is not acceptable,
            # down to the first acceptable one.
            up = trials[::-1]
            start = kept = min(self._warm, len(up) - 1) if self.search == "warm" else 0
            loss, candidates = attempt(*up[start])
            if acceptable(loss):
                best = (loss, tried[-1], candidates)
                top = len(up) if self.max_climb is None else start + 1 + self.max_climb
                for k in range(start + 1, min(top, len(up))):
                    loss, candidates = attempt(*up[k])
                    if not acceptable(loss):
                        break
                    best, kept = (loss, tried[-1], candidates), k
            else:
                for k in range(start - 1, -1, -1):
                    loss, candidates = attempt(*up[k])
                    if acceptable(loss):
                        best, kept = (loss, tried[-1], candidates), k
                        break
            self._warm = kept if best is not None else 0
        else:
            scan = self.search == "scan"
            for horizon, scale in reversed(trials) if scan else trials:
                loss, candidates = attempt(horizon, scale)
                if acceptable(loss) and (best is None or loss < best[0]):
                    best = (loss, tried[-1], candidates)
                    if self.search == "backtrack":
                        break
                elif scan:
                    break

        accepted = best[1] if best is not None else None
        if best is None:
            for params, current in restore:
                self._write(params, current)
            loss_after = next((x for x in reversed(losses) if x is not None), None)
        else:
            loss_after = best[0]
            # A spread starts from the weights before the jump (below), not from these.
            if written is not best[2] and self.apply == "at_once":
                for params, new in best[2]:
                    self._write(params, new)
            self._update_moments(loss_after / loss_before if loss_before > 0 else 1.0)

        self._since = 0
        self._last_accepted = accepted is not None
        # every = window new snapshots make a fresh window; fewer slide it over the jump.
        self._needed = self.every if accepted is not None else self.retry
        self._schedule_next_snapshot()
        if accepted is not None and self.apply == "spread":
            self._start_spread(restore, best[2])
        kind = "jump_accepted" if accepted is not None else "jump_rejected"
        self.diagnostics.append(
            {"step": self._step, "event": kind, "horizon": accepted, "layers": layers}
        )
        info = {
            "horizon": accepted,
            "tried": tried,
            "losses": losses,
            "loss_before": loss_before,
            "loss_after": loss_after,
            "ranks": {layer["name"]: layer["rank"] for layer in layers},
            "flops": self.flops - spent_before,
        }
        return Event(kind, info)

    def _start_spread(self, restore: list, candidates: list) -> None:
        """Put the weights back to ``restore`` and spread the displacement to ``candidates``
        over the steps up to the next attempt, when ``every`` new snapshots are in (stride x
        every steps with mean snapshots or a sliding window, 1 + (window - 1) x stride for a
        fresh window of sampled ones, plus the warmup), so that the attempt sees all of it."""
        steps = self._next_snapshot + (self.every - 1) * self.stride - self._step
        pushes = {}
        for (params, current), (_, new) in zip(restore, candidates, strict=True):
            pushes[id(params[0])] = (new - current) / steps
            self._write(params, current)
            self.flops += 2 * current.numel()
        self._push = [pushes.get(id(params[0])) for _, params in self.groups]
        self._push_views = self._param_views(self._push)
        self._push_left = steps

    def _reject_unusable(self, reason: str, loss_before: float, spent_before: int) -> Event:
        """A rejection before any horizon is tried: the next attempt as after any other."""
        self._since, self._needed, self._warm = 0, self.retry, 0
        self._schedule_next_snapshot()
        return self._no_jump(reason, loss_before, spent_before)

    def _restart(self, loss_before: float, spent_before: int, reason: str = "restart") -> Event:
        """No jump, and the next attempt after a fresh window of ``window`` new snapshots (the
        last jump's spread ended with the step of this attempt)."""
        self._since, self._needed, self._warm = 0, self.window, 0
        self._schedule_next_snapshot()
        return self._no_jump(reason, loss_before, spent_before, kind="restart")

    def _no_jump(
        self, reason: str, loss_before: float, spent_before: int, kind: str = "jump_rejected"
    ) -> Event:
        """An attempt that fits no DMD: its diagnostics record (no layers) and event."""
        self.diagnostics.append(
            {"step": self._step, "event": kind, "horizon": None, "layers": [], "reason": reason}
        )
        info = {
            "horizon": None,
            "tried": [],
            "losses": [],
            "loss_before": loss_before,
            "loss_after": None,
            "reason": reason,
            "flops": self.flops - spent_before,
        }
        return Event(kind, info)

    def _schedule_next_snapshot(self):
        """After a jump attempt (``_needed`` set): the first snapshot ``warmup`` steps on,
        evenly spaced with the ones before where the window slides (fewer than ``window`` new
        snapshots needed: ``retry`` after a rejection, ``every`` after an accepted jump) and
        wherever a snapshot averages the ``stride`` steps up to it; right after the attempt
        for a fresh window of sampled snapshots (also after a restart)."""
        sliding = self._needed < self.window
        gap = self.stride if self.sums or sliding else 1
        self._next_snapshot = self._step + self.warmup + gap

    def _update_moments(self, ratio: float):
        if self.moments == "keep":
            return
        for _, params in self.groups:
            for p in params:
                state = self.optimizer.state.get(p)
                if not state:
                    continue
                if self.moments == "reset":
                    state.clear()
                    continue
                for key in ("exp_avg", "momentum_buffer"):
                    if key in state and state[key] is not None:
                        if self.moments == "zero_first":
                            state[key].zero_()
                        else:
                            state[key].mul_(math.sqrt(ratio))
                if self.moments == "rescale" and "exp_avg_sq" in state:
                    state["exp_avg_sq"].mul_(ratio)
