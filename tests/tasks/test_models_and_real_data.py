"""Pinned parameter counts of every model, and checks of the real data against MANIFEST."""

from __future__ import annotations

import os

import pytest
import torch

from hgbench.tasks import TASKS
from hgbench.tasks.fashion_mnist import flatten_mlp
from hgbench.tasks.lstm import LstmLanguageModel
from hgbench.tasks.models import mlp
from hgbench.tasks.resnet import ResNet18, small_cnn


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "model, expected",
    [
        (lambda: mlp([8, 50, 1]), 501),  # UCI energy
        (lambda: mlp([13, 50, 1]), 751),  # UCI boston
        (lambda: mlp([16, 50, 1]), 901),  # UCI naval
        (lambda: mlp([10, 50, 1]), 601),  # sk_diabetes
        (lambda: mlp([64, 50, 10]), 3760),  # sk_digits
        (lambda: mlp([784, 50, 10]), 39_760),  # Fashion-MNIST
        (lambda: flatten_mlp([50]), 39_760),  # Fashion-MNIST task default
        (lambda: flatten_mlp([50, 50, 50]), 44_860),  # Maclaurin et al. 2015 MLP
        (lambda: ResNet18(10), 11_181_642),  # torchvision resnet18(num_classes=10)
        (lambda: ResNet18(10, stem="cifar"), 11_173_962),
        (lambda: small_cnn(10, 16), 5466),
        (lambda: LstmLanguageModel(10_000, 650, 650, 2), 19_780_400),  # PTB paper
        (lambda: LstmLanguageModel(10_000, 32, 32, 1), 658_448),  # PTB small
    ],
)
def test_parameter_counts(model, expected):
    assert count(model()) == expected


def test_fashion_mnist_hidden_override_is_validated():
    assert TASKS.get("fashion_mnist")("small", hidden=[50, 50, 50]).params["hidden"] == [50] * 3
    with pytest.raises(ValueError, match="hidden"):
        TASKS.get("fashion_mnist")("small", hidden=50)


def test_lstm_matches_torch_lstm():
    torch.manual_seed(0)
    m = LstmLanguageModel(50, 8, 12, 2)
    ref = torch.nn.LSTM(8, 12, 2)
    ref.load_state_dict({k: v for k, v in m.state_dict().items() if "_l" in k})
    tok = torch.randint(0, 50, (5, 3))
    carry = (torch.randn(2, 3, 12), torch.randn(2, 3, 12))
    out, (h, c) = m(tok, carry)
    ref_out, (rh, rc) = ref(m.encoder(tok), carry)
    torch.testing.assert_close(out, m.decoder(ref_out))
    torch.testing.assert_close((h, c), (rh, rc))


# ------------------------------------------------------------------------------ real data
DATA = os.environ.get("HGBENCH_DATA")
UCI_SIZES = {
    "boston": (364, 91, 51, 13),
    "concrete": (742, 185, 103, 8),
    "energy": (614, 78, 76, 8),
    "kin8nm": (5898, 1475, 819, 8),
    "naval": (8593, 2148, 1193, 16),
    "power": (6889, 1722, 957, 4),
    "wine_red": (1151, 288, 160, 11),
    "yacht": (222, 55, 31, 6),
    "protein": (32926, 8231, 4573, 9),
}


@pytest.mark.real_data
@pytest.mark.parametrize("name", list(UCI_SIZES))
def test_real_uci(name):
    p = TASKS.get(f"uci_{name}")("paper").build(data_dir=DATA)
    n_train, n_val, n_test, d = UCI_SIZES[name]
    assert [p.num_examples(s) for s in ("train", "val", "test")] == [n_train, n_val, n_test]
    assert p.layout.shapes[0] == (50, d)


@pytest.mark.real_data
def test_real_uci_energy_target_is_heating_load():
    from hgbench.tasks.uci import load_uci

    _, y = load_uci("energy", DATA)
    assert y.min() == pytest.approx(6.01) and y.max() == pytest.approx(43.1)


@pytest.mark.real_data
def test_real_fashion_mnist():
    p = TASKS.get("fashion_mnist")("paper").build(data_dir=DATA)
    assert [p.num_examples(s) for s in ("train", "val", "test")] == [50_000, 10_000, 10_000]
    test_y = p._splits["test"].targets
    assert torch.equal(torch.bincount(test_y), torch.full((10,), 1000))
    assert p.train_batch(0).inputs.shape == (50, 28, 28)


@pytest.mark.real_data
def test_real_cifar10():
    from hgbench.tasks.cifar10 import load_cifar10

    data = load_cifar10(DATA)
    x, y = data["train"]
    assert x.shape == (10_000, 3, 32, 32)  # only data_batch_1 is shared
    assert list(torch.bincount(torch.from_numpy(y))) == [
        1005,
        974,
        1032,
        1016,
        999,
        937,
        1030,
        1001,
        1025,
        981,
    ]
    assert list(torch.bincount(torch.from_numpy(data["test"][1]))) == [1000] * 10
    p = TASKS.get("cifar10")("small", subset=None, val_subset=None, test_subset=None).build(
        data_dir=DATA
    )
    assert [p.num_examples(s) for s in ("train", "val", "test")] == [9000, 1000, 10_000]


@pytest.mark.real_data
def test_real_ptb():
    from hgbench.tasks.ptb import load_ptb

    vocab, ids = load_ptb(DATA)
    assert len(vocab) == 10_000 and "<eos>" in vocab and "<unk>" in vocab
    assert [ids[s].numel() for s in ("train", "val", "test")] == [929_589, 73_760, 82_430]
    p = TASKS.get("ptb")("paper").build(data_dir=DATA)
    assert p.steps_per_epoch == (929_589 // 40 - 1) // 70 and p.grad_clip == 0.25
