"""Hyperparameter search with Optuna: ``python scripts/tune.py hparams_search=NAME [overrides]``.

``run`` is the task; ``space`` reads conf/hparams_search/, ``study`` opens the storage and keeps the budget,
``trial`` runs one trial as a train run, ``workers`` starts parallel workers, ``best_config`` writes the result.
"""
