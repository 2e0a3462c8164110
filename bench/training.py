"""Training throughput in images/s: forward + backward + optimizer step of MobileNetV2 on CPU.

Random tensors stand in for the data loader so this measures the model and the
optimizer, not JPEG decoding. Bounded by a step count and a time budget.
"""

from __future__ import annotations

import time

import torch

from gourmetgram import names
from train.model import mobilenet_v2


def training_throughput(
    input_size: int,
    width_mult: float,
    batch_size: int,
    steps: int = 6,
    warmup_steps: int = 2,
    budget_s: float = 60.0,
    threads: int = 2,
) -> dict:
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = mobilenet_v2(num_classes=len(names.CLASSES), width_mult=width_mult).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()
        x = torch.randn(batch_size, 3, input_size, input_size)
        y = torch.randint(0, len(names.CLASSES), (batch_size,))

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()

        for _ in range(warmup_steps):
            step()
        done, start = 0, time.perf_counter()
        while done < steps and time.perf_counter() - start < budget_s:
            step()
            done += 1
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "input_size": input_size,
        "width_mult": width_mult,
        "batch_size": batch_size,
        "steps": done,
        "seconds": round(elapsed, 2),
        "images_per_s": round(done * batch_size / elapsed, 1),
        "torch_threads": threads,
    }


def run_training(say) -> dict:
    """Images/s for the CI-size, cluster-CPU and full-size presets of train/config.py (fine-tune phase: all weights)."""
    from train.config import CI, CPU, FULL

    out = {}
    for name, cfg, steps in (("ci-size", CI, 20), ("cpu-size", CPU, 3), ("full-size", FULL, 3)):
        threads = cfg.torch_threads or 2
        r = training_throughput(cfg.input_size, cfg.width_mult, cfg.batch_size, steps=steps, threads=threads)
        say(f"  {name}: {cfg.input_size} px, width {cfg.width_mult}: {r['images_per_s']} images/s")
        out[name] = r
    return out
