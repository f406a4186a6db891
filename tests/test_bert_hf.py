"""The Hugging Face fit: Auto classes, pipelines, Trainer + BPSOMCallback, TensorBoard.

All on a tiny random BERT built in the test's tmp directory (no hub).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

from test_bert_support import make_glue_dir, make_sentences, make_tiny_model_dir  # noqa: E402

TINY_YAML = """\
model: {max_length: 16, dropout: 0.0}
bpsom: {hidden_size: 8, som_grid_size: 4, relabel: pass}
pruning: {enabled: true, threshold: 0.02}
training: {epochs: 3, batch_size: 8, eval_batch_size: 16, learning_rate: 3.0e-3, warmup_steps: 0,
           early_stopping_patience: 0, weight_decay: 0.0, seed: 7}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    return {"data": make_glue_dir(root, 96, 32), "model": make_tiny_model_dir(root, init_range=0.5), "cfg": cfg, "root": root}


@pytest.fixture(scope="module")
def glue_run(tiny):
    """One `bpsom glue` run through the CLI entry point; its summary and output dir."""
    import logging

    from bpsom.cli.main import main
    out = tiny["root"] / "glue_out"
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("bpsom_bert")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(SystemExit) as e:
            main(["glue", "--task", "sst2", "--mode", "bpsom", "--config", str(tiny["cfg"]),
                  "--model", str(tiny["model"]), "--data-dir", str(tiny["data"]), "--output-dir", str(out),
                  "--report-to", "tensorboard"])
    finally:
        logger.removeHandler(handler)
    assert e.value.code == 0
    assert sum("bpsom epoch" in r.getMessage() for r in records) == 3   # one INFO line per epoch
    summary = json.loads((out / "sst2" / "bpsom" / "log.json").read_text())["summary"]
    return summary, out / "sst2" / "bpsom"


def test_glue_best_model_loads_through_auto_classes_and_pipeline(glue_run):
    from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline

    import bpsom_bert  # noqa: F401  (registers the "bpsom" model type)
    _, run = glue_run
    best = run / "best_model"
    assert (best / "tokenizer_config.json").is_file() and (best / "model.safetensors").is_file()
    assert AutoConfig.from_pretrained(best).model_type == "bpsom"
    model = AutoModelForSequenceClassification.from_pretrained(best)
    assert type(model).__name__ == "BPSOMForSequenceClassification" and not model.training
    assert int((model.head.cell_labels > 0).sum()) > 0          # SOM buffers travelled in safetensors
    clf = pipeline("text-classification", model=str(best))
    preds = clf(["the film was good and lovely", "the plot was awful and dull"])
    assert {p["label"] for p in preds} <= {"negative", "positive"}
    assert all(0.0 <= p["score"] <= 1.0 for p in preds)


def test_glue_report_to_tensorboard_writes_som_scalars(glue_run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    _, run = glue_run
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"som/usage", "som/labelled_cells", "som/mean_reliability", "som/hidden_units",
            "dev/accuracy", "train/loss"} <= tags
    assert [e.step for e in acc.Scalars("som/usage")] == [1, 2, 3]
    assert acc.Scalars("som/labelled_cells")[0].value > 1


def test_glue_refuses_an_unknown_reporter(tiny, capsys):
    from bpsom.cli.main import main
    with pytest.raises(SystemExit) as e:
        main(["glue", "--task", "sst2", "--report-to", "wandb", "--data-dir", str(tiny["data"])])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "bpsom: error: --report-to: unknown reporter 'wandb'; allowed: none, tensorboard"


def _tokenised(tok, rows):
    ds = datasets.Dataset.from_dict({"sentence": [s for _, s in rows], "label": [lab for lab, _ in rows]})
    return ds.map(lambda b: tok(b["sentence"], truncation=True, max_length=16), batched=True)


