"""edgekit tune on the tiny real model (random weights, the real SmolLM2 tokenizer and template) and a slice of
the shipped support FAQ: the loss drops and the greedy answer changes, an interrupted run resumes to the same
result, nothing half-written is left at --out, and the merged folder exports through every ONNX recipe."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from edgekit.exporters.tune import RECORD_NAME, TuneMemoryError, TuneSpec, tune
from edgekit.exporters.tune.data import data_sha256
from edgekit.sdk.evalset.support_faq import TRAIN_PATH

from tests.fixtures.require import import_or_skip_or_fail

import_or_skip_or_fail("torch", "bash scripts/setup.sh (the export extra)")
import_or_skip_or_fail("peft", "bash scripts/setup.sh (the export extra)")

SLICE = 48  # conversations of the shipped training set
QUESTION = [{"role": "user", "content": "How much does the Larkspur Hub cost?"}]


def _spec(model: Path, data: Path, out: Path, **changes) -> TuneSpec:
    values = dict(
        model=str(model),
        data=data,
        out=out,
        max_steps=12,
        batch_size=4,
        learning_rate=5e-3,
        eval_every=4,
        patience=10,
        seed=7,
        threads=2,
    )
    values.update(changes)
    return TuneSpec(**values)


@pytest.fixture(scope="module")
def faq_slice(tmp_path_factory) -> Path:
    lines = TRAIN_PATH.read_text(encoding="utf-8").splitlines()[:SLICE]
    path = tmp_path_factory.mktemp("data") / "faq.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tuned(tiny_hf_folder, faq_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "tiny-faq"
    events = []
    report = tune(_spec(tiny_hf_folder, faq_slice, out, max_steps=16, eval_every=8), on_progress=events.append)
    return report, events


def _answer(folder: Path) -> str:
    from edgekit.exporters.tune.answers import greedy_answers
    from edgekit.exporters.tune.encode import Encoder
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder))
    template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    encoder = Encoder(folder / "tokenizer.json", template, bos_id=1, add_bos=False)
    return greedy_answers(model, encoder, [QUESTION], eos_ids=[2], max_new_tokens=12)[0]


def test_tuning_lowers_the_loss_and_changes_the_answer(tuned, tiny_hf_folder, faq_slice):
    report, events = tuned
    record = report.record
    assert record.steps == 16 and record.resumed_from_step is None
    assert record.best_validation_loss < record.initial_validation_loss - 0.5, record.history
    losses = [entry["loss"] for entry in record.history if "loss" in entry]
    assert losses[-1] < losses[0] - 0.5, losses
    assert _answer(report.out) != _answer(tiny_hf_folder)
    # progress: step, loss, validation loss, tokens/s and ETA through the callback
    notes = [e for e in events if e.name == "train" and not e.done and e.metrics]
    assert any({"loss", "val_loss", "tok_s", "eta_s"} <= set(e.metrics) for e in notes)


def test_the_merged_folder_is_complete_and_recorded(tuned, faq_slice):
    report, _ = tuned
    out = report.out
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", RECORD_NAME} <= names
    assert not any("lora" in n for n in names)  # merged: no adapter files
    assert "<|im_start|>" in (out / "chat_template.jinja").read_text(encoding="utf-8")
    record = json.loads((out / RECORD_NAME).read_text(encoding="utf-8"))
    assert record["data_sha256"] == data_sha256(faq_slice)
    assert record["hyper_parameters"]["lora_r"] == 16 and record["hyper_parameters"]["seed"] == 7
    assert record["train_examples"] + record["validation_examples"] == SLICE
    assert record["versions"]["peft"] == "0.21.0"
    # nothing beside it: no staging folder, the checkpoint removed after success
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tiny_hf_folder, faq_slice, tmp_path):
    whole = tune(_spec(tiny_hf_folder, faq_slice, tmp_path / "whole", max_steps=6, eval_every=2))
    out = tmp_path / "resumed"
    spec = _spec(tiny_hf_folder, faq_slice, out, max_steps=6, eval_every=2)

    def interrupt(event):
        if event.message.startswith("step 5/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(spec, on_progress=interrupt)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".resumed")] == [".resumed.tune-checkpoint"]
    assert spec.checkpoint_path.is_file()  # the checkpoint of step 4

    resumed = tune(spec)
    assert resumed.record.resumed_from_step == 4
    assert resumed.record.best_validation_loss == pytest.approx(whole.record.best_validation_loss, abs=1e-4)
    val = {e["step"]: e["val_loss"] for e in whole.record.history if "val_loss" in e}
    val_resumed = {e["step"]: e["val_loss"] for e in resumed.record.history if "val_loss" in e}
    assert val.keys() == val_resumed.keys() == {0, 2, 4, 6}
    assert all(val[s] == pytest.approx(val_resumed[s], abs=1e-4) for s in val)


def test_a_checkpoint_of_other_settings_is_refused(tiny_hf_folder, faq_slice, tmp_path):
    from edgekit.exporters.tune import TuneError

    spec = _spec(tiny_hf_folder, faq_slice, tmp_path / "a", max_steps=2, eval_every=2, keep_checkpoint=True)
    tune(spec)
    assert spec.checkpoint_path.is_file()
    other = _spec(
        tiny_hf_folder,
        faq_slice,
        tmp_path / "b",
        max_steps=2,
        eval_every=2,
        learning_rate=1e-3,
        checkpoint_dir=spec.checkpoint_path.parent,
    )
    with pytest.raises(TuneError, match="checkpoint of another run"):
        tune(other)
    # --no-resume starts over; success removes the checkpoint but not what else the folder holds
    (spec.checkpoint_path.parent / "notes.txt").write_text("mine", encoding="utf-8")
    fresh = tune(dataclasses.replace(other, resume=False))
    assert fresh.record.resumed_from_step is None and fresh.record.steps == 2
    assert [p.name for p in spec.checkpoint_path.parent.iterdir()] == ["notes.txt"]


def test_not_enough_memory_stops_before_training(tiny_hf_folder, faq_slice, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TuneMemoryError, match=r"but 50 MiB are available"):
        tune(_spec(tiny_hf_folder, faq_slice, out, max_memory_mib=50))
    assert list(tmp_path.iterdir()) == []


def _onnx_recipes() -> list[str]:
    from edgekit.exporters.recipes import RECIPES

    return [name for name, recipe in RECIPES.items() if "onnx" in recipe.targets]


@pytest.mark.parametrize("recipe", _onnx_recipes())
def test_the_merged_folder_exports_through_every_onnx_recipe(tuned, recipe, tmp_path):
    from edgekit.exporters import ExportSpec, ValidationSettings, export
    from edgekit.runtime import load
    from edgekit.runtime.errors import UnsupportedError

    spec = ExportSpec(
        model=str(tuned[0].out), out=tmp_path / "b", quant=recipe, validation=ValidationSettings(max_tokens=64)
    )
    from edgekit.exporters.recipes import QuantMethod, get_recipe

    if get_recipe(recipe).method == QuantMethod.GGUF:  # repacks a GGUF's blocks: a tuned folder has only floats
        with pytest.raises(UnsupportedError, match="gguf"):
            export(spec)
        return
    report = export(spec)
    assert report.recipe == recipe and report.validation is not None
    with load(report.bundle) as model:
        assert model.generate(QUESTION, max_new_tokens=4, temperature=0.0).token_ids


def test_a_gguf_file_tunes_and_its_merged_folder_exports(tiny_gguf, faq_slice, tmp_path):
    """The source is dequantized from the GGUF's blocks (the tiny llama: Q4_1 linears, Q8_0 embedding): it trains
    like the HF folder, and the merged folder (new float weights) exports and answers."""
    from edgekit.exporters import ExportSpec, ValidationSettings, export
    from edgekit.runtime import load

    report = tune(_spec(tiny_gguf, faq_slice, tmp_path / "from-gguf", max_steps=8, eval_every=4))
    record = report.record
    assert record.source_kind == "gguf" and record.base_model == str(tiny_gguf)
    assert record.best_validation_loss < record.initial_validation_loss - 0.3, record.history
    bundle = export(
        ExportSpec(
            model=str(report.out), out=tmp_path / "b", quant="int8", validation=ValidationSettings(max_tokens=64)
        )
    )
    assert bundle.validation is not None and bundle.validation.top1_agreement > 0.5
    with load(bundle.bundle) as model:
        assert model.generate(QUESTION, max_new_tokens=4, temperature=0.0).token_ids


def test_a_domain_policy_is_calibrated_on_the_tuned_bundle_and_carried_by_it(tuned, tmp_path):
    """The loop's last step on the tuned tiny model: calibrate the hand-off on the domain (its FAQ prompts stay,
    general questions go), write the policy into the bundle, and HybridClient routes with it by default."""
    from dataclasses import replace

    from edgekit.exporters import ExportSpec, ValidationSettings, export
    from edgekit.runtime import load
    from edgekit.sdk.evalset.domains import domain_set
    from edgekit.sdk.hybrid import HybridClient
    from edgekit.sdk.policy.bundle_policy import attach_policy
    from edgekit.sdk.policy.domain_calibration import calibrate_domain

    bundle = export(
        ExportSpec(
            model=str(tuned[0].out), out=tmp_path / "b", quant="int8", validation=ValidationSettings(max_tokens=64)
        )
    ).bundle
    domain = domain_set("support_faq", fit_size=30)
    domain = replace(domain, outside=domain.outside[::6], held_out=domain.held_out[:10])
    with load(bundle) as model:
        result = calibrate_domain(model, domain, max_new_tokens=4)
    report = result.report
    assert (report.n_inside, report.n_outside) == (30, len(domain.outside))
    assert report.fit_inside_rate <= 0.05 and report.fit_auroc > 0.8  # FAQ and trivia prompts differ even here
    attach_policy(bundle, result.policy)
    with load(bundle) as model:
        client = HybridClient(model, generation={"max_new_tokens": 4})
        assert client.policy.probe == result.policy.probe
        answer = client.ask(list(domain.out_of_domain[0]))
        assert answer.signals["probe"] == pytest.approx(
            result.policy.probe.probability(
                model.generate(list(domain.out_of_domain[0]), max_new_tokens=1).prompt_hidden
            )
        )
