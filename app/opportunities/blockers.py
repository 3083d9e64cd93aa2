"""What holds each open deal at its next gate, kept on the deal whenever a transaction that changed it commits.

Every change to a deal goes through app.opportunities.changes, which notes the deal as changed in its
transaction; before that transaction commits, the gate into each changed deal's next step is judged on what
the deal holds then, and its blocking requirement codes are stored on it, so "what holds open deals now" is a
query over one column. A rule that reads `now` is judged as of the deal's last change.
"""

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.db import changed_rows, utcnow
from app.engine.gates import evaluate_gate
from app.opportunities.document import facts_of
from app.opportunities.models import Opportunity
from app.processes.service import get_definition


def blocking_codes(session: Session, opportunity: Opportunity) -> list[str] | None:
    """The codes of the requirements that block the gate into the deal's next step now (none at the last step;
    None for a closed deal)."""
    if opportunity.status != "open":
        return None
    definition = get_definition(session, opportunity.workspace_id, opportunity.process_key,
                                opportunity.process_version)
    following = definition.next_step(opportunity.step)
    if following is None:
        return []
    gate = evaluate_gate(definition.step(following), facts_of(session, opportunity, utcnow(), definition.rules))
    return sorted({finding.code for finding in gate.unmet if finding.severity == "block"})


@event.listens_for(Session, "before_commit")
def _keep_blocking(session: Session) -> None:
    for deal in changed_rows(session, Opportunity):
        if not (inspect(deal).deleted or inspect(deal).was_deleted):
            codes = blocking_codes(session, deal)
            if codes != deal.blocking:
                deal.blocking = codes  # written by the commit's flush, with the rest of the deal's change
