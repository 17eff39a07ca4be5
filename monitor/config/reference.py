"""The configuration reference, generated from the settings models (``docs/configuration.md``), and the
effective configuration with where each value came from (``mimamori config show``).

Both walk the same models, so neither can drift from what `load_settings` accepts: a test compares the
committed reference with this module's output."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import socket
import types
import typing
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from monitor.config.settings import SECRET_KEYS, Settings
from monitor.core.policy import ClassifierPolicy, EscalationPolicy

POLICIES = {"classifier": ClassifierPolicy, "escalation": EscalationPolicy}
ENV_PREFIX = "MIMAMORI_"


@dataclasses.dataclass(frozen=True)
class Key:
    path: str  # dotted, e.g. "probes.interval_s"
    type: str
    default: str
    meaning: str


def _type_name(ann: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type_name(args[1])}" if len(args) == 2 else "table"
    if isinstance(ann, type) and issubclass(ann, Enum):
        return ", ".join(f"`{m.value}`" for m in ann)  # a "|" would end the Markdown table cell
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret"}.get(
        ann, getattr(ann, "__name__", str(ann)))


def _show(v: Any) -> str:
    if v is None or v is PydanticUndefined:
        return "–" if v is None else "(required)"
    if isinstance(v, Enum):
        return f"`{v.value}`"
    if isinstance(v, BaseModel):
        return "(see its keys)"
    if isinstance(v, (list, dict)) and not v:
        return "empty"
    if hasattr(v, "isoformat"):
        return f"`{v.isoformat()}`"
    if hasattr(v, "total_seconds"):
        return f"`{_iso_duration(v)}`"
    return f"`{v}`"


def _iso_duration(td) -> str:
    s = int(td.total_seconds())
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{sec}S" if sec or not (h or m) else "")


def _models(ann: Any) -> list[type[BaseModel]]:
    args = typing.get_args(ann) or (ann,)
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


def settings_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[Key]:
    """Every key of the TOML file (and of the environment), in the models' order."""
    for name, f in model.model_fields.items():
        path = prefix + name
        if prefix == "" and name in POLICIES:
            yield from policy_keys(name)
            continue
        meaning = f.description or ""
        if name in SECRET_KEYS:
            meaning = f"environment only: `{ENV_PREFIX}{name.upper()}`"
        origin = typing.get_origin(f.annotation)
        subs = _models(f.annotation)
        if subs and origin not in (list, dict):
            yield from settings_keys(subs[0], path + ".")
            continue
        if f.default_factory is None:
            default = _show(f.default)
        else:  # the host name differs from machine to machine: named, not shown
            default = "the host name" if f.default_factory is socket.gethostname else _show(f.default_factory())
        yield Key(path, _type_name(f.annotation), default, meaning)
        if subs:  # a list or table of tables: their keys, one level down
            for sub_name, sub in subs[0].model_fields.items():
                yield Key(f"{path}[].{sub_name}", _type_name(sub.annotation), _show(sub.default),
                          sub.description or "")


def _attribute_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of a dataclass (its attribute docstring); a run of fields that
    share one docstring (each ending in '...') get it each."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs, pending = {}, []
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            pending.append(node.target.id)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            text = " ".join(node.value.value.split())
            for name in pending:
                docs[name] = text
            pending = []
    return docs


def policy_keys(section: str) -> Iterator[Key]:
    cls = POLICIES[section]
    docs = _attribute_docs(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind = "duration (ISO 8601, e.g. `PT15M`)" if hasattr(default, "total_seconds") else _type_name(
            type(default))
        yield Key(f"{section}.{f.name}", kind, _show(default), docs.get(f.name, ""))


def reference_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the settings models by `mimamori config reference` (a test fails when this file is",
        "out of date). One TOML file: `mimamori.toml` in the working directory, `--config FILE` or",
        "`$MIMAMORI_CONFIG`; `mimamori.example.toml` is a starting point. Every key can also be set in the",
        "environment as `MIMAMORI_SECTION__KEY` (e.g. `MIMAMORI_PROBES__INTERVAL_S=30`), which wins over the",
        "file. Secrets come from the environment only. `mimamori config show` prints the effective",
        "configuration, secrets redacted, with where each value came from.",
        "",
    ]
    section = None
    for k in settings_keys():
        top = k.path.split(".")[0] if "." in k.path else ""
        if top != section:
            section = top
            lines += ["", f"## [{top}]" if top else "## top level", "", "| key | type | default | meaning |",
                      "| --- | --- | --- | --- |"]
        meaning = k.meaning.replace("|", "\\|")
        lines.append(f"| `{k.path}` | {k.type} | {k.default} | {meaning} |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


# -- the effective configuration ---------------------------------------------------------------------

def _lookup(data: Mapping[str, Any], path: list[str]) -> tuple[bool, Any]:
    cur: Any = data
    for p in path:
        if not isinstance(cur, Mapping) or p not in cur:
            return False, None
        cur = cur[p]
    return True, cur


def _env_name(path: str) -> str:
    return ENV_PREFIX + path.replace(".", "__").upper()


def effective(s: Settings, file_data: Mapping[str, Any], environ: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, value, source) for every key; source is `default`, `file` or `environment`. Secrets show
    only whether they are set."""
    out = []
    dumped = s.model_dump(mode="json")
    env_upper = {k.upper() for k in environ}
    unset: set[str] = set()
    for k in settings_keys():
        if "[]" in k.path:
            continue  # shown with their list or table
        parts = k.path.split(".")
        parent = ".".join(parts[:-1])
        if len(parts) > 2 and _lookup(dumped, parts[:-1]) == (True, None):  # an optional section left out
            if parent not in unset:
                unset.add(parent)
                out.append((parent, "(not configured)", "file" if _lookup(file_data, parts[:-1])[0] else "default"))
            continue
        found, value = _lookup(dumped, parts)
        if not found and parts[0] in POLICIES:  # a policy section holds only what the file set
            value = k.default.strip("`")
        if parts[-1] in SECRET_KEYS:
            shown = "(set, hidden)" if getattr(s, parts[-1]) is not None else "(not set)"
        elif k.path == "database_url" and value:
            shown = _value_text(_without_password(value))
        else:
            shown = _value_text(value)
        env = _env_name(k.path) in env_upper or (k.path == "database_url" and "MIMAMORI_DATABASE_URL" in env_upper)
        source = "environment" if env else ("file" if _lookup(file_data, parts)[0] else "default")
        out.append((k.path, shown, source))
    return out


def _value_text(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def show_lines(s: Settings, file_data: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    rows = effective(s, file_data, environ)
    width = max(len(k) for k, _, _ in rows)
    return [f"{k.ljust(width)} = {v}    # {src}" for k, v, src in rows]
