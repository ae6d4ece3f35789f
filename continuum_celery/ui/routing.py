"""A path parameter for run ids, which may hold ``/`` and any printable character.

Starlette's ``path`` converter stops at a line break, so a malformed id such as
``a\\nb`` matched no route (404) where the API answers 400 naming what is wrong. This
one takes anything; the run id check refuses what cannot be an id.
"""

from __future__ import annotations

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor


class RunIdConvertor(Convertor[str]):
    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def register_run_ids() -> None:
    """Make ``{run_id:runid}`` known to Starlette (once; the registry is global)."""
    if "runid" not in CONVERTOR_TYPES:
        register_url_convertor("runid", RunIdConvertor())
