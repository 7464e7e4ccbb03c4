"""Train a surrogate with one method and seed; write the training-run contract.

    python -m surrogate.train --dataset results/plume/dataset.npz --method dmd --seed 0 \\
        --spec '{"steps": 2000}' --out results/plume/train/dmd/seed_0

Writes history.json, predictions.npz, diagnostics.json and model.pt (docs/contracts.md). A
checkpoint (model, optimizer, accelerator, weight average, RNG, history so far) is written every
``checkpoint_every`` steps; a killed run started again with the same arguments resumes from
it and, on the CPU, reproduces the same history except ``wall_s``. Losses stay on the device
and are copied to the host in blocks, so a step costs no host synchronisation; stopping on
``stop_val_loss`` is therefore checked at those block boundaries. With ``train.ema`` > 0 an
exponential average of the weights (surrogate.averaging) is kept and charged; the validation
loss, the stop on it, the predictions and model.pt are then the average's.
"""

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from surrogate.averaging import WeightAverage
from surrogate.data import load_dataset
from surrogate.flops import optimizer_flops
from surrogate.methods import build_method
from surrogate.networks import pick_device
from surrogate.problems import make_problem
from surrogate.spec import resolve_spec

# Steps between copies of the device-side losses to the host.
_FLUSH_EVERY = 100


def cosine_factor(k: int, steps: int, hold: float = 0.0) -> float:
    """The learning rate of step ``k`` as a fraction of the first: constant for the first
    ``hold`` of ``steps``, then half a cosine down to 0 at ``steps`` (hold 0: the cosine over
    the whole run)."""
    start = hold * steps
    if k <= start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(k - start, steps - start) / (steps - start)))


