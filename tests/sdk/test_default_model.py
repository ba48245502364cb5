"""End to end on the real default model (slow): shipped policy, a real served cloud, the eval on a slice."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgekit.runtime import load
from edgekit.sdk import CloudConfig, HybridClient
from edgekit.sdk.cli import main
from edgekit.sdk.hybrid_answer import Route
from edgekit.sdk.serve import serve_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_model(default_bundle):
    path = default_bundle("gguf")
    with load(path) as model:
        model.bundle_dir = path
        yield model


def test_default_model_with_shipped_policy_and_served_cloud(default_model, tiny_local):
    with serve_in_thread(tiny_local, model_id="cloud") as cloud:
        config = CloudConfig(base_url=cloud.url + "/v1", model="cloud", api_key_env=None, max_tokens=4)
        with HybridClient(default_model, config, generation={"max_new_tokens": 12}) as client:
            hard = client.ask("What is 478 * 93?")
            easy = client.ask("What is the capital of France?")
    # a 3x2-digit product: the shipped router sends it to the cloud before any local compute
    assert hard.route is Route.CLOUD and hard.rule == "router:model:arithmetic" and hard.cost.local_ms == 0
    assert easy.family == "fact" and easy.rule in ("post:accept", "post:model:fact")
    assert {"answer_logprob", "mean_logprob", "truncated"} <= set(easy.signals)
    if easy.route is Route.LOCAL:
        assert (
            easy.text
            == default_model.generate(
                [{"role": "user", "content": "What is the capital of France?"}],
                max_new_tokens=12,
                context_policy="signal",
            ).text
        )


def test_eval_slice_on_default_model(default_model, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "escalation",
            str(default_model.bundle_dir),
            "--limit",
            8,
            "--max-new-tokens",
            8,
            "--folds",
            2,
            "--json",
            "--quiet",
        ],
        catch_exceptions=False,
    )
    report = json.loads(r.output)
    assert report["overall"]["n"] == 8 and 0.0 <= report["overall"]["local_accuracy"] <= 1.0
