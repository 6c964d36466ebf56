"""The one kind of translatable message: a catalog template and its parameters, rendered in the reader's language.

Domain errors carry a ``Message``; import problems and failed batches store the same pair (template, params) in
their columns and render it the same way when shown. Nothing is translated when a message is made, only when it
is turned into text: a message made while the worker runs in Chinese reads in English to an English reader.

Modules that raise or record messages import the constructor as ``_l`` (``from core.messages import message as
_l``), the keyword the catalog is extracted with; ``N_`` marks a bare template that is stored with its parameters
apart (an import problem, a batch's message).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# A conversion in a message template: %(name)d, %(name)s, %(name).2f …, or a literal %%.
_SPEC = re.compile(r"%(?:\((?P<name>[^)]*)\)[-#0 +]*\d*(?:\.\d+)?[hlL]?(?P<kind>[a-zA-Z])|%)")
_INTEGER_SPECS, _FLOAT_SPECS = frozenset("diouxXc"), frozenset("eEfFgG")


class Message:
    """A template from the catalog and the parameters put into it; ``str()`` renders it in the current language
    (the request's, else the configured one; untranslated outside an application). Immutable."""

    __slots__ = ("params", "template")
    template: str
    params: Mapping[str, Any]

    def __init__(self, template: str, params: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "params", MappingProxyType(dict(params or {})))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Message cannot be changed ({name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Message cannot be changed ({name})")

    def __str__(self) -> str:
        return render(self.template, self.params)

    def __repr__(self) -> str:
        return f"Message({self.template!r}, {dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.template == other.template and dict(self.params) == dict(other.params)

    def __hash__(self) -> int:
        return hash(self.template)

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it through __init__ (slots are read-only)
        return Message, (self.template, dict(self.params))

    def params_with(self, **params: Any) -> Message:
        """The same template with more parameters (a message chosen in one place, filled in another)."""
        return Message(self.template, {**self.params, **params})

    def as_stored(self) -> tuple[str, dict[str, Any]]:
        """(template, params) as a JSON or database column keeps them (see ``storable``)."""
        return self.template, {name: storable(value) for name, value in self.params.items()}

    @classmethod
    def from_stored(cls, template: Any, params: Any = None) -> Message:
        """The message of a stored pair, whatever was stored (params that are not a mapping are dropped)."""
        return cls(str(template), params if isinstance(params, Mapping) else None)


def message(template: str, /, **params: Any) -> Message:
    """A translatable message; imported as ``_l``, the keyword the catalog is extracted with."""
    return Message(template, params)


def N_(template: str) -> str:
    """Marks a template for the catalog where it is stored apart from its parameters; translated when shown."""
    return template


def as_message(value: Message | str | Any) -> Message:
    """``value`` as a Message: a Message as it is, a flask_babel lazy string (``lazy_gettext``) as its template
    and parameters, anything else (a template marked ``N_``) as a template without parameters."""
    if isinstance(value, Message):
        return value
    args, kwargs = getattr(value, "_args", None), getattr(value, "_kwargs", None)
    if args and isinstance(args[0], str):
        return Message(args[0], kwargs)
    return Message(str(value))


def render(template: str, params: Mapping[str, Any] | None = None) -> str:
    """A stored message in the current language (untranslated outside an application context). It never raises,
    whatever was stored: parameters of the wrong type are coerced, and as a last resort put in as text."""
    from flask import has_app_context

    if not isinstance(template, str):
        return str(template)
    translated = template
    if template and has_app_context():  # gettext("") is the catalog's header
        from flask_babel import gettext

        translated = gettext(template)
    return format_message(translated, params)


def format_message(template: str, params: Mapping[str, Any] | None) -> str:
    """``template % params``, made safe for any stored pair (a ``%(n)d`` given ``"18"``, a missing name …)."""
    if not isinstance(template, str):
        return str(template)
    if not params:
        return template
    if not isinstance(params, Mapping):
        params = {}
    try:
        return template % params
    except (TypeError, ValueError, KeyError):
        pass
    coerced = dict(params)
    for match in _SPEC.finditer(template):
        name, kind = match.group("name"), match.group("kind")
        if name is not None and isinstance(coerced.get(name), str):
            coerced[name] = _number(coerced[name], kind)
    try:
        return template % coerced
    except (TypeError, ValueError, KeyError):
        pass

    def put(match: re.Match[str]) -> str:
        name = match.group("name")
        return "%" if name is None else str(params.get(name, ""))

    return _SPEC.sub(put, template)


def _number(text: str, kind: str) -> Any:
    try:
        if kind in _INTEGER_SPECS:
            return int(float(text)) if "." in text or "e" in text.lower() else int(text)
        if kind in _FLOAT_SPECS:
            return float(text)
    except (ValueError, OverflowError):
        pass
    return text


def storable(value: Any) -> Any:
    """A message parameter as it can be stored (JSON): numbers, text, booleans and None stay what they are,
    anything else becomes its text (a translatable label its text in the current language)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value
