"""Peak resident memory of this process: no torch import, so a probe process stays small."""

import resource
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak RSS so far (for a child: including what it inherited from its parent)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def own_peak_rss_bytes() -> int:
    """Peak RSS of this program alone. Linux's ru_maxrss carries over the forking parent's RSS into a
    child (it survives exec), which would hide a small run's peak under the bench process's own;
    VmHWM belongs to the address space exec made."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return peak_rss_bytes()
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(kib) * 1024 if kib else peak_rss_bytes()


def reset_peak_rss() -> bool:
    """Starts this process's peak (VmHWM) afresh at its current RSS, so that a reading after one bench case
    is that case's peak, not the bench's so far. False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: "5" resets the peak RSS
    except OSError:
        return False
    return True
