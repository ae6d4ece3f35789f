"""The list query language: text in, a small typed AST out. Pure: no SQL, no I/O.

``journal/listing.py`` compiles the AST to parameterized SQL; see ``docs/queries.md``.
"""

from .nodes import (
    ATTRIBUTES,
    AUDIT_FIELDS,
    ENTRY_FIELDS,
    RUN_FIELDS,
    TEXT_FIELDS,
    TIME_FIELDS,
    And,
    Compare,
    Field,
    Fields,
    In,
    IsNull,
    Node,
    Not,
    Or,
    RelativeTime,
    StartsWith,
    Value,
    field_names,
)
from .parser import parse

__all__ = [
    "ATTRIBUTES",
    "AUDIT_FIELDS",
    "ENTRY_FIELDS",
    "RUN_FIELDS",
    "TEXT_FIELDS",
    "TIME_FIELDS",
    "And",
    "Compare",
    "Field",
    "Fields",
    "In",
    "IsNull",
    "Node",
    "Not",
    "Or",
    "RelativeTime",
    "StartsWith",
    "Value",
    "field_names",
    "parse",
]
