"""Facts about the machine and software a bench ran on (for the generated benchmarks page)."""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["machine_facts", "load_average", "VERSIONED_PACKAGES", "BUSY_LOAD_PER_CORE"]

VERSIONED_PACKAGES = ("edgekit", "onnxruntime", "onnxruntime-genai", "llama-cpp-python", "numpy", "torch", "executorch")
# A 1-minute load average above this share of the cores before a run means other work shared the CPU.
BUSY_LOAD_PER_CORE = 0.25


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return None


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_facts(threads: int, python: dict[str, str] | None = None) -> dict:
    """CPU, cores, RAM, threads, UTC date and package versions; ``python`` overrides versions seen elsewhere."""
    from edgekit.runtime.cpu import physical_cores

    versions = {name: _version(name) for name in VERSIONED_PACKAGES}
    versions.update(python or {})
    return {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "ram_gib": _ram_gib(),
        "threads": threads,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1m": load_average(),
        "versions": versions,
    }
