"""A recursive-descent parser for the list query language.

    query     := [or_expr] end
    or_expr   := and_expr ("OR" and_expr)*
    and_expr  := not_expr ("AND" not_expr)*
    not_expr  := "NOT" not_expr | "(" or_expr ")" | predicate
    predicate := field ( op value | ["NOT"] "IN" "(" value ("," value)* ")"
                       | "STARTS_WITH" string | "IS" ["NOT"] "NULL" )

NOT binds tighter than AND, AND tighter than OR. Values are checked against their
field while parsing, so a wrong type is reported where the value stands.
"""

from __future__ import annotations

from ..errors import InvalidQuery
from .nodes import (
    ATTRIBUTES,
    RUN_FIELDS,
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
)
from .times import EXPECTED as EXPECTED_TIME
from .times import parse_time
from .tokens import Token, tokenize

MAX_DEPTH = 64
"""Nesting deeper than this is refused rather than risking Python's recursion limit."""


def parse(source: str, fields: Fields = RUN_FIELDS) -> Node | None:
    """The AST of ``source``; ``None`` for an empty query (everything matches).

    ``fields`` is the vocabulary: a run listing's by default, ``AUDIT_FIELDS`` for
    the audit log."""
    if not isinstance(source, str):
        raise TypeError(f"query must be a str, not {type(source).__name__}")
    parser = _Parser(tokenize(source), fields)
    if parser.peek.kind == "end":
        return None
    node = parser.or_expr()
    parser.expect("end", "AND, OR or the end of the query")
    return node


class _Parser:
    def __init__(self, tokens: list[Token], fields: Fields) -> None:
        self.tokens = tokens
        self.fields = fields
        self.at = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += min(1, len(self.tokens) - 1 - self.at)
        return token

    def keyword(self, word: str) -> bool:
        """Consume the keyword ``word`` if it is next."""
        if self.peek.kind == "keyword" and self.peek.value == word:
            self.take()
            return True
        return False

    def expect(self, kind: str, expected: str) -> Token:
        if self.peek.kind != kind:
            raise self.error(expected)
        return self.take()

    def error(self, expected: str, token: Token | None = None) -> InvalidQuery:
        token = token or self.peek
        return InvalidQuery(f"expected {expected}, found {token.text}", token.position)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.keyword("AND"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidQuery(f"nested deeper than {MAX_DEPTH} levels", self.peek.position)
        try:
            return self._not_expr()
        finally:
            self.depth -= 1

    def _not_expr(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.not_expr())
        if self.peek.kind == "(":
            self.take()
            node = self.or_expr()
            self.expect(")", ") or AND/OR")
            return node
        return self.predicate(self.field())

    def field(self) -> Field:
        token = self.peek
        if token.kind != "ident":
            raise self.error("a field name or (")
        self.take()
        name, dot, key = str(token.value).partition(".")
        if name == ATTRIBUTES and dot and _valid_key(key):
            return Field(ATTRIBUTES, key)
        if not dot and (name in self.fields.text or name in self.fields.time):
            return Field(name)
        raise self.error(f"a field ({', '.join(self.fields.names)})", token)

    def predicate(self, field: Field) -> Node:
        if self.peek.kind == "op":
            op = str(self.take().value)
            return Compare(field, op, self.value(field))
        if self.keyword("STARTS_WITH"):
            return self.starts_with(field)
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            self.expect_keyword("NULL", "NULL")
            return IsNull(field, negated)
        negated = self.keyword("NOT")
        self.expect_keyword("IN", "IN" if negated else "an operator (= != < <= > >=), IN,"
                            " STARTS_WITH or IS")  # fmt: skip
        return In(field, self.value_list(field), negated)

    def expect_keyword(self, word: str, expected: str) -> None:
        if not self.keyword(word):
            raise self.error(expected)

    def starts_with(self, field: Field) -> Node:
        if field.is_time:
            raise self.error("a text field or attribute before STARTS_WITH", self.peek)
        return StartsWith(field, str(self.expect("string", "a quoted string").value))

    def value_list(self, field: Field) -> tuple[Value, ...]:
        self.expect("(", "( after IN")
        values = [self.value(field)]
        while self.peek.kind == ",":
            self.take()
            values.append(self.value(field))
        self.expect(")", ", or )")
        return tuple(values)

    def value(self, field: Field) -> Value:
        token = self.peek
        if token.kind == "keyword" and token.value == "NULL":
            raise self.error("a value (for missing values use IS NULL)")
        if field.is_time:
            return self.time_value()
        if field.name == ATTRIBUTES:
            return self.attribute_value()
        return str(self.expect("string", "a quoted string").value)

    def time_value(self) -> Value:
        token = self.take()
        if token.kind == "duration":
            return RelativeTime(float(token.value))  # type: ignore[arg-type]
        if token.kind == "string":
            return parse_time(str(token.value), token.position)
        raise self.error(EXPECTED_TIME.removeprefix("expected "), token)

    def attribute_value(self) -> Value:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value  # type: ignore[return-value]
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            return token.value == "TRUE"
        raise self.error("a string, a number, true or false", token)


def _valid_key(key: str) -> bool:
    return bool(key) and "." not in key
