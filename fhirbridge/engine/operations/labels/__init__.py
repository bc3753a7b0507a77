"""The fixed words of the printable summary in the languages a family may read.

One JSON file per language (``<BCP 47 primary tag>.json``) beside this module. A translator adds a
language by copying ``en.json`` and translating its values; a key missing from a language falls back
to English. Clinical content is never translated: it is shown as it was recorded.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

DEFAULT_LANGUAGE = "en"
BCP47 = "urn:ietf:bcp:47"


@cache
def _table(language: str) -> dict[str, str]:
    path = resources.files(__package__) / f"{language}.json"
    if not path.is_file():
        return {}
    table: dict[str, str] = orjson.loads(path.read_bytes())
    return table


def supported(language: str) -> bool:
    return bool(_table(language))


class Labels:
    """The labels of one language; ``labels["section.problems"]``, ``labels.status("active")``."""

    def __init__(self, language: str) -> None:
        self.language = language if supported(language) else DEFAULT_LANGUAGE

    def __getitem__(self, key: str) -> str:
        return _table(self.language).get(key) or _table(DEFAULT_LANGUAGE).get(key) or key

    def format(self, key: str, **values: str) -> str:
        return self[key].format(**values)

    def status(self, code: str) -> str:
        """A status code in words; a code with no label is shown as recorded."""
        key = f"status.{code}"
        return self[key] if key in _table(DEFAULT_LANGUAGE) else code


def _primary(tag: str) -> str:
    return tag.strip().split("-")[0].split("_")[0].lower()


def preferred_language(patient: dict[str, Any]) -> str | None:
    """The child's preferred language (``Patient.communication`` with ``preferred``), if supported."""
    communications = [c for c in patient.get("communication") or [] if isinstance(c, dict)]
    communications.sort(key=lambda c: c.get("preferred") is not True)
    for communication in communications:
        for coding in (communication.get("language") or {}).get("coding") or []:
            code = coding.get("code") if isinstance(coding, dict) else None
            if isinstance(code, str) and supported(_primary(code)):
                return _primary(code)
    return None


def accepted_language(header: str | None) -> str | None:
    """The supported language an ``Accept-Language`` header ranks highest, if any."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag.strip() and tag.strip() != "*" and quality > 0:
            ranked.append((-quality, index, _primary(tag)))
    return next((tag for _, _, tag in sorted(ranked) if supported(tag)), None)


def choose_language(patient: dict[str, Any], accept_language: str | None) -> str:
    """``Accept-Language`` when it names a language we have; else the child's preferred one; else English."""
    return accepted_language(accept_language) or preferred_language(patient) or DEFAULT_LANGUAGE


__all__ = ["DEFAULT_LANGUAGE", "Labels", "accepted_language", "choose_language", "preferred_language"]
