"""Checks a composed config before any work: unknown keys, wrong types, out-of-range values, missing devices.

Run by :class:`mlplab.run.hydra_callbacks.ValidateConfig` before the run dir exists, and again at the start
of each task (multirun jobs, direct calls). The first problem raises a UserError naming the key, the value
and what is allowed. Each rule is declared once: mlplab's own classes in their signatures (read through
``_target_``, see :mod:`mlplab.rules`), the groups of torch's and Lightning's classes in the tables below.
"""

from pathlib import Path
from typing import Annotated, Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from mlplab.config.devices import check_devices
from mlplab.config.target_signature import check_target_node
from mlplab.data.base import check_one_batch, check_split_sizes, resolve_fractions, split_sizes
from mlplab.errors import UserError, needs_a_value
from mlplab.rules import NON_NEGATIVE, POSITIVE, Rule, invalid, is_int, is_number, type_hints

SPAWNING = ("spawn", "fork", "notebook")


class RunRules:
    """Top-level keys of conf/train.yaml and conf/eval.yaml."""

    seed: Annotated[int | None, Rule(lambda v: 0 <= v < 2**32, "an integer from 0 to 4294967295, or null")]
    ckpt_path: Annotated[str | None, Rule(lambda v: True, "null, last, or a path to a .ckpt file")]
    # A folder under logs/: empty would put runs straight in logs/runs/, beside every task's folder.
    task_name: Annotated[
        str, Rule(lambda v: v.strip() != "" and "/" not in v and v not in (".", ".."), "a non-empty name without '/'")
    ]
    train: bool
    test: bool


class OptimizerRules:
    """conf/optimizer/: torch.optim's classes take any float."""

    lr: Annotated[float, Rule(lambda v: is_number(v) and v > 0, "a positive number, e.g. 0.01")]
    momentum: Annotated[float, Rule(lambda v: is_number(v) and 0 <= v < 1, "a number from 0 up to (not incl.) 1")]
    weight_decay: Annotated[float, NON_NEGATIVE]


class TrainerRules:
    """conf/trainer/: Lightning checks some of these only mid-run, or not at all."""

    max_epochs: Annotated[int | None, Rule(lambda v: v >= 1 or v == -1, "a positive integer, or -1 for no limit")]
    num_nodes: Annotated[int, POSITIVE]
    check_val_every_n_epoch: Annotated[int | None, POSITIVE]
    log_every_n_steps: Annotated[int, POSITIVE]
    accumulate_grad_batches: Annotated[int, POSITIVE]
    gradient_clip_val: Annotated[float | None, NON_NEGATIVE]
    # Lightning's multiprocessing launcher hands back only the weights: the run's epoch, step and checkpoint
    # state would be lost in the process that reports them.
    strategy: Annotated[
        Any,
        Rule(
            lambda v: not any(w in str(v.get("start_method", "") if isinstance(v, dict) else v) for w in SPAWNING),
            "a strategy that starts its processes by launching the script (auto, ddp, …), e.g. trainer=ddp; "
            "not ddp_spawn/ddp_fork/ddp_notebook",
        ),
    ]
    use_distributed_sampler: Annotated[
        bool, Rule(lambda v: v is False, "false (mlplab's data modules give each process its share themselves)")
    ]


GROUP_RULES: dict[str, type] = {"": RunRules, "optimizer": OptimizerRules, "trainer": TrainerRules}


def _user_error_in(error: BaseException) -> UserError | None:
    """A resolver's own one-line error (a data file that cannot be read), which OmegaConf raised inside its own."""
    inner: BaseException | None = error
    while inner is not None and not isinstance(inner, UserError):
        inner = inner.__cause__ or inner.__context__
    return inner


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, every interpolation resolved; ``???`` and broken references are errors."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise needs_a_value(e.full_key) from None
    except InterpolationResolutionError as e:
        raise _user_error_in(e) or UserError(f"{e.full_key}: {str(e).splitlines()[0]}") from None
    assert isinstance(tree, dict)
    tree.pop("hydra", None)
    return {str(k): v for k, v in tree.items()}


