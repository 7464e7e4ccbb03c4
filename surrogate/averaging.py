"""An exponential moving average of a model's weights, kept beside its training.

    average = WeightAverage(model, decay=0.99)
    for batch in batches:
        ...; optimizer.step()
        average.update(model)          # average <- decay * average + (1 - decay) * weights
    evaluate(average.model)

The average starts at the model's weights when it is made and is never fed back into
training. ``average.model`` is a copy of the model whose parameters hold the average;
evaluate or save it in place of the trained model. Its buffers are copied once, when it is
made, and not averaged (the project's MLPs have none). The average is kept in the model's
dtype: in float32, a decay so close to 1 that (1 - decay) times the weights' change falls
below the float's resolution loses updates (0.99 and 0.998 are far from that). ``state_dict()`` /
``load_state_dict()`` hold the average for checkpoints. An update costs
``flops_per_update``: 3 FLOPs per parameter (subtract, scale, add). It is the update of
``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn(decay)``, except that
the average starts from the weights it is made from rather than from those of the first
update, and that it counts its FLOPs.

On the default plume run an average with decay 0.99 reaches Adam's validation losses of the
first half of the run 2.1-4.2x sooner; at the end of the cosine schedule, where the rate is
near 0, it is no better than the weights (docs/acceleration.md, "An average kept by
training").
"""

import copy

import torch
from torch import nn

FLOPS_PER_PARAMETER = 3


class WeightAverage:
    """The exponential moving average, with factor ``decay`` in (0, 1), of ``model``'s
    parameters."""

    def __init__(self, model: nn.Module, decay: float):
        if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0 < decay < 1:
            raise ValueError(f"the decay of a weight average must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self._average = list(self.model.parameters())
        self.flops_per_update = FLOPS_PER_PARAMETER * sum(p.numel() for p in self._average)

    @torch.no_grad()
    def update(self, model: nn.Module) -> int:
        """Move the average towards ``model``'s parameters; returns the FLOPs spent."""
        weights = [p.detach() for p in model.parameters()]
        shapes = [tuple(w.shape) for w in weights]
        kept = [tuple(a.shape) for a in self._average]
        if shapes != kept:
            raise ValueError(f"the model's parameter shapes {shapes} are not the average's {kept}")
        torch._foreach_lerp_(self._average, weights, 1.0 - self.decay)
        return self.flops_per_update

    def state_dict(self) -> dict:
        return {"decay": self.decay, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["decay"] != self.decay:
            raise ValueError(
                f"cannot load the state of an average with decay {state['decay']} into one "
                f"with decay {self.decay}"
            )
        self.model.load_state_dict(state["model"])
