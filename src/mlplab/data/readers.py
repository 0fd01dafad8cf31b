"""One reader per file format: ``.csv``, ``.npy``, ``.npz`` and ``.pt``, for the data module and predict alike.

Errors name the config key the path came from (``data.path``, ``input``) and what is wrong with the file.
"""

import csv
import json
import pickle
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mlplab.errors import UserError

TEXT_FORMATS = (".csv", ".tsv", ".txt")  # delimited text, a header row optional
FORMATS = (*TEXT_FORMATS, ".npy", ".npz", ".pt")
# torch's weights-only reader warns of a pickle protocol above 2 before it refuses (or reads) a file that was
# not written by torch.save; a refusal is reported in one line (read_file). Checkpoints: run/checkpoints.py.
warnings.filterwarnings("ignore", message=r"Detected pickle protocol", category=UserWarning)
MISSING = {"", "na", "n/a", "#n/a", "nan", "null", "none", "?", "-", "missing"}  # spellings of "no value"


class DataFileError(UserError):
    """A data file that cannot be used; the message names the file and the problem."""


@dataclass
class Contents:
    x: np.ndarray  # the whole table, or the features where the file keeps targets apart
    y: np.ndarray | None  # targets kept apart (.npz/.pt with both keys)
    header: list[str] | None  # a CSV's column names


def read_file(path: Path, key: str, x_key: str = "x", y_key: str = "y", names: Sequence[str] = ()) -> Contents:
    """What ``path`` holds; ``key`` names the setting it came from in every error. ``names``: column names the
    caller expects; a first row that holds them all is the header, even where it reads as numbers ("0,1,2,y")."""
    where = f"{key}={path}"
    if path.suffix not in FORMATS:
        raise DataFileError(f"{where}: unsupported format {path.suffix!r}; allowed: {', '.join(FORMATS)}")
    if not path.is_file():  # a relative path is read from the working dir, which hydra.job.chdir=true moves
        raise DataFileError(f"{where}: no such file" + ("" if path.is_absolute() else f" in {Path.cwd()}"))
    if path.stat().st_size == 0:
        raise DataFileError(f"{where}: the file is empty")
    try:
        if path.suffix in TEXT_FORMATS:
            return _read_delimited(path, where, names)
        if path.suffix in (".npy", ".npz"):
            return _read_numpy(path, where, x_key, y_key)
        return _read_torch(path, where, x_key, y_key)
    except DataFileError:
        raise
    except pickle.UnpicklingError:  # torch's weights-only reader: several paragraphs about weights_only=False
        raise DataFileError(
            f"{where}: cannot read it as .pt: damaged, or it holds objects that would run code to load; "
            "allowed: tensors, or a dict of tensors (torch.save)"
        ) from None
    except Exception as e:  # numpy/torch raise many types for a damaged file
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataFileError(f"{where}: cannot read it as {path.suffix} ({detail})") from None


def _read_delimited(path: Path, where: str, names: Sequence[str] = ()) -> Contents:
    with path.open(newline="", encoding="utf-8-sig") as f:  # utf-8-sig: drops the BOM that Excel writes
        first = f.readline()
        f.seek(0)
        # A .tsv: tabs (a name in its header may hold a comma). Else commas, unless the first line has none but
        # has semicolons (Excel in many locales) or tabs; else runs of spaces (numpy.savetxt's default).
        delimiter = "\t" if path.suffix.lower() == ".tsv" else next((d for d in ",;\t" if d in first), None)
        lines = csv.reader(f, delimiter=delimiter) if delimiter else (line.split() for line in f)
        rows = [[c.strip() for c in row] for row in lines if any(c.strip() for c in row)]
    if not rows:
        raise DataFileError(f"{where}: the file is empty")
    header = None
    if _is_header(rows) or (names and set(names) <= set(rows[0])):
        header, rows = rows[0], rows[1:]
        if twice := next((name for i, name in enumerate(header) if name in header[:i]), None):
            raise DataFileError(f"{where}: the header names column {twice!r} twice; allowed: distinct column names")
    if not rows:
        raise DataFileError(f"{where}: a header row but no data rows")
    widths = {len(r) for r in rows} | ({len(header)} if header else set())
    if len(widths) > 1:
        line = next(i for i, r in enumerate(rows) if len(r) != len(header or rows[0])) + 1 + (header is not None)
        raise DataFileError(
            f"{where}: rows of different lengths ({sorted(widths)} cells; first odd one on line {line})"
        )
    # Kept as text, converted where a column is used (numeric()): a label column keeps the file's own labels.
    return Contents(np.array(rows, dtype=object), None, header)


def _is_header(rows: list[list[str]], sample: int = 1000) -> bool:
    """Whether the first row names the columns, judged as csv.Sniffer.has_header does: a column of numbers
    below says yes where its first cell is text, no where that is a number (a missing cell says nothing).
    Without a column of numbers, any text in the first row makes it the header."""
    first, rest = rows[0], rows[1 : 1 + sample]
    votes = 0
    for col, cell in enumerate(first):
        below = [r[col] for r in rest if col < len(r) and r[col].casefold() not in MISSING]
        if below and not any(map(_not_a_number, below)) and cell.casefold() not in MISSING:
            votes += 1 if _not_a_number(cell) else -1
    return votes > 0 or (votes == 0 and any(map(_not_a_number, first)))


