"""Registers mlplab's config resolvers wherever Hydra starts, not only in mlplab's scripts.

Hydra imports every module under ``hydra_plugins`` when it first composes a config. So a config made with
Hydra's ``compose()`` API, as in a notebook or another program, resolves ``${cwd:}``, ``${job_output_dir:}``
and the rest, and ``hydra.utils.instantiate(cfg.trainer)`` works there too.
"""

from mlplab.config import resolvers

resolvers.register()