def _check_group_rules(tree: dict[str, Any]) -> None:
    for group, rules in GROUP_RULES.items():
        node = tree.get(group) if group else tree
        if not isinstance(node, dict):
            continue
        for name, hint in type_hints(rules).items():
            error = invalid(f"{group}.{name}".lstrip("."), node[name], hint) if name in node else None
            if error is not None:
                raise error


def _check_data(tree: dict[str, Any]) -> None:
    """Rules across keys: the data module's own (one home: mlplab.data.base), and what the run needs of it."""
    data, model = tree.get("data"), tree.get("model")
    if not isinstance(data, dict):
        return
    raw: list[Any] = [data.get(f"{s}_fraction") for s in ("train", "val", "test")]
    if all(f is None or is_number(f) for f in raw):
        fractions = resolve_fractions(*raw)
        if tree.get("train") and fractions[1] == 0:  # val/loss picks the best checkpoint
            raise UserError(
                "data.val_fraction=0 is invalid for training: val/loss picks the best checkpoint; "
                "allowed: a fraction above 0"
            )
        if tree.get("test", True) and fractions[2] == 0:
            raise UserError(
                "data.test_fraction=0: the test split would be empty; allowed: a fraction above 0, or test=false"
            )
        n, batch = data.get("num_samples"), data.get("batch_size")
        if isinstance(n, int) and is_int(n) and n > 0:  # synthetic: the sizes are known before any data is made
            source, sizes = f"data.num_samples={n}", split_sizes(n, fractions)
            check_split_sizes(source, sizes, fractions)
            check_one_batch(source, sizes["train"], batch if is_int(batch) else None, bool(data.get("drop_last")))
    for dim in ("in_dim", "out_dim"):
        # data.<dim> null: the file's own size, which the model config reads (${data_size:...}).
        if isinstance(model, dict) and data.get(dim) is not None and dim in model and model[dim] != data[dim]:
            raise UserError(
                f"model.{dim}={model[dim]}: the data has data.{dim}={data[dim]}; allowed: the same size "
                f"(set data.{dim}, model.{dim} follows it)"
            )


def _check_files(tree: dict[str, Any]) -> None:
    path = (tree.get("data") or {}).get("path") if isinstance(tree.get("data"), dict) else None
    if isinstance(path, str) and not Path(path).is_file():
        raise UserError(f"data.path={path}: no such file")
    ckpt = tree.get("ckpt_path")
    training = "train" in tree  # eval reads a checkpoint in a new run dir: no null, no last of its own
    if ckpt == "last" and not training:
        raise UserError(
            "ckpt_path=last: eval runs in a new directory, with no last.ckpt of its own; allowed: the path of a "
            ".ckpt file, e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
        )
    if isinstance(ckpt, str) and ckpt != "last" and not Path(ckpt).is_file():
        allowed = "null, last, or a path to a .ckpt file" if training else "the path of a .ckpt file"
        raise UserError(f"ckpt_path={ckpt}: no such file; allowed: {allowed}")


def validate_config(cfg: DictConfig) -> None:
    """Raises UserError for the first problem found; returns quietly for a config that can run."""
    tree = resolved(cfg)
    if tree.get("hparams_search") and "tune" not in tree:
        # conf/hparams_search/ holds search spaces, which only scripts/tune.py reads.
        raise UserError(
            "hparams_search: a search runs with scripts/tune.py: python scripts/tune.py hparams_search=NAME"
        )
    _check_group_rules(tree)
    for key, node in tree.items():
        if not isinstance(node, dict) or key == "paths":
            continue
        if "_target_" in node:
            check_target_node(key, node)
        else:  # name -> _target_ mappings: callbacks, logger
            for name, entry in node.items():
                if isinstance(entry, dict) and "_target_" in entry:
                    check_target_node(f"{key}.{name}", entry)
    _check_data(tree)
    if isinstance(tree.get("trainer"), dict):
        check_devices(tree["trainer"])
    _check_files(tree)
