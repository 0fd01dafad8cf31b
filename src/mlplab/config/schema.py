"""Checks a composed config before any work; the first problem raises a UserError naming key, value and what
is allowed. Rules of mlplab's classes are in their signatures (:mod:`mlplab.rules`), torch's and Lightning's here."""

import re
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from mlplab.config.devices import check_devices
from mlplab.config.target_signature import check_target_node
from mlplab.errors import UserError, needs_a_value
from mlplab.extras import extra_of_target, require
from mlplab.rules import NonNegative, Positive, invalid, rule, type_hints


class RunRules:
    """Top-level keys of conf/train.yaml and conf/eval.yaml."""

    seed: Annotated[int, rule("an integer from 0 to 4294967295", lambda v: 0 <= v < 2**32)] | None
    ckpt_path: Annotated[str, rule("null, last, or a path to a .ckpt file")] | None
    # A folder under logs/: empty would put runs straight in logs/runs/, beside every task's folder.
    task_name: Annotated[str, rule("a name without '/'", lambda v: v.strip() not in ("", ".", "..") and "/" not in v)]
    train: bool
    test: bool
    model_summary_depth: Annotated[int, rule("-1 (all), 0 (none) or a depth", lambda v: v >= -1)]


class OptimizerRules:
    """conf/optimizer/: torch.optim's classes take any float."""

    lr: Annotated[float, rule("a positive number, e.g. 0.01", lambda v: v > 0)]
    momentum: Annotated[float, rule("a number from 0 up to (not incl.) 1", lambda v: 0 <= v < 1)]
    weight_decay: NonNegative


class SchedulerRules:
    """conf/scheduler/: torch checks none of these; 0 steps divides by zero at the first epoch's end."""

    step_size: Positive
    T_max: Positive
    gamma: Annotated[float, rule("a positive number (the lr's factor)", lambda v: v > 0)]
    eta_min: NonNegative


class TrainerRules:
    """conf/trainer/: Lightning checks some of these only mid-run, or not at all."""

    max_epochs: Annotated[int, rule("a positive integer, or -1 for no limit", lambda v: v >= 1 or v == -1)] | None
    num_nodes: Positive
    check_val_every_n_epoch: Positive | None
    log_every_n_steps: Positive
    accumulate_grad_batches: Positive
    gradient_clip_val: NonNegative | None
    # Times as Lightning takes them: "DD:HH:MM:SS", or timedelta's arguments ({minutes: 1.5}).
    val_check_interval: (
        Annotated[float, rule("a fraction of an epoch, a number of steps, or a time ('00:00:05:00')", lambda v: v > 0)]
        | str
        | dict[str, float]
        | None
    )
    max_time: str | dict[str, float] | None
    devices: Annotated[list[int] | str | int, rule("a number of devices, -1 (all), a list of GPU indices, or auto")]
    # The run passes its own: these would be dropped without a word.
    logger: Annotated[None, rule("null; loggers are the logger group's (logger=csv, +logger.NAME={_target_: ...})")]
    callbacks: Annotated[None, rule("null; callbacks are the callbacks group's (+callbacks.NAME={_target_: ...})")]
    plugins: Annotated[None, rule("null; the run sets its own (atomic checkpoint writes)")]
    # Lightning's multiprocessing launcher hands back only the weights: the run's epoch, step and checkpoint
    # state would be lost in the process that reports them. A strategy's node holds its start_method.
    strategy: Annotated[
        str | dict[str, Any],
        rule("auto, ddp, …; not ddp_spawn/fork/notebook", lambda v: not re.search("spawn|fork|notebook", str(v))),
    ]
    # mlplab's data modules give each process its share themselves.
    use_distributed_sampler: Annotated[bool, rule("false", lambda v: v is False)]


class TuneRules:
    """conf/tune.yaml (scripts/tune.py): Optuna takes a count of trials, the workers are processes."""

    n_trials: Positive
    workers: Positive
    launcher: Literal["local", "slurm", "slurm_local"]
    direction: Literal["minimize", "maximize"] | None


