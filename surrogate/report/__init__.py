"""Report stage: savings at equal loss, loss and DMD-diagnostics figures (matplotlib only)."""
