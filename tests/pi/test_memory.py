"""Memory sizing: check_fits and load() refusing a bundle that will not fit."""

from __future__ import annotations

import math

import pytest
from edgekit.runtime.device import memory_info
from edgekit.runtime.errors import BundleError, InsufficientMemoryError
from edgekit.runtime.memory import HEADROOM, check_fits, required_mib

from .conftest import make_manifest, set_peak_rss


def test_fits_with_headroom():
    fit = check_fits(make_manifest(500.0), available_mib=1000.0)
    assert fit.fits is True and fit.forced is False
    assert fit.required_mib == pytest.approx(500.0 * (1 + HEADROOM))
    assert fit.source == "caller"


def test_refuses_with_the_numbers_and_the_fix():
    need = 500.0 * (1 + HEADROOM)
    with pytest.raises(InsufficientMemoryError) as info:
        check_fits(make_manifest(500.0), available_mib=520.0)
    message = str(info.value)
    assert isinstance(info.value, BundleError)
    assert f"{need:.0f} MiB" in message and "520 MiB" in message and "500 MiB" in message
    assert "SmolLM2-135M-Instruct (gguf)" in message
    assert "force=True" in message and "--force" in message and "smaller bundle recipe" in message


def test_force_lets_it_through_and_says_so():
    fit = check_fits(make_manifest(500.0), force=True, available_mib=100.0)
    assert fit.fits is False and fit.forced is True


@pytest.mark.parametrize("peak", [None, "abc", -1, 0, math.nan, True])
def test_unmeasured_or_nonsense_peak_cannot_refuse(peak):
    assert required_mib(make_manifest(peak)) == (None, None)
    fit = check_fits(make_manifest(peak), available_mib=1.0)
    assert fit.fits is None and fit.peak_rss_mib is None


def test_default_uses_the_devices_report():
    fit = check_fits(make_manifest(1.0))
    real = memory_info()
    if real.available_mib is None:
        assert fit.fits is None
    else:
        assert fit.fits is True and fit.source == real.source
        assert fit.available_mib == pytest.approx(real.available_mib, rel=0.2)


def test_load_refuses_a_bundle_that_does_not_fit(toy_bundle_dir):
    from edgekit.runtime import load

    available = memory_info().available_mib
    if available is None:
        pytest.skip("this platform reports no available memory")
    set_peak_rss(toy_bundle_dir, available * 4)
    with pytest.raises(InsufficientMemoryError, match=r"peak RSS \d+ MiB measured at validation.*--force"):
        load(toy_bundle_dir)
    with load(toy_bundle_dir, force=True) as model:  # forced: loads and runs
        assert model.generate("hi", max_new_tokens=2, chat=False).token_ids is not None


def test_load_accepts_a_measured_bundle_that_fits(toy_bundle_dir):
    from edgekit.runtime import load

    set_peak_rss(toy_bundle_dir, 1.0)
    with load(toy_bundle_dir) as model:
        assert model.manifest.memory.peak_rss_mib == 1.0
