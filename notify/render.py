"""Render messages from the Jinja2 templates shipped in the ``templates`` package.

Layout: ``templates/{audience}/{lang}/{name}.{part}.j2`` where part is

=========  ==========================================================
``sms``    the SMS body (Japanese: must fit one UCS-2 segment)
``voice``  the text read by the voice call
``subject`` the email subject (one line)
``email.txt`` / ``email.html``  the two alternatives of the email
=========  ==========================================================

The webhook channel uses the subject and the plain-text email. Variables are strict: a
missing one fails the render instead of sending a message with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import jinja2

from notify.message import ChannelKind, Kind, Lang, Message, RenderError
from notify.sms_text import SmsEncoding, clean_sms_text, sms_segments

__all__ = ["Renderer", "render", "sms_segments", "SmsEncoding", "default_renderer"]

PARTS: dict[ChannelKind, tuple[str, ...]] = {
    ChannelKind.SMS: ("sms",),
    ChannelKind.VOICE: ("voice",),
    ChannelKind.EMAIL: ("subject", "email.txt", "email.html"),
    ChannelKind.WEBHOOK: ("subject", "email.txt"),
}


class _ResourceLoader(jinja2.BaseLoader):
    """Loads templates through importlib.resources, so it works from a wheel or a zip too."""

    def __init__(self, root: Traversable) -> None:
        self._root = root

    def get_source(self, environment: jinja2.Environment, template: str):
        node = self._root
        for piece in template.split("/"):
            if piece in ("", ".", ".."):
                raise jinja2.TemplateNotFound(template)
            node = node.joinpath(piece)
        if not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), None, lambda: True


def _autoescape(name: str | None) -> bool:
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


def say_digits(value: object) -> str:
    """``03-1234-5678`` -> ``0 3, 1 2 3 4, 5 6 7 8``: text-to-speech then reads digit by digit."""
    groups = re.findall(r"\d+", str(value))
    return ", ".join(" ".join(g) for g in groups)


def _voice_text(text: str) -> str:
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line)


class Renderer:
    """A Jinja2 environment over a template tree (the ``templates`` package by default)."""

    def __init__(self, root: Traversable | None = None, *, max_sms_segments: int = 1) -> None:
        self._max_sms_segments = max_sms_segments
        self._env = jinja2.Environment(
            loader=_ResourceLoader(root if root is not None else files("templates")),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["say_digits"] = say_digits

    def has(self, kind: Kind, lang: Lang, channel: ChannelKind) -> bool:
        try:
            for part in PARTS[channel]:
                self._env.get_template(self._name(kind, lang, part))
        except jinja2.TemplateNotFound:
            return False
        return True

    @staticmethod
    def _name(kind: Kind, lang: Lang, part: str) -> str:
        return f"{kind.audience}/{lang}/{kind.template_name}.{part}.j2"

    def _part(self, kind: Kind, lang: Lang, part: str, context: Mapping[str, Any]) -> str:
        name = self._name(kind, lang, part)
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateNotFound:
            raise RenderError(f"no template {name}") from None
        except jinja2.UndefinedError as e:
            raise RenderError(f"{name}: {e.message}") from None
        except jinja2.TemplateError as e:
            raise RenderError(f"{name}: {type(e).__name__}: {e}") from None

    def render(
        self, kind: Kind | str, lang: Lang | str, channel: ChannelKind | str, context: Mapping[str, Any]
    ) -> Message:
        kind, lang, channel = Kind(kind), Lang(lang), ChannelKind(channel)
        parts = {p: self._part(kind, lang, p, context) for p in PARTS[channel]}
        subject = " ".join(parts["subject"].split()) if "subject" in parts else None
        html = parts.get("email.html")
        if channel is ChannelKind.SMS:
            text = clean_sms_text(parts["sms"], keep_typography=lang is Lang.JA)
            encoding, segments = sms_segments(text)
            if segments > self._max_sms_segments:
                raise RenderError(
                    f"{kind} ({lang}) SMS takes {segments} {encoding} segments, "
                    f"more than {self._max_sms_segments}; send it by email instead"
                )
        elif channel is ChannelKind.VOICE:
            text = _voice_text(parts["voice"])
        else:
            text = parts["email.txt"].replace("\xa0", " ").strip() + "\n"
        return Message(kind=kind, lang=lang, channel=channel, subject=subject, text=text, html=html)


@lru_cache(maxsize=1)
def default_renderer() -> Renderer:
    """The renderer over the shipped templates (cached: building it parses nothing yet)."""
    return Renderer()


def render(kind: Kind | str, lang: Lang | str, channel: ChannelKind | str, context: Mapping[str, Any]) -> Message:
    """Render ``kind`` in ``lang`` for ``channel`` with the shipped templates."""
    return default_renderer().render(kind, lang, channel, context)
