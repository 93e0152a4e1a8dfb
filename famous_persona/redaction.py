"""Secrets kept out of everything the project writes (docs/design.md §3): values of config keys that name a
credential, the values of credentials this process knows, and the user part of URLs (`http://user:key@host`).

A credential is known when it sits in an environment variable whose name ends in a credential word
(`OPENAI_API_KEY`, `HF_TOKEN`) or when a stage registers it (the variable a config names, a hub token).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

REDACTED = "<redacted>"
SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "credentials"}
MIN_SECRET_CHARS = 8
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@\"'\\<>?#]+@")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEY_PREFIXES = ("sk-", "sk_", "hf_", "ghp_", "gsk_", "xai-", "AIza")

_registered: set[str] = set()


def _words(name: Any) -> list[str]:
    return re.split(r"[^a-z0-9]+", str(name).lower())


def looks_secret(key: Any) -> bool:
    """A key with a credential word in it (`hub_token`, `api_key`); counts such as `max_tokens` are not secrets."""
    return bool(SECRET_WORDS.intersection(_words(key)))


def register(value: str | None) -> None:
    """Remember a credential's value, so it is scrubbed from every output whatever field or file it turns up in."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _registered.add(value)


def known_values() -> list[str]:
    """Every credential value this process knows, in the forms it can take in text and JSON, longest first."""
    from_env = {value for name, value in os.environ.items() if _words(name)[-1] in SECRET_WORDS}
    values = {value for value in _registered | from_env if len(value) >= MIN_SECRET_CHARS}
    forms = values | {json.dumps(value, ensure_ascii=False)[1:-1] for value in values}
    return sorted(forms, key=len, reverse=True)


def scrub(text: str) -> str:
    """The text with every known credential value and every URL's user part replaced by `<redacted>`."""
    for value in known_values():
        text = text.replace(value, REDACTED)
    if "://" not in text or "@" not in text:
        return text
    return URL_USERINFO.sub(rf"\1{REDACTED}@", text)


def redact(config: Any) -> Any:
    """A copy of a config (dicts, lists, strings) with credential-named keys blanked and every string scrubbed."""
    if isinstance(config, dict):
        return {key: REDACTED if looks_secret(key) and value else redact(value) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return [redact(value) for value in config]
    if isinstance(config, str):
        return scrub(config)
    return config


def looks_like_key(name: str) -> bool:
    """True when a value meant to name an environment variable is more likely the key itself: not a valid variable
    name (`sk-...`), a known key prefix (`hf_...`), or a long run of letters and digits with no word break."""
    if not VARIABLE_NAME.fullmatch(name) or name.startswith(KEY_PREFIXES):
        return True
    return len(name) >= 24 and "_" not in name and any(c.islower() for c in name) and any(c.isdigit() for c in name)


def scrub_logs() -> None:
    """Make every log record, the project's and the libraries', carry its message scrubbed (installed once)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return record

    factory.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
