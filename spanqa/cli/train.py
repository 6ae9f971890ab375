"""`spanqa train`: fine-tune an encoder on SQuAD-format data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app


@app.command(
    epilog="Example: spanqa train --base ./minilm --train train-v1.1.json --out ./my-reader --epochs 2 "
    "--precision bf16 --lr 2e-4 --max-seq-len 256"
)
def train(
    base: Annotated[str, typer.Option(help="Hugging Face encoder folder (or QA model) to start from.")],
    train_file: Annotated[
        list[Path], typer.Option("--train", help="SQuAD v1.1/v2.0 JSON training file (repeat for several).")
    ],
    out: Annotated[Path, typer.Option(help="Output model folder (also holds checkpoints/ and logs/).")],
    eval_file: Annotated[Path | None, typer.Option("--eval", help="SQuAD JSON file to evaluate on.")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training data.")] = 2.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimiser steps.")] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
    batch_size: Annotated[int, typer.Option(help="Windows per process per micro-step.")] = 32,
    grad_accum: Annotated[int, typer.Option(help="Micro-steps per optimiser step.")] = 1,
    warmup_ratio: Annotated[float, typer.Option(help="Share of steps with linear warm-up.")] = 0.1,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    max_seq_len: Annotated[int, typer.Option(help="Tokens per window.")] = 384,
    doc_stride: Annotated[int, typer.Option(help="Overlap between windows, in tokens.")] = 128,
    max_question_len: Annotated[int, typer.Option(help="Questions are cut to this many tokens.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed (data order, dropout, head init).")] = 42,
    optimizer: Annotated[str, typer.Option(help="adamw or adafactor.")] = "adamw",
    head: Annotated[str, typer.Option(help="linear or pointer span head.")] = "linear",
    precision: Annotated[str, typer.Option(help="fp32, or bf16 autocast.")] = "fp32",
    negatives: Annotated[
        float, typer.Option(help="Synthetic unanswerable examples per question (other paragraphs of its article).")
    ] = 0.0,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 500,
    keep_last: Annotated[int, typer.Option(help="Checkpoints to keep.")] = 3,
    eval_every: Annotated[int | None, typer.Option(help="Evaluate on --eval every N steps.")] = None,
    eval_limit: Annotated[int | None, typer.Option(help="Evaluate on the first N questions only.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint.")] = False,
    logdir: Annotated[Path | None, typer.Option(help="TensorBoard + JSONL log folder (default OUT/logs).")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(help="Where checkpoints go (default OUT/checkpoints).")] = None,
    log_every: Annotated[int, typer.Option(help="Log every N steps.")] = 10,
    max_train_examples: Annotated[int | None, typer.Option(help="Use the first N questions only.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Fine-tune any Hugging Face encoder as an extractive reader; resumable, logged to TensorBoard."""
    from spanqa.training.config import TrainConfig
    from spanqa.training.loop import train as run_training

    config = TrainConfig(
        base=base,
        train_files=tuple(str(p) for p in train_file),
        out=str(out),
        eval_file=str(eval_file) if eval_file else None,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_question_len=max_question_len,
        seed=seed,
        optimizer=optimizer,  # type: ignore[arg-type]
        head=head,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        negatives=negatives,
        save_every=save_every,
        keep_last=keep_last,
        eval_every=eval_every,
        eval_limit=eval_limit,
        logdir=str(logdir) if logdir else None,
        checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
        log_every=log_every,
        max_train_examples=max_train_examples,
        progress=not no_progress,
    )
    result = run_training(config, resume=resume, echo=typer.echo)
    if result["stopped"]:
        raise typer.Exit(130)
