"""What this machine can run: the trainer's accelerator and device count, checked before a run starts.

Torch is imported only inside the check (config work stays torch-free until a run is about to start).
"""

import os
from collections.abc import Callable
from typing import Any

from mlplab.errors import UserError


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _device_count(devices: Any) -> int | None:
    if _int(devices):
        return devices if devices > 0 else None  # -1: all there are
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    if isinstance(devices, list):
        return len(devices)
    return None  # "auto"


def _module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _mps() -> bool:
    import torch

    return torch.backends.mps.is_available()


# Accelerators besides CPU and CUDA: whether this machine can run one, and why not.
_OTHER_ACCELERATORS: dict[str, tuple[Callable[[], bool], str]] = {
    "tpu": (lambda: _module_exists("torch_xla"), "needs a TPU and torch_xla, which is not installed"),
    "mps": (_mps, "Apple's MPS is not available on this machine"),
    "hpu": (lambda: _module_exists("habana_frameworks"), "needs a Gaudi HPU and its habana_frameworks package"),
}


def check_devices(trainer: dict[str, Any]) -> None:
    """Asks for no more than this machine has: a GPU only if one is visible, devices <= CPUs or GPUs."""
    import torch

    accelerator = str(trainer.get("accelerator", "auto"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cpus = os.cpu_count() or 1
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise UserError(
            f"trainer.accelerator={accelerator}: no CUDA GPU is visible on this machine; allowed: cpu or auto "
            "(e.g. trainer=cpu)"
        )
    missing = _OTHER_ACCELERATORS.get(accelerator)
    if missing and not missing[0]():
        allowed = "cpu, auto" + (", gpu" if gpus else "")
        raise UserError(f"trainer.accelerator={accelerator}: {missing[1]}; allowed: {allowed}")
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    have, what = (gpus, "GPU(s)") if on_gpu else (cpus, f"CPUs and {'no GPU' if not gpus else 'accelerator=cpu'}")
    devices = trainer.get("devices", "auto")
    # Lightning takes -1 (all) and lists of indices for GPUs; on CPU only a count of processes.
    if (_int(devices) and (devices == 0 or devices < -1)) or (
        not on_gpu and (devices == -1 or isinstance(devices, list))
    ):
        raise UserError(
            f"trainer.devices={devices}: allowed: 1..{have}{', -1 (all), a list of GPU indices' * on_gpu}, or auto"
        )
    wanted = _device_count(devices)
    _check_launcher(trainer, wanted)
    if wanted is not None and wanted > have:
        raise UserError(f"trainer.devices={devices}: this machine has {have} {what}; allowed: 1..{have}, or auto")


def _check_launcher(trainer: dict[str, Any], wanted: int | None) -> None:
    """Under torchrun, the config's processes per node and nodes are the ones torchrun started: otherwise
    each process trains alone, all in one run dir."""
    per_node, world = os.environ.get("LOCAL_WORLD_SIZE"), os.environ.get("WORLD_SIZE")
    if not (os.environ.get("TORCHELASTIC_RUN_ID") and per_node and world):
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