def _trainer(tiny, out, epochs=3, prune=0.02, report_to="none"):
    from transformers import (AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments,
                              set_seed)

    from bpsom_bert import BPSOMForSequenceClassification
    from bpsom_bert.callback import BPSOMCallback

    set_seed(7)
    tok = AutoTokenizer.from_pretrained(tiny["model"])
    model = BPSOMForSequenceClassification.from_encoder(
        str(tiny["model"]), num_labels=2, seed=7, hidden_size=8, som_grid_size=4, classifier_dropout=0.0,
        label_names=["negative", "positive"])
    args = TrainingArguments(str(out), num_train_epochs=epochs, per_device_train_batch_size=8,
                             per_device_eval_batch_size=16, learning_rate=3e-3, warmup_steps=0, weight_decay=0.0,
                             eval_strategy="epoch", logging_strategy="epoch", save_strategy="no",
                             report_to=report_to, seed=7, use_cpu=True, disable_tqdm=True)
    callback = BPSOMCallback(prune_threshold=prune)

    def compute_metrics(pred):
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    trainer = Trainer(model=model, args=args, train_dataset=_tokenised(tok, make_sentences(96, 1)),
                      eval_dataset=_tokenised(tok, make_sentences(32, 2)), processing_class=tok,
                      data_collator=DataCollatorWithPadding(tok), compute_metrics=compute_metrics,
                      callbacks=[callback])
    return trainer, callback




@pytest.fixture(scope="module")
def trained(tiny):
    """One Trainer + BPSOMCallback run (3 epochs, eval each epoch, TensorBoard on)."""
    pytest.importorskip("tensorboard")
    out = tiny["root"] / "tr"
    trainer, callback = _trainer(tiny, out, report_to=["tensorboard"])
    trainer.train()
    return trainer, callback, out


def test_trainer_with_callback_steers_evaluates_and_reports(trained, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from transformers import AutoModelForSequenceClassification

    trainer, callback, out = trained
    evals = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    assert len(evals) == 3                                      # eval_strategy="epoch" with compute_metrics
    som = [h for h in trainer.state.log_history if "som_usage" in h]
    assert len(som) == 3 and som[0]["som_labelled_cells"] > 1   # PCA-initialised map: many cells win
    assert som[1]["som_usage"] > 0.0                            # it steers after the first relabelling
    metrics = trainer.evaluate()                                # outside the epoch loop: plain metrics
    assert "eval_accuracy" in metrics
    pred = trainer.predict(trainer.eval_dataset)
    assert pred.predictions.shape == (32, 2)
    events = list((out / "runs" / "bpsom").glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert "som_usage" in acc.Tags()["scalars"] and acc.Scalars("som_usage")[1].value > 0
    # the best model (with tokenizer) and Trainer.save_model output both reload through the Auto class
    assert (out / "best_model" / "tokenizer.json").is_file()
    trainer.save_model(str(tmp_path / "saved"))
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved")
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert again.config.id2label[1] == "positive"


def test_callback_prunes_with_the_optimizer_state(tiny, tmp_path):
    trainer, callback = _trainer(tiny, tmp_path / "tp", epochs=1, prune=10.0)   # every unit's std is below 10
    head = trainer.model.head
    head_before = head.hidden_size
    trainer.train()                                              # Adam state exists when the first pruning comes
    assert head.hidden_size < head_before
    opt = trainer.optimizer
    inner = getattr(opt, "optimizer", opt)
    state = inner.state[head.hidden.weight]
    assert state["exp_avg"].shape == head.hidden.weight.shape
    ids = {id(p) for g in inner.param_groups for p in g["params"]}
    assert id(head.hidden.weight) in ids and id(head.classifier.weight) in ids


def test_trainer_path_matches_bpsom_glue_within_noise(glue_run, trained):
    """Same data, seed and settings: the Trainer path's best dev accuracy is glue's, within noise."""
    summary, _ = glue_run
    _, callback, _ = trained
    assert callback.best_epoch >= 1
    glue_acc = summary["dev"]["accuracy"]
    assert abs(callback.best_score - glue_acc) <= 0.15, (callback.best_score, glue_acc)
