"""Every phase's gate checks, imported together so the registry is complete."""

from app.phases.diagnose import checks as diagnose_checks
from app.phases.discover import checks as discover_checks

__all__ = ["diagnose_checks", "discover_checks"]
