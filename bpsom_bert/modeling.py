"""BPSOMForSequenceClassification: any AutoModel encoder + a BP-SOM (or plain) head.

Hugging Face conventions: :class:`BPSOMConfig` (a ``PretrainedConfig`` that
nests the encoder's config), ``save_pretrained``/``from_pretrained`` writing
``config.json`` and ``model.safetensors`` (the SOM prototypes, labels,
reliabilities and counts are buffers, so they travel in the safetensors file),
and a ModelOutput that carries SOM usage.  Pruning shrinks the head, and
:meth:`BPSOMForSequenceClassification.prune` keeps ``config.hidden_size`` in
step, so a pruned model reloads with its pruned shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig
from transformers.utils import ModelOutput

from bpsom_core.atomic import atomic_write_bytes, atomic_write_text

from .head import BPSOMHead, PlainHead

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class BPSOMConfig(PretrainedConfig):
    """Encoder config (nested) plus the head's shape and BP-SOM parameters."""

    model_type = "bpsom"

    def __init__(self, encoder: Optional[dict] = None, head_type: str = "bpsom",
                 hidden_size: int = 128, som_grid_size: int = 20,
                 som_error_weight: float = 0.25, reliability_threshold: int = 95,
                 classifier_dropout: float = 0.1, som_update: str = "inorder",
                 som_distance: Optional[str] = None, num_labels: int = 2,
                 encoder_pooler: bool = True, som_backend: str = "auto", **kwargs):
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
        super().__init__(num_labels=num_labels, **kwargs)

    def encoder_config(self) -> PretrainedConfig:
        """The nested encoder configuration as its own config class."""
        enc = dict(self.encoder)
        model_type = enc.pop("model_type")
        return AutoConfig.for_model(model_type, **enc)


@dataclass
class BPSOMSequenceClassifierOutput(ModelOutput):
    """Loss and logits as usual, plus how often the SOM steered this batch.

    ``som_usage`` is the fraction of the batch whose partial winner was
    reliable enough (the C's ``SOM1=`` column); ``som_used``/``som_examples``
    are the counts behind it, for summing over an epoch.
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    som_usage: Optional[torch.Tensor] = None
    som_used: Optional[torch.Tensor] = None
    som_examples: Optional[int] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BPSOMForSequenceClassification(nn.Module):
    """[CLS] of any AutoModel encoder -> BP-SOM head (or the plain baseline head)."""

    config_class = BPSOMConfig

    def __init__(self, config: BPSOMConfig, encoder: Optional[nn.Module] = None,
                 seed: Optional[int] = None):
        super().__init__()
        self.config = config
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
                                  backend=config.som_backend)
        else:
            raise ValueError(f"head_type must be 'bpsom' or 'plain', got {config.head_type!r}")
        self._accepts_token_types = "token_type_ids" in self.encoder.forward.__code__.co_varnames

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, *, num_labels: int = 2,
                     head_type: str = "bpsom", seed: Optional[int] = None,
                     **head_kwargs) -> "BPSOMForSequenceClassification":
        """A fresh head on a pretrained encoder (a local directory or hub name)."""
        pooler = not _takes_pooling_flag(encoder_name_or_path)
        kwargs = {} if pooler else {"add_pooling_layer": False}
        encoder = AutoModel.from_pretrained(encoder_name_or_path, use_safetensors=True, **kwargs)
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
                labels: Optional[torch.Tensor] = None, return_dict: bool = True):
        """Mean cross-entropy plus the (zero-valued) SOM surrogate when training."""
        cls_vec = self.encode(input_ids, attention_mask, token_type_ids)
        out = self.head(cls_vec, labels if self.training else None)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(out.logits.float(), labels.long())
            if out.som_objective is not None:
                loss = loss + out.som_objective
        usage = None
        if out.som_used is not None and out.som_examples:
            usage = out.som_used.float() / out.som_examples
        result = BPSOMSequenceClassifierOutput(loss=loss, logits=out.logits, som_usage=usage,
                                               som_used=out.som_used, som_examples=out.som_examples)
        return result if return_dict else result.to_tuple()

    @torch.no_grad()
    def prune(self, threshold: float):
        """Variance pruning of the head (see :meth:`BPSOMHead.prune`); returns its PruneResult."""
        result = self.head.prune(threshold)
        self.config.hidden_size = self.head.hidden_size
        return result

    # --- persistence --------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> None:
        """config.json + model.safetensors (SOM state included), written atomically."""
        from safetensors.torch import save

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        atomic_write_bytes(d / WEIGHTS_NAME, save(state, metadata={"format": "pt"}))
        atomic_write_text(d / CONFIG_NAME, self.config.to_json_string())

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str = "cpu"
                        ) -> "BPSOMForSequenceClassification":
        """Rebuild from :meth:`save_pretrained` output, pruned shapes included, in eval mode."""
        from safetensors.torch import load_file

        from bpsom_core.errors import InputError, read_input_bytes

        d = Path(directory)
        try:
            config = BPSOMConfig.from_dict(json.loads(read_input_bytes(d / CONFIG_NAME, "model config")))
            model = cls(config)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a valid BP-SOM model config ({exc})", str(d / CONFIG_NAME)) from None
        read_input_bytes(d / WEIGHTS_NAME, "model weights")   # regular, readable, not empty
        try:
            state = load_file(str(d / WEIGHTS_NAME), device=map_location)
            model.load_state_dict(state, strict=True)   # every tensor's shape against the config's sizes
        except Exception as exc:  # noqa: BLE001 - safetensors and torch raise their own error types
            first = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])[:240]
            raise InputError(f"weights do not fit {CONFIG_NAME} or are corrupt ({first})",
                             str(d / WEIGHTS_NAME)) from None
        return model.to(map_location).eval()   # Hugging Face convention: loaded models start in eval mode


try:  # AutoConfig.from_pretrained(run_dir/best_model) then knows "bpsom"
    AutoConfig.register("bpsom", BPSOMConfig)
except ValueError:  # already registered (module reloaded)
    pass


def _takes_pooling_flag(name_or_path: str) -> bool:
    """BERT-like encoders build a pooler we never use; skip it when we can."""
    try:
        cfg = AutoConfig.from_pretrained(name_or_path)
    except Exception:  # pragma: no cover - AutoModel will raise the real error
        return False
    return cfg.model_type in ("bert", "roberta", "xlm-roberta", "camembert")
