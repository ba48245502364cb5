"""The domain policy: a hidden-state probe in the policy file (version 2), fitted by `edgekit calibrate --domain`,
carried by the bundle (policy.json, listed with its sha256) and used by HybridClient, ask and serve by default.

Real components throughout: the tiny real bundle (random weights, real tokenizer and template, its last_hidden
output), the shipped support FAQ and general question sets, a real cloud on 127.0.0.1 (FaultyCloud "ok"), and the
web demo's own policy reader run by node."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edgekit.runtime.errors import ConfigError, IntegrityError

from .faulty_cloud import Fault, FaultyCloud

REPO = Path(__file__).resolve().parents[2]
GEN = {"max_new_tokens": 4}


def _probe_policy(bias: float, hidden: int = 64):
    from edgekit.sdk.policy.base import base_policy
    from edgekit.sdk.policy.prompt_probe import PromptProbe

    return replace(base_policy(), probe=PromptProbe((0.0,) * hidden, bias, 0.5))


def _cloud(cloud: FaultyCloud):
    from edgekit.sdk.cloud import CloudConfig

    return CloudConfig(cloud.url, "m", api_key_env=None, max_retries=0)


def test_folded_probe_gives_the_fitted_probes_probabilities():
    from edgekit.sdk.policy.probe import fit_probe
    from edgekit.sdk.policy.prompt_probe import PromptProbe

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(80, 24)) + np.r_[np.zeros(40), np.ones(40)][:, None] * rng.normal(size=24)
    label = np.r_[np.zeros(40, bool), np.ones(40, bool)]
    fitted = fit_probe(hidden, np.zeros((80, 0)), label, components=6)
    folded = PromptProbe.fold(fitted, 0.5)
    expected = fitted.probability(hidden, np.zeros((80, 0)))
    got = np.array([folded.probability(h) for h in hidden])
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert folded.hidden_size == 24 and folded.components == 6
    assert ((got >= 0.5) == label).mean() > 0.9  # the fit separates what it was given


def test_policy_file_is_version_1_without_a_probe_and_2_with_one(tmp_path):
    from edgekit.sdk.policy.base import base_policy
    from edgekit.sdk.policy.policy import Policy

    plain = base_policy().save(tmp_path / "plain.json")
    assert json.loads(plain.read_text())["version"] == 1 and Policy.load(plain).probe is None
    probed = _probe_policy(-1.5).save(tmp_path / "probe.json")
    data = json.loads(probed.read_text())
    assert data["version"] == 2 and len(data["probe"]["weights"]) == 64
    assert Policy.load(probed).probe == _probe_policy(-1.5).probe

    data["version"] = 1
    (tmp_path / "v1probe.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match='a "probe" needs policy version 2'):
        Policy.load(tmp_path / "v1probe.json")
    data["version"] = 2
    data["probe"]["weights"] = []
    (tmp_path / "empty.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="weights is empty"):
        Policy.load(tmp_path / "empty.json")
    with pytest.raises(ConfigError, match="reads a hidden state of 64 values, the bundle gave 3"):
        _probe_policy(0.0).route("hi", {}, prompt_hidden=np.zeros(3))


def test_probe_escalates_before_generation_and_its_prefill_is_counted(tiny_local):
    from edgekit.sdk.hybrid import HybridClient
    from edgekit.sdk.policy.policy import Policy

    with FaultyCloud(Fault("ok")) as cloud:
        up = HybridClient(tiny_local, _cloud(cloud), _probe_policy(4.0), generation=GEN).ask("What is a haiku?")
        assert (up.route.value, up.rule, up.stage) == ("cloud", "router:probe", "router")
        assert up.text == "Paris" and up.probability == pytest.approx(1 / (1 + np.exp(-4.0)))
        assert up.cost.local_completion_tokens == 0 and up.cost.local_prompt_tokens > 0
        assert 0 < up.cost.local_probe_ms == up.cost.local_ms
        assert len(cloud.requests) == 1

        kept = HybridClient(tiny_local, _cloud(cloud), _probe_policy(-4.0), generation=GEN).ask("How do I reset it?")
        assert kept.route.value == "local" and kept.signals["probe"] == pytest.approx(1 / (1 + np.exp(4.0)))
        plain = HybridClient(tiny_local, _cloud(cloud), Policy(), generation=GEN)
        alone = plain.ask("How do I reset it?")
        # the probe's prefill is paid on top of the answer's own: prompt tokens twice, its time inside local_ms
        assert kept.cost.local_prompt_tokens == 2 * alone.cost.local_prompt_tokens
        assert 0 < kept.cost.local_probe_ms < kept.cost.local_ms
        assert len(cloud.requests) == 1  # nothing more went to the cloud

        long_prompt = "word " * 1300  # the long_prompt rule fires first: no prefill is spent on the probe
        ruled = HybridClient(tiny_local, _cloud(cloud), _probe_policy(-4.0), generation=GEN).ask(long_prompt)
        assert ruled.rule == "router:rule:long_prompt" and ruled.cost.local_probe_ms == 0


def test_a_prompt_too_long_to_probe_is_escalated_by_the_overflow_rule(tiny_local):
    """A prompt the context cannot hold has no hidden state to probe: the post stage escalates it on
    context_overflow (no error about a missing state), without a rule that catches long prompts first."""
    from edgekit.sdk.hybrid import HybridClient

    policy = replace(_probe_policy(-4.0), router_rules=())
    long_prompt = "word " * 700  # past the tiny bundle's 512-token context
    with FaultyCloud(Fault("ok")) as cloud:
        answer = HybridClient(tiny_local, _cloud(cloud), policy, generation=GEN).ask(long_prompt)
    assert answer.route.value == "cloud" and answer.rule == "post:context_overflow", (answer.route, answer.rule)
    assert len(cloud.requests) == 1


def test_probe_escalation_streams_the_cloud_and_falls_back_offline(tiny_local):
    from edgekit.sdk.hybrid import HybridClient

    with FaultyCloud(Fault("ok")) as cloud:
        events = list(HybridClient(tiny_local, _cloud(cloud), _probe_policy(4.0), generation=GEN).stream("Hi?"))
    assert [e.source for e in events if e.text] == ["cloud"] * len([e for e in events if e.text])
    assert events[-1].answer.rule == "router:probe" and events[-1].answer.text == "Paris"

    offline = HybridClient(tiny_local, _cloud(cloud), _probe_policy(4.0), generation=GEN).ask("Hi?")  # closed
    assert offline.route.value == "local_fallback" and offline.local_text is not None
    assert offline.text == offline.local_text and offline.cost.local_completion_tokens > 0


@pytest.fixture(scope="module")
def calibrated(tiny_bundle, tmp_path_factory):
    """A copy of the tiny bundle with a domain policy written into it by the CLI, and the CLI's JSON report."""
    bundle = tmp_path_factory.mktemp("domain") / "bundle"
    shutil.copytree(tiny_bundle("int8"), bundle)
    exe = Path(sys.executable).with_name("edgekit")
    args = ["calibrate", str(bundle), "--domain", "support_faq", "--fit-size", "40", "--into-bundle", "--json"]
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "in-domain prompts 40/40" in proc.stderr  # progress on stderr, the report on stdout
    return bundle, json.loads(proc.stdout)


