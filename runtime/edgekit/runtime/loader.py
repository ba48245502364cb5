"""``load(path)``: read and verify a bundle, pick its backend, return a LocalModel.

Order matters: the manifest is read and validated (types, limits, paths,
cross-checks: manifest.py) and every file's size and sha256 checked *before*
any compute or native library touches the model, so a tampered, truncated,
missing, unlisted or out-of-folder file, or an impossible manifest value, is
refused with one line naming it and the fix. Every file a backend opens is
listed in the manifest and was hashed here (or vouched for by the
HMAC-bound record of verified_files.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import spinning
from .backends import BackendOptions, get_backend
from .batching import DecodeBatcher
from .cpu import physical_cores
from .errors import BundleError, SchemaError, UnknownNameError
from .manifest import read_manifest, verify_files
from .memory import check_fits
from .model import LocalModel
from .schema import MAX_PARALLEL
from .tokenizer import Tokenizer
from .verified_files import VerifiedFiles

__all__ = ["load"]


def load(
    path: str | os.PathLike[str],
    threads: int | None = None,
    verify: bool = True,
    force: bool = False,
    *,
    reuse_verification: bool = True,
    allow_spinning: bool | str | None = None,
    prefill_chunk: int = 256,
    parallel: int = 1,
    hidden_states: bool = True,
) -> LocalModel:
    """Load the bundle folder ``path``.

    threads: intra-op threads (None = physical cores). verify: check each
    file's sha256 (sizes are always checked). reuse_verification: skip the
    hash of a file unchanged since it last passed it (verified_files.py;
    False hashes every file). force: load even if the memory check says the
    bundle will not fit. allow_spinning: onnxruntime's thread spinning; None (or "auto") spins only if the
    CPUs the threads need are idle while the bundle loads (spinning.py), True/False ("on"/"off") force it;
    the choice and its reason are ``model.spinning``. parallel: generations expected at once (each holds a
    KV cache, counted by the memory check); above 1, a backend with batched decode (``Backend.max_batch``)
    decodes them together (batching.py), others run them side by side. hidden_states: read the model's final
    hidden state (``Result.prompt_hidden``, ``answer_hidden``, ``answer_hidden_mean``: what the escalation
    policy's probes read); False leaves them None (``edgekit bench`` measures what they cost).
    """
    started = time.perf_counter()
    try:
        spin_mode = spinning.SpinMode.parse(allow_spinning)
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    auto_spin = spin_mode is spinning.SpinMode.AUTO
    cpu_before = spinning.sample() if auto_spin else None  # the idle share is measured across the load
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise BundleError(f"threads={threads!r} is invalid: use a positive integer, or None for physical cores")
    if not isinstance(prefill_chunk, int) or isinstance(prefill_chunk, bool) or prefill_chunk < 1:
        raise BundleError(f"prefill_chunk={prefill_chunk!r} is invalid: use a positive integer")
    if not isinstance(parallel, int) or isinstance(parallel, bool) or not 1 <= parallel <= MAX_PARALLEL:
        raise BundleError(f"parallel={parallel!r} is invalid: use an integer from 1 to {MAX_PARALLEL}")
    folder = Path(path)
    manifest = read_manifest(folder)
    check_fits(manifest, force=force, sequences=parallel)  # InsufficientMemoryError unless it fits (or force)
    try:
        backend_cls = get_backend(manifest.backend)
    except UnknownNameError as exc:
        raise BundleError(
            f"{folder / 'edgekit.json'}: {exc}; this edgekit cannot run it (upgrade edgekit, or install the "
            "extra that provides it)"
        ) from None
    except ModuleNotFoundError as exc:
        raise BundleError(
            f"{folder / 'edgekit.json'}: backend {manifest.backend!r} is not available in this install "
            f"(missing module {exc.name!r}); install the extra that provides it, e.g. pip install "
            f"'edgekit[{manifest.backend}]'"
        ) from None
    verify_files(
        folder, manifest, check_hash=verify, verified=VerifiedFiles() if verify and reuse_verification else None
    )
    # The tokenizer loads before the session, not beside it: on a second thread it saved nothing measurable on
    # 2 cores and raised peak RSS by 22 MiB (a second malloc arena).
    tokenizer = Tokenizer.from_bundle(folder, manifest.tokenizer)
    if tokenizer.vocab_size > manifest.architecture.vocab_size:
        raise SchemaError(
            f"{folder / 'edgekit.json'}: tokenizer.json has {tokenizer.vocab_size} tokens but architecture.vocab_size "
            f"is {manifest.architecture.vocab_size}: ids past the model's vocabulary would crash the engine; "
            "set vocab_size to the model's, or re-export the bundle"
        )
    cpu_after = spinning.sample() if auto_spin else None
    threads = threads or physical_cores()  # resolved once: the spinning decision and the backend use the same count
    spin = spinning.decide(spin_mode, threads, cpu_before, cpu_after)
    options = BackendOptions(
        threads=threads, allow_spinning=spin.allow, prefill_chunk=prefill_chunk, hidden_states=bool(hidden_states)
    )
    backend = backend_cls.open(folder, manifest, options)
    if parallel > 1 and backend.max_batch >= parallel:
        backend = DecodeBatcher(backend, parallel)
    load_ms = (time.perf_counter() - started) * 1e3
    return LocalModel(folder, manifest, backend, tokenizer, load_ms=load_ms, prefill_chunk=prefill_chunk, spinning=spin)
