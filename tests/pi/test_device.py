"""edgekit.runtime.device: CPU features, model, cores and memory from Linux's own reports."""

from __future__ import annotations

import os
import platform
import sys

import pytest
from edgekit.runtime import device

# /proc/cpuinfo of a Raspberry Pi 4 Model B (Cortex-A72, ARMv8.0: NEON only) and of a
# Raspberry Pi 5 (Cortex-A76, ARMv8.2: fp16 + dotprod), as Raspberry Pi OS 64-bit prints them.
PI4_CPU = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
PI5_CPU = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1
"""
PI4 = (
    "\n".join(PI4_CPU.format(n=n) for n in range(4))
    + "\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
)
PI5 = (
    "\n".join(PI5_CPU.format(n=n) for n in range(4))
    + "\nRevision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
)
X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni
"""
MEMINFO = (
    "MemTotal:        3882432 kB\nMemFree:          102400 kB\nMemAvailable:    2867200 kB\nSwapTotal: 102396 kB\n"
)


def test_pi_features_from_cpuinfo():
    assert device.arm_features_from_cpuinfo(device.parse_cpuinfo(PI4)) == ("neon",)
    assert device.arm_features_from_cpuinfo(device.parse_cpuinfo(PI5)) == ("neon", "fp16", "dotprod")


def test_hwcap_bits_agree_with_cpuinfo_names():
    # HWCAP_ASIMD (bit 1), HWCAP_ASIMDHP (bit 10), HWCAP_ASIMDDP (bit 20): what a Pi 5 kernel reports.
    pi5_hwcap = (1 << 1) | (1 << 10) | (1 << 20) | 1  # + HWCAP_FP (bit 0), not a reported feature
    assert device.arm_features_from_hwcap(pi5_hwcap, 0) == device.arm_features_from_cpuinfo(device.parse_cpuinfo(PI5))
    assert device.arm_features_from_hwcap(0, 1 << 13) == ("i8mm",)  # HWCAP2_I8MM
    # every feature has a /proc/cpuinfo spelling, so both sources report the same names
    assert set(device._ARM_CPUINFO_NAMES.values()) == set(device._ARM_HWCAP_BITS)


def test_arm_model_from_midr_fields():
    assert device._arm_model(device.parse_cpuinfo(PI4)) == "4x Cortex-A72"
    assert device._arm_model(device.parse_cpuinfo(PI5)) == "4x Cortex-A76"
    mixed = PI5_CPU.format(n=0) + "\n" + PI5_CPU.format(n=1).replace("0xd0b", "0xd05")
    assert device._arm_model(device.parse_cpuinfo(mixed)) == "1x Cortex-A76 + 1x Cortex-A55"
    unknown = PI4_CPU.format(n=0).replace("0x41", "0x51")  # another implementer: keep the raw ids
    assert device._arm_model(device.parse_cpuinfo(unknown)) == "1x implementer 0x51 part 0xd08"


def test_x86_flags():
    assert device.x86_features_from_flags(device.parse_cpuinfo(X86)) == (
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512-vnni",
    )


def test_arm_process_never_reports_the_hosts_x86_model(monkeypatch):
    # Under qemu-user, /proc/cpuinfo is the x86 host's: an aarch64 process must not call itself "AMD EPYC".
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(device, "_getauxval", lambda: None)
    info = device.cpu_info(cpuinfo_text=X86)
    assert info.arch == "aarch64"
    assert info.model is None
    assert info.features == () and info.feature_source == "none"
    info = device.cpu_info(cpuinfo_text=PI4)
    assert info.model == "4x Cortex-A72" and info.features == ("neon",) and info.feature_source == "cpuinfo"


def test_this_machine(monkeypatch):
    info = device.cpu_info()
    assert info.arch == platform.machine().lower()
    assert info.usable_cpus == len(device.usable_cpus()) >= 1
    assert info.logical_cpus == os.cpu_count()
    if info.physical_cores is not None:
        assert 1 <= info.physical_cores <= info.usable_cpus
    if sys.platform.startswith("linux") and info.arch == "x86_64":
        flags = set(device._first(device.parse_cpuinfo(open("/proc/cpuinfo").read()), "flags").split())
        assert ("avx2" in info.features) == ("avx2" in flags)
        assert info.model


def test_physical_cores_count_smt_siblings_once(tmp_path):
    # 4 logical CPUs = 2 cores x 2 threads (an x86 laptop); a Pi has 4 cores, 1 thread each.
    for cpu, core in enumerate([0, 1, 0, 1]):
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text("0\n")
        (topo / "core_id").write_text(f"{core}\n")
    assert device.physical_cores([0, 1, 2, 3], sysfs=tmp_path) == 2
    assert device.physical_cores([0, 2], sysfs=tmp_path) == 1  # affinity limited to two siblings
    assert device.physical_cores([0, 7], sysfs=tmp_path) is None  # no topology for cpu7: unknown, not a guess


def test_recommended_threads():
    cpu = device.CpuInfo("aarch64", "4x Cortex-A72", ("neon",), "hwcap", 4, 4, 4)
    assert device.recommended_threads(cpu) == 4
    smt = device.CpuInfo("x86_64", "x", (), "cpuinfo", 8, 8, 4)
    assert device.recommended_threads(smt) == 4
    pinned = device.CpuInfo("x86_64", "x", (), "cpuinfo", 8, 2, None)
    assert device.recommended_threads(pinned) == 2


def test_meminfo_parsing():
    fields = device.parse_meminfo(MEMINFO)
    assert fields["MemTotal"] == pytest.approx(3882432 / 1024)
    assert fields["MemAvailable"] == pytest.approx(2800.0)
    info = device.memory_info(meminfo_text=MEMINFO, cgroup_root=None)
    assert (info.available_mib, info.source) == (pytest.approx(2800.0), "MemAvailable")


def test_cgroup_limit_lowers_available(tmp_path):
    (tmp_path / "memory.max").write_text(str(1024 * 2**20) + "\n")
    (tmp_path / "memory.current").write_text(str(224 * 2**20) + "\n")
    info = device.memory_info(meminfo_text=MEMINFO, cgroup_root=tmp_path)
    assert info.available_mib == pytest.approx(800.0)
    assert info.source == "cgroup v2 memory.max"
    (tmp_path / "memory.max").write_text("max\n")  # no limit: MemAvailable stands
    assert device.memory_info(meminfo_text=MEMINFO, cgroup_root=tmp_path).source == "MemAvailable"


def test_degrades_without_reports(tmp_path):
    info = device.memory_info(meminfo_text="", cgroup_root=tmp_path)
    assert (info.total_mib, info.available_mib, info.source) == (None, None, "unknown")
    assert device._read(tmp_path / "absent") is None


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="needs Linux /proc/meminfo")
def test_real_memory_report():
    info = device.memory_info()
    assert info.total_mib and info.available_mib
    assert 0 < info.available_mib <= info.total_mib


def test_describe_is_json_ready():
    import json

    data = device.describe().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["recommended_threads"] >= 1
