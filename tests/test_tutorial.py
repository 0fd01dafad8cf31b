"""The seed tutorial's tensor and autograd examples, run and checked."""

import torch

from mlplab.model.net import Net


def test_tensor_basics() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2)
    assert torch.equal(x + x, x * 2)
    assert torch.equal(x @ torch.eye(2), x)
    assert x.sum().item() == 10.0


def test_grad_of_times_three_is_all_threes() -> None:
    x = torch.ones(2, 2, requires_grad=True)
    y = x * 3
    y.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.full((2, 2), 3.0))


def test_chain_rule_example_gives_864() -> None:
    # The tutorial's comment says 48, but it prints 864, which is right:
    # y = x + 2 = 4, z = 3y^2 = 48, loss = (z - 30)^2; d loss/dx = 2(z - 30) * 6y = 2 * 18 * 24 = 864.
    # (48 is the value of z, not of the gradient.)
    x = torch.tensor(2.0, requires_grad=True)
    y = x + 2
    z = 3 * y**2
    loss = (z - 30) ** 2
    loss.backward()
    assert z.item() == 48.0
    assert x.grad is not None and x.grad.item() == 864.0


def test_net_is_the_tutorials_four_ten_four_mlp() -> None:
    net = Net()
    assert (net.fc1.in_features, net.fc1.out_features) == (4, 10)
    assert isinstance(net.relu, torch.nn.ReLU)
    assert (net.fc2.in_features, net.fc2.out_features) == (10, 4)
    assert net(torch.randn(7, 4)).shape == (7, 4)
