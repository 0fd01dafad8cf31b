"""Data files: read once per start, and those that cannot be used each give one clear error naming the file
and the problem."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import Named, assert_names, whole
from mlplab.data import file as data_file
from mlplab.data.file import FileDataModule
from mlplab.errors import UserError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


ROW = "1,2,3,4,5,6,7,8\n"

# file name -> (how to make it, what the one-line error must name besides data.path=<file>: the format, row,
# column or count at fault, and "allowed" where it says what would do).
CASES: dict[str, tuple[Callable[[Path], object], tuple[Named, ...]]] = {
    "missing.csv": (lambda p: p, ()),
    "table.xlsx": (lambda p: write(p, ROW), ("'.xlsx'", "allowed", ".csv", ".tsv")),
    "text.npy": (lambda p: write(p, "not numpy"), (".npy",)),
    "text.pt": (lambda p: write(p, "not torch"), (".pt",)),
    "object.pt": (
        lambda p: torch.save({"x": Path("a path is an object")}, p),  # loading it would call pathlib's code
        ("allowed", "tensors"),
    ),
    "empty.csv": (lambda p: write(p, ""), ("empty",)),
    "header_only.csv": (lambda p: write(p, "a,b,c,d,e,f,g,h\n"), ("header",)),
    "one_column.csv": (lambda p: write(p, "1\n" * 20), ("no feature columns",)),
    "ragged.csv": (lambda p: write(p, ROW * 5 + "1,2,3\n"), ("line 6",)),
    "words.csv": (lambda p: write(p, ROW * 5 + "1,2,x,4,5,6,7,8\n"), ("'x'", whole("6"))),
    "nan.csv": (lambda p: write(p, ROW * 5 + "1,2,nan,4,5,6,7,8\n"), ("features", "NaN", "sample 5")),
    "inf.csv": (lambda p: write(p, ROW * 5 + "1,2,3,4,5,6,7,-inf\n"), ("targets", "inf", "sample 5")),
    "lengths.npz": (lambda p: np.savez(p, x=np.zeros((10, 4)), y=np.zeros((9, 4))), ("10 feature", "9 target")),
    "lengths.pt": (
        lambda p: torch.save({"x": torch.zeros(10, 4), "y": torch.zeros(9, 4)}, p),
        ("10 feature", "9 target"),
    ),
    "objects.npy": (
        lambda p: np.save(p, np.array([{"code": 1}], dtype=object), allow_pickle=True),
        (".npy", "allow_pickle"),
    ),
    # 4 rows at 0.8/0.1/0.1: train keeps 2, test takes 2, nothing is left for val.
    "four_rows.csv": (lambda p: write(p, ROW * 4), ("val split", "allowed")),
    # 5 rows: 2/2/1, and one test row has no R².
    "five_rows.csv": (lambda p: write(p, ROW * 5), ("test/r2", "allowed")),
}


@pytest.mark.parametrize("name", CASES)
def test_unusable_files_are_named_with_their_problem(name: str, tmp_path: Path) -> None:
    make, names = CASES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(UserError) as error:
        FileDataModule(path=str(path)).setup("fit")
    message = str(error.value)
    assert message.startswith(f"data.path={path}"), message  # the file first, as the user wrote it
    assert_names(message, *names)


def test_fewer_samples_than_one_training_batch_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "twenty.csv", ROW * 20)  # 16 train samples
    with pytest.raises(UserError) as error:
        FileDataModule(path=str(path), batch_size=32, drop_last=True).setup("fit")
    assert_names(str(error.value), f"data.path={path}", "16 samples", "data.batch_size=32", "allowed")
    FileDataModule(path=str(path), batch_size=32, drop_last=False).setup("fit")  # one short batch is fine


def test_columns_are_refused_for_a_file_of_separate_feature_and_target_arrays(tmp_path: Path) -> None:
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.zeros((20, 3)), y=np.zeros((20, 1)))
    with pytest.raises(UserError) as error:
        FileDataModule(path=str(path), target_columns=["price"]).setup("fit")
    assert_names(str(error.value), "data.target_columns", str(path), "'x'", "allowed: null")


def test_a_start_reads_the_file_once_and_a_changed_file_again(tmp_path: Path, monkeypatch) -> None:
    """The config's sizes (``${data_size:...}``, ``${per_training_row:...}``) read the file before the run's own
    data module does: the second read is the first one's, handed over, unless the file changed in between."""
    reads: list[Path] = []
    real = data_file.read_file

    def counted(path: Path, *args: str, **kwargs: Any) -> object:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(data_file, "read_file", counted)
    path = write(tmp_path / "t.csv", "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    spec = {"_target_": "mlplab.data.file.FileDataModule", "path": str(path), "target_columns": ["y"]}
    spec["task"] = "classification"
    sizes = data_file.file_sizes(OmegaConf.create(spec))
    run = FileDataModule(path=str(path), target_columns=["y"], task="classification")
    run.setup("fit")
    assert len(reads) == 1 and sizes["in_dim"] == 2 and run.classes == [0, 1] and run.feature_names == ["a", "b"]
    assert len(run.splits["train"]) == sizes["train_rows"]
    data_file.file_sizes(OmegaConf.create({**spec, "batch_size": 8}))  # another config, the same file version
    # A new size, so a new version even within the file system's timestamp tick.
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 3}\n" for i in range(40)))
    again = FileDataModule(path=str(path), target_columns=["y"], task="classification")
    again.setup("fit")
    assert len(reads) == 3 and again.classes == [0, 1, 2]
