"""Account use cases: create, read, change, list, and find by name or by another system's id."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from uuid6 import uuid7

from app.accounts.models import Account, AccountExternalId
from app.accounts.schemas import AccountCreate, AccountRead
from app.caller import Caller
from app.db import first_change, new_row, savepoint, store_new, utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.etags import check_if_match
from app.external_ids import external_target, set_external_ids
from app.identity.policy import may_assign
from app.outbox import append_event, append_events, event_row
from app.paging import page


def _shown(account: Account) -> dict[str, Any]:
    return AccountRead.model_validate(account).model_dump(mode="json")


def _check_owner(session: Session, caller: Caller, owner: str | None) -> None:
    if owner is not None and not may_assign(session, caller, owner):
        raise Forbidden(f"A {caller.role} may not make {owner} an account's owner.")


def _check_name(session: Session, caller: Caller, name: str, account_id: uuid.UUID | None = None) -> None:
    holder = session.scalar(select(Account.id).where(Account.workspace_id == caller.workspace_id,
                                                     Account.name == name))
    if holder is not None and holder != account_id:
        raise Conflict(f"An account named {name!r} exists already: {holder}.", account_id=str(holder))


def get_account(session: Session, caller: Caller, account_id: uuid.UUID) -> Account:
    """One account of the caller's workspace."""
    account = session.get(Account, (caller.workspace_id, account_id))
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def find_account(session: Session, caller: Caller, name: str) -> Account | None:
    """The workspace's account of that name, if any."""
    return session.scalars(select(Account).where(Account.workspace_id == caller.workspace_id,
                                                  Account.name == name)).one_or_none()


def stored_accounts(session: Session, caller: Caller, ids: Iterable[uuid.UUID], names: Iterable[str]) -> list[Account]:
    """The workspace's accounts with these ids or names: one query."""
    ids, names = set(ids), set(names)
    if not ids and not names:
        return []
    return list(session.scalars(select(Account).where(Account.workspace_id == caller.workspace_id, or_(
        Account.id.in_(ids), Account.name.in_(names)))))


def find_external_account(session: Session, caller: Caller, system: str, external_id: str) -> Account | None:
    """The account that system's id names, if any."""
    found = external_target(session, AccountExternalId, caller.workspace_id, system, external_id)
    return None if found is None else get_account(session, caller, found)


def create_account(session: Session, caller: Caller, data: AccountCreate) -> Account:
    """Store a new account, with its event."""
    _check_owner(session, caller, data.owner)
    _check_name(session, caller, data.name)
    account = new_account(caller, data)
    set_external_ids(session, account, AccountExternalId, data.external_ids, "account")
    add_accounts(session, caller, [account])
    return account


def account_named(session: Session, caller: Caller, data: AccountCreate) -> tuple[Account, bool]:
    """The workspace's account of that name, or a new one made from data (True then). When a concurrent request
    makes it first, its account is taken: two deals opened at once for a new customer both succeed."""
    found = find_account(session, caller, data.name)
    if found is not None:
        return found, False
    try:
        with savepoint(session):
            return create_account(session, caller, data), True
    except (Conflict, IntegrityError):  # the name taken since the look above, or while inserting
        found = find_account(session, caller, data.name)  # committed by the other request meanwhile
        if found is None:
            raise
        return found, False


def new_account(caller: Caller, data: AccountCreate, external_ids: Mapping[str, str] | None = None) -> Account:
    """A new account's row, not stored yet, named by other systems' ids the caller has found free."""
    now = utcnow()
    account_id = uuid7()
    return new_row(Account, workspace_id=caller.workspace_id, id=account_id, name=data.name, industry=data.industry,
                   size=data.size, owner=data.owner, version=1, created_at=now, created_by=caller.actor,
                   updated_at=now, updated_by=caller.actor, external_id_rows=[
                       new_row(AccountExternalId, workspace_id=caller.workspace_id, target_id=account_id,
                               system=system, external_id=value) for system, value in (external_ids or {}).items()])


def add_accounts(session: Session, caller: Caller, accounts: Sequence[Account]) -> None:
    """Store new accounts (their names checked by the caller), each with its event."""
    store_new(session, accounts)
    for account in accounts:
        first_change(account)
    append_events(session, [event_row(caller.workspace_id, "account.created", account.created_at,
                                      {"actor": caller.actor, "account": _shown(account)}) for account in accounts])


def update_account(session: Session, caller: Caller, account: Account, changes: Mapping[str, Any],
                   if_match: str | None) -> Account:
    """Change an account's fields (and its external ids), guarded by If-Match; its row locked first, so two
    changes of one account run one after the other."""
    session.refresh(account, with_for_update=True)
    check_if_match(account, if_match, required=caller.require_if_match)
    changes = dict(changes)
    if changes.get("owner") not in (None, account.owner):
        _check_owner(session, caller, changes["owner"])
    if changes.get("name") not in (None, account.name):
        _check_name(session, caller, changes["name"], account.id)
    ids_changed = set_external_ids(session, account, AccountExternalId, changes.pop("external_ids", None) or {},
                                   "account")
    for name, value in changes.items():
        setattr(account, name, value)
    if ids_changed or session.is_modified(account):
        now = utcnow()
        account.touch(caller.actor, now)
        session.flush()
        append_event(session, caller.workspace_id, "account.updated", now,
                     {"actor": caller.actor, "account": _shown(account)})
    return account


def update_account_by_id(session: Session, caller: Caller, account_id: uuid.UUID, changes: Mapping[str, Any],
                         if_match: str | None) -> Account:
    """Change the account with that id."""
    return update_account(session, caller, get_account(session, caller, account_id), changes, if_match)


def list_accounts(session: Session, caller: Caller, *, name: str | None, owner: str | None, limit: int,
                  cursor: str | None) -> tuple[Sequence[Account], str | None]:
    """One page of the workspace's accounts in creation order, filtered; and the cursor of the next page."""
    query = select(Account).where(Account.workspace_id == caller.workspace_id).options(
        selectinload(Account.external_id_rows))
    if name is not None:
        query = query.where(Account.name == name)
    if owner is not None:
        query = query.where(Account.owner == owner)
    return page(session, query, [Account.id], limit, cursor)
