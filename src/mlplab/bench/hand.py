"""Hand-written loops: the references the Trainer path is measured against."""

import time
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from mlplab.model.tutorial_loop import hand_loop


def time_tutorial(net: nn.Module, x: Tensor, y: Tensor, epochs: int) -> float:
    """Seconds for the tutorial's own loop (full batch, ``epochs`` steps)."""
    start = time.perf_counter()
    hand_loop(net, x, y, epochs=epochs, lr=0.01)
    _sync(x)
    return time.perf_counter() - start


def time_minibatch_epoch(
    net: nn.Module, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], batch_size: int, seed: int
) -> tuple[float, int]:
    """Seconds and steps for one shuffled epoch at ``batch_size`` plus a validation pass, written by hand."""
    x, y = train
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    start = time.perf_counter()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    steps = 0
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        optimizer.zero_grad()
        loss = criterion(net(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        steps += 1
    with torch.no_grad():
        total = torch.zeros((), device=x.device)
        for i in range(0, len(val[0]), batch_size):
            total += nn.functional.mse_loss(
                net(val[0][i : i + batch_size]), val[1][i : i + batch_size], reduction="sum"
            )
        float(total)  # the hand loop also reads its validation result once
    _sync(x)
    return time.perf_counter() - start, steps


def time_train_batches(net: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Seconds for the tutorial's step over ``batches`` (one pass, no validation)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        optimizer.step()
        last = x
    _sync(last)
    return time.perf_counter() - start


def _sync(t: Tensor) -> None:
    if t.is_cuda:
        torch.cuda.synchronize(t.device)
