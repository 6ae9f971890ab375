"""Average the weights of a training run's last checkpoints into a model folder (a cheap try for small readers).

    python scripts/average_checkpoints.py RUN_OUT --last 3 --every 1000 --out RUN_OUT-avg3

RUN_OUT is a `spanqa train --out` folder: its model files give the architecture, tokenizer and
settings, its checkpoints/ the weights. Keep spaced checkpoints with `spanqa train --keep-every N`
(checkpoints 50 steps apart are nearly the same weights). The folder written is a normal model
folder (`spanqa evaluate`, `spanqa export` take it); its spanqa.json records the steps averaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from spanqa.errors import SpanQAError
from spanqa.model.torch_io import load_model, save_model
from spanqa.training.checkpoint import checkpoint_step, list_checkpoints, load_checkpoint


def averaged_weights(checkpoints: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the checkpoints' model weights (in fp32; integer buffers from the last)."""
    total: dict[str, torch.Tensor] = {}
    for path in checkpoints:
        state, _ = load_checkpoint(path, rank=0)
        for name, tensor in state["model"].items():
            if tensor.is_floating_point():
                total[name] = total.get(name, 0) + tensor.float()
            else:
                total[name] = tensor
    return {name: tensor / len(checkpoints) if tensor.is_floating_point() else tensor for name, tensor in total.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="The spanqa train --out folder.")
    parser.add_argument("--last", type=int, default=3, help="Average the last N checkpoints (default 3).")
    parser.add_argument(
        "--every", type=int, default=None, help="Only checkpoints of steps that are multiples of N (--keep-every N)."
    )
    parser.add_argument("--checkpoints", type=Path, default=None, help="Default: RUN/checkpoints.")
    parser.add_argument("--out", type=Path, required=True, help="The model folder to write.")
    args = parser.parse_args(argv)
    found = list_checkpoints(args.checkpoints or args.run / "checkpoints")
    if args.every:
        found = [path for path in found if checkpoint_step(path) % args.every == 0]
    if args.last < 2 or len(found) < args.last:
        which = f" at multiples of {args.every} steps" if args.every else ""
        print(
            f"error: --last must be at least 2 and at most the {len(found)} complete checkpoints{which} found "
            f"in {args.checkpoints or args.run / 'checkpoints'}; keep more with spanqa train --keep-every N",
            file=sys.stderr,
        )
        return 2
    chosen = found[-args.last :]
    try:
        loaded = load_model(args.run)
        loaded.model.load_state_dict(averaged_weights(chosen))
    except (SpanQAError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    steps = [checkpoint_step(path) for path in chosen]
    info = loaded.info.replace(extra={**loaded.info.extra, "averaged_checkpoints": steps})
    save_model(loaded.model, loaded.tokenizer, info, args.out)
    print(f"averaged the checkpoints of steps {', '.join(map(str, steps))} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
