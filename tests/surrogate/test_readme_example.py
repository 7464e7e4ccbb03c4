"""The README's example of the accelerator in a user's own training loop runs as written."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_accelerator_example_runs_and_jumps(capsys):
    text = README.read_text()
    block = re.search(r"<!-- example: accelerator -->\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README lost its accelerator example"
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)
    accel, model = scope["accel"], scope["model"]
    kinds = [d["event"] for d in accel.diagnostics]
    # 1500 steps, snapshots every 20, 10 per window: an attempt every 200 steps.
    assert len(kinds) == 7 and "jump_accepted" in kinds
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert accel.flops > 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("check loss") and len(lines) == 8