@dataclass
class RunSetUp:
    """What a training run starts from: its problem, initial model (seeded), method,
    schedule, batch generator, the FLOPs of one step and the average of the weights if
    ``train.ema`` keeps one."""

    problem: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    accel: object
    scheduler: object
    generator: torch.Generator
    step_flops: int
    average: WeightAverage | None = None

    @property
    def delivered(self) -> torch.nn.Module:
        """The model that is evaluated, stopped on and saved: the average if one is kept."""
        return self.average.model if self.average is not None else self.model

    def step(self):
        """One step: backprop on a batch, the optimizer and schedule, the accelerator's step
        if any, then the average's update if any. Returns (the batch loss of the trained
        weights, the FLOPs charged: the step's, the accelerator's and the average's, the
        accelerator's event or None)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.problem.train_loss(self.model, self.generator)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        flops, event = self.step_flops, None
        if self.accel is not None:
            spent = self.accel.flops
            event = self.accel.step(lambda: self.problem.check_loss(self.model))
            flops += self.accel.flops - spent
        if self.average is not None:
            flops += self.average.update(self.model)
        return loss, flops, event


def set_up(data, method: str, seed: int, spec: dict, device: torch.device) -> RunSetUp:
    """A run of ``method`` with ``seed``: every method of a seed starts from the same weights
    and draws the same batches."""
    problem = make_problem(data, spec, device, seed)
    torch.manual_seed(seed)
    model = problem.network(spec).to(device)
    optimizer, accel = build_method(method, model, spec, problem)
    return RunSetUp(
        problem=problem,
        model=model,
        optimizer=optimizer,
        accel=accel,
        scheduler=make_scheduler(optimizer, spec),
        generator=torch.Generator(device=device).manual_seed(seed),
        step_flops=problem.step_flops(model) + optimizer_flops(optimizer),
        average=WeightAverage(model, spec["ema"]) if spec["ema"] else None,
    )


def make_scheduler(optimizer: torch.optim.Optimizer, spec: dict):
    """The learning-rate schedule of ``spec`` (train.optimizer), or None for a constant rate."""
    if spec["optimizer"]["schedule"] != "cosine":
        return None
    factor = partial(cosine_factor, steps=spec["steps"], hold=spec["optimizer"]["hold"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _fingerprint(method: str, seed: int, spec: dict, n_samples: int) -> str:
    return json.dumps(
        {"method": method, "seed": seed, "spec": spec, "n_samples": n_samples}, sort_keys=True
    )


def run_training(
    dataset: str | Path,
    method: str,
    seed: int,
    spec: dict | None,
    out_dir: str | Path,
    *,
    progress: bool = True,
    stop_at_step: int | None = None,
) -> dict | None:
    """Train and write the run's files to ``out_dir``; return the history dict.

    ``stop_at_step`` ends the run after that step with a checkpoint and no final files (a
    pre-empted job); calling again with the same arguments resumes. Returns None then.
    """
    spec = resolve_spec(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    device = pick_device(spec["device"])
    data = load_dataset(dataset)
    run = set_up(data, method, seed, spec, device)
    problem, model, optimizer, accel = run.problem, run.model, run.optimizer, run.accel
    scheduler, generator, step_flops = run.scheduler, run.generator, run.step_flops
    fingerprint = _fingerprint(method, seed, spec, data.params.shape[0])

    step, flops, wall, records = 0, 0, 0.0, []
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        if saved["fingerprint"] == fingerprint:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(saved["scheduler"])
            if accel is not None:
                accel.load_state_dict(saved["accelerator"])
            if run.average is not None:
                run.average.load_state_dict(saved["average"])
            generator.set_state(saved["generator"].to(generator.get_state().device))
            torch.set_rng_state(saved["torch_rng"])
            step, flops, wall, records = (
                saved["step"],
                saved["flops"],
                saved["wall_s"],
                saved["records"],
            )

    pending: list[dict] = []

    def flush():
        if not pending:
            return
        train = torch.stack([p.pop("train_loss") for p in pending]).cpu().tolist()
        vals = [p.pop("val_loss") for p in pending]
        evaluated = [v for v in vals if v is not None]
        val_host = iter(torch.stack(evaluated).cpu().tolist() if evaluated else [])
        for p, t, v in zip(pending, train, vals, strict=True):
            p["train_loss"] = t
            p["val_loss"] = next(val_host) if v is not None else None
            records.append(p)
        pending.clear()

    def save_checkpoint():
        state = {
            "fingerprint": fingerprint,
            "step": step,
            "flops": flops,
            "wall_s": wall,
            "records": records,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "accelerator": accel.state_dict() if accel is not None else None,
            "average": run.average.state_dict() if run.average is not None else None,
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(checkpoint)

    n_steps, budget = spec["steps"], spec["flop_budget"]
    bar = tqdm(total=n_steps, initial=step, file=sys.stderr, disable=not progress, mininterval=1)
    model.train()
    while step < n_steps:
        step += 1
        start = time.perf_counter()
        loss, spent, event = run.step()
        flops += spent
        wall += time.perf_counter() - start
        # Monitoring: neither timed nor charged (every method would pay it alike). With
        # train.ema the average is the model evaluated, stopped on and delivered.
        val = problem.loss(run.delivered, "val") if step % spec["eval_every"] == 0 else None
        pending.append(
            {
                "step": step,
                "flops": flops,
                "wall_s": wall,
                "train_loss": loss.detach(),
                "val_loss": val,
                "event": event.kind if event is not None else None,
                "event_info": event.info if event is not None else None,
            }
        )
        bar.update(1)
        if event is not None:
            bar.set_postfix_str(f"{event.kind} at {step}", refresh=False)
        done = budget and flops >= budget
        if step % _FLUSH_EVERY == 0 or step % spec["checkpoint_every"] == 0 or done:
            flush()
            last_val = next(
                (r["val_loss"] for r in reversed(records) if r["val_loss"] is not None), None
            )
            if spec["stop_val_loss"] and last_val is not None:
                done = done or last_val <= spec["stop_val_loss"]
        if step % spec["checkpoint_every"] == 0 or step == stop_at_step:
            flush()
            save_checkpoint()
        if step == stop_at_step:
            bar.close()
            return None
        if done:
            break
    bar.close()
    flush()

    history = {
        "method": method,
        "seed": seed,
        "device": str(device),
        "n_params": sum(p.numel() for p in model.parameters()),
        "ema": spec["ema"],
        "step_flops": step_flops,
        "records": records,
    }
    _write_json(out / "history.json", history)
    delivered = run.delivered.eval()
    pred = problem.predict(delivered, "test")
    truth = data.fields[data.indices("test")]
    test_rel_l2 = float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))
    np.savez(
        out / "predictions.npz",
        sample_ids=data.sample_ids[data.indices("test")],
        pred=pred,
        test_rel_l2=test_rel_l2,
    )
    _write_json(
        out / "diagnostics.json",
        {"method": method, "seed": seed, "jumps": accel.diagnostics if accel else []},
    )
    torch.save({k: v.cpu() for k, v in delivered.state_dict().items()}, out / "model.pt")
    checkpoint.unlink(missing_ok=True)
    history["test_rel_l2"] = test_rel_l2
    return history


def _write_json(path: Path, obj) -> None:
    def clean(value):
        # JSON has no inf/nan; a diverged loss is written as null.
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(obj), indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="dataset.npz (docs/contracts.md)")
    parser.add_argument("--method", required=True, help="training method (surrogate.methods)")
    parser.add_argument("--seed", type=int, required=True, help="seed of init and batches")
    parser.add_argument("--spec", default="{}", help="the train config section as JSON")
    parser.add_argument("--out", required=True, help="output directory of the run")
    parser.add_argument("--threads", type=int, default=None, help="overrides spec threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        spec = json.loads(args.spec)
        if args.threads is not None:
            spec["threads"] = args.threads
        history = run_training(
            args.dataset, args.method, args.seed, spec, args.out, progress=not args.no_progress
        )
    except (ValueError, json.JSONDecodeError) as err:
        sys.exit(f"surrogate.train: error: {err}")
    print(
        f"{args.method} seed {args.seed}: {len(history['records'])} steps, "
        f"{history['records'][-1]['flops']:.3e} FLOPs, test relative L2 "
        f"{history['test_rel_l2']:.4f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
