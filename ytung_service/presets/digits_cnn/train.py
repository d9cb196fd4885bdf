"""A small CNN for 8×8 handwritten digits, in plain PyTorch (a preset model of Ytung).

The platform's contract::

    python train.py [--epochs N --lr X --batch_size B --seed S] --data_path DIR
                    --output_path DIR [--checkpoint_path FILE]

- data: ``DIR/digits.npz`` (arrays ``X``: N×64 or N×8×8 pixel values 0–16, ``y``: labels 0–9)
  when it exists, else scikit-learn's bundled digits (1797 images; nothing is downloaded);
  a fixed 20 % of it (seed 0) is held out as the test set;
- writes ``checkpoint-epoch<N>.pt`` after every epoch, ``model.pt`` and ``metrics.json``
  (test accuracy, model size) at the end, into the output path;
- ``--checkpoint_path`` resumes from a checkpoint (model, optimizer, epoch);
- distributed when ``WORLD_SIZE`` > 1 (``torch.distributed`` over gloo on CPU, nccl on GPUs):
  each rank trains on its shard and gradients are averaged (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


def load_data(data_path: str | None):
    npz = Path(data_path) / "digits.npz" if data_path else None
    if npz is not None and npz.exists():
        with np.load(npz) as f:
            x, y = f["X"], f["y"]
        source = str(npz)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.data, digits.target
        source = "sklearn.datasets.load_digits"
    x = torch.tensor(np.asarray(x, dtype=np.float32).reshape(-1, 1, 8, 8) / 16.0)
    y = torch.tensor(np.asarray(y, dtype=np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cut = int(len(y) * 0.8)
    train, test = order[:cut], order[cut:]
    return (x[train], y[train]), (x[test], y[test]), source


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each epoch")
    p.add_argument("--data_path", default="")
    p.add_argument("--output_path", required=True)
    p.add_argument("--checkpoint_path", default="")
    args = p.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(args.seed)
    (xtr, ytr), (xte, yte), source = load_data(args.data_path or None)
    print(f"rank {rank}/{world}: {len(ytr)} training and {len(yte)} test images from {source}")
    # each rank its own shard of the training set
    xtr, ytr = xtr[rank::world], ytr[rank::world]
    model = DigitsCNN().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    start_epoch = 0
    if args.checkpoint_path:
        state = torch.load(args.checkpoint_path, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        print(f"resumed from {args.checkpoint_path} after epoch {start_epoch}")
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    out = Path(args.output_path)
    out.mkdir(parents=True, exist_ok=True)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed + rank)
    started = time.time()
    for epoch in range(start_epoch, args.epochs):
        net.train()
        order = torch.randperm(len(ytr), generator=gen)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(xtr[idx].to(device)), ytr[idx].to(device))
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte.to(device), yte.to(device))
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(ytr):.4f} accuracy {acc:.4f}")
        if rank == 0:
            torch.save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1},
                out / f"checkpoint-epoch{epoch + 1}.pt",
            )
        if args.sleep:
            time.sleep(args.sleep)
    acc = accuracy(model, xte.to(device), yte.to(device))
    if rank == 0:
        torch.save(model.state_dict(), out / "model.pt")
        metrics = {
            "accuracy": round(acc, 4),
            "test_images": len(yte),
            "epochs": args.epochs,
            "world_size": world,
            "model_bytes": (out / "model.pt").stat().st_size,
            "seconds": round(time.time() - started, 2),
        }
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        print(f"test accuracy {acc:.4f}; model saved to {out / 'model.pt'}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
