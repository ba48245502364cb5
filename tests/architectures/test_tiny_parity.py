"""fp32 ONNX graphs of every registered architecture against transformers, on tiny random models.

Reference: the transformers model itself (eager attention, float32) on the
first 80 bytes of edgekit's validation text. The graph is run the way the
runtime runs it (shared KV buffer, prefill then one token at a time, then
chunked prefill). The prompt is longer than every tiny sliding window, so a
wrong window, rope theta or norm shows up as a logit mismatch.
"""

from __future__ import annotations

import numpy as np
import pytest
from edgekit.exporters.architectures import ARCHITECTURES
from edgekit.exporters.onnx import build_onnx
from edgekit.exporters.recipes import get_recipe

from tests.architectures.tiny_archs import TINY_ARCHS, tiny_model, torch_logits, validation_ids
from tests.exporters.graph_helpers import GraphRunner

MAX_CONTEXT = 96
IDS = validation_ids(80)
PREFILL = 30
ATOL = 1e-4


@pytest.fixture(scope="module", params=sorted(TINY_ARCHS))
def exported(request, tmp_path_factory):
    torch_model, model = tiny_model(request.param)
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    build_onnx(model, get_recipe("fp32"), folder, max_context=MAX_CONTEXT)
    return request.param, torch_logits(torch_model, IDS), GraphRunner(folder, MAX_CONTEXT)


def test_prefill_then_decode_matches_transformers(exported):
    arch, reference, runner = exported
    runner.reset()
    got = [runner.forward(IDS[:PREFILL], logits_to_keep=PREFILL)]
    got += [runner.forward([token]) for token in IDS[PREFILL:]]
    got = np.concatenate(got)
    np.testing.assert_allclose(got, reference, atol=ATOL, rtol=0, err_msg=arch)
    # 100% teacher-forced top-1 agreement on the validation text.
    assert (got.argmax(-1) == reference.argmax(-1)).all(), arch


def test_chunked_prefill_matches_transformers(exported):
    arch, reference, runner = exported
    runner.reset()
    chunks = [IDS[:7], IDS[7:8], IDS[8:41], IDS[41:]]
    got = np.concatenate([runner.forward(c, logits_to_keep=len(c)) for c in chunks])
    np.testing.assert_allclose(got, reference, atol=ATOL, rtol=0, err_msg=arch)


def test_every_registered_architecture_has_a_tiny_parity_test():
    """Completeness: registering a family without adding it to TINY_ARCHS fails here."""
    assert sorted(TINY_ARCHS) == ARCHITECTURES.names()
