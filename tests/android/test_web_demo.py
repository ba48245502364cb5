"""The phone web demo (android_demo/web) end to end in headless Chromium, served by a real `edgekit serve --web`.

- the greedy token ids the page generates for fixed prompts (the real default model, onnxruntime-web WASM) equal the
  Python runtime's on the same bundle; it still answers after going offline (service worker); a screenshot is saved
  and must not be blank. The bundle is the default export with the web graph profile (``--profile web``,
  exporters/edgekit/exporters/onnx/web_profile.py): WASM computes MatMulNBits accuracy_level 4 with float
  activations while x86 quantizes them, and the default cpu bundle's 8-bit head runs at level 4, so only the web
  profile makes "the same bundle in both runtimes" a like-for-like comparison;
- an escalation round trip: the page loads the real default cpu bundle (default_bundle("gguf")), the policy file
  served by `edgekit serve --web --policy` sends the question to a second real `edgekit serve` (the "cloud"), the
  request leaves the page redacted, and the page shows the cloud's answer with route "cloud";
- the page's JavaScript ports (tokenizer library, policy, signals, redaction) give the Python reference results.

Slow: Chromium and npm packages are installed on first use (tests/android/web_harness.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.android.make_tokenizer_vectors import CORPUS
from tests.android.manifest_schema import validate_manifest
from tests.android.reference_vectors import (
    compare_decision,
    compare_signals,
    policy_vectors,
    probe_policy_vectors,
    redaction_cases,
    signal_cases,
)
from tests.android.web_harness import (
    REPO,
    edgekit_serve,
    ensure_chromium,
    ensure_node_modules,
    png_is_not_blank,
    run_driver,
)
from tests.fixtures.require import skip_or_fail

pytestmark = pytest.mark.slow

OUTPUT = REPO / "test-output" / "android"
QUESTIONS = ["What is the capital of France?", "Write a haiku about the sea."]
GRAMMAR_CASE = {  # one tool and a call to it, as the model writes it (tool_grammar.py call_text)
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "set_timer",
                "parameters": {
                    "type": "object",
                    "properties": {"minutes": {"type": "integer", "minimum": 0, "maximum": 90}},
                    "required": ["minutes"],
                    "additionalProperties": False,
                },
            },
        }
    ],
    "text": '<tool_call>\n{"name":"set_timer","arguments":{"minutes":5}}\n</tool_call>',
}
MAX_NEW_TOKENS = 24  # the second answer runs to this limit: 24 decode steps compared token by token


@pytest.fixture(scope="module")
def browser_ready() -> None:
    ensure_chromium()
    ensure_node_modules()
    OUTPUT.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def web_default_bundle() -> Path:
    """The default model exported with recipe gguf and the web graph profile, cached like default_bundle."""
    import hashlib

    from edgekit.exporters.sources import default_model_path
    from edgekit.runtime.manifest import sha256_file

    from tests.fixtures.bundles import CACHE_ROOT, build_cached, exporter_fingerprint

    digest = hashlib.sha256(sha256_file(default_model_path()).encode())
    digest.update(exporter_fingerprint().encode())

    def build(folder: Path) -> None:
        from edgekit.exporters import ExportSpec, export

        # validate=False: the cpu default_bundle fixture validates the same weights; this one only changes
        # the MatMulNBits accuracy levels (web_profile.py)
        export(ExportSpec(model="default", out=folder, quant="gguf", validate=False, options={"profile": "web"}))

    return build_cached(CACHE_ROOT / "test-bundles" / f"web-gguf-{digest.hexdigest()[:16]}", build)


def _python_reference(bundle: Path, questions: list[str]) -> list[dict]:
    from edgekit.runtime import load

    with load(bundle) as model:
        out = []
        for q in questions:
            messages = [{"role": "user", "content": q}]
            result = model.generate(messages, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
            prompt = model.tokenizer.encode(model.render_chat(messages))
            out.append(
                {
                    "ids": list(result.token_ids),
                    "prompt": prompt,
                    "text": result.text,
                    "finish": str(result.finish_reason),
                }
            )
        return out


def test_web_demo_greedy_ids_equal_python_runtime(browser_ready, web_default_bundle):
    bundle = web_default_bundle
    validate_manifest(bundle)  # the page reads only what docs/edgekit.schema.json describes (test_reader_schema.py)
    reference = _python_reference(bundle, QUESTIONS)
    shot = OUTPUT / "web-demo-default-bundle.png"
    shot.unlink(missing_ok=True)
    with edgekit_serve(bundle) as url:
        # policy= (empty): answer locally whatever a policy would say; ids are what this test compares
        run = run_driver(
            {
                "url": f"{url}/?policy=&maxNewTokens={MAX_NEW_TOKENS}",
                "questions": QUESTIONS,
                "offlineQuestions": QUESTIONS[:1],
                "screenshot": str(shot),
                "offlineReload": True,
            }
        )
    (OUTPUT / "web-demo-default-bundle.json").write_text(
        json.dumps(run, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    assert "checksums verified" in run["status"], run["status"]
    for turn, ref in zip(run["turns"], reference, strict=True):
        assert turn["error"] is None, turn["error"]
        assert turn["route"] == "local"
        assert turn["promptIds"] == ref["prompt"], (
            f"prompt ids differ for {turn['question']!r} (chat template or tokenizer)"
        )
        assert turn["tokenIds"] == ref["ids"], (
            f"greedy ids differ for {turn['question']!r}:\n  python: {ref['ids']}\n  web:    {turn['tokenIds']}"
        )
        assert turn["answer"] == ref["text"]
        assert turn["finish"] == ref["finish"]
    offline = run["offline"]["turns"][0]
    assert offline["tokenIds"] == reference[0]["ids"], "after going offline the page answered differently"
    ok, colors = png_is_not_blank(shot)
    assert ok, f"screenshot {shot} looks blank ({colors} distinct colours sampled)"
    print(f"\nweb demo timings (s): {run['timings']}; screenshot: {shot}")


def test_web_demo_escalation_round_trip(browser_ready, default_bundle, tiny_bundle, tmp_path):
    """The page (the real default cpu bundle) routes to a real `edgekit serve` cloud (a tiny bundle), redacts the
    request and shows the cloud's answer; a policy whose early model always stops hands the next question off
    after its first local token."""
    import httpx
    from edgekit.sdk.policy.early import EarlyStop
    from edgekit.sdk.policy.early_fit import EARLY_FEATURES
    from edgekit.sdk.policy.policy import LogisticModel, Policy, RouterRule

    app_bundle = default_bundle("gguf")
    validate_manifest(app_bundle)
    cloud_bundle = tiny_bundle("int8")
    # a real policy file: the default policy plus a router rule that escalates questions naming "cloud"
    policy = Policy.default()
    policy = dataclasses.replace(  # the default policy (its answer probe too) with fewer tokens and one more rule
        policy,
        router_rules=(RouterRule("ask_the_cloud", "keywords", words=("cloud",)), *policy.router_rules),
        generation={"max_new_tokens": 8},
        # p = 0.5 >= 0 after the first token: every answer the router lets through stops there
        early=EarlyStop(1, LogisticModel(EARLY_FEATURES, (0.0,) * 10, (1.0,) * 10, (0.0,) * 10, 0.0, 0.0)),
    )
    policy_file = policy.save(tmp_path / "policy.json")
    question = "Cloud please: mail jane.doe@example.com the summary."
    early_question = "What is the capital of France?"
    with (
        edgekit_serve(cloud_bundle, "--model-id", "tiny", web=False) as cloud,
        edgekit_serve(app_bundle, "--policy", str(policy_file)) as url,
    ):
        shot = OUTPUT / "web-demo-escalation.png"
        run = run_driver(
            {
                "url": f"{url}/?cloud={cloud}&cloudModel=tiny",
                "questions": [question, early_question],
                "screenshot": str(shot),
            }
        )
        # what the cloud answers to the redacted request, asked directly
        sent = [r for r in run["requests"] if r["url"].startswith(cloud)]
        assert len(sent) == 2, f"expected two requests to the cloud, saw {run['requests']}"
        body = json.loads(sent[0]["body"])
        direct = httpx.post(f"{cloud}/v1/chat/completions", json={**body, "stream": False}, timeout=120).json()
    assert "checksums verified" in run["status"], run["status"]
    turn = run["turns"][0]
    assert turn["error"] is None and turn["cloudError"] is None, turn
    assert turn["route"] == "cloud" and turn["rule"] == "router:rule:ask_the_cloud", turn
    outgoing = body["messages"][-1]["content"]
    assert "jane.doe@example.com" not in outgoing and "[EMAIL_1]" in outgoing, outgoing
    assert body["stream"] is True and body["model"] == "tiny"
    expected = direct["choices"][0]["message"]["content"].replace("[EMAIL_1]", "jane.doe@example.com")
    assert turn["answer"] == expected
    assert turn["redacted"] == {"email": 1}
    early = run["turns"][1]
    assert early["route"] == "cloud" and early["rule"] == "early:model:fact" and early["earlyTokens"] == 1, early
    assert early["error"] is None and early["cloudError"] is None, early
    assert png_is_not_blank(shot)[0], f"screenshot {shot} looks blank"


@pytest.fixture(scope="module")
def vectors_run(browser_ready, tiny_bundle):
    bundle = tiny_bundle("fp32")
    validate_manifest(bundle)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    reference = {
        "tokenizer": [tok.encode(t, add_special_tokens=False).ids for t in CORPUS],
        "signals": signal_cases(),
        "redaction": redaction_cases(),
        "policy": policy_vectors(),
        "probe": probe_policy_vectors(),
    }
    job_vectors = {
        "tokenizer": CORPUS,
        "signals": [{k: c[k] for k in ("question", "answer_kind", "result")} for c in reference["signals"]],
        "redaction": [c["text"] for c in reference["redaction"]],
        "policy": reference["policy"],
        "probe": reference["probe"],
        "grammar": GRAMMAR_CASE,
    }
    with edgekit_serve(bundle) as url:
        run = run_driver({"url": f"{url}/?policy=", "questions": [], "vectors": job_vectors})
    return reference, run["vectors"]


def test_web_tokenizer_library_matches_tokenizers(vectors_run):
    reference, got = vectors_run
    bad = [(t, r, g) for t, r, g in zip(CORPUS, reference["tokenizer"], got["tokenizer"]) if r != g]
    assert not bad, f"{len(bad)} texts tokenize differently in the browser; first: {bad[0]}"


def test_web_policy_matches_python_policy(vectors_run):
    reference, got = vectors_run
    if reference["policy"] is None:
        skip_or_fail(
            "tests/vectors/policy_vectors.json is missing",
            "it is committed in git (git checkout tests/vectors/policy_vectors.json); to remake it: "
            "python -m edgekit.sdk.policy.vectors RECORDS.jsonl tests/vectors/policy_vectors.json",
        )
    bad = []
    for case, decision in zip(reference["policy"]["vectors"], got["policy"], strict=True):
        problem = compare_decision(case["expected"], decision)
        if problem:
            bad.append(f"{case['question'][:60]!r} ({case['privacy']}): {problem}")
    assert not bad, f"{len(bad)} policy decisions differ in the browser:\n" + "\n".join(bad)
    early = reference["policy"]["early_vectors"]
    assert {c["expected"]["escalate"] for c in early} == {True, False}, "the early vectors must stop and continue"
    bad = [
        f"{case['question'][:60]!r} after {case['signals']['prefix_tokens']:.0f} tokens: {problem}"
        for case, decision in zip(early, got["early"], strict=True)
        if (problem := compare_decision(case["expected"], decision))
    ]
    assert not bad, f"{len(bad)} early hand-off decisions differ in the browser:\n" + "\n".join(bad)


def test_web_probe_policy_matches_python_policy(vectors_run):
    """A version-2 policy with a hidden-state probe: the page's decisions on recorded signals and hidden states
    equal the Python policy's, and the probe both escalates and keeps questions local."""
    reference, got = vectors_run
    if reference["probe"] is None:
        skip_or_fail("tests/vectors/policy_vectors.json is missing", "git checkout tests/vectors/policy_vectors.json")
    cases = reference["probe"]["vectors"]
    assert {c["expected"]["rule"] for c in cases} >= {"router:probe", "post:accept"}, "the probe must decide both ways"
    bad = [
        f"{case['question'][:60]!r} ({case['privacy']}): {problem}"
        for case, decision in zip(cases, got["probe"], strict=True)
        if (problem := compare_decision(case["expected"], decision))
    ]
    assert not bad, f"{len(bad)} probe-policy decisions differ in the browser:\n" + "\n".join(bad)


