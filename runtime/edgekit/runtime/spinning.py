"""Whether onnxruntime's worker threads should spin: decided from how idle this process's CPUs are.

Spinning cuts both ways. Measured on a 2-core x86_64 machine, 2 threads, SmolLM2-135M: on a quiet machine
the gguf bundle decodes at 80 tok/s with spinning and 59 without (passive waiting pays a futex wake-up per
parallel section, hundreds per token); llama.cpp's OpenMP build shows the same, 125-130 tok/s in its default
(spinning) environment and 33-35 with ``OMP_WAIT_POLICY=PASSIVE``. On a busy machine spinning threads steal
the cores the other work needs, and onnxruntime's decode fell from 154 to 57 tok/s. No fixed default wins
both, so ``load(allow_spinning=None)`` measures: it samples the CPU counters of the CPUs it may run on when
loading starts and again just before the session is created (the bundle check and the tokenizer load sit in
between, so the measurement adds no wait), subtracts this process's own CPU time, and spins only if the
cores the threads need were idle. Where the counters cannot be read (no ``/proc/stat``, as on Android apps)
it waits passively: a phone's battery is the safer side.

The decision is taken once per load: a long-running server on a machine that later gets busy keeps it
(``allow_spinning=False`` fixes it; ``edgekit serve --spin off``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from enum import Enum

from .cpu import usable_cpus

__all__ = ["SpinMode", "SpinDecision", "CpuSample", "sample", "decide", "SPARE_CPU_SLACK", "MIN_WINDOW_S"]

# Spin only if at least (threads - slack) CPUs were free for this process: a shell or a logger taking a few
# percent of one core does not count as busy, a second process on a core does.
SPARE_CPU_SLACK = 0.3
# /proc/stat counts in clock ticks (USER_HZ, 100 per second on Linux): below about five ticks per CPU the
# idle share is noise, so a shorter window falls back to the instantaneous run-queue count.
MIN_WINDOW_S = 0.05


class SpinMode(str, Enum):
    """The user's choice: decide from the CPUs' idleness, or force either way."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"

    @classmethod
    def parse(cls, value: SpinMode | bool | str | None) -> SpinMode:
        if isinstance(value, cls):
            return value
        if value is None:
            return cls.AUTO
        if isinstance(value, bool):
            return cls.ON if value else cls.OFF
        try:
            return cls(str(value).lower())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ValueError(f"allow_spinning={value!r} is not one of {known} (or True/False/None)") from None


@dataclass(frozen=True)
class CpuSample:
    """Idle and total clock ticks summed over the CPUs this process may use, with its own CPU seconds."""

    wall_s: float
    idle_ticks: int
    total_ticks: int
    own_cpu_s: float
    cpus: int


@dataclass(frozen=True)
class SpinDecision:
    allow: bool
    mode: SpinMode
    free_cpus: float | None  # CPUs free for this process when it was measured (None: not measured)
    reason: str


def _stat_ticks(text: str, cpus: set[int]) -> tuple[int, int] | None:
    idle = total = 0
    seen = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            if int(name[3:]) not in cpus:
                continue
            fields = [int(v) for v in rest.split()]
        except ValueError:
            continue
        # user nice system idle iowait irq softirq steal (guest time is already inside user: proc(5))
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0)
        total += sum(fields[:8])
        seen += 1
    return (idle, total) if seen else None


def sample(stat_path: str = "/proc/stat") -> CpuSample | None:
    """The counters now, or None where /proc/stat cannot be read."""
    cpus = usable_cpus()
    try:
        with open(stat_path, encoding="ascii") as fh:
            text = fh.read()
    except OSError:
        return None
    ticks = _stat_ticks(text, set(cpus))
    if ticks is None:
        return None
    own = os.times()
    return CpuSample(time.monotonic(), ticks[0], ticks[1], own.user + own.system, len(cpus))


def _running_others(loadavg_path: str = "/proc/loadavg") -> int | None:
    """Runnable tasks other than this one right now (the 4th field of /proc/loadavg is running/total)."""
    try:
        with open(loadavg_path, encoding="ascii") as fh:
            running = int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(running - 1, 0)


def free_cpus(before: CpuSample, after: CpuSample) -> float | None:
    """CPUs free for this process between two samples: idle ones plus the ones it was itself using."""
    wall = after.wall_s - before.wall_s
    ticks = after.total_ticks - before.total_ticks
    if wall < MIN_WINDOW_S or ticks <= 0:
        return None
    idle_share = (after.idle_ticks - before.idle_ticks) / ticks
    own_cpus = max(after.own_cpu_s - before.own_cpu_s, 0.0) / wall
    return min(after.cpus, idle_share * after.cpus + own_cpus)


def decide(
    value: SpinMode | bool | str | None,
    threads: int,
    before: CpuSample | None,
    after: CpuSample | None = None,
    running_others: int | None = None,
) -> SpinDecision:
    """Spin or not for ``threads`` intra-op threads; ``value`` is the user's choice (None = auto)."""
    mode = SpinMode.parse(value)
    if mode is not SpinMode.AUTO:
        return SpinDecision(mode is SpinMode.ON, mode, None, f"forced {mode.value}")
    free = free_cpus(before, after) if before is not None and after is not None else None
    source = "idle share of /proc/stat"
    if free is None and before is not None:
        others = _running_others() if running_others is None else running_others
        if others is not None:
            free, source = float(max(before.cpus - others, 0)), "runnable tasks in /proc/loadavg"
    if free is None:
        return SpinDecision(False, mode, None, "CPU counters unreadable: passive waiting (the battery-safe side)")
    allow = free >= threads - SPARE_CPU_SLACK
    verdict = "idle enough to spin" if allow else "busy: passive waiting"
    reason = f"{free:.2f} CPU(s) free for {threads} thread(s) ({source}): {verdict}"
    return SpinDecision(allow, mode, round(free, 2), reason)