def test_calibrate_domain_writes_a_checked_policy_into_the_bundle(calibrated):
    from edgekit.runtime import load
    from edgekit.runtime.manifest import read_manifest, sha256_file
    from edgekit.sdk.policy.bundle_policy import POLICY_ROLE, bundle_policy

    bundle, report = calibrated
    assert report["written"] == [str(bundle / "policy.json")] and not Path("policy.json").exists()
    assert report["n_inside"] == 40 and report["n_outside"] > 200
    # the threshold keeps the promise it was picked for, out of fold
    assert report["fit_inside_rate"] <= 0.05 + 1e-9
    for key in ("fit_auroc", "test_auroc", "held_out_rate", "out_of_domain_rate", "fit_outside_rate"):
        assert 0.0 <= report[key] <= 1.0, key
    assert sum(report["rules"].values()) == 40 + 20  # every held-out and out-of-domain question was decided
    entry = read_manifest(bundle).file(POLICY_ROLE)
    assert entry.path == "policy.json" and entry.sha256 == sha256_file(bundle / "policy.json")
    policy = bundle_policy(bundle)
    assert policy is not None and policy.probe is not None and policy.probe.hidden_size == 64
    assert policy.probe.threshold == pytest.approx(report["threshold"])
    assert policy.meta["domain"] == "support_faq"
    with load(bundle) as model:  # the listed file passes the bundle's own verification
        assert model.manifest.file(POLICY_ROLE).sha256 == entry.sha256


def test_the_bundles_policy_is_used_by_default_and_an_explicit_one_wins(calibrated, tmp_path):
    from edgekit.runtime import load
    from edgekit.sdk.hybrid import HybridClient
    from edgekit.sdk.policy.base import base_policy

    bundle, _ = calibrated
    with load(bundle) as model:
        carried = HybridClient(model, generation=GEN)
        assert carried.policy.probe is not None
        answer = carried.ask("How do I reset the hub?")
        assert "probe" in answer.signals and answer.cost.local_probe_ms > 0
        assert HybridClient(model, policy=base_policy(), generation=GEN).policy.probe is None

    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    with load(tampered) as model:
        with (tampered / "policy.json").open("a") as handle:
            handle.write(" ")  # swapped after load: the same policy, other bytes than the manifest lists
        with pytest.raises(IntegrityError, match="policy file 'policy.json' is missing or fails its size/sha256"):
            HybridClient(model)


