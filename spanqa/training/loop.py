"""The training loop, readable top to bottom.

    prepare windows -> length-grouped global batches -> (each process takes its slice)
    -> forward / loss / backward (grad accumulation) -> optimiser + schedule step
    -> log, checkpoint, evaluate -> final model folder

Runs under accelerate, so `torchrun --nproc_per_node N -m spanqa train ...` or
`accelerate launch -m spanqa train ...` spreads it over processes, GPUs or machines with
no code change. Resume is exact: the checkpoint holds weights, optimiser, schedule, every
process's RNG state and the position in the epoch's batch order, which is a pure
function of (seed, epoch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanqa.errors import ConfigError
from spanqa.inference.features import Window, pad_windows
from spanqa.model.folder import ModelInfo
from spanqa.model.heads import span_loss
from spanqa.settings import ReaderSettings
from spanqa.training.checkpoint import latest_checkpoint, load_checkpoint, prune_checkpoints, rng_state, save_checkpoint
from spanqa.training.config import TrainConfig

log = logging.getLogger("spanqa.training.loop")
BATCHES_PER_LENGTH_GROUP = 50


def epoch_batches(lengths: np.ndarray, global_batch: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's batch order: shuffled, then sorted by length inside groups of 50 batches.

    Only full batches are kept, so every process always gets the same number of windows.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    group = global_batch * BATCHES_PER_LENGTH_GROUP
    batches = []
    for begin in range(0, len(order), group):
        part = order[begin : begin + group]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + global_batch] for i in range(0, len(part) - global_batch + 1, global_batch))
    return [batches[i] for i in rng.permutation(len(batches))]


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(groups, lr=config.lr, scale_parameter=False, relative_step=False, warmup_init=False)
    return torch.optim.AdamW(groups, lr=config.lr)


def build_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float):
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it after each step, saves and exits."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class RunLog:
    """Metrics to a JSONL file and TensorBoard (main process only)."""

    def __init__(self, logdir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.writer = None
        if enabled:
            logdir.mkdir(parents=True, exist_ok=True)
            self.jsonl = logdir / "train_log.jsonl"
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(logdir))

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _tensors(windows: list[Window], pad_id: int, device) -> dict[str, torch.Tensor]:
    batch = {name: torch.from_numpy(array).to(device) for name, array in pad_windows(windows, pad_id).items()}
    batch["start_positions"] = torch.tensor([w.start_label for w in windows], device=device)
    batch["end_positions"] = torch.tensor([w.end_label for w in windows], device=device)
    return batch


def train(config: TrainConfig, resume: bool = False, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Fine-tune `config.base` on `config.train_files`; returns a summary of the run."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from spanqa.data import load_squad
    from spanqa.model.torch_io import load_model, save_model
    from spanqa.training.data import prepare_training_windows

    # Without a GPU, accelerate needs cpu=True to run several processes (gloo) under torchrun.
    accelerator = Accelerator(
        mixed_precision="bf16" if config.precision == "bf16" else "no", cpu=not torch.cuda.is_available()
    )
    main = accelerator.is_main_process
    say = echo if main else (lambda _: None)
    out = Path(config.out)
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else out / "checkpoints"
    logdir = Path(config.logdir) if config.logdir else out / "logs"

    checkpoint = latest_checkpoint(checkpoint_dir) if resume else None
    if resume and checkpoint is None:
        say(f"--resume: no checkpoint in {checkpoint_dir}, starting from the beginning")
    if not resume and latest_checkpoint(checkpoint_dir) is not None:
        raise ConfigError(
            f"{checkpoint_dir} already holds checkpoints of an earlier run: add --resume to continue it, or "
            "choose another --out"
        )
    state, rng = load_checkpoint(checkpoint, accelerator.process_index) if checkpoint else (None, None)
    if state is not None:
        _check_resume_compatible(state["config"], config)

    set_seed(config.seed)
    loaded = load_model(config.base, head=config.head, for_training=True)
    model, tokenizer = loaded.model, loaded.tokenizer
    reader_settings = ReaderSettings(
        max_seq_len=config.max_seq_len, doc_stride=config.doc_stride, max_question_len=config.max_question_len
    )

    examples = [e for path in config.train_files for e in load_squad(path)]
    if config.max_train_examples is not None:
        examples = examples[: config.max_train_examples]
    say(f"preparing {len(examples):,} training questions ...")
    windows, summary = prepare_training_windows(tokenizer, examples, reader_settings, config.negatives, config.seed)
    for line in summary.lines():
        say(f"  {line}")
    lengths = np.array([w.length for w in windows])
    world = accelerator.num_processes
    global_batch = config.batch_size * world
    micro_per_epoch = len(epoch_batches(lengths, global_batch, config.seed, 0))
    steps_per_epoch = micro_per_epoch // config.grad_accum
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{len(windows)} training windows do not fill one step of {global_batch * config.grad_accum}: "
            "lower --batch-size or --grad-accum, or add data"
        )
    total_steps = config.max_steps or math.ceil(config.epochs * steps_per_epoch)

    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, total_steps, config.warmup_ratio)
    step, epoch, micro_start, best_f1 = 0, 0, 0, None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, epoch, micro_start, best_f1 = state["step"], state["epoch"], state["micro"], state.get("best_f1")
        say(f"resumed from {checkpoint} (step {step:,} of {total_steps:,})")
    model, optimizer = accelerator.prepare(model, optimizer)
    if rng is not None:
        from spanqa.training.checkpoint import set_rng_state

        set_rng_state(rng)

    info = ModelInfo(head=config.head, settings=reader_settings, extra={"training": config.to_dict()})
    run_log = RunLog(logdir, main)
    if main and state is None:
        run_log.write(0, {"windows": float(len(windows)), "total_steps": float(total_steps)})
        (logdir / "data_summary.txt").write_text("\n".join(summary.lines()) + "\n")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    last_saved_step = step if state is not None else None

    def checkpoint_now() -> Path | None:
        nonlocal last_saved_step
        if last_saved_step == step:  # this exact state is already on disk
            return latest_checkpoint(checkpoint_dir)
        last_saved_step = step
        accelerator.wait_for_everyone()
        rngs = accelerator.gather_for_metrics([rng_state()], use_gather_object=True) if world > 1 else [rng_state()]
        saved = None
        if main:
            payload = {
                "model": accelerator.unwrap_model(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "epoch": epoch,
                "micro": micro,
                "best_f1": best_f1,
                "config": config.to_dict(),
            }
            saved = save_checkpoint(checkpoint_dir, step, payload, rngs)
            prune_checkpoints(checkpoint_dir, config.keep_last)
        accelerator.wait_for_everyone()
        return saved

    bar = None
    if main and config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=step, unit="step", desc="training", dynamic_ncols=True)
    model.train()
    seen_since_log, loss_since_log, steps_since_log, clock = 0, 0.0, 0, time.perf_counter()
    micro = micro_start
    stopped_early = False
    with StopFlag() as stop:
        while step < total_steps and not stopped_early:
            batches = epoch_batches(lengths, global_batch, config.seed, epoch)
            usable = len(batches) - len(batches) % config.grad_accum
            while micro < usable and step < total_steps:
                boundary = (micro + 1) % config.grad_accum == 0
                rank_slice = batches[micro][
                    accelerator.process_index * config.batch_size : (accelerator.process_index + 1) * config.batch_size
                ]
                batch = _tensors([windows[i] for i in rank_slice], pad_id, accelerator.device)
                context = accelerator.no_sync(model) if not boundary and world > 1 else _null_context()
                with context, accelerator.autocast():
                    start_logits, end_logits = model(
                        batch["input_ids"],
                        batch["attention_mask"],
                        batch.get("token_type_ids"),
                        start_positions=batch["start_positions"] if config.head == "pointer" else None,
                    )
                    loss = span_loss(
                        start_logits,
                        end_logits,
                        batch["start_positions"],
                        batch["end_positions"],
                        batch["attention_mask"],
                    )
                    accelerator.backward(loss / config.grad_accum)
                loss_since_log += float(loss.detach()) / config.grad_accum
                seen_since_log += len(rank_slice) * world
                micro += 1
                if not boundary:
                    continue
                if config.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                steps_since_log += 1
                if bar is not None:
                    bar.update(1)
                if step % config.log_every == 0 or step == total_steps:
                    elapsed = time.perf_counter() - clock
                    mean_loss = _mean_across(accelerator, loss_since_log / steps_since_log)
                    values = {
                        "loss": mean_loss,
                        "lr": schedule.get_last_lr()[0],
                        "examples_per_s": seen_since_log / elapsed if elapsed > 0 else 0.0,
                        "epoch": epoch + micro / max(1, usable),
                    }
                    run_log.write(step, values)
                    if bar is not None:
                        bar.set_postfix(loss=f"{mean_loss:.3f}", ex_s=f"{values['examples_per_s']:.1f}")
                    seen_since_log, loss_since_log, steps_since_log, clock = 0, 0.0, 0, time.perf_counter()
                if config.eval_file and config.eval_every and step % config.eval_every == 0:
                    best_f1 = _evaluate_and_keep_best(
                        accelerator, model, tokenizer, info, config, step, best_f1, run_log, say, save_model
                    )
                    model.train()
                if step % config.save_every == 0:
                    checkpoint_now()
                if stop.requested:
                    say(f"\nstopping at step {step:,}: saving a checkpoint; continue with --resume")
                    stopped_early = True
                    break
            if micro >= usable:
                epoch, micro = epoch + 1, 0
    if bar is not None:
        bar.close()
    saved = checkpoint_now()
    if stopped_early:
        run_log.close()
        return {"stopped": True, "step": step, "checkpoint": str(saved) if saved else None}
    if config.eval_file and (config.eval_every is None or step % config.eval_every != 0):
        best_f1 = _evaluate_and_keep_best(
            accelerator, model, tokenizer, info, config, step, best_f1, run_log, say, save_model
        )
    if main:
        save_model(accelerator.unwrap_model(model), tokenizer, info, out, keep_other_files=True)
        say(f"model saved to {out}")
    run_log.close()
    accelerator.wait_for_everyone()
    return {"stopped": False, "step": step, "total_steps": total_steps, "best_f1": best_f1, "out": str(out)}


def _null_context():
    return contextlib.nullcontext()


def _mean_across(accelerator, value: float) -> float:
    if accelerator.num_processes == 1:
        return value
    tensor = torch.tensor([value], device=accelerator.device)
    return float(accelerator.reduce(tensor, reduction="mean").item())


def _check_resume_compatible(saved: dict[str, Any], config: TrainConfig) -> None:
    current = config.to_dict()
    changed = [name for name in TrainConfig.RESUME_INVARIANTS if saved.get(name) != current.get(name)]
    if changed:
        details = ", ".join(f"{name}: {saved.get(name)!r} -> {current.get(name)!r}" for name in changed)
        raise ConfigError(f"--resume with different settings than the checkpoint ({details}): use the same ones")


def _evaluate_and_keep_best(accelerator, model, tokenizer, info, config, step, best_f1, run_log, say, save_model):
    """Score on the eval file with the official metric; keep the best model in OUT/best."""
    from spanqa.data import load_squad_json
    from spanqa.data.squad import examples_from_squad, restrict_to_ids
    from spanqa.evaluation.metrics import squad_metrics
    from spanqa.inference.reader import Reader
    from spanqa.inference.runtime.torch import TorchRuntime

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        dataset = load_squad_json(config.eval_file)
        examples = examples_from_squad(dataset)
        if config.eval_limit is not None:
            examples = examples[: config.eval_limit]
        has_impossible = any(e.is_impossible for e in examples)
        unwrapped = accelerator.unwrap_model(model)
        runtime = TorchRuntime(unwrapped, precision=config.precision, device=str(accelerator.device))
        reader = Reader(runtime, tokenizer, info)
        predictions = reader.predict(
            examples, batch_size=config.eval_batch_size, handle_impossible_answer=has_impossible
        )
        ids = {e.id for e in examples}
        subset = restrict_to_ids(dataset, ids)
        metrics = squad_metrics(
            subset,
            {p.example_id: p.best_text for p in predictions},
            na_probs={p.example_id: p.no_answer_probability for p in predictions} if has_impossible else None,
        )
        f1 = float(metrics["f1"])
        run_log.write(step, {"eval_exact": float(metrics["exact"]), "eval_f1": f1})
        say(f"\nstep {step:,}: eval EM {metrics['exact']:.2f} F1 {f1:.2f} on {len(examples):,} questions")
        if best_f1 is None or f1 > best_f1:
            best_f1 = f1
            best_info = ModelInfo(info.head, info.settings, {**info.extra, "eval": {"step": step, **metrics}})
            save_model(unwrapped, tokenizer, best_info, Path(config.out) / "best")
    accelerator.wait_for_everyone()
    return best_f1
