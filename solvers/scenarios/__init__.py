"""Registry of PDE scenarios: one module per scenario, found by name.

A scenario module `solvers/scenarios/<name>.py` defines, without importing dolfinx at module
level (the workflow imports this registry when it loads):

- `PARAMETERS`: a tuple of `solvers.parameters.Parameter`, the sampled parameters in order;
- `OPTIONS`: a dict of the scenario's option defaults (the config's `options:` overrides them);
- `TRANSIENT`: whether each sample is a time series (fields S x T x N) or a steady field;
- `check_options(options)`: raises ValueError for option values the scenario cannot use;
- `build(comm, mesh, solver, options)`: returns an object with `space` (the P1 space the
  fields are stored on), `times` (None or the output times) and `solve(values) -> list of
  P1 Functions` (one per output time), given the parameter values by name.

Adding a scenario means adding that module and a `config/scenarios/<name>.yaml`.
"""

import importlib
import pkgutil
from types import ModuleType


def available() -> list[str]:
    """Names of the scenario modules in this package, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    """The scenario module called `name`; ValueError naming the available ones otherwise."""
    names = available()
    if name not in names:
        raise ValueError(f"scenario: unknown scenario {name!r}; available: {', '.join(names)}")
    return importlib.import_module(f"{__name__}.{name}")
