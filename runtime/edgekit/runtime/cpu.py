"""How many threads to run: physical cores this process may use (no psutil in the base install)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["physical_cores", "usable_cpus"]


def usable_cpus() -> list[int]:
    """Ids of the CPUs this process may run on (affinity), or range(cpu_count) where affinity is unknown."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (SMT siblings counted once).

    Hyper-threads share one core's execution units: GEMV-bound decode gains
    nothing from them and the extra threads only contend (llama.cpp defaults to
    physical cores for the same reason). Falls back to the logical count.
    """
    allowed = usable_cpus()
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            return max(len(allowed), 1)
        cores.add((package, core))
    return max(len(cores), 1)
