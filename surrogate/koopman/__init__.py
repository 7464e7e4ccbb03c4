"""Koopman-operator analyses of neural-network training.

Dogra & Redman, "Optimizing Neural Networks via Koopman Operator Theory" (NeurIPS 2020):
node-Koopman weight prediction (`node`, `accelerator`). Manojlovic et al., "Applications of
Koopman Mode Analysis to Neural Networks" (arXiv:2006.11765): the sliding-window spectrum and
stopping rule, bad-initialisation detection (`spectrum`), Koopman-mode pruning (`pruning`),
negative-Sobolev losses (`sobolev`). `dmd` holds the exact DMD they share, `analyses` the
experiments run by workflow/rules/koopman.smk through `python -m surrogate.koopman`.
"""
