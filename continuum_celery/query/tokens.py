"""The tokenizer: query text to a list of tokens, each with its character offset.

Offsets travel with every token so that any error, here or in the parser, can name
the exact place in the text where reading stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidQuery

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "STARTS_WITH", "TRUE", "FALSE"})
OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
PUNCTUATION = {"(": "(", ")": ")", ",": ","}
ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}

_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Token:
    """``kind`` is one of: keyword, ident, string, number, duration, op, ``(``, ``)``,
    ``,`` and end; ``value`` is the keyword upper-cased, the decoded string, the
    number, or the duration in seconds."""

    kind: str
    value: object
    position: int
    text: str


def tokenize(source: str) -> list[Token]:
    """Every token of ``source``, ending with an ``end`` token."""
    if "\x00" in source:
        raise InvalidQuery("NUL characters are not allowed", source.index("\x00"))
    tokens: list[Token] = []
    at = 0
    while True:
        at = _skip_space(source, at)
        if at == len(source):
            return [*tokens, Token("end", None, at, "end of query")]
        token = _next(source, at)
        tokens.append(token)
        at += len(token.text)


def _skip_space(source: str, at: int) -> int:
    while at < len(source) and source[at].isspace():
        at += 1
    return at


def _next(source: str, at: int) -> Token:
    char = source[at]
    if char in "\"'":
        return _string(source, at)
    if char in PUNCTUATION:
        return Token(PUNCTUATION[char], char, at, char)
    for op in OPERATORS:
        if source.startswith(op, at):
            return Token("op", "!=" if op == "<>" else op, at, op)
    if _NUMBER.match(source, at):
        return _number(source, at)
    if _IDENT.match(source, at):
        return _word(source, at)
    raise InvalidQuery(f"unexpected character {char!r}", at)


def _string(source: str, start: int) -> Token:
    """A quoted string; a backslash escapes the quote, itself, ``n`` or ``t``."""
    quote, chars, at = source[start], [], start + 1
    while at < len(source) and source[at] != quote:
        if source[at] == "\\":
            chars.append(_escape(source, at))
            at += 2
            continue
        chars.append(source[at])
        at += 1
    if at == len(source):
        raise InvalidQuery(f"unterminated string: expected a closing {quote}", start)
    return Token("string", "".join(chars), start, source[start : at + 1])


def _escape(source: str, at: int) -> str:
    follower = source[at + 1 : at + 2]
    if follower not in ESCAPES:
        raise InvalidQuery(r"unknown escape: expected one of \\ \" \' \n \t", at)
    return ESCAPES[follower]


def _number(source: str, at: int) -> Token:
    """A number, or a duration when a unit letter follows (``-15m``, ``2h``)."""
    match = _NUMBER.match(source, at)
    assert match is not None
    end, text = match.end(), match.group()
    value = float(text) if "." in text else int(text)
    unit = source[end : end + 1]
    if unit and unit in _UNITS:
        return _duration(source, at, end, value * _UNITS[unit])
    if unit and (unit.isalnum() or unit == "_"):
        raise InvalidQuery("expected a number or a duration such as -15m, -2h, -7d", at)
    return Token("number", value, at, text)


def _duration(source: str, at: int, end: int, seconds: float) -> Token:
    follower = source[end + 1 : end + 2]
    if follower and (follower.isalnum() or follower == "_"):
        raise InvalidQuery("expected a duration unit: s, m, h, d or w", end)
    return Token("duration", seconds, at, source[at : end + 1])


def _word(source: str, at: int) -> Token:
    match = _IDENT.match(source, at)
    assert match is not None
    text = match.group()
    if text.upper() in KEYWORDS:
        return Token("keyword", text.upper(), at, text)
    return Token("ident", text, at, text)
