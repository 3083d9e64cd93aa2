"""Every gate check, each phase's and those over the account's complaints, imported together so the registry is
complete."""

from app.phases import complaints, presence
from app.phases.deploy import checks as deploy_checks
from app.phases.design import checks as design_checks
from app.phases.diagnose import checks as diagnose_checks
from app.phases.discover import checks as discover_checks

__all__ = ["complaints", "deploy_checks", "design_checks", "diagnose_checks", "discover_checks", "presence"]
