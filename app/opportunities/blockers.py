"""What holds each open deal at its next gate, kept on the deal whenever a transaction that changed it commits.

Every change to a deal goes through app.opportunities.changes, which notes the deal as changed in its
transaction (a change to an account notes the account, a complaint recorded or changed notes the complaint);
before that transaction commits, the gate into the next step of each changed deal, and of each open deal of an
account changed or complained of, is judged on what the deal holds then, and its blocking requirement codes are
stored on it, so "what holds open deals now" is a query over one column. A move is judged as it is written, in
its own statement, and judged again only if the deal changes after it. A rule that reads `now` is judged as of
the deal's last change.
"""

from contextlib import nullcontext

from sqlalchemy import bindparam, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import Account
from app.accounts.complaints import Complaint
from app.db import Database, changed_rows, is_judged, utcnow
from app.errors import Conflict
from app.engine.gates import evaluate_gate
from app.identity.models import Workspace
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


# Built once: the codes are written by a plain statement, not a unit-of-work flush of the deal.
_DEAL = Opportunity.__table__
_KEEP = (update(_DEAL)
         .where(_DEAL.c.workspace_id == bindparam("workspace_id_"), _DEAL.c.id == bindparam("id_"),
                _DEAL.c.version == bindparam("version_"))
         .values(blocking=bindparam("blocking")))


@event.listens_for(Session, "before_commit")
def _keep_blocking(session: Session) -> None:
    session.flush()  # each deal's change is written first, at the version its codes are kept for
    for deal in _to_judge(session):
        codes = blocking_codes(session, deal)
        if codes == deal.blocking:
            continue
        kept = session.execute(_KEEP, {"workspace_id_": deal.workspace_id, "id_": deal.id,
                                       "version_": deal.version, "blocking": codes})
        if kept.rowcount != 1:  # a deal of a changed account, changed meanwhile by another transaction
            raise Conflict(f"Opportunity {deal.id} changed while this change was judging it; retry.")
        set_committed_value(deal, "blocking", codes)


def _to_judge(session: Session) -> list[Opportunity]:
    """The deals the transaction changed, and the open deals of the accounts it changed or recorded or changed a
    complaint of (gates read the account's industry and size, and its complaints not yet verified)."""
    deals = {id(deal): deal for deal in changed_rows(session, Opportunity)
             if not (inspect(deal).deleted or inspect(deal).was_deleted or is_judged(deal))}
    accounts = {(account.workspace_id, account.id) for account in changed_rows(session, Account)} | {
        (complaint.workspace_id, complaint.account_id) for complaint in changed_rows(session, Complaint)}
    for workspace_id in {workspace_id for workspace_id, _ in accounts}:
        ids = [account_id for workspace, account_id in accounts if workspace == workspace_id]
        for deal in session.scalars(select(Opportunity).where(
                Opportunity.workspace_id == workspace_id, Opportunity.account_id.in_(ids),
                Opportunity.status == "open")):
            deals.setdefault(id(deal), deal)
    return list(deals.values())


def judge_unjudged(database: Database, batch: int = 200) -> int:
    """Keep the codes of every open deal that holds none yet (unchanged since before deals kept them), a batch of
    one workspace's deals a transaction; a deal changed meanwhile is judged by its change. Returns how many."""
    judged = 0
    with database.reader() as session:
        workspaces = session.scalars(select(Workspace.id).order_by(Workspace.id)).all()
    for workspace_id in workspaces:
        while True:
            with database.write_lock or nullcontext(), database.writer() as session:
                deals = session.scalars(select(Opportunity).where(
                    Opportunity.workspace_id == workspace_id, Opportunity.status == "open",
                    Opportunity.blocking.is_(None)).order_by(Opportunity.id).limit(batch)).all()
                if not deals:
                    break
                for deal in deals:
                    deal.blocking = blocking_codes(session, deal)
                try:
                    session.commit()
                except StaleDataError:  # one of them changed meanwhile, and kept its codes: judge the rest again
                    session.rollback()
                    continue
                judged += len(deals)
    return judged
