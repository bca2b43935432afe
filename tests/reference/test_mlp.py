"""reference/mlp.py against torch (float64) and the lecture's facts."""

from __future__ import annotations

import torch

from reference import mlp

D = torch.float64


def test_build_dataset_emma() -> None:
    X, Y = mlp.build_dataset(["emma"], block_size=3)
    # ... -> e, ..e -> m, .em -> m, emm -> a, mma -> .
    assert X.tolist() == [[0, 0, 0], [0, 0, 5], [0, 5, 13], [5, 13, 13], [13, 13, 1]]
    assert Y.tolist() == [5, 13, 13, 1, 0]
    X5, Y5 = mlp.build_dataset(["ab", "c"], block_size=5)
    assert X5.shape == (5, 5) and X5[2].tolist() == [0, 0, 0, 1, 2]
    assert Y5.tolist() == [1, 2, 0, 3, 0]


def test_lecture_split_sizes(data_dir) -> None:
    words = (data_dir / "names.txt").read_text().splitlines()
    sp = mlp.lecture_splits(words)
    assert [tuple(sp[k][0].shape) for k in ("train", "val", "test")] == [
        (182625, 3), (22655, 3), (22866, 3)]
    assert sum(len(sp[k][1]) for k in sp) == 228146


def test_linear_init_scale() -> None:
    g = torch.Generator().manual_seed(0)
    lin = mlp.Linear(400, 300, generator=g)
    assert abs(lin.weight.std().item() * 400**0.5 - 1) < 0.01
    assert lin.bias is not None and torch.all(lin.bias == 0)
    assert len(mlp.Linear(4, 3, bias=False).parameters()) == 1


def test_batchnorm_train_matches_formula_and_torch_running_stats() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, generator=g, dtype=D) * torch.tensor([1e-3, 0.1, 1, 3, 10], dtype=D)
    bn = mlp.BatchNorm1d(5, dtype=D)
    tbn = torch.nn.BatchNorm1d(5, eps=1e-5, momentum=0.1, dtype=D)
    bn.gamma, bn.beta = torch.rand(5, generator=g, dtype=D), torch.randn(5, generator=g, dtype=D)
    out = bn(x)
    n = x.shape[0]
    var_b = x.var(0, unbiased=False)
    want = bn.gamma * (x - x.mean(0)) / torch.sqrt(var_b * n / (n - 1) + 1e-5) + bn.beta
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    for _ in range(3):  # torch's running_var also uses the unbiased batch variance
        tbn(x)
    for _ in range(2):
        bn(x)
    torch.testing.assert_close(bn.running_mean, tbn.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bn.running_var, tbn.running_var, rtol=1e-12, atol=1e-12)


def test_batchnorm_eval_matches_torch() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, 4, generator=g, dtype=D)
    bn, tbn = mlp.BatchNorm1d(4, dtype=D), torch.nn.BatchNorm1d(4, dtype=D).eval()
    bn.training = False
    bn.running_mean = torch.randn(4, generator=g, dtype=D)
    bn.running_var = torch.rand(4, generator=g, dtype=D) + 1e-4
    tbn.running_mean, tbn.running_var = bn.running_mean.clone(), bn.running_var.clone()
    with torch.no_grad():
        torch.testing.assert_close(bn(x), tbn(x), rtol=1e-12, atol=1e-12)
    before = bn.running_mean.clone()
    bn(x)
    assert torch.equal(bn.running_mean, before)


def test_chain_gradients_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(10, 6, generator=g, dtype=D, requires_grad=True)
    lin, bn, act = mlp.Linear(6, 4, generator=g, dtype=D), mlp.BatchNorm1d(4, dtype=D), mlp.Tanh()
    params = lin.parameters() + bn.parameters()
    for p in params:
        p.requires_grad_()

    def f(x, w, b, gamma, beta):
        lin.weight, lin.bias, bn.gamma, bn.beta = w, b, gamma, beta
        return act(bn(lin(x)))

    assert torch.autograd.gradcheck(f, (x, *params))


def test_parameter_counts() -> None:
    assert mlp.count_params(*mlp.bengio_mlp()) == 11897
    assert mlp.count_params(*mlp.bn_mlp()) == 12097


def test_short_training_lowers_loss(tiny_data_dir) -> None:
    words = (tiny_data_dir / "names.txt").read_text().splitlines()
    X, Y = mlp.build_dataset(words[:800])
    g = torch.Generator().manual_seed(4)
    C, layers = mlp.bn_mlp(n_hidden=64, generator=g)
    params = [C] + [p for layer in layers for p in layer.parameters()]
    for p in params:
        p.requires_grad = True
    before = mlp.loss_of(C, layers, X, Y)
    for _ in range(60):
        ix = torch.randint(0, X.shape[0], (32,), generator=g)
        loss = torch.nn.functional.cross_entropy(mlp.forward(C, layers, X[ix]), Y[ix])
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            assert p.grad is not None
            p.data += -0.1 * p.grad
    assert mlp.loss_of(C, layers, X, Y) < before - 0.2
