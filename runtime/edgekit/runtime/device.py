"""What this device is: CPU architecture, model and SIMD features, cores, memory.

Pure standard library (the base install runs on a Raspberry Pi), read from Linux's own
reports; on other systems every probe degrades to ``None`` / an empty tuple instead of
failing. Used by ``edgekit doctor``, by :mod:`edgekit.runtime.memory` (will a bundle fit)
and by the runtime's default thread count.

Sources, in order of trust:

* **Arm features**: the kernel's hardware-capability bits (``getauxval(AT_HWCAP/AT_HWCAP2)``,
  bit numbers from linux ``arch/arm64/include/uapi/asm/hwcap.h``). They describe the CPU the
  process actually runs on, including an emulated one (qemu-user fills the auxiliary vector
  for the ``QEMU_CPU`` it emulates, while its ``/proc/cpuinfo`` is the host's). Fallback: the
  ``Features`` line of ``/proc/cpuinfo``.
* **x86 features**: the ``flags`` line of ``/proc/cpuinfo``.
* **CPU model**: ``model name`` (x86); Arm's ``CPU implementer``/``CPU part`` (MIDR fields,
  part numbers from Arm's technical reference manuals) mapped to a core name; the board name
  from ``/proc/device-tree/model`` (Raspberry Pi OS sets it, e.g. "Raspberry Pi 4 Model B").
* **Physical cores**: sysfs topology (package id, core id) of the CPUs this process may run
  on, so SMT siblings count once; onnxruntime's own default intra-op thread count is the
  number of physical cores (onnxruntime docs, "Thread management").
* **Memory**: ``MemAvailable`` of ``/proc/meminfo`` (the kernel's estimate of memory
  available without swapping, see linux ``Documentation/filesystems/proc.rst``), lowered
  by a cgroup v2/v1 limit when the process runs in a container.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cpu import usable_cpus

__all__ = [
    "CpuInfo",
    "MemoryInfo",
    "DeviceInfo",
    "ARM_PARTS",
    "parse_cpuinfo",
    "arm_features_from_hwcap",
    "arm_features_from_cpuinfo",
    "x86_features_from_flags",
    "cpu_info",
    "physical_cores",
    "usable_cpus",
    "parse_meminfo",
    "memory_info",
    "board_model",
    "recommended_threads",
    "describe",
]

# --- Arm --------------------------------------------------------------------------------------

# (HWCAP word, bit) -> feature name. linux arch/arm64/include/uapi/asm/hwcap.h.
_ARM_HWCAP_BITS: dict[str, tuple[int, int]] = {
    "neon": (1, 1),  # HWCAP_ASIMD: Advanced SIMD, every ARMv8-A core
    "fp16": (1, 10),  # HWCAP_ASIMDHP: half-precision SIMD arithmetic (ARMv8.2)
    "dotprod": (1, 20),  # HWCAP_ASIMDDP: SDOT/UDOT int8 dot products (ARMv8.2, Cortex-A76 / Pi 5)
    "sve": (1, 22),  # HWCAP_SVE
    "sve2": (2, 1),  # HWCAP2_SVE2
    "i8mm": (2, 13),  # HWCAP2_I8MM: SMMLA int8 matrix multiply (ARMv8.6)
    "bf16": (2, 14),  # HWCAP2_BF16
}
# The same features as /proc/cpuinfo spells them.
_ARM_CPUINFO_NAMES = {
    "asimd": "neon",
    "asimdhp": "fp16",
    "asimddp": "dotprod",
    "sve": "sve",
    "sve2": "sve2",
    "i8mm": "i8mm",
    "bf16": "bf16",
}
_AT_HWCAP, _AT_HWCAP2 = 16, 26  # linux include/uapi/linux/auxvec.h

# MIDR part numbers of Arm Ltd. cores (implementer 0x41), from Arm's TRMs and linux
# arch/arm64/include/asm/cputype.h.
ARM_PARTS: dict[int, str] = {
    0xD03: "Cortex-A53",
    0xD04: "Cortex-A35",
    0xD05: "Cortex-A55",
    0xD07: "Cortex-A57",
    0xD08: "Cortex-A72",
    0xD09: "Cortex-A73",
    0xD0A: "Cortex-A75",
    0xD0B: "Cortex-A76",
    0xD0C: "Neoverse-N1",
    0xD0D: "Cortex-A77",
    0xD40: "Neoverse-V1",
    0xD41: "Cortex-A78",
    0xD44: "Cortex-X1",
    0xD46: "Cortex-A510",
    0xD47: "Cortex-A710",
    0xD48: "Cortex-X2",
    0xD49: "Neoverse-N2",
    0xD4D: "Cortex-A715",
    0xD4E: "Cortex-X3",
    0xD4F: "Neoverse-V2",
    0xD80: "Cortex-A520",
    0xD81: "Cortex-A720",
    0xD82: "Cortex-X4",
    0xD87: "Cortex-A725",
}

# --- x86 --------------------------------------------------------------------------------------

# /proc/cpuinfo flag -> reported name, in the order doctor prints them. The int8 paths of
# onnxruntime's MLAS kernels use AVX2, AVX-VNNI, AVX-512 and AVX-512 VNNI.
_X86_FLAGS: dict[str, str] = {
    "sse4_2": "sse4.2",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx_vnni": "avx-vnni",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512_vnni": "avx512-vnni",
    "avx512_bf16": "avx512-bf16",
    "amx_int8": "amx-int8",
}

_ARM_MACHINES = {"aarch64", "arm64", "armv8l", "armv7l", "armv6l"}
_X86_MACHINES = {"x86_64", "amd64", "i686", "i386"}


@dataclass(frozen=True)
class CpuInfo:
    arch: str  # platform.machine(), lower case: "aarch64", "x86_64", ...
    model: str | None  # "Cortex-A72", "AMD EPYC 7B13", None when unknown
    features: tuple[str, ...]  # SIMD features that select kernels (see _ARM_HWCAP_BITS/_X86_FLAGS)
    feature_source: str  # "hwcap", "cpuinfo", "none"
    logical_cpus: int  # os.cpu_count()
    usable_cpus: int  # CPUs this process may run on (affinity)
    physical_cores: int | None  # usable CPUs with SMT siblings counted once; None if unknown


@dataclass(frozen=True)
class MemoryInfo:
    total_mib: float | None
    available_mib: float | None
    source: str  # "MemAvailable", "cgroup v2 memory.max", "cgroup v1 limit", "unknown"


@dataclass(frozen=True)
class DeviceInfo:
    system: str  # "Linux", "Darwin", "Windows"
    platform: str  # platform.platform()
    python: str
    board: str | None  # "Raspberry Pi 4 Model B Rev 1.4" (device tree), else None
    cpu: CpuInfo
    memory: MemoryInfo
    recommended_threads: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu"]["features"] = list(self.cpu.features)
        data["notes"] = list(self.notes)
        return data


def _read(path: str | os.PathLike[str], limit: int = 1 << 20) -> str | None:
    """A small text file, or None if it is absent or unreadable (never raises for I/O)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """``/proc/cpuinfo`` as one dict per block (blank-line separated), keys lower-cased."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _first(blocks: Iterable[dict[str, str]], key: str) -> str | None:
    for block in blocks:
        if key in block:
            return block[key]
    return None


def arm_features_from_hwcap(hwcap: int, hwcap2: int) -> tuple[str, ...]:
    words = {1: hwcap, 2: hwcap2}
    return tuple(name for name, (word, bit) in _ARM_HWCAP_BITS.items() if words[word] >> bit & 1)


def arm_features_from_cpuinfo(blocks: list[dict[str, str]]) -> tuple[str, ...]:
    present = set((_first(blocks, "features") or "").split())
    names = {_ARM_CPUINFO_NAMES[f] for f in present if f in _ARM_CPUINFO_NAMES}
    return tuple(name for name in _ARM_HWCAP_BITS if name in names)


def x86_features_from_flags(blocks: list[dict[str, str]]) -> tuple[str, ...]:
    present = set((_first(blocks, "flags") or "").split())
    return tuple(name for flag, name in _X86_FLAGS.items() if flag in present)


def _getauxval() -> Callable[[int], int] | None:
    """libc's getauxval, or None where there is none (non-glibc/musl-less systems, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        fn = libc.getauxval
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_ulong]
    fn.restype = ctypes.c_ulong
    return fn


