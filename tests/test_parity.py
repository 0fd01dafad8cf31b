"""Lightning adds orchestration, not different math: the seed run equals the tutorial's own loop."""

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from mlplab.model.tutorial_loop import hand_loop
from mlplab.tasks.train import train


@pytest.mark.slow
def test_seed_tutorial_through_trainer_matches_hand_loop(make_cfg, tmp_path: Path, capsys) -> None:
    cfg = make_cfg("experiment=seed_tutorial")
    # train() seeds and then builds the model: the same seed gives the same initial weights here.
    L.seed_everything(cfg.seed, verbose=False)
    initial = copy.deepcopy(instantiate(cfg.model).net)
    start = copy.deepcopy(initial.state_dict())

    metrics = train(cfg)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    train_split = datamodule.splits["train"]
    hand_loss = hand_loop(initial, train_split.x, train_split.y, epochs=1000, lr=0.01)

    trained = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for name, reference in initial.state_dict().items():
        diff = (trained[f"net.{name}"] - reference).abs().max().item()
        assert diff <= 1e-6, f"{name} differs by {diff}"
        assert (reference - start[name]).abs().max().item() > 1e-3  # both really trained
    assert metrics["global_step"] == 1000  # full batch: one step per epoch

    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch: ")]
    assert [ln.split(",")[0] for ln in lines] == [f"Epoch: {e}" for e in range(100, 1001, 100)]
    losses = [float(ln.split("Loss: ")[1]) for ln in lines]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] / 2
    assert abs(losses[-1] - hand_loss) <= 5e-5  # epoch 1000's loss, printed to 4 decimals like the tutorial
