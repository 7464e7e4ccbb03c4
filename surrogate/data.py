"""Reading the dataset contract (docs/contracts.md) and normalising with training statistics."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """The arrays of ``dataset.npz``; ``fields`` is S x N (or S x T x N for transient data)."""

    params: np.ndarray
    param_names: list[str]
    coords: np.ndarray
    fields: np.ndarray
    split: np.ndarray
    sample_ids: np.ndarray

    def indices(self, name: str) -> np.ndarray:
        """Row indices of the samples in split ``name`` (train, val or test)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return np.flatnonzero(self.split == name)

    @property
    def field_shape(self) -> tuple[int, ...]:
        """Shape of one sample's field (N,) or (T, N)."""
        return self.fields.shape[1:]


def load_dataset(path: str | Path) -> Dataset:
    """Load and check a dataset.npz; ValueError naming what is missing or inconsistent."""
    with np.load(path, allow_pickle=False) as npz:
        missing = {"params", "param_names", "coords", "fields", "split", "sample_ids"} - set(
            npz.files
        )
        if missing:
            raise ValueError(f"{path}: dataset lacks arrays {sorted(missing)}")
        data = Dataset(
            params=np.asarray(npz["params"], dtype=np.float64),
            param_names=[str(n) for n in npz["param_names"]],
            coords=np.asarray(npz["coords"], dtype=np.float64),
            fields=np.asarray(npz["fields"], dtype=np.float64),
            split=np.asarray(npz["split"]).astype(str),
            sample_ids=np.asarray(npz["sample_ids"], dtype=np.int64),
        )
    n = data.params.shape[0]
    if data.fields.shape[0] != n or data.split.shape[0] != n:
        raise ValueError(
            f"{path}: params has {n} samples but fields {data.fields.shape[0]}, "
            f"split {data.split.shape[0]}"
        )
    if data.fields.shape[-1] != data.coords.shape[0]:
        raise ValueError(
            f"{path}: fields have {data.fields.shape[-1]} points but coords {data.coords.shape[0]}"
        )
    unknown = set(np.unique(data.split)) - set(SPLITS)
    if unknown:
        raise ValueError(f"{path}: split labels {sorted(unknown)} not in {SPLITS}")
    if data.indices("train").size < 2 or data.indices("val").size < 1:
        raise ValueError(f"{path}: need >= 2 training and >= 1 validation samples")
    return data


@dataclass(frozen=True)
class Normaliser:
    """Affine maps fitted on the training split only.

    Inputs: per-parameter standardisation. Outputs: the per-point training mean is removed and
    the result divided by one global standard deviation; a per-point scale would blow up where
    the field is nearly constant across samples (e.g. far upstream of a plume).
    """

    in_mean: np.ndarray
    in_std: np.ndarray
    out_mean: np.ndarray
    out_std: float

    @classmethod
    def fit(cls, params: np.ndarray, fields: np.ndarray) -> "Normaliser":
        in_std = params.std(axis=0)
        out_mean = fields.mean(axis=0)
        out_std = float((fields - out_mean).std())
        return cls(
            params.mean(axis=0),
            np.where(in_std > 0, in_std, 1.0),
            out_mean,
            out_std if out_std > 0 else 1.0,
        )

    def inputs(self, params: np.ndarray) -> np.ndarray:
        return (params - self.in_mean) / self.in_std

    def outputs(self, fields: np.ndarray) -> np.ndarray:
        return (fields - self.out_mean) / self.out_std

    def physical(self, normalised: np.ndarray) -> np.ndarray:
        return normalised * self.out_std + self.out_mean