def _arm_model(blocks: list[dict[str, str]]) -> str | None:
    parts = []
    for block in blocks:
        implementer, part = block.get("cpu implementer"), block.get("cpu part")
        if implementer is None or part is None:
            continue
        try:
            impl, num = int(implementer, 16), int(part, 16)
        except ValueError:
            continue
        name = ARM_PARTS.get(num) if impl == 0x41 else None
        parts.append(name or f"implementer {implementer} part {part}")
    if not parts:
        return None
    # big.LITTLE: list each core type once with its count, e.g. "4x Cortex-A76".
    counts: dict[str, int] = {}
    for name in parts:
        counts[name] = counts.get(name, 0) + 1
    return " + ".join(f"{n}x {name}" for name, n in counts.items())


def physical_cores(
    cpus: Iterable[int] | None = None, sysfs: str | os.PathLike[str] = "/sys/devices/system/cpu"
) -> int | None:
    """Distinct (package, core) pairs among ``cpus`` from sysfs topology; None if sysfs lacks it."""
    cpus = usable_cpus() if cpus is None else list(cpus)
    cores = set()
    for cpu in cpus:
        topo = Path(sysfs) / f"cpu{cpu}" / "topology"
        package, core = _read(topo / "physical_package_id"), _read(topo / "core_id")
        if package is None or core is None:
            return None
        cores.add((package.strip(), core.strip()))
    return len(cores) or None


