"""The whole loop on the default model with a reduced step count: tune on the shipped support FAQ, export the
merged folder (int8), answer from the bundle, calibrate the domain policy on it (reduced sets) and carry it in the
bundle. Slow: the default model loads, trains and exports for real."""

from __future__ import annotations

import pytest
from edgekit.exporters.tune import TuneSpec, tune
from edgekit.sdk.evalset.support_faq import HELD_OUT_PATH, TRAIN_PATH

from tests.fixtures.require import import_or_skip_or_fail

import_or_skip_or_fail("peft", "bash scripts/setup.sh (the export extra)")


@pytest.mark.slow
def test_tune_export_ask_on_the_default_model(tmp_path):
    from edgekit.exporters import ExportSpec, ValidationSettings, export
    from edgekit.sdk.tune_accuracy import bundle_accuracy, read_items

    report = tune(
        TuneSpec(data=TRAIN_PATH, out=tmp_path / "tuned", max_steps=12, eval_every=6, seed=0, threads=2),
    )
    record = report.record
    assert record.source_kind == "builtin" and record.steps == 12
    # the FAQ answers are new to the model: a few steps already cut the validation loss by a third
    assert record.best_validation_loss < 0.67 * record.initial_validation_loss, record.history
    bundle = export(
        ExportSpec(
            model=str(report.out), out=tmp_path / "bundle", quant="int8", validation=ValidationSettings(max_tokens=256)
        )
    )
    assert bundle.validation is not None and bundle.validation.top1_agreement > 0.9
    items = read_items(HELD_OUT_PATH)[:5]
    result = bundle_accuracy(bundle.bundle, items, "after export (int8)")
    assert result.total == 5 and all(answer.strip() for answer in result.answers)
    assert any("Larkspur" in answer or "hub" in answer.lower() for answer in result.answers), result.answers

    from dataclasses import replace

    from edgekit.runtime import load
    from edgekit.sdk.evalset.domains import domain_set
    from edgekit.sdk.hybrid import HybridClient
    from edgekit.sdk.policy.bundle_policy import attach_policy
    from edgekit.sdk.policy.domain_calibration import calibrate_domain

    domain = domain_set("support_faq", fit_size=30)
    domain = replace(
        domain, outside=domain.outside[::6], held_out=domain.held_out[:8], out_of_domain=domain.out_of_domain[:8]
    )
    with load(bundle.bundle) as model:
        result = calibrate_domain(model, domain, max_new_tokens=8)
    report = result.report
    # measured on the fully tuned model: AUROC 1.0 out of fold, 0.99 on the test sets; a 12-step tune keeps most
    # of that separation (FAQ prompts and general questions are far apart in the prompt's state)
    assert report.fit_auroc > 0.9 and report.fit_inside_rate <= 0.05, report
    assert report.out_of_domain_rate >= 0.5 and report.held_out_rate <= 0.5, report
    attach_policy(bundle.bundle, result.policy)
    with load(bundle.bundle) as model:
        answer = HybridClient(model, generation={"max_new_tokens": 8}).ask(list(domain.out_of_domain[0]))
    assert "probe" in answer.signals and answer.cost.local_probe_ms > 0
