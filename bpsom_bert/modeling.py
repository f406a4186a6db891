"""BPSOMForSequenceClassification: any AutoModel encoder + a BP-SOM (or plain) head.

A Hugging Face model like any other: :class:`BPSOMConfig` is a
``PretrainedConfig`` that nests the encoder's config, the model is a
``PreTrainedModel`` (``save_pretrained``/``from_pretrained``/``push_to_hub``,
``.device``, ``Trainer.save_model``), and importing :mod:`bpsom_bert`
registers both with ``AutoConfig`` and ``AutoModelForSequenceClassification``
so the Auto classes and ``pipeline("text-classification")`` load a saved run.
The SOM prototypes, labels, reliabilities and counts are buffers, so they
travel in ``model.safetensors``.  Pruning shrinks the head, and
:meth:`BPSOMForSequenceClassification.prune` keeps ``config.hidden_size`` in
step, so a pruned model reloads with its pruned shape.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig,
                          PreTrainedModel)
from transformers.utils import ModelOutput

from .head import BPSOMHead, PlainHead

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class BPSOMConfig(PretrainedConfig):
    """Encoder config (nested) plus the head's shape and BP-SOM parameters.

    ``encoder`` is the encoder's own config (a ``PretrainedConfig`` or its
    dict); it is stored as a nested mapping in ``config.json``, so the model
    rebuilds without the encoder's files.  ``hidden_size`` is the BP-SOM
    head's hidden layer, not the encoder's width.
    """

    model_type = "bpsom"

    def __init__(self, encoder: Optional[dict | PretrainedConfig] = None, head_type: str = "bpsom",
                 hidden_size: int = 128, som_grid_size: int = 20,
                 som_error_weight: float = 0.25, reliability_threshold: int = 95,
                 classifier_dropout: float = 0.1, som_update: str = "inorder",
                 som_distance: Optional[str] = None, num_labels: int = 2,
                 encoder_pooler: bool = True, som_backend: str = "auto", som_input: str = "dropout",
                 **kwargs):
        if isinstance(encoder, PretrainedConfig):
            encoder = encoder.to_dict()
        self.encoder = dict(encoder or {})
        self.encoder_pooler = encoder_pooler
        self.som_backend = som_backend
        self.head_type = head_type
        self.hidden_size = hidden_size
        self.som_grid_size = som_grid_size
        self.som_error_weight = som_error_weight
        self.reliability_threshold = reliability_threshold
        self.classifier_dropout = classifier_dropout
        self.som_update = som_update
        self.som_distance = som_distance
        self.som_input = som_input
        if "id2label" not in kwargs and "label2id" not in kwargs:
            kwargs["num_labels"] = num_labels
        super().__init__(**kwargs)

    def encoder_config(self) -> PretrainedConfig:
        """The nested encoder configuration as its own config class."""
        enc = dict(self.encoder)
        model_type = enc.pop("model_type")
        return AutoConfig.for_model(model_type, **enc)


@dataclass
class BPSOMSequenceClassifierOutput(ModelOutput):
    """Loss and logits as usual, plus how often the SOM steered this batch.

    Only present in training mode (the SOM steps only while training), so
    ``Trainer.evaluate``/``predict`` see plain loss and logits.
    ``som_usage`` is the fraction of the batch whose partial winner was
    reliable enough (the C's ``SOM1=`` column); ``som_used``/``som_examples``
    are the 0-dim tensor counts behind it, for summing over an epoch.
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    som_usage: Optional[torch.Tensor] = None
    som_used: Optional[torch.Tensor] = None
    som_examples: Optional[torch.Tensor] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BPSOMForSequenceClassification(PreTrainedModel):
    """[CLS] of any AutoModel encoder -> BP-SOM head (or the plain baseline head)."""

    config_class = BPSOMConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"

    def __init__(self, config: BPSOMConfig, encoder: Optional[nn.Module] = None,
                 seed: Optional[int] = None):
        super().__init__(config)
        if encoder is None:
            kwargs = {} if config.encoder_pooler else {"add_pooling_layer": False}
            encoder = AutoModel.from_config(config.encoder_config(), **kwargs)
        self.encoder = encoder
        width = self.encoder.config.hidden_size
        if config.head_type == "plain":
            self.head: nn.Module = PlainHead(width, config.num_labels, config.classifier_dropout)
        elif config.head_type == "bpsom":
            self.head = BPSOMHead(width, config.hidden_size, config.num_labels,
                                  grid_size=config.som_grid_size,
                                  som_error_weight=config.som_error_weight,
                                  reliability_threshold=config.reliability_threshold,
                                  dropout=config.classifier_dropout,
                                  update_mode=config.som_update,
                                  distance=config.som_distance, seed=seed,
                                  backend=config.som_backend,
                                  som_input=config.som_input)
        else:
            raise ValueError(f"head_type must be 'bpsom' or 'plain', got {config.head_type!r}")
        self._accepts_token_types = "token_type_ids" in self.encoder.forward.__code__.co_varnames
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Nothing to redo: the encoder initialises itself and the head is built initialised.

        Only the head's non-persistent epoch counts (absent from checkpoints)
        are zeroed, for models that ``from_pretrained`` built on the meta device.
        """
        if isinstance(module, BPSOMHead):
            module.epoch_counts.zero_()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, *, num_labels: int = 2,
                     head_type: str = "bpsom", seed: Optional[int] = None,
                     label_names: Optional[list[str]] = None,
                     **head_kwargs) -> "BPSOMForSequenceClassification":
        """A fresh head on a pretrained encoder (a local directory or hub name).

        ``label_names`` become ``config.id2label``, so pipelines report names.
        """
        pooler = not _takes_pooling_flag(encoder_name_or_path)
        kwargs = {} if pooler else {"add_pooling_layer": False}
        encoder = AutoModel.from_pretrained(encoder_name_or_path, use_safetensors=True, **kwargs)
        if label_names is not None:
            head_kwargs["id2label"] = dict(enumerate(label_names))
            head_kwargs["label2id"] = {n: i for i, n in enumerate(label_names)}
        config = BPSOMConfig(encoder=encoder.config.to_dict(), head_type=head_type,
                             num_labels=num_labels, encoder_pooler=pooler, **head_kwargs)
        return cls(config, encoder=encoder, seed=seed)

    @property
    def is_bpsom(self) -> bool:
        return isinstance(self.head, BPSOMHead)

    def encode(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """The encoder's [CLS] (first-token) vector."""
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None and self._accepts_token_types:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(input_ids=input_ids, **kwargs)
        return out.last_hidden_state[:, 0]

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, return_dict: Optional[bool] = None):
        """Mean cross-entropy plus the (zero-valued) SOM surrogate when training."""
        cls_vec = self.encode(input_ids, attention_mask, token_type_ids)
        out = self.head(cls_vec, labels if self.training else None)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(out.logits.float(), labels.long())
            if out.som_objective is not None:
                loss = loss + out.som_objective
        usage = examples = None
        if out.som_used is not None and out.som_examples:
            examples = torch.tensor(out.som_examples, device=out.logits.device)
            usage = out.som_used.float() / out.som_examples
        result = BPSOMSequenceClassifierOutput(loss=loss, logits=out.logits, som_usage=usage,
                                               som_used=out.som_used, som_examples=examples)
        return result if return_dict is not False else result.to_tuple()

    @torch.no_grad()
    def prune(self, threshold: float):
        """Variance pruning of the head (see :meth:`BPSOMHead.prune`); returns its PruneResult."""
        result = self.head.prune(threshold)
        self.config.hidden_size = self.head.hidden_size
        return result

    # --- persistence --------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """``PreTrainedModel.save_pretrained``, each file replaced atomically.

        Hugging Face writes in place; a crash mid-save would leave a
        half-written ``model.safetensors``.  Here the files are written to a
        temporary sibling directory first and then moved over one by one, so
        each file is either the old or the new one.  Other files in the
        directory (a tokenizer, Trainer checkpoints) are left alone.
        """
        save_files_atomically(lambda d: super(BPSOMForSequenceClassification, self).save_pretrained(
            d, *args, **kwargs), save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args: Any, **kwargs: Any):
        """``PreTrainedModel.from_pretrained`` (eval mode), with one-line errors for a local directory.

        A corrupt or unreadable ``config.json`` or ``model.safetensors``, or
        weights whose shapes or names do not fit the config, end as an
        :class:`~bpsom_core.errors.InputError` naming the file, where
        Hugging Face would warn about missing weights or raise a traceback.
        """
        d = Path(pretrained_model_name_or_path)
        if not d.is_dir():
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        from bpsom_core.errors import InputError, read_input_bytes

        try:
            BPSOMConfig.from_dict(json.loads(read_input_bytes(d / CONFIG_NAME, "model config")))
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a valid BP-SOM model config ({exc})", str(d / CONFIG_NAME)) from None
        read_input_bytes(d / WEIGHTS_NAME, "model weights")   # regular, readable, not empty
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(str(d), *args, output_loading_info=True, **kwargs)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors, torch and transformers raise their own types
            first = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])[:240]
            raise InputError(f"weights do not fit {CONFIG_NAME} or are corrupt ({first})",
                             str(d / WEIGHTS_NAME)) from None
        problems = {k: info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)}
        if problems:
            detail = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, sorted(v, key=str)[:3]))}"
                               for k, v in problems.items())
            raise InputError(f"weights do not fit {CONFIG_NAME} ({detail})", str(d / WEIGHTS_NAME))
        model.eval()   # Hugging Face convention: loaded models start in eval mode
        return (model, info) if want_info else model


def save_files_atomically(save, directory: str | os.PathLike) -> None:
    """Call ``save(tmp_dir)``, then move each file it wrote into ``directory`` atomically.

    Hugging Face ``save_pretrained`` methods write in place; a crash mid-save
    would leave a half-written file.  Writing to a temporary sibling and
    ``os.replace``-ing file by file leaves each file either old or new, and
    leaves other files in ``directory`` (a tokenizer, checkpoints) alone.
    Files get the permissions the umask gives.
    """
    target = Path(directory)
    if target.is_file():
        raise ValueError(f"{target} is a file, not a directory")
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save(str(tmp))
        umask = os.umask(0)
        os.umask(umask)
        for f in sorted(tmp.iterdir()):
            if f.is_file():
                os.chmod(f, 0o666 & ~umask)
                os.replace(f, target / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def register_auto_classes() -> None:
    """Teach AutoConfig and AutoModelForSequenceClassification the "bpsom" model type."""
    AutoConfig.register("bpsom", BPSOMConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(BPSOMConfig, BPSOMForSequenceClassification, exist_ok=True)


register_auto_classes()


def _takes_pooling_flag(name_or_path: str) -> bool:
    """BERT-like encoders build a pooler we never use; skip it when we can."""
    try:
        cfg = AutoConfig.from_pretrained(name_or_path)
    except Exception:  # pragma: no cover - AutoModel will raise the real error
        return False
    return cfg.model_type in ("bert", "roberta", "xlm-roberta", "camembert")
