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
from pathlib import Path

from bpsom_core.errors import InputError

PROBE_TIMEOUT_S = 5.0


@functools.cache
def why_unreachable() -> str | None:
    """None when one request to the hub's endpoint gets any answer, else why it cannot."""
    from huggingface_hub import constants, get_session

    if constants.is_offline_mode():
        return "offline mode is on (HF_HUB_OFFLINE)"
    shown = _without_password(constants.ENDPOINT) or "the hub (HF_ENDPOINT is empty)"
    try:
        answer = get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)
    except Exception:   # noqa: BLE001 - any failure to get an answer means: not reachable now
        return f"{shown} cannot be reached"
    if answer.status_code >= 500 or answer.status_code == 429:
        # down, overloaded or rate-limiting: the client would retry every file for minutes
        return f"{shown} answers HTTP {answer.status_code}"
    return None


def _without_password(url: str) -> str:
    """An endpoint for messages: a password in it (user:secret@host) is not shown."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def check_endpoint() -> None:
    """HF_ENDPOINT, when set, can be parsed as a URL: the hub client parses it when transformers
    is imported, and one it cannot parse would fail there with a traceback, even for a run that
    never asks the hub.  (A URL that parses but leads nowhere is found by the probe, when needed.)"""
    from urllib.parse import urlsplit

    value = os.environ.get("HF_ENDPOINT")
    if value is None:
        return
    try:
        urlsplit(value).port   # parsing the port is what refuses 'https://[::1' and 'http://h:x'
    except ValueError:
        raise InputError(f"not a URL: {_without_password(value)[:100]!r}", field="HF_ENDPOINT") from None


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


def cached_model_dir(name: str) -> Path | None:
    """The local cache's copy of the hub model `name` (the directory of its config.json), or None."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found = try_to_load_from_cache(name, "config.json")
    except HFValidationError:
        raise InputError("neither a directory nor a valid hub name ('org/name')", path=name,
                         field="--model") from None
    return Path(found).parent if isinstance(found, str) else None


def check_hub_model(name: str) -> Path | None:
    """A --model hub name can be loaded: the hub answers (None), or the model is cached: then the
    hub is left alone from now on and the cached copy's directory is returned for checking."""
    cached = cached_model_dir(name)
    why = why_unreachable()
    if why is None:
        return None
    if cached is not None:
        go_offline()
        return cached
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