def numeric(a: np.ndarray, where: str, name: str, columns: list[str] | None = None) -> np.ndarray:
    """``a`` as float64; a cell that is no number is named by its column and the file's line."""
    try:
        return np.asarray(a, dtype=np.float64)
    except (ValueError, TypeError):
        pass
    table = a.reshape(len(a), -1) if a.ndim else a.reshape(1, 1)
    bad = np.vectorize(_not_a_number, otypes=[bool])(table)
    if not bad.any():
        raise DataFileError(f"{where}: {name} must be numeric")
    row, col = (int(i) for i in np.argwhere(bad)[0])
    cell = str(table[row, col])
    column = repr(columns[col]) if columns and col < len(columns) else str(col)
    numbers = [c for c, text in zip(columns or [], bad.any(axis=0), strict=False) if not text]
    # Missing: a spelling of "no value", or a cell of a column whose other cells are numbers.
    if re.fullmatch(r"-?\d*,\d+", cell.strip()):  # Excel in many locales
        fix = "numbers with a decimal point, not a decimal comma (save the file with '.' as the decimal separator)"
    elif cell.strip().casefold() in MISSING or bad[:, col].sum() < len(table) / 2:
        fix = "fill or drop the rows with missing values"
    elif name == "features" and numbers:  # a text column (a category): its numbers, or leaving it out
        fix = f"encode that column as numbers, or leave it out: {_override('data.feature_columns', numbers)}"
    elif name == "targets":  # names of classes, most likely
        fix = "numbers for regression; for class labels, task=classification"
    else:
        fix = "numbers in every cell (encode text as numbers)"
    raise DataFileError(
        f"{where}: {name} must be numeric; column {column} holds {cell!r} in data row {row + 1}; allowed: {fix}"
    )


def _override(key: str, names: list[str]) -> str:
    """``key=[a,b]`` as a command line takes it: names that are not plain words quoted (for Hydra, the shell)."""
    if all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
        return f"{key}=[{','.join(names)}]"
    quoted = ",".join(json.dumps(n, ensure_ascii=False) for n in names)
    return f"'{key}=[{quoted}]'"


def _not_a_number(cell: object) -> bool:
    try:
        float(cell)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return True
    return False


def _read_numpy(path: Path, where: str, x_key: str, y_key: str) -> Contents:
    # A clear word for files that only carry a NumPy suffix (np.load would talk about pickles).
    magic = {".npy": b"\x93NUMPY", ".npz": b"PK"}[path.suffix]
    with path.open("rb") as f:
        if f.read(len(magic)) != magic:
            raise DataFileError(f"{where}: not a {path.suffix} file (no NumPy {path.suffix} header)")
    if path.suffix == ".npy":
        return Contents(np.load(path, allow_pickle=False), None, None)
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    return _pick(arrays, where, x_key, y_key, "arrays")


def _read_torch(path: Path, where: str, x_key: str, y_key: str) -> Contents:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        return _pick({str(k): np.asarray(v) for k, v in obj.items()}, where, x_key, y_key, "keys")
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return Contents(np.asarray(obj[0]), np.asarray(obj[1]), None)
    if isinstance(obj, Tensor):
        return Contents(obj.numpy(force=True), None, None)
    raise DataFileError(f"{where}: holds a {type(obj).__name__}, not a tensor or {{x, y}} dict")


def _pick(arrays: dict[str, np.ndarray], where: str, x_key: str, y_key: str, what: str) -> Contents:
    """Features and targets by name; a lone array is a whole table (or, for predict, the inputs)."""
    if x_key in arrays:
        return Contents(arrays[x_key], arrays.get(y_key), None)
    if len(arrays) == 1:
        return Contents(next(iter(arrays.values())), None, None)
    raise DataFileError(f"{where}: expected {what} {x_key!r} and {y_key!r}, found {list(arrays)}")


def check_values(where: str, name: str, a: np.ndarray) -> None:
    """Numeric, and no NaN or inf: the row of the first bad value is named."""
    if not np.issubdtype(a.dtype, np.number):
        raise DataFileError(f"{where}: {name} must be numeric, got {a.dtype}")
    if not np.isfinite(a).all():
        row = int(np.argwhere(~np.isfinite(a))[0][0])
        raise DataFileError(
            f"{where}: {name} hold NaN or inf (first at sample {row}, counting from 0); drop or fill those samples"
        )
    # float32 (what the net computes in) keeps about 7 digits: a column that varies by less than a millionth
    # of its size (1e9 + 100 * noise) would reach the net as a few distinct values, whatever standardizes it.
    table = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    mean, std = table.mean(axis=0), table.std(axis=0)
    if (lost := np.flatnonzero((std > 0) & (std < 1e-6 * np.abs(mean)))).size:
        col = int(lost[0])
        raise DataFileError(
            f"{where}: {name} column {col} varies by {std[col]:.3g} around {mean[col]:.7g}, finer than float32 "
            f"tells apart at that size; allowed: the column less an offset (e.g. minus {mean[col]:.3g})"
        )
