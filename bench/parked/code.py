"""The code the workers ran, recorded with the results.

Parked runs take long; a result is only comparable to another if both name the same
package state, uncommitted changes included.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from typing import Any

from bench.environment import REPO_ROOT


def _git(*argv: str) -> str:
    try:
        return subprocess.run(
            ["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def code_state() -> dict[str, Any]:
    """The package the workers import: commit, and any uncommitted change to it."""
    changed = _git("status", "--porcelain", "--", "continuum_celery").splitlines()
    digest = hashlib.sha1(_git("diff", "HEAD", "--", "continuum_celery").encode())
    for line in sorted(changed):
        if line.startswith("??"):
            path = REPO_ROOT / line[3:]
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for f in files:
                with contextlib.suppress(OSError):
                    digest.update(f.read_bytes())
    return {
        "commit": _git("rev-parse", "HEAD").strip(),
        "uncommitted": [line.strip() for line in changed],
        "uncommitted_sha1": digest.hexdigest() if changed else None,
    }