def cpu_info(cpuinfo_text: str | None = None) -> CpuInfo:
    machine = platform.machine().lower()
    text = _read("/proc/cpuinfo") if cpuinfo_text is None else cpuinfo_text
    blocks = parse_cpuinfo(text or "")
    features: tuple[str, ...] = ()
    source, model = "none", None
    if machine in _ARM_MACHINES:
        getauxval = _getauxval() if machine in ("aarch64", "arm64") else None
        if getauxval is not None:
            features, source = arm_features_from_hwcap(getauxval(_AT_HWCAP), getauxval(_AT_HWCAP2)), "hwcap"
        elif _first(blocks, "features") is not None:
            features, source = arm_features_from_cpuinfo(blocks), "cpuinfo"
        # Under qemu-user /proc/cpuinfo is the host's: only trust Arm MIDR fields, never an x86 "model name".
        model = _arm_model(blocks)
    elif machine in _X86_MACHINES:
        if _first(blocks, "flags") is not None:
            features, source = x86_features_from_flags(blocks), "cpuinfo"
        model = _first(blocks, "model name")
    if model is None and sys.platform == "darwin":
        model = platform.processor() or None
    cpus = usable_cpus()
    return CpuInfo(
        arch=machine or "unknown",
        model=model,
        features=features,
        feature_source=source,
        logical_cpus=os.cpu_count() or 1,
        usable_cpus=len(cpus),
        physical_cores=physical_cores(cpus),
    )


def parse_meminfo(text: str) -> dict[str, float]:
    """``/proc/meminfo`` fields in MiB (the file says kB = KiB)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and fields:
            try:
                value = float(fields[0])
            except ValueError:
                continue
            out[key.strip()] = value / 1024 if fields[1:2] == ["kB"] else value / 2**20
    return out


def _cgroup_available_mib(root: str | os.PathLike[str] = "/sys/fs/cgroup") -> tuple[float, str] | None:
    """Limit minus usage of this process's cgroup, when a limit is set."""
    root = Path(root)
    rel = ""
    own = _read("/proc/self/cgroup") or ""
    for line in own.splitlines():
        if line.startswith("0::"):  # cgroup v2 unified hierarchy
            rel = line[3:].strip().lstrip("/")
    for base in ([root / rel] if rel else []) + [root]:
        limit, usage = _read(base / "memory.max"), _read(base / "memory.current")
        if limit is not None and usage is not None and limit.strip() != "max":
            try:
                return (int(limit) - int(usage)) / 2**20, "cgroup v2 memory.max"
            except ValueError:
                return None
    limit, usage = _read(root / "memory" / "memory.limit_in_bytes"), _read(root / "memory" / "memory.usage_in_bytes")
    if limit is not None and usage is not None:
        try:
            lim = int(limit)
        except ValueError:
            return None
        if lim < 1 << 60:  # v1 reports "no limit" as a huge number
            return (lim - int(usage)) / 2**20, "cgroup v1 limit"
    return None


def memory_info(
    meminfo_text: str | None = None, cgroup_root: str | os.PathLike[str] | None = "/sys/fs/cgroup"
) -> MemoryInfo:
    text = _read("/proc/meminfo") if meminfo_text is None else meminfo_text
    fields = parse_meminfo(text or "")
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    source = "MemAvailable" if available is not None else "unknown"
    cgroup = _cgroup_available_mib(cgroup_root) if cgroup_root is not None else None
    if cgroup is not None and (available is None or cgroup[0] < available):
        available, source = max(cgroup[0], 0.0), cgroup[1]
    return MemoryInfo(total_mib=total, available_mib=available, source=source)


def board_model() -> str | None:
    text = _read("/proc/device-tree/model") or _read("/sys/firmware/devicetree/base/model")
    if text is None:
        return None
    return text.strip("\x00\n ") or None


def recommended_threads(cpu: CpuInfo) -> int:
    """Physical cores this process may use: onnxruntime's own default, and what decode scales to.

    SMT siblings share one core's SIMD units, so a second thread per core adds contention, not
    throughput; spinning extra threads on a busy machine collapses throughput (onnxruntime decode
    fell from 154 to 57 tok/s on a busy 2-core x86_64 machine).
    """
    cores = cpu.physical_cores or cpu.usable_cpus
    return max(1, min(cores, cpu.usable_cpus))


def describe() -> DeviceInfo:
    cpu = cpu_info()
    notes = []
    if cpu.arch in _ARM_MACHINES and cpu.model is None:
        notes.append(
            "CPU model unknown: /proc/cpuinfo has no Arm MIDR fields (an emulator such as qemu-user shows the host's)"
        )
    if cpu.arch in ("armv7l", "armv6l", "armv8l"):
        notes.append(
            "32-bit Arm userland: onnxruntime publishes no wheel for it; install a 64-bit OS (Raspberry Pi OS 64-bit)"
        )
    return DeviceInfo(
        system=platform.system(),
        platform=platform.platform(),
        python=platform.python_version(),
        board=board_model(),
        cpu=cpu,
        memory=memory_info(),
        recommended_threads=recommended_threads(cpu),
        notes=tuple(notes),
    )
