#!/usr/bin/env bash
# Print the first Python interpreter >= 3.12 found on PATH, or explain what to install.
set -euo pipefail
for cand in python3.12 python3.13 python3.14 python3 python; do
  if command -v "$cand" > /dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2> /dev/null; then
    command -v "$cand"
    exit 0
  fi
done
cat >&2 <<'MSG'
dmd-surrogate needs Python >= 3.12 (FEniCSx comes as the dolfinx-solver-real wheel, cp312-abi3).
Install one, for example:
  pyenv install 3.12 && pyenv local 3.12      (a .python-version file with 3.12 is already here)
  sudo apt-get install python3.12 python3.12-venv
  or use conda: conda env create -f environment.yml && conda activate dmd-surrogate
MSG
exit 1
