"""A classification table's label column as class indices, and the labels as the file wrote them."""

import re

import numpy as np

from mlplab.data.readers import DataFileError

# readers.MISSING but "none", "-" and "missing", which can name a class ("damage: none").
MISSING_LABELS = ["", "na", "n/a", "#n/a", "nan", "null", "?"]


def class_indices(y: np.ndarray, source: str) -> tuple[np.ndarray, list[int | str]]:
    """One label column (integers or strings) as int64 class indices, and the sorted labels they index."""
    if y.ndim == 2 and y.shape[1] != 1:
        raise DataFileError(
            f"{source}: classification takes one label column, got {y.shape[1]}; allowed: data.target_columns=[LABEL]"
        )
    labels = y.reshape(-1)
    _check_labels(labels, source)
    if labels.dtype.kind == "f" and not (finite := np.isfinite(labels)).all():  # NaN is refused above
        raise DataFileError(
            f"{source}: the label column holds {labels[~finite][0]} in data row {np.flatnonzero(~finite)[0] + 1}; "
            "allowed: labels that are whole numbers or names"
        )
    if labels.dtype.kind in "fiu":  # an array file's numbers: whole ones are integer labels
        labels = labels.astype(np.int64)
    else:  # a CSV's text: integers where each reads back as written ("7", not "07" or "7.0"), else names
        labels = labels.astype(str)
        if all(re.fullmatch(r"0|-?[1-9][0-9]{0,17}", label) for label in labels):  # int64 holds 18 digits; "-0" is text
            labels = labels.astype(np.int64)
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DataFileError(f"{source}: one class only ({classes.tolist()}); classification needs two")
    return index.astype(np.int64), classes.tolist()


def _check_labels(labels: np.ndarray, source: str) -> None:
    """No empty label; and labels that are all numbers, some not whole, are a regression target (scikit-learn
    calls them "continuous")."""
    text = np.char.lower(np.char.strip(labels.astype(str)))
    if (empty := np.flatnonzero(np.isin(text, MISSING_LABELS))).size:
        raise DataFileError(
            f"{source}: the label column has no label in data row {empty[0] + 1} ({str(labels[empty[0]])!r}); "
            "allowed: fill or drop the rows with missing labels"
        )
    try:
        values = labels.astype(np.float64)
    except ValueError:
        return  # names
    fractional = values[np.isfinite(values) & (values != np.round(values))]
    if len(fractional):
        raise DataFileError(
            f"{source}: the label column holds numbers that are not whole (e.g. {fractional[0]:g}): a "
            "regression target? allowed: task=regression, or labels that are integers or names"
        )
