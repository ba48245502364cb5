"""The bench's typed data: what to run (``BenchConfig``), one measured row (``EngineResult``), one bundle's report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .constrained import DEFAULT_CONSTRAINTS

__all__ = [
    "BenchConfig",
    "Status",
    "EngineResult",
    "StreamsResult",
    "BenchReport",
    "QUALITY_TOKENS",
    "QUALITY_SEGMENT_TOKENS",
]

# Teacher-forced quality: the first QUALITY_TOKENS tokens of the shipped validation text, in segments of
# QUALITY_SEGMENT_TOKENS (each from an empty cache, like export validation). 512 positions keep the reference
# file of a 262k-vocab model (Gemma 3) near 0.5 GB.
QUALITY_TOKENS = 512
QUALITY_SEGMENT_TOKENS = 256


@dataclass(frozen=True)
class BenchConfig:
    bundle: Path
    peers: tuple[str, ...] = ()
    threads: int | None = None
    decode_tokens: int = 64
    repeats: int = 3
    cache_dir: Path = Path(".cache/bench")
    genai_model: Path | None = None  # a ready onnxruntime-genai folder (else built from the GGUF)
    gguf: str | None = None  # the GGUF for llama.cpp (else the bundle's source)
    llamacpp_python: str | None = None  # interpreter that has llama_cpp (it compiles ~15 min: often its own venv)
    optimum_executorch_python: str | None = None  # interpreter that has optimum-executorch (its own venv)
    variants: bool = True  # also run each engine's labelled non-default rows (spinning, OMP wait, constraint)
    quality: bool = True  # teacher-forced agreement / KL against the float reference (needs the export extra)
    quality_tokens: int = QUALITY_TOKENS
    roofline: bool = True  # measure memory bandwidth and each engine's share of the memory-bound limit
    streams: tuple[int, ...] = ()  # also measure edgekit's aggregate tok/s at these concurrent generations
    constraints: tuple[str, ...] = DEFAULT_CONSTRAINTS  # edgekit also decodes under each grammar (a row each)


class Status(str, Enum):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class EngineResult:
    engine: str
    status: str  # Status value
    message: str = ""
    weights: str = ""
    variant: str = "default"  # the setting this row ran with, as printed
    default: bool = True  # the engine's out-of-the-box configuration (targets compare these rows)
    load_ms: float | None = None
    cold_start_ms: float | None = None
    prefill_ms: float | None = None
    prefill_tok_s: float | None = None
    decode_tok_s: float | None = None
    peak_rss_mib: float | None = None
    top1_agreement: float | None = None
    mean_kl: float | None = None
    quality_positions: int | None = None
    weight_bytes_per_token: int | None = None
    limit_tok_s: float | None = None
    limit_share: float | None = None
    first_tokens: list[int] = field(default_factory=list)
    env: dict[str, str | None] = field(default_factory=dict)  # the controlled knobs as the worker saw them
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific facts (optimum-executorch: recipe, export)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK.value


@dataclass
class StreamsResult:
    """edgekit with ``streams`` generations at once (``load(parallel=N)``, ``edgekit serve --parallel N``)."""

    streams: int
    status: str  # Status value
    message: str = ""
    aggregate_tok_s: float | None = None  # every stream's generated tokens ÷ wall time (their prefills included)
    wall_ms: float | None = None  # median over repeats: first prefill to last token
    batched: bool = False  # the backend decoded streams together (False: side by side, one call each)
    batched_share: float | None = None  # share of decoded tokens that came from calls of 2+ sequences
    peak_rss_mib: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchReport:
    """One bundle's rows plus the facts needed to read them (bandwidth, quality text, notes)."""

    bundle: str
    model: str
    recipe: str
    threads: int
    prompt_tokens: int
    decode_tokens: int
    results: list[EngineResult]
    bandwidth: dict[str, Any] | None = None  # roofline.Bandwidth.to_dict()
    quality: dict[str, Any] | None = None  # text, tokens, segments, reference source (or the reason it is absent)
    notes: list[str] = field(default_factory=list)
    streams: list[StreamsResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
