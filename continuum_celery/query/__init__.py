"""The list query language: text in, a small typed AST out. Pure: no SQL, no I/O.

``journal/listing.py`` compiles the AST to parameterized SQL; see ``docs/queries.md``.
"""

from .nodes import (
    ATTRIBUTES,
    TEXT_FIELDS,
    TIME_FIELDS,
    And,
    Compare,
    Field,
    In,
    IsNull,
    Node,
    Not,
    Or,
    RelativeTime,
    StartsWith,
    Value,
)
from .parser import parse

__all__ = [
    "ATTRIBUTES",
    "TEXT_FIELDS",
    "TIME_FIELDS",
    "And",
    "Compare",
    "Field",
    "In",
    "IsNull",
    "Node",
    "Not",
    "Or",
    "RelativeTime",
    "StartsWith",
    "Value",
    "parse",
]
