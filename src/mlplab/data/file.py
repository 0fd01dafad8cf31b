"""``x_data``/``y_data`` from the user's file (read by :mod:`mlplab.data.readers`), split into columns.

Sizes come from the file: with ``target_columns`` alone, the features are all the other columns. Without
either, the last column is the target (or, with ``in_dim``/``out_dim``, the first in_dim columns are the
features and the next out_dim the targets).
"""

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from mlplab.data.base import TensorDataModule
from mlplab.data.labels import class_indices
from mlplab.data.readers import DataFileError, check_values, numeric, read_file
from mlplab.rules import Positive, checked, rule

Column = int | str
Columns = Annotated[list[Column] | Column, rule("a column name or index, or a list of them")] | None
_sizes_read: dict[str, dict[str, object]] = {}  # file_sizes' answers, by data config and file version
# What file_sizes' data module read, for the run's own data module, which reads the same file next: each start
# then reads a file once (a 200k-row CSV: 1.7 s). Taken by the first load that matches; one entry at most.
_handed_over: dict[str, tuple[tuple[Tensor, Tensor], dict[str, object]]] = {}


def file_sizes(data: DictConfig) -> dict[str, object]:
    """``in_dim``, ``out_dim`` (and ``classes``) of the file that the ``data`` config reads, and its
    ``train_rows``: what ``${data_size:...}`` gives the configs. Read once per file version and config."""
    spec = OmegaConf.to_container(data, resolve=True)
    assert isinstance(spec, dict)
    key = json.dumps([spec, file_version(Path(str(spec["path"])))], sort_keys=True, default=str)
    if key not in _sizes_read:
        module = instantiate(data)
        module.hand_over = True
        module.setup("fit")  # the splits too, as the run will make them (and a file too small is refused here)
        _sizes_read[key] = {**module.sizes, "train_rows": len(module.splits["train"])}
    return _sizes_read[key]


