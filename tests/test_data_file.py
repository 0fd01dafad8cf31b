"""Data files that cannot be used: each gives one clear error naming the file and the problem."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mlplab.data.file import DataFileError, FileDataModule


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


ROW = "1,2,3,4,5,6,7,8\n"

# file name -> (how to make it, what the error must say after "data.path=<file>: ")
CASES = {
    "missing.csv": (lambda p: p, r"no such file"),
    "table.txt": (lambda p: write(p, ROW), r"unsupported format '.txt'; allowed: \('.csv', '.npy', '.npz', '.pt'\)"),
    "text.npy": (lambda p: write(p, "not numpy"), r"not a .npy file \(no NumPy .npy header\)"),
    "text.pt": (lambda p: write(p, "not torch"), r"cannot read it as .pt"),
    "object.pt": (
        lambda p: torch.save({"x": Path("a path is an object")}, p),  # loading it would call pathlib's code
        r"cannot read it as .pt: damaged, or it holds objects that would run code to load; allowed: tensors",
    ),
    "empty.csv": (lambda p: write(p, ""), r"the file is empty"),
    "header_only.csv": (lambda p: write(p, "a,b,c,d,e,f,g,h\n"), r"a header row but no data rows"),
    "seven_columns.csv": (
        lambda p: write(p, "1,2,3,4,5,6,7\n" * 20),
        r"7 columns, expected in_dim \+ out_dim = 4 \+ 4",
    ),
    "ragged.csv": (lambda p: write(p, ROW * 5 + "1,2,3\n"), r"not a numeric CSV table \(the number of columns changed"),
    "words.csv": (
        lambda p: write(p, ROW * 5 + "1,2,x,4,5,6,7,8\n"),
        r"not a numeric CSV table \(could not convert string 'x' to float64 on line 6, column 3\)",
    ),
    "nan.csv": (lambda p: write(p, ROW * 5 + "1,2,nan,4,5,6,7,8\n"), r"features hold NaN or inf \(first at sample 5"),
    "inf.csv": (lambda p: write(p, ROW * 5 + "1,2,3,4,5,6,7,-inf\n"), r"targets hold NaN or inf \(first at sample 5"),
    "lengths.npz": (
        lambda p: np.savez(p, x=np.zeros((10, 4)), y=np.zeros((9, 4))),
        r"10 feature rows but 9 target rows",
    ),
    "lengths.pt": (
        lambda p: torch.save({"x": torch.zeros(10, 4), "y": torch.zeros(9, 4)}, p),
        r"10 feature rows but 9 target rows",
    ),
    "objects.npy": (
        lambda p: np.save(p, np.array([{"code": 1}], dtype=object), allow_pickle=True),
        r"cannot read it as .npy \(Object arrays cannot be loaded when allow_pickle=False\)",
    ),
    "five_rows.csv": (lambda p: write(p, ROW * 5), r"the val split of 5 samples is empty"),
    # 8 rows at 0.8/0.1/0.1: one for val, whose R² is undefined.
    "eight_rows.csv": (lambda p: write(p, ROW * 8), r"the val split has 1 sample, and val/r2 needs at least 2"),
}


@pytest.mark.parametrize("name", CASES)
def test_unusable_files_are_named_with_their_problem(name: str, tmp_path: Path) -> None:
    make, problem = CASES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(DataFileError, match=rf"^data.path={path}: {problem}"):
        FileDataModule(path=str(path)).setup("fit")


def test_fewer_samples_than_one_training_batch_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "twenty.csv", ROW * 20)  # 16 train samples
    with pytest.raises(
        DataFileError, match=r"the train split has 16 samples, fewer than one batch \(data.batch_size=32\)"
    ):
        FileDataModule(path=str(path), batch_size=32, drop_last=True).setup("fit")
    FileDataModule(path=str(path), batch_size=32, drop_last=False).setup("fit")  # one short batch is fine
