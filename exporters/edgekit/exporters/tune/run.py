"""``tune(spec)``: source -> encoded data -> memory check -> LoRA training -> merged HF folder (``TuneReport``)."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.runtime.progress import OnProgress, Steps

from ..bundle_writer import check_destination
from .data import Conversation, data_sha256, read_conversations, split_validation
from .spec import TuneRecord, TuneSpec

__all__ = ["TuneReport", "tune", "load_data"]


@dataclass
class TuneReport:
    out: Path
    record: TuneRecord
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "record": self.record.to_dict(), "warnings": self.warnings}


def load_data(spec: TuneSpec) -> tuple[list[Conversation], list[Conversation], str]:
    """(train, validation, where validation came from); every bad line fails here, before the model loads."""
    conversations = read_conversations(spec.data)
    if spec.eval_data is not None:
        return conversations, read_conversations(spec.eval_data), "--eval file"
    train, validation = split_validation(conversations, spec.validation_share, spec.seed)
    return train, validation, f"seeded {spec.validation_share:.0%} split of --data"


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def tune(spec: TuneSpec, on_progress: OnProgress | None = None) -> TuneReport:
    """LoRA-tune ``spec.model`` on ``spec.data`` and write the merged folder ``spec.out`` (see TuneSpec)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from .batches import steps_per_epoch
    from .encode import Encoder
    from .memory import available_mib, check_memory, estimate_memory
    from .model_load import build_float_model, load_source, parameter_count
    from .output import write_tuned_folder
    from .trainer import LoopSettings, load_adapter, train_loop

    started = time.perf_counter()
    check_destination(spec.out, spec.force)
    train_raw, validation_raw, validation_from = load_data(spec)
    data_hash = data_sha256(spec.data)
    eval_hash = data_sha256(spec.eval_data) if spec.eval_data is not None else None
    if spec.threads:
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    steps = Steps(total=4, on_progress=on_progress)
    warnings: list[str] = []

    with tempfile.TemporaryDirectory(prefix="edgekit-tune-") as work:
        with steps.stage("load", spec.model) as stage:
            loaded, kind = load_source(spec.model, Path(work))
            parameters = parameter_count(loaded)
            stage.metrics.update(model=loaded.name, kind=kind, params_m=round(parameters / 1e6, 1))
        with steps.stage("data", str(spec.data)) as stage:
            assets = loaded.tokenizer
            encoder = Encoder(assets.tokenizer_json, assets.chat_template, assets.bos_id, assets.add_bos)
            max_length = min(spec.max_length, loaded.config.max_position_embeddings)
            train = encoder.encode_all(train_raw, max_length, spec.on_long)
            validation = encoder.encode_all(validation_raw, max_length, spec.on_long)
            truncated, dropped = train.truncated + validation.truncated, train.dropped + validation.dropped
            if truncated:
                warnings.append(
                    f"{truncated} conversations longer than {max_length} tokens were truncated to it "
                    f"({dropped} of them dropped: no assistant token left); --on-long refuse fails instead"
                )
            longest = max(len(e.input_ids) for e in (*train.examples, *validation.examples))
            estimate = estimate_memory(loaded.config, parameters, spec.lora_r, spec.batch_size, longest)
            available = spec.max_memory_mib if spec.max_memory_mib is not None else available_mib()
            check_memory(estimate, available, spec.batch_size, spec.max_length)
            stage.metrics.update(
                train=len(train.examples),
                validation=len(validation.examples),
                tokens=train.tokens,
                truncated=truncated,
                est_peak_mib=round(estimate.total_mib),
            )

        model = build_float_model(loaded)
        del loaded  # the numpy copy of the weights: the torch model holds its own
        lora = LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=list(spec.target_modules) if isinstance(spec.target_modules, tuple) else spec.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
        per_epoch = steps_per_epoch(len(train.examples), spec.batch_size)
        planned = per_epoch * spec.epochs
        total = min(planned, spec.max_steps) if spec.max_steps else planned
        settings = LoopSettings(
            total_steps=total,
            batch_size=spec.batch_size,
            seed=spec.seed,
            eval_every=spec.eval_every or max(1, per_epoch // 2),
            patience=spec.patience,
            learning_rate=spec.learning_rate,
            weight_decay=spec.weight_decay,
            log_every=spec.log_every,
            pad_id=assets.pad_id if assets.pad_id is not None else assets.eos_ids[0],
            checkpoint=spec.checkpoint_path,
            fingerprint=spec.fingerprint(data_hash, eval_hash),
            resume=spec.resume,
        )
        with steps.stage("train", f"LoRA r={spec.lora_r} on {len(train.examples)} conversations") as stage:
            state, resumed = train_loop(
                model, train.examples, validation.examples, settings, lambda msg, **m: steps.note("train", msg, **m)
            )
            stage.metrics.update(
                steps=state.step,
                best_step=state.best_step,
                val_loss=round(state.best_loss, 4),
                val_loss_before=round(state.initial_loss or 0.0, 4),
            )
        with steps.stage("save", str(spec.out)):
            load_adapter(model, state.best_adapter)
            merged = model.merge_and_unload()
            record = TuneRecord(
                base_model=spec.model,
                source_kind=kind,
                data_sha256=data_hash,
                eval_sha256=eval_hash,
                hyper_parameters=spec.hyper_parameters(),
                train_examples=len(train.examples),
                validation_examples=len(validation.examples),
                validation_from=validation_from,
                truncated=truncated,
                dropped=dropped,
                steps=state.step,
                planned_steps=total,
                best_step=state.best_step,
                best_validation_loss=state.best_loss,
                initial_validation_loss=float(state.initial_loss or 0.0),
                stopped_early=state.stopped_early,
                resumed_from_step=resumed,
                seconds=round(time.perf_counter() - started, 2),
                history=state.history,
                versions=_versions(),
            )
            write_tuned_folder(merged, assets, record, spec.out, spec.force)
    if not spec.keep_checkpoint:
        spec.checkpoint_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a --checkpoint-dir holding other files stays
            spec.checkpoint_path.parent.rmdir()
    return TuneReport(spec.out, record, warnings)
