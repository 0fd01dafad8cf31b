"""``x_data``/``y_data`` from the user's file (read by :mod:`mlplab.data.readers`), split into columns."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mlplab.data.base import TensorDataModule
from mlplab.data.readers import DataFileError, check_values, read_file
from mlplab.rules import Positive, checked

Column = int | str


class FileDataModule(TensorDataModule):
    """Reads one file; a single table is split into feature and target columns."""

    @checked("data")
    def __init__(
        self,
        path: str,
        in_dim: Positive = 4,
        out_dim: Positive = 4,
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

    @property
    def source(self) -> str:
        return f"data.path={self.path}"

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
        contents = read_file(self.path, "data.path", self.x_key, self.y_key)
        x, y = contents.x, contents.y
        if y is None:
            x, y = self._split_table(np.asarray(x), contents.header)
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
        check_values(self.source, "features", x)
        check_values(self.source, "targets", y)
        return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
