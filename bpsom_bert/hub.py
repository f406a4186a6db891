"""The Hugging Face Hub, asked once before it is relied on.

The hub client retries an unreachable host five times per file, about a
minute of "Retrying" lines before any error.  One short request up front
tells a reachable hub from an unreachable one: unreachable, a name in the
local cache loads offline at once, and any other name fails in a second
with one line.
"""

from __future__ import annotations

import functools
import os

from bpsom_core.errors import InputError

PROBE_TIMEOUT_S = 5.0


@functools.cache
def why_unreachable() -> str | None:
    """None when one request to the hub's endpoint gets any answer, else why it cannot."""
    from huggingface_hub import constants, get_session

    if constants.is_offline_mode():
        return "offline mode is on (HF_HUB_OFFLINE)"
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)
    except Exception:   # noqa: BLE001 - any failure to get an answer means: not reachable now
        return f"{constants.ENDPOINT} cannot be reached"
    return None


def go_offline() -> None:
    """Hub and datasets read only their local caches from now on, in this process and its children."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config
    except ImportError:
        return
    datasets.config.HF_HUB_OFFLINE = True


def model_in_cache(name: str) -> bool:
    """Whether the hub model `name` has its config.json in the local cache."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except HFValidationError:
        raise InputError("neither a directory nor a valid hub name ('org/name')", path=name,
                         field="--model") from None


def check_hub_model(name: str) -> None:
    """A --model hub name can be loaded: the hub answers, or the model is cached (then offline)."""
    cached = model_in_cache(name)
    why = why_unreachable()
    if why is None:
        return
    if cached:
        go_offline()
        return
    raise InputError(f"no such directory, nor a model in the local hub cache, and {why}",
                     path=name, field="--model")


def prepare_hub_dataset() -> str:
    """Before loading a dataset from the hub: offline at once when the hub cannot answer, so
    datasets reads its cache instead of retrying.  Returns why it is offline ("" if it is not)."""
    why = why_unreachable()
    if why is None:
        return ""
    go_offline()
    return why
