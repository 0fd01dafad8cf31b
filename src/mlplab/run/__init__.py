"""The machinery of one run: run directory, exit codes, Hydra callbacks, DDP jobs, checkpoints."""
