"""Write tests/vectors/tokenizer_vectors.json: token ids that huggingface `tokenizers` gives for a fixed corpus.

The Java core (android_demo/core, TokenizerVectorsTest) and the web demo must reproduce these ids exactly;
tests/android/test_tokenizer_vectors.py checks that `tokenizers` still gives them for the default model's
tokenizer.json, so a stale file or a changed tokenizer fails CI instead of passing silently.

    .venv/bin/python tests/android/make_tokenizer_vectors.py [--tokenizer PATH/tokenizer.json]

Without --tokenizer it uses the default model's tokenizer.json (tests/android/default_tokenizer.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors" / "tokenizer_vectors.json"

# What a phone user types, and what trips tokenizers up: contractions (case-sensitive in GPT-2's regex), runs of
# spaces/newlines (the `\s+(?!\S)` rule), digits, non-Latin scripts, multi-codepoint emoji, combining marks, special
# tokens written in the text, and the chat template the demo renders.
CORPUS: list[str] = [
    "The capital of France is Paris.",
    "What is the capital of France?",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "Hello, world!",
    "hello world",
    " leading space",
    "   three leading spaces",
    "trailing spaces   ",
    "multiple     spaces   between  words",
    "a\nb",
    "a\n\n\nb",
    "line one\r\nline two\r\n",
    "\t\ttabbed\tline",
    " ",
    "\n",
    "I'm sure you're right, they've said we'll see; he'd know it's fine.",
    "DON'T SHOUT, I'LL HEAR YOU'RE THERE",
    "rock'n'roll isn't 'quoted'",
    "3.14159 1234567890 1,000,000 0x1F -42 +7 1e-5",
    "2024-05-01 12:30:45",
    "What is 4839201 * 3?",
    "def square(x):\n    return x ** 2  # square it\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    "# Title\n\n- item 1\n- item 2\n\n**bold** and _italic_ and `code`",
    "https://example.com/path?q=1&b=two#frag",
    "mail me at jane.doe@example.com or call +1 (555) 010-2345",
    "C++ and C# and F#; α-β-γ; x² + y² = z²",
    "naïve café résumé coöperate",
    "e\u0301 versus \u00e9",
    "Ελληνικά γράμματα",
    "Привет, мир! Как дела?",
    "日本語のテキストです。",
    "中文分词测试，标点符号！",
    "한국어 문장입니다.",
    "مرحبا بالعالم",
    "हिन्दी भाषा",
    "emoji 😀👍🏽 flags 🇫🇷🇯🇵 family 👨‍👩‍👧",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    "line\u2028separator and zero\u200bwidth",
    "Arabic-Indic ٣٤٥ and circled ①②③ and Ⅻ",
    "!!!???...,,,;;;:::",
    "@#$%^&*()_+-=[]{}|\\;:'\",.<>/?`~",
    "<|endoftext|>",
    "text<|im_end|>more text",
    "<|im_start|><|im_end|>",
    "<repo_name>edgekit<file_sep>README.md",
    "not special: <|im_start and im_end|>",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "ALLCAPS lowercase MiXeDcAsE camelCase snake_case kebab-case",
    "",
]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_vectors(tokenizer_json: Path) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    cases = []
    for text in CORPUS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append(
            {
                "text": text,
                "ids": ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            }
        )
    # Decoding token sequences that split a UTF-8 character: both demos stream token by token.
    emoji_bytes = "😀".encode()
    byte_ids = [tok.encode(text, add_special_tokens=False).ids for text in ("😀", "é")]
    decode_cases = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)} for ids in byte_ids]
    decode_cases.append({"ids": byte_ids[0][:1], "decoded": tok.decode(byte_ids[0][:1], skip_special_tokens=False)})
    return {
        "about": "ids from huggingface tokenizers encode(text, add_special_tokens=False); regenerate with "
        "tests/android/make_tokenizer_vectors.py",
        "tokenizers_version": __import__("tokenizers").__version__,
        "tokenizer_sha256": file_sha256(tokenizer_json),
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "emoji_utf8_len": len(emoji_bytes),
        "cases": cases,
        "decode_cases": decode_cases,
    }


def dump(data: dict) -> str:
    """JSON with one case per line, so a diff of the file shows which text changed."""
    lines = ["{"]
    items = list(data.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, list):
            rows = [json.dumps(v, ensure_ascii=False) for v in value]
            lines.append(f" {json.dumps(key)}: [")
            lines += [f"  {row}{',' if i < len(rows) - 1 else ''}" for i, row in enumerate(rows)]
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: the default model's)")
    parser.add_argument("--out", type=Path, default=VECTORS)
    args = parser.parse_args(argv)
    path = args.tokenizer
    if path is None:
        sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make `tests.android` importable
        from tests.android.default_tokenizer import default_tokenizer_json

        path = default_tokenizer_json()
    data = make_vectors(path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(data), encoding="utf-8")
    print(f"wrote {args.out} ({len(data['cases'])} texts) from {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