def test_web_call_grammar_ends_exactly_when_the_call_is_complete(vectors_run):
    """The page's grammar takes a call's own tokens one by one and is complete after the last one only, the step
    where llguidance stops too, and then allows nothing but the bundle's own eos (the stop tokens it was given, not
    ones XGrammar guesses from the vocabulary)."""
    _, got = vectors_run
    steps = got["grammar"]
    assert steps and all(s["allowed"] for s in steps), steps
    assert [s["finished"] for s in steps] == [False] * (len(steps) - 1) + [True], steps
    after = got["grammarAfter"]
    assert after["allowed"] == sorted(after["eos"]), after


def test_web_signals_match_python_signals(vectors_run):
    reference, got = vectors_run
    bad = []
    for case, mine in zip(reference["signals"], got["signals"], strict=True):
        bad += compare_signals(case["expected"]["pre"], mine["pre"], f"{case['question']!r} pre")
        bad += compare_signals(case["expected"]["post"], mine["post"], f"{case['question']!r} post")
    assert not bad, "\n".join(bad)


def test_web_redaction_matches_python_redactor(vectors_run):
    reference, got = vectors_run
    for case, mine in zip(reference["redaction"], got["redaction"], strict=True):
        assert mine == {"redacted": case["redacted"], "mapping": case["mapping"]}, case["text"]