def test_ask_cli_uses_the_bundles_policy(tiny_bundle, tmp_path):
    from edgekit.sdk.policy.bundle_policy import attach_policy

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle("int8"), bundle)
    attach_policy(bundle, _probe_policy(4.0))  # escalates every question before generation
    exe = Path(sys.executable).with_name("edgekit")
    with FaultyCloud(Fault("ok")) as cloud:
        proc = subprocess.run(
            [str(exe), "ask", str(bundle), "Write a haiku about autumn leaves.", "--cloud-url", cloud.url,
             "--cloud-model", "m", "--api-key-env", "", "--max-new-tokens", "4"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "Paris" and "router:probe" in proc.stderr


def test_serve_gives_the_web_demo_the_bundles_policy(calibrated, tmp_path):
    import httpx
    from edgekit.sdk.policy.policy import Policy

    from tests.android.web_harness import edgekit_serve

    bundle, _ = calibrated
    with edgekit_serve(bundle) as url:
        served = httpx.get(f"{url}/policy.json", timeout=30).json()
    assert served["version"] == 2 and served == json.loads((bundle / "policy.json").read_text())
    other = Policy().save(tmp_path / "plain.json")
    with edgekit_serve(bundle, "--policy", str(other)) as url:
        assert httpx.get(f"{url}/policy.json", timeout=30).json()["version"] == 1  # --policy wins


def test_web_demo_reads_a_probe_policy_and_refuses_a_broken_one(tmp_path):
    """The web demo's policy reader (run in node) takes a version-2 file with a probe, and refuses by name a probe in
    a version-1 file and a probe without weights, never reading either as a policy without a probe."""
    from edgekit.sdk.policy.policy import Policy

    if shutil.which("node") is None:
        from tests.fixtures.require import skip_or_fail

        skip_or_fail("node is not installed", "apt-get install nodejs (scripts/setup.sh installs it)")
    module = (REPO / "android_demo" / "web" / "js" / "policy.js").as_uri()

    def read(path: Path) -> str:
        script = (
            f"import {{ Policy }} from '{module}';"
            f"const data = JSON.parse((await import('node:fs')).readFileSync({json.dumps(str(path))}, 'utf8'));"
            "try { const p = new Policy(data); console.log(p.probe ? 'probe' : 'plain'); }"
            " catch (e) { console.log(e.message); }"
        )
        proc = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    probed = _probe_policy(0.0).save(tmp_path / "probe.json")
    assert read(probed) == "probe"
    assert read(Policy().save(tmp_path / "plain.json")) == "plain"
    data = json.loads(probed.read_text())
    (tmp_path / "v1probe.json").write_text(json.dumps({**data, "version": 1}))
    assert 'a "probe" needs policy version 2' in read(tmp_path / "v1probe.json")
    (tmp_path / "empty.json").write_text(json.dumps({**data, "probe": {**data["probe"], "weights": []}}))
    assert "probe weights is empty" in read(tmp_path / "empty.json")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--into-bundle"], "--into-bundle and --max-inside-rate go with --domain"),
        (["--domain", "nowhere"], "neither a known domain (support_faq) nor a folder"),
        (["--domain", "support_faq", "--max-inside-rate", "1.5"], "--max-inside-rate 1.5 must be a share"),
        (["--domain", "support_faq", "--fit-size", "3"], "--fit-size 3 is too small for 5 folds"),
    ],
)
def test_bad_domain_options_are_one_line(tiny_bundle, args, fragment):
    exe = Path(sys.executable).with_name("edgekit")
    proc = subprocess.run(
        [str(exe), "calibrate", str(tiny_bundle("int8")), *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_a_domain_folder_missing_a_file_or_a_user_turn_is_named(tmp_path):
    from edgekit.sdk.evalset.domains import domain_set

    (tmp_path / "train.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(ConfigError, match="has no held_out.jsonl, out_of_domain.jsonl"):
        domain_set(str(tmp_path))
    held = {"messages": [{"role": "user", "content": "reset?"}], "keys": [["10 seconds"]]}
    (tmp_path / "held_out.jsonl").write_text(json.dumps(held) + "\n")
    (tmp_path / "out_of_domain.jsonl").write_text('{"messages": [{"role": "user", "content": "a haiku?"}]}\n')
    assert len(domain_set(str(tmp_path)).inside) == 1
    (tmp_path / "train.jsonl").write_text('{"messages": [{"role": "assistant", "content": "hi"}]}\n')
    with pytest.raises(ConfigError, match="train.jsonl:1: no user turn"):
        domain_set(str(tmp_path))
    (tmp_path / "train.jsonl").write_text("{oops\n")
    with pytest.raises(ConfigError, match="train.jsonl:1: not a chat line"):
        domain_set(str(tmp_path))
