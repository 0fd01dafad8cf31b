"""``x_data``/``y_data`` from the user's file: ``.csv``, ``.npy``, ``.npz`` or ``.pt``."""

import pickle
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mlplab.data.base import TensorDataModule

Column = int | str
FORMATS = (".csv", ".npy", ".npz", ".pt")


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file and the problem."""


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    with path.open() as f:
        first = f.readline()
    if not first.strip():
        raise DataFileError(f"data.path={path}: the file is empty")
    cells = [c.strip() for c in first.split(",")]
    header = None
    try:
        [float(c) for c in cells]
    except ValueError:
        header = cells
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            table = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, dtype=np.float64, ndmin=2)
    except ValueError as e:
        # numpy's own advice ("use `usecols`...") is about its API, not about the user's file.
        problem = str(e).split("; use `usecols`")[0].rstrip(".")
        # numpy counts data rows from 0 here; users look for the file's line (from 1, header included).
        cell = re.search(r"at row (\d+), column (\d+)", problem)
        if cell and problem.startswith("could not convert"):
            line = int(cell.group(1)) + 1 + (1 if header else 0)
            problem = problem[: cell.start()] + f"on line {line}, column {cell.group(2)}"
        raise DataFileError(f"data.path={path}: not a numeric CSV table ({problem})") from None
    if table.size == 0:
        raise DataFileError(f"data.path={path}: a header row but no data rows")
    return table, header


def _check_numpy_header(path: Path) -> None:
    """A clear word for files that only carry a NumPy suffix (``np.load`` would talk about pickles)."""
    magic = {".npy": b"\x93NUMPY", ".npz": b"PK"}[path.suffix]
    with path.open("rb") as f:
        if f.read(len(magic)) != magic:
            raise DataFileError(f"data.path={path}: not a {path.suffix} file (no NumPy {path.suffix} header)")


def _read_tensors(path: Path, x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix in (".npy", ".npz"):
        _check_numpy_header(path)
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if x_key in z and y_key in z:
                return z[x_key], z[y_key]
            if len(z.files) == 1:
                return z[z.files[0]], None
            raise DataFileError(f"data.path={path}: expected arrays {x_key!r} and {y_key!r}, found {z.files}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        if x_key in obj and y_key in obj:
            return np.asarray(obj[x_key]), np.asarray(obj[y_key])
        raise DataFileError(f"data.path={path}: expected keys {x_key!r} and {y_key!r}, found {list(obj)}")
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return np.asarray(obj[0]), np.asarray(obj[1])
    if isinstance(obj, Tensor):
        return obj.numpy(), None
    raise DataFileError(f"data.path={path}: holds a {type(obj).__name__}, not a tensor or {{x, y}} dict")


class FileDataModule(TensorDataModule):
    """Reads one file; a single table is split into feature and target columns."""

    def __init__(
        self,
        path: str,
        in_dim: int = 4,
        out_dim: int = 4,
        feature_columns: Sequence[Column] | None = None,
        target_columns: Sequence[Column] | None = None,
        x_key: str = "x",
        y_key: str = "y",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = Path(path)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.feature_columns = list(feature_columns) if feature_columns is not None else None
        self.target_columns = list(target_columns) if target_columns is not None else None
        self.x_key, self.y_key = x_key, y_key

    def setup(self, stage: str | None = None) -> None:
        try:
            super().setup(stage)
        except DataFileError:
            raise
        except ValueError as e:  # a split came out empty: say which file is too small
            raise DataFileError(f"data.path={self.path}: {e}") from None
        train = len(self.splits["train"])
        if self.drop_last and self.batch_size is not None and train < self.batch_size:
            raise DataFileError(
                f"data.path={self.path}: the train split has {train} samples, fewer than one batch "
                f"(data.batch_size={self.batch_size}) with data.drop_last=true, so no training step would run; "
                "lower data.batch_size or set data.drop_last=false"
            )

    def _columns(self, spec: list[Column] | None, default: range, header: list[str] | None, key: str) -> list[int]:
        if spec is None:
            return list(default)
        out = []
        for c in spec:
            if isinstance(c, str):
                if header is None or c not in header:
                    raise DataFileError(f"data.{key}: column {c!r} not in the header of {self.path} ({header})")
                out.append(header.index(c))
            else:
                out.append(int(c))
        return out

    def load(self) -> tuple[Tensor, Tensor]:
        path = self.path
        if path.suffix not in FORMATS:
            raise DataFileError(f"data.path={path}: unsupported format {path.suffix!r}; allowed: {FORMATS}")
        if not path.is_file():
            raise DataFileError(f"data.path={path}: no such file")
        if path.stat().st_size == 0:
            raise DataFileError(f"data.path={path}: the file is empty")
        header = None
        try:
            if path.suffix == ".csv":
                table, header = _read_csv(path)
                x, y = table, None
            else:
                x, y = _read_tensors(path, self.x_key, self.y_key)
        except DataFileError:
            raise
        except pickle.UnpicklingError:  # torch's weights-only reader: several paragraphs about weights_only=False
            raise DataFileError(
                f"data.path={path}: cannot read it as .pt: damaged, or it holds objects that would run code to load; "
                "allowed: tensors, or a dict of tensors (torch.save)"
            ) from None
        except Exception as e:  # numpy/torch raise many types for a damaged file
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataFileError(f"data.path={path}: cannot read it as {path.suffix} ({detail})") from None
        if y is None:
            x, y = self._split_table(np.asarray(x), header)
        return self._check(np.asarray(x), np.asarray(y))

    def _split_table(self, table: np.ndarray, header: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        if table.ndim != 2:
            raise DataFileError(f"data.path={self.path}: expected a 2-D table, got shape {table.shape}")
        width = table.shape[1]
        feats = self._columns(self.feature_columns, range(self.in_dim), header, "feature_columns")
        targs = self._columns(
            self.target_columns, range(self.in_dim, self.in_dim + self.out_dim), header, "target_columns"
        )
        if self.feature_columns is None and self.target_columns is None and width != self.in_dim + self.out_dim:
            raise DataFileError(
                f"data.path={self.path}: {width} columns, expected in_dim + out_dim = "
                f"{self.in_dim} + {self.out_dim}; set data.feature_columns/target_columns to pick them"
            )
        bad = [c for c in feats + targs if not -width <= c < width]
        if bad:
            raise DataFileError(f"data.path={self.path}: columns {bad} out of range for {width} columns")
        return table[:, feats], table[:, targs]

    def _check(self, x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim == 1:
            y = y[:, None]
        if len(x) == 0:
            raise DataFileError(f"data.path={self.path}: holds no samples")
        if len(x) != len(y):
            raise DataFileError(f"data.path={self.path}: {len(x)} feature rows but {len(y)} target rows")
        if x.shape[1] != self.in_dim or y.shape[1] != self.out_dim:
            raise DataFileError(
                f"data.path={self.path}: features x targets are {x.shape[1]} x {y.shape[1]} wide, "
                f"expected data.in_dim={self.in_dim} x data.out_dim={self.out_dim}"
            )
        if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
            raise DataFileError(f"data.path={self.path}: values must be numeric, got {x.dtype}/{y.dtype}")
        for name, a in (("features", x), ("targets", y)):
            if not np.isfinite(a).all():
                row = int(np.argwhere(~np.isfinite(a))[0][0])
                raise DataFileError(
                    f"data.path={self.path}: {name} hold NaN or inf (first at sample {row}, counting from 0); "
                    "drop or fill those samples"
                )
        return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
