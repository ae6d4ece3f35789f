"""``continuum-celery lint``: the determinism guard's calls, found in the source.

``checker`` is pure (source in, findings out); ``targets`` imports the modules
named on the command line to find the workflows they register.
"""

from .checker import Finding, SourceError, check_source
from .targets import LintTargetError, Report, lint

__all__ = ["Finding", "LintTargetError", "Report", "SourceError", "check_source", "lint"]