# -- tool calls in the page ---------------------------------------------------------------------------------------
TOOL_QUESTIONS = ["Set a timer for 5 minutes", "Convert 10 km to miles"]
TOOL_NEW_TOKENS = 48  # a call to either demo tool fits (the grammar ends generation once the call is complete)


def _expected_output(call: dict) -> dict:
    """What the page's tool must return for a call, computed here from the call's arguments."""
    args = json.loads(call["arguments"])
    if call["name"] == "set_timer":
        seconds = args["minutes"] * 60 + args.get("seconds", 0)
        return {"status": "started", "seconds": seconds, "label": args.get("label") or "Timer"}
    value, a, b = args["value"], args["from_unit"], args["to_unit"]
    factors = {
        ("km", "mi"): 1 / 1.609344,
        ("mi", "km"): 1.609344,
        ("kg", "lb"): 1 / 0.45359237,
        ("lb", "kg"): 0.45359237,
    }
    if a == b:
        return {"value": value, "unit": b}
    if (a, b) == ("c", "f"):
        return {"value": value * 9 / 5 + 32, "unit": b}
    if (a, b) == ("f", "c"):
        return {"value": (value - 32) * 5 / 9, "unit": b}
    if (a, b) in factors:
        return {"value": value * factors[(a, b)], "unit": b}
    return {"error": f"cannot convert {a} to {b}"}


