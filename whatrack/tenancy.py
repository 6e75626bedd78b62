"""The one place that decides which organization a query may see.

Four layers (STYLE.md 4.3): the org is resolved once per request (``resolve_request_org``)
or per actor message (the app-context middleware) and bound with ``bind_org``; tenant rows
named by a client id load through ``TenantMixin.get_for_org_or_404``; an ORM listener adds
``organization_id = bound org`` to every SELECT and refuses unscoped tenant queries; a
before-flush check refuses writing rows of another organization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from flask import abort, g, request, session
from flask_login import current_user
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, contains_eager, with_loader_criteria
from werkzeug.local import LocalProxy

from whatrack.extensions import db, login_manager
from whatrack.models.base import TenantMixin
from whatrack.models.org import Membership, Organization


class TenancyError(RuntimeError):
    """A tenant table was touched without an organization bound (a bug, never user input)."""


_bound_org_id: ContextVar[int | None] = ContextVar("whatrack_bound_org_id", default=None)
_unscoped: ContextVar[bool] = ContextVar("whatrack_unscoped", default=False)

ROLE_RANK = {"agent": 1, "admin": 2, "owner": 3}
SESSION_ORG_KEY = "org_id"
# Blueprints whose requests come from machines (Meta, probes): their tenant, if any, is
# found from the payload in a worker, never from a session.
MACHINE_BLUEPRINTS = frozenset({"webhooks", "health"})


def bound_org_id() -> int | None:
    return _bound_org_id.get()


@contextmanager
def bind_org(org_or_id: Any) -> Iterator[None]:
    """Scope every query in the block to one organization."""
    token = _bound_org_id.set(getattr(org_or_id, "id", org_or_id))
    try:
        yield
    finally:
        _bound_org_id.reset(token)


def bind_org_for_request(org: Organization) -> None:
    """Bind for the rest of the request; ``release_request_org`` undoes it at teardown."""
    # A second bind in one request (an API key on a browser that also sends its session
    # cookie) must not orphan the first token: teardown would then restore the session's
    # org instead of "none" and leak it into the thread's next request.
    release_request_org()
    g._tenancy_token = _bound_org_id.set(org.id)


def release_request_org(_exc: BaseException | None = None) -> None:
    token = g.pop("_tenancy_token", None)
    if token is not None:
        _bound_org_id.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """Cross-tenant access, for login resolution, admin tooling and sweepers only."""
    token = _unscoped.set(True)
    try:
        yield
    finally:
        _unscoped.reset(token)


def _touches_tenant_table(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantMixin) for m in state.all_mappers)


def _scope_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if _unscoped.get() or not _touches_tenant_table(state):
        return
    org_id = _bound_org_id.get()
    if org_id is None:
        raise TenancyError("tenant table queried with no organization bound")
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin, lambda cls: cls.organization_id == org_id, include_aliases=True
        )
    )


def _check_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    if _unscoped.get():
        return
    org_id = _bound_org_id.get()
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantMixin):
            continue
        if org_id is None or obj.organization_id not in (None, org_id):
            raise TenancyError(
                f"refusing to write {type(obj).__name__} of organization "
                f"{obj.organization_id} while bound to {org_id}"
            )
        if obj.organization_id is None:
            obj.organization_id = org_id


def install(session_class: Any) -> None:
    event.listen(session_class, "do_orm_execute", _scope_orm_execute)
    event.listen(session_class, "before_flush", _check_flush)


# --- request resolution ----------------------------------------------------------------


def _load_current_org() -> Organization | None:
    if "current_org" in g:
        return g.current_org
    return None


current_org: Organization = LocalProxy(_load_current_org)  # type: ignore[assignment]


def memberships_of(user: Any) -> list[Membership]:
    stmt = (
        select(Membership)
        .join(Membership.organization)
        # The organizations come with their memberships: no second query per request.
        .options(contains_eager(Membership.organization))
        .where(Membership.user_id == user.id)
        .order_by(Organization.name)
    )
    return list(db.session.scalars(stmt))


def resolve_request_org() -> None:
    """before_request: pick the active org from the session, verify membership, bind it."""
    # Nothing may survive from an earlier request that shared this app context (tests,
    # streamed responses): the org is always resolved from scratch.
    for key in ("current_org", "membership", "memberships"):
        g.pop(key, None)
    # Machine endpoints never act for a logged-in person: not even the session is read.
    if request.blueprint in MACHINE_BLUEPRINTS or not current_user.is_authenticated:
        return
    memberships = memberships_of(current_user)
    wanted = session.get(SESSION_ORG_KEY)
    membership = next((m for m in memberships if m.organization_id == wanted), None)
    if membership is None and memberships:
        membership = memberships[0]
        session[SESSION_ORG_KEY] = membership.organization_id
    g.memberships = memberships
    if membership is None:
        return
    g.membership = membership
    g.current_org = membership.organization
    bind_org_for_request(membership.organization)


def bind_api_org(org: Organization) -> None:
    """API requests are scoped to the key's organization instead of a session."""
    g.pop("membership", None)  # a session's role in another org means nothing here
    g.current_org = org
    bind_org_for_request(org)


def current_role() -> str | None:
    membership = g.get("membership")
    return membership.role if membership else None


def org_required(view: Callable) -> Callable:
    """Logged in and member of an organization; otherwise login, or 404 if not a member."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if g.get("current_org") is None:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def role_required(minimum: str) -> Callable[[Callable], Callable]:
    """Require at least ``minimum`` (agent < admin < owner) in the current organization."""

    def decorator(view: Callable) -> Callable:
        @org_required
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if ROLE_RANK.get(current_role() or "", 0) < ROLE_RANK[minimum]:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
