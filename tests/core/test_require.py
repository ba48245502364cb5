"""tests/fixtures/require.py: a missing fixture skips locally and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.fixtures.require import import_or_skip_or_fail, in_ci, skip_or_fail


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_ci_fails_with_reason_and_fix(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=r"CI=true does not skip\): junit4 is missing; fix: apt-get"):
        skip_or_fail("junit4 is missing", "apt-get install -y junit4")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_local_skips_naming_the_fix(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match=r"junit4 is missing; fix: apt-get install -y junit4"):
        skip_or_fail("junit4 is missing", "apt-get install -y junit4")


def test_import_helper(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert import_or_skip_or_fail("json", "none needed").dumps([]) == "[]"
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_xyz. cannot be imported.*fix: pip"):
        import_or_skip_or_fail("no_such_module_xyz", "pip install it")
