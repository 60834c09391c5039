"""Reading recipe YAML files: ``extends`` chains, data paths, ``key=value`` overrides.

A recipe is plain UTF-8 YAML of at most 1 MiB, without aliases (``*name``: a few lines of
aliases can expand to billions of values when the settings are copied or printed); any
other file is refused with a :class:`ConfigError` naming it (and the line). Data paths
written in a YAML file are resolved against that file's folder.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, Dict, Tuple

import yaml


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the file."""


# keys whose (relative) values are paths to input data, resolved against the YAML file
PATH_KEYS = {("data", "files"), ("data", "filelist"), ("data", "valid_files")}


MAX_RECIPE_BYTES = 1 << 20


def read_recipe_text(path: Path) -> str:
    """The text of a recipe: a regular file of at most 1 MiB, UTF-8.

    Raises:
        ConfigError: missing, not a file, unreadable, too large, or not UTF-8 (naming the file).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a file (a recipe is a YAML file)")
        if info.st_size > MAX_RECIPE_BYTES:
            raise ConfigError(f"{path}: {info.st_size:,} bytes is too large for a recipe "
                              f"(at most {MAX_RECIPE_BYTES:,})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        why = "a symbolic link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise ConfigError(f"{path}: cannot read the config ({why})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                          "save the recipe as UTF-8") from None


def safe_yaml(text: str, source: str):
    """``yaml.safe_load`` of ``text``, refusing aliases (an anchor bomb expands a few lines
    into billions of values when the settings are copied or printed).

    Raises:
        ConfigError: invalid YAML or an alias (naming ``source`` and the line).
    """
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ConfigError(f"{source}: line {event.start_mark.line + 1}: YAML aliases "
                                  f"(*{event.anchor}) are not accepted; write the value out")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from None


def read_yaml_chain(path: Path, seen: Tuple[Path, ...]) -> Dict[str, Any]:
    try:
        path = Path(os.path.abspath(path)).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        raise ConfigError(f"{path}: cannot read the config (a symbolic link loop)") from None
    if path in seen:
        raise ConfigError(f"{path}: 'extends' loops back to this file")
    data = safe_yaml(read_recipe_text(path), str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for section, key in PATH_KEYS:
        if isinstance(data.get(section), dict) and key in data[section]:
            data[section][key] = resolve_paths(data[section][key], path.parent)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    base = read_yaml_chain(path.parent / str(parent), seen + (path,))
    return merge(base, data)


def merge(base: Dict[str, Any], update: Dict[str, Any]) -> Dict[str, Any]:
    """Recursive merge: sections merge key by key; lists, ``upsampler`` and ``kwargs`` replace."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("upsampler", "kwargs"):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_paths(value, root: Path):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [resolve_paths(v, root) for v in value]
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else (root / p).resolve())


def parse_value(text: str, source: str = "override"):
    if not text.strip():
        return ""
    try:
        return safe_yaml(text, source)
    except ConfigError as exc:
        if "alias" in str(exc):
            raise
        return text


def set_dotted(raw: Dict[str, Any], keys: Tuple[str, ...], value, item: str) -> None:
    node = raw
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {k} is not a section")
        node = child
    node[keys[-1]] = value
