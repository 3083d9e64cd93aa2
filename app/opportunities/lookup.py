"""Finding an opportunity within the caller's workspace, for reading or for a write."""

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, undefer

from app.caller import Caller
from app.errors import Forbidden, NotFound
from app.identity.policy import may_access
from app.opportunities.models import Opportunity


def _not_found(opportunity_id: uuid.UUID) -> NotFound:
    return NotFound(f"No opportunity {opportunity_id}.")


def _check(session: Session, caller: Caller, opportunity: Opportunity, access: str) -> Opportunity:
    if not may_access(session, caller, opportunity.owner, access):
        # Whose deal it is stays unsaid: a caller who may not read it may not learn its owner either.
        raise Forbidden(f"A {caller.role} may not {access} opportunity {opportunity.id}.")
    return opportunity


def get_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID) -> Opportunity:
    """The opportunity if the caller may read it; NotFound for another workspace's id."""
    opportunity = session.get(Opportunity, (caller.workspace_id, opportunity_id))
    if opportunity is None:
        raise _not_found(opportunity_id)
    return _check(session, caller, opportunity, "read")


# Built once: every write runs it, and a prepared statement skips construction and cache keying.
# Its account and external ids come in the same round trip; only the deal's row is locked.
_LOCK = (select(Opportunity)
         .where(Opportunity.workspace_id == bindparam("workspace_id"), Opportunity.id == bindparam("id"))
         .options(undefer(Opportunity.records_snapshot), joinedload(Opportunity.external_id_rows))
         .with_for_update(of=Opportunity))


def lock_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID,
                     checked: bool = True) -> Opportunity:
    """The opportunity if the caller may write it (unless `checked` is false: the caller's right to this write
    was established otherwise), its row locked until commit: writes to one deal run one at a time."""
    opportunity = session.scalars(_LOCK, {"workspace_id": caller.workspace_id,
                                          "id": opportunity_id}).unique().one_or_none()
    if opportunity is None:
        raise _not_found(opportunity_id)
    return _check(session, caller, opportunity, "write") if checked else opportunity
