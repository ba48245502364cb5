"""Chat templates: rendered like transformers, in a sandbox that stops hostile templates."""

from __future__ import annotations

import json

import pytest
from edgekit.runtime import BundleError, ChatTemplate, RuntimeGenerationError, load

from tests.fixtures.require import import_or_skip_or_fail

from .toy_bundle import CHATML, build_toy_bundle, script_table

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2? Ünïcode ✓"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]

# Templates exercising the helpers transformers provides (tojson, namespace, loop controls, raise_exception,
# bos/eos tokens, the generation tag). SmolLM2's own template is CHATML-like.
TEMPLATES = {
    "chatml": CHATML,
    "helpers": (
        "{{ bos_token }}{% set ns = namespace(n=0) %}{% for m in messages %}"
        "{% if m.role == 'system' %}{% continue %}{% endif %}{% set ns.n = ns.n + 1 %}"
        "[{{ ns.n }}|{{ m.role | upper }}] {{ m.content | tojson }}{% if m.role == 'assistant' %}{% generation %}"
        "{{ eos_token }}{% endgeneration %}{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
    ),
    "alternation": (
        "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{{ m.role }}: {{ m.content }}\n{% endfor %}"
    ),
}


@pytest.mark.parametrize("name", ["chatml", "helpers"])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_same_text_as_transformers(name, add_generation_prompt):
    render_jinja_template = import_or_skip_or_fail(
        "transformers.utils.chat_template_utils", "pip install -e '.[export]' (scripts/setup.sh installs it)"
    ).render_jinja_template
    reference = render_jinja_template(
        [MESSAGES],
        chat_template=TEMPLATES[name],
        add_generation_prompt=add_generation_prompt,
        bos_token="<s>",
        eos_token="</s>",
    )
    reference = reference[0] if isinstance(reference, tuple) else reference
    reference = reference[0] if isinstance(reference, list) else reference
    ours = ChatTemplate(TEMPLATES[name], "<s>", "</s>").render(MESSAGES, add_generation_prompt=add_generation_prompt)
    assert ours == reference


def test_tojson_keeps_unicode():
    out = ChatTemplate("{{ messages[0].content | tojson }}").render([{"role": "user", "content": "✓ é"}])
    assert out == json.dumps("✓ é", ensure_ascii=False)


def test_template_refusal_is_a_generation_error():
    template = ChatTemplate(TEMPLATES["alternation"])
    with pytest.raises(
        RuntimeGenerationError, match="the chat template refused the messages: Conversation roles must alternate"
    ):
        template.render([{"role": "assistant", "content": "hi"}])


HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ raise_exception.__globals__['__builtins__']['__import__']('os').system('true') }}",
    "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "{{ namespace(_x=1) }}",
    "{{ messages.append({'role': 'x', 'content': 'y'}) }}",  # immutable sandbox: no mutation of inputs
    "{{ lipsum.__globals__['os'].getcwd() }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_template_is_stopped(source):
    with pytest.raises(BundleError, match="tried an unsafe operation and was stopped by the sandbox"):
        ChatTemplate(source).render([{"role": "user", "content": "hi"}])


def test_hostile_template_in_a_bundle_never_generates(tmp_path):
    model = load(build_toy_bundle(tmp_path / "b", script_table(64), chat_template=HOSTILE[0]))
    with pytest.raises(BundleError, match="unsafe operation"):
        model.generate("hi")


def test_invalid_template_is_refused_at_load(tmp_path):
    folder = build_toy_bundle(tmp_path / "b", script_table(64), chat_template="{% for m in messages %}")
    with pytest.raises(BundleError, match=r"chat template is not valid Jinja \(line 1: .*re-export"):
        load(folder)


def test_multi_turn_conversation(toy_model):
    history = [{"role": "user", "content": "hi"}]
    first = toy_model.generate(history, max_new_tokens=3)
    history += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "more"}]
    rendered = toy_model.render_chat(history)
    assert rendered == (
        "<|im_start|>user\nhi<|im_end|>\n"
        f"<|im_start|>assistant\n{first.text}<|im_end|>\n"
        "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n"
    )
    assert toy_model.generate(history, max_new_tokens=2).prompt_tokens == toy_model.count_tokens(history)
