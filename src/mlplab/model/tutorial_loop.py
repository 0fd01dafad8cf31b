"""The seed tutorial's hand-written training loop, kept verbatim as the reference.

The parity test trains ``experiment=seed_tutorial`` through the Trainer and checks it ends with the same
weights as this loop; ``make bench`` times the project's Trainer path against it.
"""

from torch import Tensor, nn, optim


def hand_loop(net: nn.Module, x_data: Tensor, y_data: Tensor, epochs: int = 1000, lr: float = 0.01) -> float:
    """Trains ``net`` in place on the full batch, exactly as the tutorial does; returns the last loss."""
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=lr)
    loss = None
    for _epoch in range(epochs):
        optimizer.zero_grad()
        outputs = net(x_data)
        loss = criterion(outputs, y_data)
        loss.backward()
        optimizer.step()
    return float(loss.detach()) if loss is not None else float("nan")
