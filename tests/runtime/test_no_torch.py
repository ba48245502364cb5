"""Loading a bundle and generating never imports torch or transformers (a fresh interpreter proves it)."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
from edgekit.runtime import load
model = load(sys.argv[1])
result = model.generate("hello", max_new_tokens=8)
messages = [{"role": "user", "content": "hello"}]
pieces = [p.text for p in model.stream(messages, max_new_tokens=4, temperature=0.8, seed=1)]
banned = ("torch", "transformers", "onnxruntime_genai", "executorch")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in banned)
print(json.dumps({"heavy": heavy, "tokens": len(result.token_ids), "has_ort": "onnxruntime" in sys.modules}))
"""


def test_load_and_generate_never_import_torch(toy_bundle):
    out = subprocess.run([sys.executable, "-c", CODE, str(toy_bundle)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["has_ort"] and report["tokens"] == 8