GROUP_RULES: dict[str, type] = {
    "": RunRules,
    "optimizer": OptimizerRules,
    "scheduler": SchedulerRules,
    "trainer": TrainerRules,
    "tune": TuneRules,
}


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, every interpolation resolved; ``???`` and broken references are errors."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise needs_a_value(e.full_key) from None
    except InterpolationResolutionError as e:  # a resolver's own UserError (a data file that cannot be read) inside
        inner: BaseException | None = e
        while inner is not None and not isinstance(inner, UserError):
            inner = inner.__cause__ or inner.__context__
        raise inner or UserError(f"{e.full_key}: {str(e).splitlines()[0]}") from None
    assert isinstance(tree, dict)
    return {str(k): v for k, v in tree.items()}


def _check_group_rules(tree: dict[str, Any]) -> None:
    for group, rules in GROUP_RULES.items():
        node: Any = tree.get(group) if group else tree
        for name, hint in type_hints(rules).items() if isinstance(node, dict) else ():
            if name in node and (error := invalid(f"{group}.{name}".lstrip("."), node[name], hint)):
                raise error


def _check_data(tree: dict[str, Any]) -> None:
    """Rules across keys, what the run needs of the data; the data's own rules are checked as it is set up."""
    from mlplab.data.splits import resolve_fractions  # imports torch: the torch-free rules have passed by now

    data: Any = tree.get("data")
    model = tree.get("model")
    raw = [data.get(f"{s}_fraction") for s in ("train", "val", "test")] if isinstance(data, dict) else [""]
    if isinstance(data, dict) and not any(invalid("", f, float | None) for f in raw):
        fractions = resolve_fractions(*raw)
        if tree.get("train") and fractions[1] == 0:  # val/loss picks the best checkpoint
            raise UserError("data.val_fraction=0: training needs a val split; allowed: a fraction above 0")
        if tree.get("test", True) and fractions[2] == 0:
            raise UserError("data.test_fraction=0: no test split; allowed: a fraction above 0, or test=false")
        for dim in ("in_dim", "out_dim"):  # data.<dim> null: the file's own size, which model.<dim> reads
            if isinstance(model, dict) and data.get(dim) is not None and model.get(dim, data[dim]) != data[dim]:
                raise UserError(
                    f"model.{dim}={model[dim]}: the data has data.{dim}={data[dim]}; allowed: the same "
                    f"size (set data.{dim}, model.{dim} follows it)"
                )


def validate_config(cfg: DictConfig) -> None:
    """Raises UserError for the first problem found; returns quietly for a config that can run."""
    tree = resolved(cfg)
    if tree.get("hparams_search") and "tune" not in tree:
        # conf/hparams_search/ holds search spaces, which only scripts/tune.py reads.
        raise UserError(
            "hparams_search: a search runs with scripts/tune.py: python scripts/tune.py hparams_search=NAME"
        )
    _check_group_rules(tree)
    nodes = {k: n for k, n in tree.items() if isinstance(n, dict) and k != "paths"}
    entries: dict[str, Any] = {}  # a _target_ node, or each entry of a mapping of them
    for key, node in nodes.items():
        entries.update({key: node} if "_target_" in node else {f"{key}.{n}": e for n, e in node.items()})
    targets = {name: e for name, e in entries.items() if isinstance(e, dict) and "_target_" in e}
    for name, entry in targets.items():  # a missing extra first: before Hydra, or an import of torch, tries
        if extra := extra_of_target(str(entry["_target_"])):
            require(extra, f"{name}._target_={entry['_target_']}")
    # data first: model.in_dim is ${data.in_dim}, and the user set the data's
    for name, entry in sorted(entries.items(), key=lambda item: item[0] != "data"):
        if name in targets:
            check_target_node(name, entry, declared=type_hints(GROUP_RULES.get(name, object)))
        elif name.split(".")[0] in ("callbacks", "logger") and entry is not None:  # name -> _target_ config
            raise UserError(f"{name}={entry!r}: allowed: a config with a _target_, or null to leave it out")
    _check_data(tree)
    if isinstance(tree.get("trainer"), dict):
        check_devices(tree["trainer"])
