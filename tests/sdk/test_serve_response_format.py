"""`edgekit serve` structured output: OpenAI's response_format (json_object, json_schema) enforced while decoding.

A real server on 127.0.0.1 with the official openai client, over the toy decoder bundle (tests/runtime/toy_bundle.py):
its script makes greedy decoding answer ``{"city":"Paris"} and more`` to "hello", which is not JSON; under
json_object the grammar ends the answer at the closing brace. Sampled answers at temperature 1 (the script fights
the schema, the rest is near-uniform noise) must parse and follow the schema for every seed.
"""

from __future__ import annotations

import json
import re

import openai
import pytest
from edgekit.sdk.serve import serve_in_thread

from tests.runtime.toy_bundle import IM_END, build_toy_bundle, encode_bytes, script_table
from tests.sdk.serve_support import assert_openai_error, post_bytes

MAX_CONTEXT = 384
PROMPT_TOKENS = 24  # "hello" in the toy ChatML template (checked below): the answer's first logits are at 23
SCRIPTED = '{"city":"Paris"} and more'
MSGS = [{"role": "user", "content": "hello"}]

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "population_m": {"type": "integer", "minimum": 0, "maximum": 40},
        "tags": {"type": "array", "items": {"enum": ["old", "big"]}, "maxItems": 2},
    },
    "required": ["city", "code", "population_m", "tags"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "city_card", "schema": SCHEMA, "strict": True}}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from edgekit.runtime import load

    ids = encode_bytes(SCRIPTED) + [IM_END]
    folder = build_toy_bundle(
        tmp_path_factory.mktemp("serve-rf"),
        script_table(MAX_CONTEXT, ids, start=PROMPT_TOKENS - 1),
        max_context=MAX_CONTEXT,
    )
    loaded = load(folder)
    assert loaded.count_tokens(MSGS) == PROMPT_TOKENS
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def server(model):
    with serve_in_thread(model) as srv:
        yield srv


def _client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def _chat(server, **kw):
    return _client(server).chat.completions.create(model=server.options.model_id, messages=MSGS, **kw)


def _follows_schema(data):
    assert set(data) == set(SCHEMA["properties"]), data
    assert data["city"] in ("Paris", "Rome", "Oslo") and re.fullmatch("[A-Z]{3}", data["code"]), data
    assert isinstance(data["population_m"], int) and 0 <= data["population_m"] <= 40, data
    assert isinstance(data["tags"], list) and len(data["tags"]) <= 2 and set(data["tags"]) <= {"old", "big"}, data


def test_without_response_format_the_answer_is_not_json(server):
    reply = _chat(server, temperature=0, max_tokens=60)
    assert reply.choices[0].message.content == SCRIPTED
    with pytest.raises(ValueError):
        json.loads(reply.choices[0].message.content)


def test_json_object_ends_the_answer_at_the_closing_brace(server):
    reply = _chat(server, temperature=0, max_tokens=60, response_format={"type": "json_object"})
    assert json.loads(reply.choices[0].message.content) == {"city": "Paris"}
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("seed", range(4))
def test_json_schema_answers_parse_and_follow_the_schema(server, seed):
    reply = _chat(server, temperature=1.0, seed=seed, max_tokens=200, response_format=JSON_SCHEMA_FORMAT)
    assert reply.choices[0].finish_reason == "stop"
    _follows_schema(json.loads(reply.choices[0].message.content))


def test_json_schema_greedy_keeps_what_the_model_wants_where_the_schema_allows_it(server):
    reply = _chat(server, temperature=0, max_tokens=200, response_format=JSON_SCHEMA_FORMAT)
    data = json.loads(reply.choices[0].message.content)
    _follows_schema(data)
    assert data["city"] == "Paris"  # the script's own value, which the enum allows


def test_streamed_json_schema_answer_parses(server):
    stream = _chat(server, temperature=1.0, seed=5, max_tokens=200, response_format=JSON_SCHEMA_FORMAT, stream=True)
    text = "".join(ch.delta.content or "" for chunk in stream for ch in chunk.choices)
    _follows_schema(json.loads(text))


def test_completions_take_response_format_too(server):
    reply = _client(server).completions.create(
        model=server.options.model_id,
        prompt="The city:",
        max_tokens=200,
        temperature=1.0,
        seed=1,
        extra_body={"response_format": JSON_SCHEMA_FORMAT},
    )
    _follows_schema(json.loads(reply.choices[0].text))


def test_text_and_a_missing_schema_are_accepted(server):
    plain = _chat(server, temperature=0, max_tokens=60, response_format={"type": "text"})
    assert plain.choices[0].message.content == SCRIPTED
    # OpenAI marks json_schema.schema optional: without one, any JSON value
    anything = _chat(
        server, temperature=0, max_tokens=60, response_format={"type": "json_schema", "json_schema": {"name": "any"}}
    )
    json.loads(anything.choices[0].message.content)


@pytest.mark.parametrize(
    "response_format, words",
    [
        ("json", "use an object whose type is one of ['json_object', 'json_schema', 'text']"),
        ({"type": "xml"}, "use an object whose type is one of"),
        ({"type": "json_schema"}, "response_format.json_schema is required"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}}, "response_format.json_schema.name=None"),
        (
            {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": SCHEMA}},
            "json_schema.name='bad name!'",
        ),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}}, "json_schema.schema=[1] is invalid"),
        ({"type": "json_schema", "json_schema": {"name": "x", "strict": "yes"}}, "json_schema.strict='yes'"),
        ({"type": "json_schema", "json_schema": {"name": "x", "shema": {}}}, "unrecognized key 'shema'"),
        ({"type": "json_object", "schema": SCHEMA}, "unrecognized key 'schema'"),
        # refused by llguidance inside the runtime, before any token: still a 400 naming response_format
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "foo"}}}, "Invalid type: foo"),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 3, "maximum": 1}},
            },
            "minimum (3) is greater than maximum (1)",
        ),
    ],
)
def test_a_bad_response_format_is_an_openai_400(server, response_format, words):
    with pytest.raises(openai.BadRequestError) as info:
        _chat(server, max_tokens=4, response_format=response_format)
    err = info.value.body
    assert err["param"] == "response_format" and words in err["message"], err
    assert err["type"] == "invalid_request_error"


def test_the_400_has_openai_s_json_shape_on_the_wire(server):
    body = {
        "model": server.options.model_id,
        "messages": MSGS,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "foo"}}},
        "stream": True,  # refused before the event stream starts
    }
    reply = post_bytes(server.url, "/v1/chat/completions", json.dumps(body).encode())
    err = assert_openai_error(reply, 400)
    assert err["param"] == "response_format" and err["code"] == "invalid_value"
