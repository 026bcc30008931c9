"""What a conditional generator is conditioned on: K categorical fields and F real-valued ones.

A :class:`Conditions` holds, for every categorical field, its known values in id order (the values of
the training data; a value never seen there has no id and is refused with the known ones listed), and
the names of the real-valued fields. It is plain data: ``to_dict()`` is what a checkpoint stores
(``checkpoint["seqmodels"]["conditions"]``, JSON, never pickled)::

    {"type": "conditions",
     "fields": [{"name": "label", "values": ["neg", "pos"]}, ...],   # K categorical fields
     "value_fields": ["tempo"],                                      # F real-valued fields
     "defaults": {"label": "pos", "tempo": 96.5}}                    # a typical condition (optional)

The command-line form of one condition (``seqmodels-sample condition=…``, ``Predictor.sample(condition=…)``)
is ``field:value`` pairs separated by whitespace::

    condition=label:pos                  condition="meter:6/8 key:G"          condition="label:pos tempo:120"

A value runs up to the next ``field:`` (so it may hold spaces, ``"label:very good"``, and colons,
``"key:C:maj"``); a value holding `` name:`` after a space must be given as a mapping instead
(``condition={label:'a b:c'}`` on the command line, ``{"label": "a b:c"}`` in Python). ``field=value`` is not
used because Hydra refuses ``=`` inside an unquoted command-line value.

Batches of conditional data carry the condition as ``"condition"`` (B, K) long ids and/or
``"condition_values"`` (B, F) floats (:mod:`seqmodels.data.conditional_text`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .corpora.labeled_text import label_string
from .corpora.text_classification import sort_labels

PAIR = re.compile(r"(?:^|(?<=\s))([^\s:]+):")  # a `field:` at the start or after whitespace
SHOWN = 20  # known values listed in an error


class UnknownConditionError(ValueError):
    """A condition names a field the model does not have, or a value its training data never had."""


def _field_name(name: Any, what: str) -> str:
    if isinstance(name, bool) or not isinstance(name, (str, int)) or str(name).strip() == "":
        raise ValueError(f"{what}: a field name must be a non-empty string, got {name!r}")
    text = str(name).strip()
    if any(c.isspace() for c in text) or ":" in text:
        raise ValueError(f"{what}: field name {text!r} must hold no whitespace and no ':' (condition=field:value)")
    return text


class Conditions:
    """The fields of a condition and the values each takes.

    Args:
        fields: the categorical fields, ``{name: values}`` or ``[(name, values), ...]``, each field's values
            in id order (distinct strings).
        value_fields: the names of the real-valued fields, in feature order.
        defaults: a typical condition, ``{field: value}`` (e.g. each field's most frequent training value and
            each real-valued field's training mean): what a sample starts from when no condition is given
            and the model must be shown one (the validation sample of training).

    Attributes: ``fields`` (dict name -> tuple of values), ``value_fields`` (tuple), ``sizes`` (K ints),
    ``num_values`` (F), ``names`` (all field names, categorical first).
    """

    def __init__(
        self,
        fields: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]] = (),
        value_fields: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        self.fields: dict[str, tuple[str, ...]] = {}
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(f"fields must be (name, values) pairs, got {item!r}")
            name = _field_name(item[0], "fields")
            if name in self.fields:
                raise ValueError(f"fields: {name!r} is given twice")
            values = item[1]
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise ValueError(f"fields: the values of {name!r} must be a list, got {values!r}")
            strings = tuple(label_string(v, f"fields: a value of {name!r}") for v in values)
            if not strings:
                raise ValueError(f"fields: {name!r} has no values")
            repeated = sorted(v for v, n in Counter(strings).items() if n > 1)
            if repeated:
                raise ValueError(f"fields: {name!r} lists {repeated[:5]} more than once")
            self.fields[name] = strings
        if isinstance(value_fields, str):
            value_fields = [value_fields]
        self.value_fields = tuple(_field_name(n, "value_fields") for n in value_fields)
        clash = sorted(set(self.fields) & set(self.value_fields)) or sorted(
            n for n, c in Counter(self.value_fields).items() if c > 1
        )
        if clash:
            raise ValueError(f"field(s) {clash} named twice (each field is categorical or real-valued, once)")
        if not self.fields and not self.value_fields:
            raise ValueError("a condition needs at least one field (categorical or real-valued)")
        self._index = {name: {v: i for i, v in enumerate(values)} for name, values in self.fields.items()}
        self.defaults: dict[str, Any] | None = None
        if defaults is not None:
            self.defaults = self.parse(dict(defaults))

    # ------------------------------------------------------------------ sizes
    @property
    def names(self) -> tuple[str, ...]:
        return (*self.fields, *self.value_fields)

    @property
    def sizes(self) -> list[int]:
        """K: the number of known values of each categorical field."""
        return [len(v) for v in self.fields.values()]

    @property
    def num_values(self) -> int:
        """F: the number of real-valued fields."""
        return len(self.value_fields)

    # ------------------------------------------------------------------ reading a condition
    def known(self) -> str:
        """The fields and their values, for messages: ``label: neg, pos; tempo: a number``."""
        parts = []
        for name, values in self.fields.items():
            shown = ", ".join(values[:SHOWN]) + (f", ... ({len(values)} in all)" if len(values) > SHOWN else "")
            parts.append(f"{name}: {shown}")
        parts += [f"{name}: a number" for name in self.value_fields]
        return "; ".join(parts)

    def example(self) -> str:
        """A condition in the command-line form, made of known values."""
        defaults = self.defaults or {}
        pairs = [f"{n}:{defaults.get(n, values[0])}" for n, values in self.fields.items()]
        pairs += [f"{n}:{defaults.get(n, 0.0):g}" for n in self.value_fields]
        return " ".join(pairs)

    @staticmethod
    def split_pairs(text: str) -> dict[str, str]:
        """``"meter:6/8 key:G"`` -> ``{"meter": "6/8", "key": "G"}`` (the form in the module docstring)."""
        text = text.strip()
        starts = list(PAIR.finditer(text))
        if not starts or starts[0].start() != 0:
            raise ValueError(
                f"condition {text!r} is not in the form field:value (pairs separated by spaces, e.g. "
                '"label:pos" or "meter:6/8 key:G")'
            )
        pairs: dict[str, str] = {}
        for match, following in zip(starts, [*starts[1:], None]):
            name = match.group(1)
            value = text[match.end() : following.start() if following is not None else len(text)].strip()
            if name in pairs:
                raise ValueError(f"condition {text!r} gives field {name!r} twice")
            if not value:
                raise ValueError(f"condition {text!r}: field {name!r} has no value (write {name}:<value>)")
            pairs[name] = value
        return pairs

    def parse(self, condition: str | Mapping[str, Any]) -> dict[str, Any]:
        """A condition (the command-line string or a mapping) checked against the fields: ``{field: value}``
        with a known string for each categorical field and a float for each real-valued one.

        Raises :class:`UnknownConditionError` for a field the model does not have or a categorical value not
        seen in training (listing the known ones), ``ValueError`` for a missing field or a value that is not
        a number where one is needed.
        """
        if isinstance(condition, str):
            given: dict[str, Any] = dict(self.split_pairs(condition))
        elif isinstance(condition, Mapping):
            given = {str(k).strip(): v for k, v in condition.items()}
        else:
            raise ValueError(
                f"a condition is a string of field:value pairs or a mapping, got {type(condition).__name__}: "
                f"{condition!r:.80}"
            )
        unknown = [name for name in given if name not in self.fields and name not in self.value_fields]
        if unknown:
            raise UnknownConditionError(
                f"condition names field(s) {unknown} that the model does not have; its fields are {list(self.names)} "
                f"({self.known()})"
            )
        missing = [name for name in self.names if name not in given]
        if missing:
            raise ValueError(
                f"condition lacks field(s) {missing}: give every field, e.g. condition={self.example()!r} "
                f"({self.known()})"
            )
        out: dict[str, Any] = {}
        for name, values in self.fields.items():
            value = label_string(given[name], f"condition {name}")
            if value not in self._index[name]:
                raise UnknownConditionError(
                    f"condition {name}={value!r} was never seen in training; the known values of {name!r} are "
                    f"{list(values[:SHOWN])}" + (f" ... ({len(values)} in all)" if len(values) > SHOWN else "")
                )
            out[name] = value
        for name in self.value_fields:
            raw = given[name]
            try:
                number = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise ValueError(f"condition {name}={raw!r}: {name!r} is real-valued, give a finite number")
            out[name] = number
        return out

    def encode(self, condition: str | Mapping[str, Any]) -> tuple[list[int], list[float]]:
        """``(ids, values)``: the K categorical ids and the F real values of one condition."""
        parsed = self.parse(condition)
        ids = [self._index[name][parsed[name]] for name in self.fields]
        return ids, [float(parsed[name]) for name in self.value_fields]

    def index(self, name: str, value: Any, where: str = "") -> int:
        """The id of ``value`` of categorical field ``name``; :class:`UnknownConditionError` naming ``where``."""
        index = self._index[name].get(label_string(value, where or name))
        if index is None:
            values = self.fields[name]
            raise UnknownConditionError(
                f"{where + ': ' if where else ''}{name}={value!r} does not occur in the training data; the known "
                f"values of {name!r} are {list(values[:SHOWN])}" + (" ..." if len(values) > SHOWN else "")
            )
        return index

    def tensors(self, condition: str | Mapping[str, Any], device: Any = None) -> Tensor | tuple[Tensor, Tensor]:
        """One condition as a model takes it (batch of 1): ``(1, K)`` long ids, ``(1, F)`` floats, or the pair
        ``(ids, values)`` when there are both kinds of field (see :class:`~seqmodels.models.ConditionalLanguageModel`)."""
        ids, values = self.encode(condition)
        id_tensor = torch.tensor([ids], dtype=torch.long, device=device)  # (1, K)
        value_tensor = torch.tensor([values], dtype=torch.float32, device=device)  # (1, F)
        if not self.value_fields:
            return id_tensor
        if not self.fields:
            return value_tensor
        return id_tensor, value_tensor

    # ------------------------------------------------------------------ building, saving
    @classmethod
    def build(
        cls,
        names: Sequence[str],
        rows: Iterable[Sequence[str]],
        value_names: Sequence[str] = (),
        value_rows: Iterable[Sequence[float]] = (),
    ) -> Conditions:
        """The fields of training data: each field's values sorted (numerically when all are numbers, as class
        labels are), the most frequent value of each field and the mean of each real-valued one as defaults."""
        counts: list[Counter[str]] = [Counter() for _ in names]
        for row in rows:
            for counter, value in zip(counts, row):
                counter[value] += 1
        totals, n = [0.0] * len(value_names), 0
        for values in value_rows:
            totals = [t + float(v) for t, v in zip(totals, values)]
            n += 1
        defaults: dict[str, Any] = {name: c.most_common(1)[0][0] for name, c in zip(names, counts) if c}
        defaults.update({name: t / n for name, t in zip(value_names, totals)} if n else {})
        fields = [(name, sort_labels(c)) for name, c in zip(names, counts)]
        complete = len(defaults) == len(names) + len(value_names)
        return cls(fields, value_names, defaults if complete else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "conditions",
            "fields": [{"name": name, "values": list(values)} for name, values in self.fields.items()],
            "value_fields": list(self.value_fields),
            "defaults": None if self.defaults is None else dict(self.defaults),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conditions:
        listed = data.get("fields", []) if isinstance(data, Mapping) else None
        if isinstance(listed, (str, bytes)) or not isinstance(listed, Iterable):  # a list (or Hydra's ListConfig)
            raise ValueError(f"a Conditions dict has 'fields' (a list) and 'value_fields', got {data!r:.80}")
        fields = []
        for item in listed:
            if not isinstance(item, Mapping) or "name" not in item or "values" not in item:
                raise ValueError(
                    f"each entry of a Conditions dict's 'fields' has 'name' and 'values', got {item!r:.80}"
                )
            fields.append((item["name"], item["values"]))
        return cls(fields, data.get("value_fields") or (), data.get("defaults"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conditions) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return f"Conditions({self.known()})"


def as_conditions(value: Conditions | Mapping[str, Any] | None) -> Conditions | None:
    """A :class:`Conditions`, its dict, or None, as a :class:`Conditions` (or None)."""
    if value is None or isinstance(value, Conditions):
        return value
    return Conditions.from_dict(value)


__all__ = ["Conditions", "UnknownConditionError", "as_conditions"]
