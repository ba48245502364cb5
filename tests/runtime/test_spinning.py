"""Thread spinning decided from the CPUs' idleness (spinning.py), forced either way, and reaching the session."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from edgekit.runtime import load
from edgekit.runtime.errors import BundleError
from edgekit.runtime.spinning import CpuSample, SpinMode, decide, free_cpus, sample

STAT = """cpu  400 0 100 1500 0 0 0 0 0 0
cpu0 100 0 50 850 0 0 0 0 0 0
cpu1 300 0 50 650 0 0 0 0 0 0
cpu2 0 0 0 0 0 0 0 0 0 0
intr 12345
"""


def _sample(wall, idle, total, own=0.0, cpus=2):
    return CpuSample(wall_s=wall, idle_ticks=idle, total_ticks=total, own_cpu_s=own, cpus=cpus)


def test_stat_counts_only_the_cpus_this_process_may_use(tmp_path, monkeypatch):
    path = tmp_path / "stat"
    path.write_text(STAT)
    monkeypatch.setattr("edgekit.runtime.spinning.usable_cpus", lambda: [0, 1])
    got = sample(str(path))
    assert got is not None and (got.idle_ticks, got.total_ticks, got.cpus) == (1500, 2000, 2)
    monkeypatch.setattr("edgekit.runtime.spinning.usable_cpus", lambda: [1])
    got = sample(str(path))
    assert got is not None and (got.idle_ticks, got.total_ticks) == (650, 1000)
    assert sample(str(tmp_path / "absent")) is None  # no /proc/stat (an Android app): no sample


def test_idle_cores_spin_and_busy_ones_wait_passively():
    quiet = decide(None, 2, _sample(0, 0, 0), _sample(0.2, 38, 40))  # 95% idle over 0.2 s on 2 CPUs
    assert quiet.allow and quiet.mode is SpinMode.AUTO and quiet.free_cpus == pytest.approx(1.9)
    busy = decide(None, 2, _sample(0, 0, 0), _sample(0.2, 20, 40))  # another process holds one core
    assert not busy.allow and "busy" in busy.reason
    # this process's own work during the load does not count against it
    own = decide(None, 2, _sample(0, 0, 0, own=0.0), _sample(0.2, 20, 40, own=0.2))
    assert own.allow and own.free_cpus == pytest.approx(2.0)
    assert decide(None, 1, _sample(0, 0, 0), _sample(0.2, 20, 40)).allow  # one thread fits in the idle core


def test_forced_choices_ignore_the_counters():
    busy = (_sample(0, 0, 0), _sample(0.2, 0, 40))
    assert decide(True, 2, *busy).allow and decide("on", 2, *busy).mode is SpinMode.ON
    assert not decide(False, 2, _sample(0, 0, 0), _sample(0.2, 40, 40)).allow
    with pytest.raises(ValueError, match="allow_spinning='sideways' is not one of auto, on, off"):
        decide("sideways", 2, None)


def test_short_window_falls_back_to_the_run_queue_and_no_counters_wait_passively():
    before, after = _sample(0, 0, 0), _sample(0.001, 1, 1)  # one tick: too short to read an idle share
    assert free_cpus(before, after) is None
    assert decide(None, 2, before, after, running_others=0).allow
    assert not decide(None, 2, before, after, running_others=1).allow
    unreadable = decide(None, 2, None, None)
    assert not unreadable.allow and "unreadable" in unreadable.reason


def test_a_really_busy_machine_is_measured_as_busy():
    # one spinning process per usable CPU: whatever else runs here, these CPUs are not idle
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus)]
    try:
        time.sleep(0.3)  # let them reach the run queue
        before = sample()
        if before is None:
            pytest.skip("no /proc/stat on this system: auto always waits passively (tested above)")
        time.sleep(0.3)
        decision = decide(None, cpus, before, sample())
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    assert not decision.allow, decision
    assert decision.free_cpus is not None and decision.free_cpus < cpus - 0.3


@pytest.mark.parametrize(("value", "entry"), [(True, "1"), ("on", "1"), (False, "0"), ("off", "0")])
def test_forced_spinning_reaches_the_session(fresh_toy_bundle, value, entry):
    model = load(fresh_toy_bundle, threads=1, allow_spinning=value)
    options = model.backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == entry
    assert model.spinning is not None and model.spinning.reason.startswith("forced")


def test_a_bad_spinning_value_is_one_clean_error(fresh_toy_bundle):
    with pytest.raises(BundleError, match="allow_spinning='sideways' is not one of auto, on, off"):
        load(fresh_toy_bundle, allow_spinning="sideways")


def test_cli_spin_flag_reaches_the_model_and_stats_say_what_was_chosen(fresh_toy_bundle):
    from click.testing import CliRunner
    from edgekit.sdk.cli import main

    forced = CliRunner().invoke(main, ["run", str(fresh_toy_bundle), "hi", "--spin", "off", "--stats", "--raw"])
    assert forced.exit_code == 0, forced.output
    assert "thread spinning: off (forced off)" in forced.stderr
    auto = CliRunner().invoke(main, ["run", str(fresh_toy_bundle), "hi", "--stats", "--raw"])
    assert auto.exit_code == 0, auto.output
    assert "thread spinning: " in auto.stderr and "CPU(s) free for" in auto.stderr
    bad = CliRunner().invoke(main, ["run", str(fresh_toy_bundle), "hi", "--spin", "sometimes"])
    assert bad.exit_code == 2 and "'sometimes' is not one of 'auto', 'on', 'off'" in bad.output
