"""What this machine can run: the trainer's accelerator and device count (torch is imported only in the check)."""

import os
from typing import Any

from mlplab.errors import UserError


def check_devices(trainer: dict[str, Any]) -> None:
    """Asks for no more than this machine has: an accelerator only if it is there, devices <= CPUs or GPUs."""
    import torch
    from lightning.pytorch.accelerators import AcceleratorRegistry

    accelerator = str(trainer.get("accelerator", "auto"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    known = AcceleratorRegistry[accelerator]["accelerator"] if accelerator in AcceleratorRegistry else None
    if (on_gpu and not gpus) or (known and not on_gpu and not known.is_available()):  # Lightning's tpu: a traceback
        what = "no CUDA GPU is visible" if on_gpu else f"Lightning's {getattr(known, '__name__', '')} is not available"
        raise UserError(
            f"trainer.accelerator={accelerator}: {what} on this machine; allowed: cpu, auto"
            + (", gpu" if gpus else " (e.g. trainer=cpu)")
        )
    have, what = (gpus, "GPU(s)") if on_gpu else (os.cpu_count() or 1, "CPUs" + " and no GPU" * (not gpus))
    devices = trainer.get("devices", "auto")
    # Lightning takes -1 (all) and lists of indices for GPUs; on CPU only a count of processes.
    if (isinstance(devices, int) and not isinstance(devices, bool) and (devices == 0 or devices < -1)) or (
        not on_gpu and (devices == -1 or isinstance(devices, list))
    ):
        raise UserError(
            f"trainer.devices={devices}: allowed: 1..{have}{', -1 (all), a list of GPU indices' * on_gpu}, or auto"
        )
    wanted = len(devices) if isinstance(devices, list) else int(devices) if str(devices).strip().isdigit() else None
    _check_launcher(trainer, wanted)
    if wanted is not None and wanted > have:
        raise UserError(f"trainer.devices={devices}: this machine has {have} {what}; allowed: 1..{have}, or auto")


def _check_launcher(trainer: dict[str, Any], wanted: int | None) -> None:
    """Under torchrun, the config's processes and nodes are those torchrun started (else each trains alone)."""
    per_node, world = os.environ.get("LOCAL_WORLD_SIZE"), os.environ.get("WORLD_SIZE")
    if not (os.environ.get("TORCHELASTIC_RUN_ID") and per_node and world):
        # Lightning alone would wait for the other nodes' processes until the strategy's timeout (10 min).
        nodes = trainer.get("num_nodes", 1)
        launched = any(k in os.environ for k in ("SLURM_NTASKS", "NODE_RANK", "MASTER_ADDR"))
        if isinstance(nodes, int) and nodes > 1 and not launched:
            raise UserError(
                f"trainer.num_nodes={nodes}: nothing started this run's other nodes; allowed: 1, or a launch "
                f"by torchrun --nnodes={nodes} or SLURM (docs/distributed.md)"
            )
        return
    nodes = int(world) // int(per_node)
    if wanted is not None and wanted != int(per_node):
        raise UserError(
            f"trainer.devices={trainer.get('devices')}: torchrun started {per_node} processes per node "
            f"(--nproc_per_node); allowed: trainer.devices={per_node} (with trainer=ddp)"
        )
    if trainer.get("num_nodes", 1) != nodes:
        raise UserError(
            f"trainer.num_nodes={trainer.get('num_nodes', 1)}: torchrun started {nodes} node(s) (--nnodes); "
            f"allowed: trainer.num_nodes={nodes}"
        )
