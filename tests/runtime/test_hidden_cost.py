"""Reading the hidden states is optional (``load(..., hidden_states=False)``), and ``edgekit bench`` measures what
reading them costs in one worker: a labelled row decodes with and without them, interleaved. A benchmark, so
nothing here asserts a speed: only that both halves decode the same tokens and the figures are consistent."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from edgekit.runtime import load
from edgekit.sdk.bench.hidden_cost import HIDDEN_COST_LABEL
from edgekit.sdk.cli import main


def test_a_model_loaded_without_hidden_states_decodes_the_same_tokens(tiny_bundle):
    bundle = tiny_bundle("int8")
    prompt = [{"role": "user", "content": "Tell me about cats."}]
    with load(bundle) as seeing, load(bundle, hidden_states=False) as blind:
        want = seeing.generate(prompt, max_new_tokens=8, temperature=0.0)
        got = blind.generate(prompt, max_new_tokens=8, temperature=0.0)
    assert want.answer_hidden_mean is not None and want.prompt_hidden is not None
    assert got.token_ids == want.token_ids and got.text == want.text
    assert got.prompt_hidden is None and got.answer_hidden is None and got.answer_hidden_mean is None


def test_bench_row_measures_the_hidden_state_cost_in_one_worker(tiny_bundle):
    bundle = tiny_bundle("int8")
    args = ["bench", str(bundle), "--decode-tokens", "8", "--repeats", "2", "--no-quality", "--constraint", "none"]
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.stdout) if r["engine"] == "edgekit"]
    hidden = [r for r in rows if r["variant"].startswith(HIDDEN_COST_LABEL)]
    assert len(hidden) == 1 and not hidden[0]["default"], [r["variant"] for r in rows]
    row = hidden[0]
    measured = row["extra"]["hidden_cost"]
    assert row["status"] == "ok" and measured["repeats"] == 2 and measured["generated_tokens"] == 8
    assert measured["same_tokens"] is True and measured["hidden_size"] > 0
    assert row["decode_tok_s"] == measured["tok_s"] > 0 and measured["without_tok_s"] > 0
    assert measured["overhead"] == pytest.approx(1 - measured["tok_s"] / measured["without_tok_s"])
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    assert re.search(r"hidden-state probe cost ≤ 5% of decode: -?\d+\.\d%", table.output), table.output
    assert "with the bundle loaded without it, interleaved 2×" in table.output
    none = runner.invoke(main, [*args, "--no-variants", "--json"])
    assert not [r for r in json.loads(none.stdout) if r["variant"].startswith(HIDDEN_COST_LABEL)]
