"""mlplab: the classic PyTorch tutorial MLP as a Lightning + Hydra experiment project.

Kept import-light on purpose: config work (``--help``, ``--cfg job``) must not pull in torch.
"""

__version__ = "0.1.0"
