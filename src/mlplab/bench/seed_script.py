"""The seed tutorial's code as a plain script: ``python seed_script.py``. What ``make bench``'s whole-process
row runs ``scripts/train.py experiment=seed_tutorial`` against (both as subprocesses, start to exit).

The tutorial never defines ``x_data`` and ``y_data``; here they are ``torch.randn`` of the experiment's size
(1000 training samples of 4 features and 4 targets). Nothing imports this file.
"""

import torch
import torch.nn as nn
import torch.optim as optim


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 10)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.fc1(x))
        x = self.fc2(x)
        return x


if __name__ == "__main__":
    x_data = torch.randn(1000, 4)
    y_data = torch.randn(1000, 4)

    net = Net()
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01)

    for epoch in range(1000):
        optimizer.zero_grad()
        outputs = net(x_data)
        loss = criterion(outputs, y_data)
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 100 == 0:
            print(f"Epoch: {epoch + 1}, Loss: {loss.item():.4f}")
