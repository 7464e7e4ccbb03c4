"""Field-file I/O shared by the solve stages (no dolfinx import)."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def save_npz_atomic(path: str | os.PathLike, **arrays) -> Path:
    """Write an uncompressed .npz via a temporary file and a rename.

    A reader (or Snakemake after a killed job) then sees either the complete file or none.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            np.savez(stream, **arrays)
        # mkstemp creates the file private (0600); give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an .npz file, loaded eagerly (no pickled objects allowed)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def parse_spec(text: str) -> dict:
    """A rule's `params.spec` JSON; ValueError naming the problem if it is not an object."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--spec: not valid JSON ({error})") from error
    if not isinstance(spec, dict):
        raise ValueError(f"--spec: must be a JSON object, got {type(spec).__name__}")
    return spec
