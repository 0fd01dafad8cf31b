"""The tutorial's network, unchanged: a plain ``nn.Module`` that knows nothing of Lightning."""

from torch import Tensor, nn


class Net(nn.Module):
    """``fc1 -> relu -> fc2``; the defaults are the tutorial's 4 -> 10 -> 4."""

    def __init__(self, in_dim: int = 4, hidden_dim: int = 10, out_dim: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.relu(self.fc1(x)))