def _python_tool_reference(bundle: Path, tools: list[dict], questions: list[str], choice: str) -> list[dict]:
    from edgekit.runtime import load
    from edgekit.runtime.tool_prompt import prepare_messages
    from edgekit.runtime.tools import parse_tools

    out = []
    with load(bundle) as model:
        takes = model.chat_template is not None and model.chat_template.takes_tools
        for q in questions:
            messages = [{"role": "user", "content": q}]
            result = model.generate(
                messages, tools=tools, tool_choice=choice, max_new_tokens=TOOL_NEW_TOKENS, temperature=0.0
            )
            turns = prepare_messages(messages, parse_tools(tools), takes)
            out.append(
                {
                    "ids": list(result.token_ids),
                    "prompt": model.tokenizer.encode(model.render_chat(turns)),
                    "text": result.text,
                    "finish": str(result.finish_reason),
                    "calls": [{"name": c.name, "arguments": c.arguments} for c in result.tool_calls],
                }
            )
    return out


def _python_follow_up(bundle: Path, tools: list[dict], turns: list[dict]) -> list[dict]:
    """The runtime's reply after each page turn's calls and their outputs (tool_choice "none", greedy)."""
    from edgekit.runtime import load
    from edgekit.runtime.tool_prompt import prepare_messages

    out = []
    with load(bundle) as model:
        takes = model.chat_template is not None and model.chat_template.takes_tools
        for turn in turns:
            calls = [
                {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for i, c in enumerate(turn["toolCalls"])
            ]
            messages = [
                {"role": "user", "content": turn["question"]},
                {"role": "assistant", "content": None, "tool_calls": calls},
                *(
                    {"role": "tool", "tool_call_id": c["id"], "content": json.dumps(o, separators=(",", ":"))}
                    for c, o in zip(calls, turn["toolOutputs"], strict=True)
                ),
            ]
            result = model.generate(
                messages, tools=tools, tool_choice="none", max_new_tokens=TOOL_NEW_TOKENS, temperature=0.0
            )
            prompt = model.tokenizer.encode(model.render_chat(prepare_messages(messages, [], takes)))
            out.append({"ids": list(result.token_ids), "prompt": prompt, "text": result.text})
    return out


def test_web_tool_calls_equal_python_runtime_and_run_in_the_page(browser_ready, web_default_bundle):
    """With the demo tools offered, the page renders the same prompt as the Python runtime (the generic tool format:
    SmolLM2's template has no tools), its grammar (XGrammar) lets greedy decoding draw the same tokens as the
    runtime's (llguidance), for a forced call ("required") and for a free choice ("auto"); every call parses against
    its schema, and the demo tool really runs in the page (a timer that counts down, a unit conversion)."""
    bundle = web_default_bundle
    shot = OUTPUT / "web-demo-tool-calls.png"
    shot.unlink(missing_ok=True)
    with edgekit_serve(bundle) as url:
        forced = run_driver(
            {
                "url": f"{url}/?policy=&tools=1&toolChoice=required&maxNewTokens={TOOL_NEW_TOKENS}",
                "questions": TOOL_QUESTIONS,
                "readTools": True,
                "timerWaitMs": 2500,
                "screenshot": str(shot),
            }
        )
        assert forced.get("error") is None, forced.get("error")
        free = run_driver(
            {
                "url": f"{url}/?policy=&tools=1&toolChoice=auto&maxNewTokens={TOOL_NEW_TOKENS}",
                "questions": QUESTIONS[:1] + TOOL_QUESTIONS[:1],
            }
        )
    (OUTPUT / "web-demo-tool-calls.json").write_text(json.dumps([forced, free], indent=1, ensure_ascii=False), "utf-8")
    tools = forced["tools"]
    assert [t["function"]["name"] for t in tools] == ["set_timer", "convert_units"]
    for run, choice, questions in (
        (forced, "required", TOOL_QUESTIONS),
        (free, "auto", QUESTIONS[:1] + TOOL_QUESTIONS[:1]),
    ):
        assert free.get("error") is None, free.get("error")
        reference = _python_tool_reference(bundle, tools, questions, choice)
        for turn, ref in zip(run["turns"], reference, strict=True):
            what = f"{turn['question']!r} ({choice})"
            assert turn["error"] is None, f"{what}: {turn['error']}"
            assert turn["promptIds"] == ref["prompt"], f"{what}: the tool prompt differs from the runtime's"
            assert turn["tokenIds"] == ref["ids"], f"{what}:\n  python: {ref['ids']}\n  web:    {turn['tokenIds']}"
            assert turn["finish"] == ref["finish"], what
            assert (turn["toolCalls"] or []) == ref["calls"], what
            if ref["calls"]:
                assert turn["toolSource"] == "local" and turn["answer"] == "", what
                assert turn["toolOutputs"] == [_expected_output(c) for c in ref["calls"]], what
            else:
                assert turn["answer"] == ref["text"], what
    # "required": every request ends in a call that the page ran, and its output went back to the model, whose
    # reply is the runtime's on the same conversation, token for token
    for turn in forced["turns"]:
        assert turn["finish"] == "tool_calls" and len(turn["toolCalls"]) == 1, turn
    for turn, ref in zip(forced["turns"], _python_follow_up(bundle, tools, forced["turns"]), strict=True):
        what = f"the reply after {turn['question']!r}"
        assert turn["followUpPromptIds"] == ref["prompt"], f"{what}: the prompt with the tool result differs"
        assert turn["followUpTokenIds"] == ref["ids"], (
            f"{what}:\n  python: {ref['ids']}\n  web: {turn['followUpTokenIds']}"
        )
        assert turn["followUp"] == ref["text"] and ref["text"], what
    timers = [(i, t["timersLeft"][0]) for i, t in enumerate(forced["turns"]) if t["timersLeft"]]
    for i, left in timers:
        if left > 3:  # a running timer shows less time after the wait
            assert forced["timersLater"][i][0] < left, (left, forced["timersLater"][i])
    assert png_is_not_blank(shot)[0], f"screenshot {shot} looks blank"


class _BadCallCloud:
    """Fault injection: an OpenAI-compatible endpoint on 127.0.0.1 whose streamed tool call breaks the schema."""

    def __init__(self, arguments: str):
        import http.server
        import threading

        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_bad",
                                    "type": "function",
                                    "function": {"name": "set_timer", "arguments": ""},
                                }
                            ]
                        },
                    }
                ]
            },
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        ]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_OPTIONS(self):
                self.send_response(204)
                self._cors()
                self.end_headers()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = body.encode()
                self.send_response(200)
                self._cors()
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _cors(self):
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_web_cloud_tool_calls_are_checked_before_they_run(browser_ready, default_bundle, tmp_path):
    """Escalated with the tools: a real `edgekit serve` cloud returns a call, which the page checks against the
    tool's schema and runs (route "cloud"); a cloud whose call breaks the schema is refused, and the page keeps
    its own local answer (route "fallback"), never running the bad call. A local answer the post stage escalates
    never runs its own call: only the cloud's runs."""
    import httpx
    from edgekit.sdk.policy.policy import LogisticModel, Policy, RouterRule

    app_bundle = default_bundle("gguf")
    cloud_bundle = app_bundle  # the tools section alone outgrows a tiny bundle's context
    policy = Policy.default()
    policy = dataclasses.replace(  # the default policy (its answer probe too) with fewer tokens and one more rule
        policy,
        router_rules=(RouterRule("ask_the_cloud", "keywords", words=("cloud",)), *policy.router_rules),
        generation={"max_new_tokens": 8},
    )
    policy_file = policy.save(tmp_path / "policy.json")
    # the post stage hands every generated answer to the cloud (p = 0.5 >= 0): the local call must never run
    always = LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), 0.0, 0.0)
    post_policy = dataclasses.replace(
        policy, post_models={"default": always}, early=None, generation={"max_new_tokens": TOOL_NEW_TOKENS}
    )
    post_file = post_policy.save(tmp_path / "post.json")
    question = "Cloud: set a timer for 2 minutes"
    bad = _BadCallCloud('{"minutes": -5}')
    try:
        with (
            edgekit_serve(cloud_bundle, "--model-id", "tiny", web=False) as cloud,
            edgekit_serve(app_bundle, "--policy", str(policy_file)) as url,
            edgekit_serve(app_bundle, "--policy", str(post_file)) as post_url,
        ):
            good = run_driver(
                {"url": f"{url}/?cloud={cloud}&cloudModel=tiny&tools=1&toolChoice=required", "questions": [question]}
            )
            post = run_driver(
                {
                    "url": f"{post_url}/?cloud={cloud}&cloudModel=tiny&tools=1&toolChoice=required",
                    "questions": ["Set a timer for 3 minutes"],
                }
            )
            sent = [r for r in good["requests"] if r["url"].startswith(cloud)]
            assert len(sent) == 1, good["requests"]
            body = json.loads(sent[0]["body"])
            direct = httpx.post(f"{cloud}/v1/chat/completions", json={**body, "stream": False}, timeout=120).json()
            refused = run_driver(
                {"url": f"{url}/?cloud={bad.url}&cloudModel=x&tools=1&toolChoice=required", "questions": [question]}
            )
    finally:
        bad.close()
    assert good.get("error") is None and refused.get("error") is None, (good.get("error"), refused.get("error"))
    assert [t["function"]["name"] for t in body["tools"]] == ["set_timer", "convert_units"]
    assert body["tool_choice"] == "required"
    turn = good["turns"][0]
    assert turn["route"] == "cloud" and turn["cloudError"] is None, (turn["cloudError"], turn)
    expected = [
        {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in direct["choices"][0]["message"]["tool_calls"]
    ]
    assert turn["toolSource"] == "cloud" and turn["toolCalls"] == expected, (turn["toolCalls"], expected)
    assert turn["toolOutputs"] == [_expected_output(c) for c in expected]
    assert turn["ranBy"] == ["cloud"], turn["ranBy"]
    turn = post["turns"][0]
    assert post.get("error") is None and turn["error"] is None, (post.get("error"), turn["error"])
    assert turn["finish"] == "tool_calls", "the local answer is a complete call (which must not run)"
    assert turn["route"] == "cloud" and turn["rule"].startswith("post:model:"), turn
    assert turn["ranBy"] == ["cloud"], f"the escalated local answer's call ran: {turn['ranBy']}"
    assert turn["followUp"] is None  # the cloud's call is run and shown; no reply is asked of the local model
    turn = refused["turns"][0]
    assert turn["route"] == "fallback", turn
    assert "refused" in turn["cloudError"] and "set_timer" in turn["cloudError"], turn["cloudError"]
    assert turn["toolSource"] != "cloud", "the page ran a call that breaks the tool's schema"
    assert turn["error"] is None, turn["error"]


def _ask_with_policy(bundle, tiny_bundle, policy, tmp_path, questions):
    """The page's answers to ``questions`` under ``policy``, with an edgekit serve of the tiny bundle as its cloud."""
    policy_file = policy.save(tmp_path / "policy.json")
    with (
        edgekit_serve(tiny_bundle("int8"), "--model-id", "tiny", web=False) as cloud,
        edgekit_serve(bundle, "--policy", str(policy_file)) as url,
    ):
        return run_driver({"url": f"{url}/?cloud={cloud}&cloudModel=tiny", "questions": questions})


def _plus_minus_four(states):
    """Weights and bias of a linear score that is +4 on the first state and -4 on the second."""
    diff = states[0] - states[1]
    weights = 8.0 * diff / float(diff @ diff)
    return weights, -float(weights @ (states[0] + states[1])) / 2


def test_web_probe_reads_the_prompt_hidden_state_and_escalates(
    browser_ready, web_default_bundle, tiny_bundle, tmp_path
):
    """The page computes the prompt's final hidden state after prefill (the graph's last_hidden output) and the
    policy's probe on it: its probability equals the Python runtime's on the same bundle, the question the probe
    scores high goes to the cloud before any token is generated (rule router:probe), the other stays local."""
    import numpy as np
    from edgekit.runtime import load
    from edgekit.sdk.policy.policy import Policy
    from edgekit.sdk.policy.prompt_probe import PromptProbe
    from edgekit.sdk.policy.signals import pre_signals

    bundle = web_default_bundle
    questions = QUESTIONS  # both stay local under the default policy's rules and router models (checked below)
    with load(bundle) as model:
        states = [
            np.asarray(
                model.generate([{"role": "user", "content": q}], max_new_tokens=1, temperature=0.0).prompt_hidden,
                dtype=np.float64,
            ).reshape(-1)
            for q in questions
        ]
    # a probe that scores the first question +4 and the second -4 (p 0.982 and 0.018): far from the threshold,
    # so the browser's float rounding cannot flip a decision, while p itself is compared closely
    weights, bias = _plus_minus_four(states)
    base = Policy.default()
    for q in questions:  # the router keeps them local, so the decision gets to the probe
        assert base.route(q, pre_signals(q)).rule == "router:local", base.route(q, pre_signals(q))
    policy = Policy(
        families=base.families,
        router_rules=base.router_rules,
        router_models=base.router_models,
        post_models=base.post_models,
        answer_probe=base.answer_probe,
        generation={"max_new_tokens": 8},
        probe=PromptProbe(tuple(float(w) for w in weights), bias, 0.5, "prompt", 1, {"made_by": "test"}),
    )
    expected = [policy.probe.probability(h) for h in states]
    run = _ask_with_policy(bundle, tiny_bundle, policy, tmp_path, questions)
    assert run.get("error") is None, run.get("error")
    assert "policy loaded" in run.get("status", "") or "Ready" in run.get("status", ""), run.get("status")
    first, second = run["turns"]
    assert first["error"] is None and second["error"] is None, (first["error"], second["error"])
    assert first["route"] == "cloud" and first["rule"] == "router:probe", first
    assert first["tokenIds"] is None, "the probe escalated after prefill: no local token was generated"
    # the probe kept the second one local: it was generated on the page (the post stage may still hand it off)
    assert second["tokenIds"] and second["rule"] != "router:probe", second
    for turn, p in zip((first, second), expected, strict=True):
        assert turn["probe"] is not None and abs(turn["probe"] - p) < 2e-3, (turn["question"], turn["probe"], p)


def test_web_answer_probe_reads_the_answers_mean_state(browser_ready, web_default_bundle, tiny_bundle, tmp_path):
    """The page sums the final hidden state that drew each generated token, and the policy's answer probe reads
    their mean after generation: its score equals the Python runtime's on the same bundle and answer, the answer it
    scores high is handed to the cloud by the post model, the other is kept."""
    import numpy as np
    from edgekit.runtime import load
    from edgekit.sdk.policy.answer_probe import AnswerProbe
    from edgekit.sdk.policy.policy import LogisticModel, Policy

    bundle = web_default_bundle
    questions = QUESTIONS
    new_tokens = 8
    with load(bundle) as model:
        results = [
            model.generate([{"role": "user", "content": q}], max_new_tokens=new_tokens, temperature=0.0)
            for q in questions
        ]
    states = [np.asarray(r.answer_hidden_mean, dtype=np.float64).reshape(-1) for r in results]
    # scores +4 and -4 on the two answers: far from the threshold, so float rounding cannot flip a decision
    weights, bias = _plus_minus_four(states)
    base = Policy.default()
    policy = Policy(
        families=base.families,
        router_rules=base.router_rules,
        # the signal models keep every answer (p 0.047): only the probe's models can escalate one
        post_models={"default": LogisticModel(("mean_logprob",), (0.0,), (1.0,), (0.0,), -3.0, 0.5)},
        generation={"max_new_tokens": new_tokens},
        answer_probe=AnswerProbe(
            tuple(float(w) for w in weights),
            bias,
            components=1,
            meta={"made_by": "test"},
            models={"default": LogisticModel(("answer_probe",), (0.0,), (1.0,), (1.0,), 0.0, 0.5)},
        ),
    )
    expected = [policy.answer_probe.signals(h)["answer_probe"] for h in states]
    assert expected[0] == pytest.approx(4.0, abs=1e-6) and expected[1] == pytest.approx(-4.0, abs=1e-6)
    run = _ask_with_policy(bundle, tiny_bundle, policy, tmp_path, questions)
    assert run.get("error") is None, run.get("error")
    first, second = run["turns"]
    for turn, result in zip((first, second), results, strict=True):
        assert turn["error"] is None, turn["error"]
        assert turn["tokenIds"] == result.token_ids, (turn["question"], turn["tokenIds"], result.token_ids)
    assert first["route"] == "cloud" and first["rule"] == "post:model:fact", first
    assert second["route"] == "local" and second["rule"] == "post:accept", second
    for turn, score in zip((first, second), expected, strict=True):
        got, missing = turn["answerProbe"]
        assert missing == 0 and abs(got - score) < 2e-2, (turn["question"], got, score)
