"""The Food-11 folder layout: <root>/{training,validation,evaluation}/<class>/*.jpg.

A class folder is named either after the class (a "/" in the name becomes "-",
e.g. "Noodles-Pasta") or class_00..class_10 in the order of names.CLASSES.
"""

from __future__ import annotations

import re

from gourmetgram import names

TRAINING = "training"
VALIDATION = "validation"
EVALUATION = "evaluation"
SPLITS = (TRAINING, VALIDATION, EVALUATION)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_INDEX_RE = re.compile(r"^class_(\d{2})$")


def class_folder(class_name: str) -> str:
    """The folder name written for a class: the name with '/' replaced by '-'."""
    return class_name.replace("/", "-")


def _key(text: str) -> str:
    # Case and punctuation do not matter: "Noodles-Pasta", "noodles_pasta" and "Noodles Pasta" all match.
    return re.sub(r"[^a-z0-9]", "", text.lower())


_BY_KEY = {_key(c): i for i, c in enumerate(names.CLASSES)}


def class_index(folder: str) -> int | None:
    """Class index of a folder name (class name or class_NN), or None if it names no class."""
    m = _INDEX_RE.match(folder)
    if m:
        idx = int(m.group(1))
        return idx if idx < len(names.CLASSES) else None
    return _BY_KEY.get(_key(folder))