def file_version(path: Path) -> list[object] | None:
    """What tells one version of a file from the next (a file replaced is a new one); None if there is none."""
    try:
        stat = path.resolve().stat()
    except OSError:
        return None
    return [str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _is_name(column: Column) -> bool:
    return isinstance(column, str)


def _column_list(columns: Columns) -> list[Column] | None:
    """One name or index means a list of it: ``data.target_columns=price`` as ``[price]``."""
    return None if columns is None else [columns] if isinstance(columns, (str, int)) else list(columns)


class FileDataModule(TensorDataModule):
    """Reads one file; a table is split into feature and target (or label) columns."""

    @checked("data")
    def __init__(
        self,
        path: str,
        in_dim: Positive | None = None,
        out_dim: Positive | None = None,
        feature_columns: Columns = None,
        target_columns: Columns = None,
        x_key: str = "x",
        y_key: str = "y",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = Path(path)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.feature_columns = _column_list(feature_columns)
        self.target_columns = _column_list(target_columns)
        self.x_key, self.y_key = x_key, y_key
        self.feature_names: list[str] | None = None  # the header's names, for predict to match inputs by
        self.target_names: list[str] | None = None
        self.hand_over = False  # keep what load() reads for the next data module that loads the same

    @property
    def source(self) -> str:
        return f"data.path={self.path}"

    def load(self) -> tuple[Tensor, Tensor]:
        version = self._version()
        if version is not None and (read := _handed_over.pop(version, None)) is not None:
            self.__dict__.update(read[1])
            return read[0]
        named = [str(c) for c in [*(self.feature_columns or []), *(self.target_columns or [])] if _is_name(c)]
        contents = read_file(self.path, "data.path", self.x_key, self.y_key, names=named)
        if contents.y is None:
            x, y = self._split_table(np.asarray(contents.x), contents.header)
        elif named := [k for k in ("feature_columns", "target_columns") if any(map(_is_name, getattr(self, k) or []))]:
            raise DataFileError(  # indices may stay: they address x and y side by side, as one table would
                f"data.{named[0]}: column names, but {self.path} holds unnamed arrays {self.x_key!r} and "
                f"{self.y_key!r}; allowed: null"
            )
        else:
            x, y = np.asarray(contents.x), np.asarray(contents.y)
            x = numeric(x, self.source, "features")
        xy = self._check(x, y)
        if self.hand_over and version is not None:
            names = ("feature_names", "target_names", "classes")
            _handed_over.clear()
            _handed_over[version] = xy, {k: getattr(self, k) for k in names if hasattr(self, k)}
        return xy

    def _version(self) -> str | None:
        """This file's version and how it is read; None if the file cannot be stat'ed."""
        if (file := file_version(self.path)) is None:
            return None
        how = [self.in_dim, self.out_dim, self.feature_columns, self.target_columns, self.x_key, self.y_key]
        return json.dumps([file, how, self.task], default=str)

    def _columns(self, spec: list[Column], header: list[str] | None, key: str, width: int) -> list[int]:
        out = []
        for c in spec:
            if isinstance(c, str):
                if header is None:
                    raise DataFileError(
                        f"data.{key}: column {c!r}, but {self.path} has no header row (its first row is data); "
                        f"allowed: column indices from 0, e.g. data.{key}=[{width - 1}], or a header row in the file"
                    )
                if c not in header:
                    raise DataFileError(f"data.{key}: column {c!r} not in the header of {self.path} ({header})")
                out.append(header.index(c))
            elif not -width <= int(c) < width:
                raise DataFileError(f"data.{key}: column {c} out of range for the {width} columns of {self.path}")
            else:
                out.append(int(c) % width)
        if len(set(out)) < len(out):
            twice = next(c for c, i in zip(spec, out, strict=True) if out.count(i) > 1)
            raise DataFileError(f"data.{key}: column {twice!r} is named twice; allowed: each column once")
        return out

    def _split_table(self, table: np.ndarray, header: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        if table.ndim != 2:
            raise DataFileError(f"data.path={self.path}: expected a 2-D table, got shape {table.shape}")
        width = table.shape[1]
        if self.target_columns is not None:
            targets = self._columns(self.target_columns, header, "target_columns", width)
        elif self.feature_columns is None and self.in_dim is not None and self.out_dim is not None:
            if width != self.in_dim + self.out_dim:
                raise DataFileError(
                    f"data.path={self.path}: {width} columns, expected in_dim + out_dim = {self.in_dim} + "
                    f"{self.out_dim}; set data.target_columns (the features are then all the others)"
                )
            targets = list(range(self.in_dim, width))
        else:
            targets = list(range(width - (self.out_dim or 1), width))
        if self.feature_columns is not None:
            features = self._columns(self.feature_columns, header, "feature_columns", width)
            if both := [c for c in features if c in targets]:  # the answer among the inputs
                name = header[both[0]] if header else both[0]
                raise DataFileError(
                    f"data.feature_columns: column {name!r} is a target too; allowed: columns that are not targets"
                )
        else:
            features = [c for c in range(width) if c not in targets]
        if not features:
            raise DataFileError(f"data.path={self.path}: no feature columns left beside the targets {targets}")
        if header is not None:
            self.feature_names = [header[c] for c in features]
            self.target_names = [header[c] for c in targets]
        return numeric(table[:, features], self.source, "features", self.feature_names), table[:, targets]

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Regression: float targets. Classification: one label column (integers or strings) as class indices."""
        if self.task == "regression":
            return numeric(y, self.source, "targets", self.target_names)
        index, self.classes = class_indices(y, self.source)
        return index

    def _check(self, x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim == 1 and self.task == "regression":
            y = y[:, None]
        if len(x) == 0:
            raise DataFileError(f"data.path={self.path}: holds no samples")
        if len(x) != len(y):
            raise DataFileError(f"data.path={self.path}: {len(x)} feature rows but {len(y)} target rows")
        y = self._targets(y)
        width = y.shape[1] if y.ndim == 2 else None
        wanted = (self.in_dim, self.out_dim if self.task == "regression" else None)
        if any(w is not None and w != got for w, got in zip(wanted, (x.shape[1], width), strict=True)):
            raise DataFileError(
                f"data.path={self.path}: features x targets are {x.shape[1]} x {width} wide, expected "
                f"data.in_dim={self.in_dim} x data.out_dim={self.out_dim}; allowed: data.in_dim=null "
                "data.out_dim=null (sizes from the file)"
            )
        check_values(self.source, "features", x)
        if self.task == "regression":
            check_values(self.source, "targets", y)
            return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
        return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
