"""The tied autoencoder: one weight tensor, paper init, sparse encoder == dense, instances independent."""

from __future__ import annotations

import math

import pytest
import torch

from bows.training.model import TiedAutoencoder, reconstruction_loss


def _csr(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    indices = torch.tensor([w for row in rows for w in row], dtype=torch.int64)
    offsets = torch.tensor([0, *torch.tensor([len(r) for r in rows]).cumsum(0).tolist()], dtype=torch.int64)
    return indices, offsets


def _dense(rows: list[list[int]], vocab: int) -> torch.Tensor:
    x = torch.zeros(len(rows), vocab)
    for i, row in enumerate(rows):
        x[i, row] = 1.0
    return x


ROWS = [[0, 3, 7], [], [1, 2, 3, 4, 5, 6, 7, 8, 9], [11], [2, 11]]


def test_weights_are_tied_one_tensor_and_paper_init():
    torch.manual_seed(0)
    model = TiedAutoencoder(1000, 16)
    params = dict(model.named_parameters())
    assert set(params) == {"W", "b"}
    assert params["W"].shape == (1, 16, 1000) and params["b"].shape == (1, 1000)
    bound = math.sqrt(2 / 1000)
    assert params["W"].abs().max() <= bound and params["W"].abs().max() > 0.9 * bound
    assert torch.all(params["b"] == 0)
    # the decoder uses the same tensor: a change to W changes both encoder and decoder
    x = _dense(ROWS, 1000)
    with torch.no_grad():
        model.W.zero_()
    assert torch.all(model.encode_dense(x) == 0) and torch.all(model(x) == 0)


@pytest.mark.parametrize("instances", [1, 3])
@pytest.mark.parametrize("latent_relu", [False, True])
def test_sparse_encoder_matches_dense_reference(instances: int, latent_relu: bool):
    torch.manual_seed(1)
    model = TiedAutoencoder(12, 5, instances=instances, latent_relu=latent_relu)
    indices, offsets = _csr(ROWS)
    x = _dense(ROWS, 12)
    h_sparse = model.encode_sparse(indices, offsets)
    reference = torch.einsum("ilv,bv->ibl", model.W, x)
    if latent_relu:
        reference = reference.relu()
    assert h_sparse.shape == (instances, len(ROWS), 5)
    torch.testing.assert_close(h_sparse, reference)
    torch.testing.assert_close(model.encode_dense(x), reference)
    # gradients agree too
    g_sparse = torch.autograd.grad(model.forward_sparse(indices, offsets).square().sum(), model.W)[0]
    g_dense = torch.autograd.grad(model(x).square().sum(), model.W)[0]
    torch.testing.assert_close(g_sparse, g_dense)


def test_decoder_is_relu_of_transpose_plus_bias_and_linear_variant():
    torch.manual_seed(2)
    relu, linear = TiedAutoencoder(12, 4, instances=2), TiedAutoencoder(12, 4, instances=2, output="linear")
    linear.load_state_dict(relu.state_dict())
    with torch.no_grad():
        relu.b.normal_()
        linear.b.copy_(relu.b)
    h = torch.randn(2, 3, 4)
    z = torch.einsum("ibl,ilv->ibv", h, relu.W) + relu.b[:, None, :]
    torch.testing.assert_close(relu.preactivation(h), z)
    torch.testing.assert_close(relu.decode(h), z.relu())
    torch.testing.assert_close(linear.decode(h), z)


def test_instances_are_independent_models():
    torch.manual_seed(3)
    multi = TiedAutoencoder(12, 4, instances=3)
    x = _dense(ROWS, 12)
    losses = reconstruction_loss(multi(x), x)
    for i in range(3):
        single = TiedAutoencoder(12, 4)
        with torch.no_grad():
            single.W.copy_(multi.W[i : i + 1])
            single.b.copy_(multi.b[i : i + 1])
        torch.testing.assert_close(reconstruction_loss(single(x), x)[0], losses[i])
    grads = torch.autograd.grad(losses[1], multi.W)[0]
    assert torch.all(grads[0] == 0) and torch.all(grads[2] == 0) and grads[1].abs().sum() > 0


def test_weights_helper_and_bad_arguments():
    model = TiedAutoencoder(12, 4)
    W, b = model.weights()
    assert W.shape == (4, 12) and b.shape == (12,) and not W.requires_grad
    with pytest.raises(ValueError, match="single-instance"):
        TiedAutoencoder(12, 4, instances=2).weights()
    with pytest.raises(ValueError, match="latent_size"):
        TiedAutoencoder(12, 0)
    with pytest.raises(ValueError, match="output"):
        TiedAutoencoder(12, 4, output="tanh")
