"""Set-up shared by every test package."""

import importlib.util

# VTK (pyvista renders) and Triton (loaded by torch.optim through torch._dynamo) ship
# clashing native libraries: Triton segfaults when it is loaded after VTK in one process.
# The workflow never mixes them (renders run in their own job), but one pytest process runs
# both, whatever the test order, so Triton is loaded first.
if importlib.util.find_spec("triton") is not None:
    import torch._dynamo  # noqa: F401
