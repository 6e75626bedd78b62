"""Reading the inbox: the conversation list, a thread, and what changed since a cursor.

A conversation is a contact on one of the organization's numbers; its row shows the
contact's latest ticket (the one the Kanban and the panel work on) and its thread holds
every message of that contact on that number, across tickets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, union
from sqlalchemy.orm import aliased

from whatrack.extensions import db
from whatrack.models import Contact, Message, Organization, Stage, Ticket, User, utcnow
from whatrack.models.attribution import TicketTouch
from whatrack.services.tickets.queries import source_condition
from whatrack.services.tickets.search import ticket_matches

PAGE_SIZE = 30
THREAD_PAGE_SIZE = 40
SYNC_LIMIT = 200
# The unread counter stops counting here (the tab shows "99+"): at 100,000 conversations
# an exact count reads every unread ticket on every page load and every sync (D47).
UNREAD_CAP = 100

# Meta's free entry point (meta-platform.md 3.3): a CTWA lead answered within 24 hours
# gets 72 free hours counted from that answer.
FEP_REPLY_WITHIN = timedelta(hours=24)
FEP_LENGTH = timedelta(hours=72)


@dataclass(frozen=True)
class ListFilters:
    q: str | None = None
    unread: bool = False
    mine: bool = False
    unassigned: bool = False
    stage_id: int | None = None
    source: str | None = None
    window_open: bool = False
    cursor: str | None = None


@dataclass(frozen=True)
class ConversationRow:
    ticket: Ticket
    contact: Contact
    stage: Stage | None
    assignee: User | None
    last_direction: str | None
    last_status: str | None
    last_type: str | None
    last_text: str | None


@dataclass
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: str | None = None


@dataclass
class Thread:
    messages: list[Message]
    has_older: bool
    quoted: dict[str, Message] = field(default_factory=dict)


@dataclass
class SyncResult:
    messages: list[Message]
    rows: list[ConversationRow]


def encode_cursor(row: ConversationRow) -> str:
    moment = row.ticket.last_message_at
    return f"{int(moment.timestamp() * 1_000_000)}.{row.ticket.id}"


def decode_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """``(last_message_at, ticket id)`` of the last row seen; None for a bad or absent one."""
    try:
        micros, ident = (raw or "").split(".", 1)
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        return moment, int(ident)
    except (ValueError, OverflowError, OSError):
        return None


def _latest_ticket_only():
    """The row stands for the contact's latest ticket on that number (older ones are history)."""
    newer = aliased(Ticket)
    return ~exists().where(newer.organization_id == Ticket.organization_id,
                           newer.contact_id == Ticket.contact_id,
                           newer.whatsapp_account_id == Ticket.whatsapp_account_id,
                           newer.id > Ticket.id)


def _rows_statement(org: Organization):
    # The newest message by a correlated id lookup (index ticket_id, id), joined back: one
    # statement on PostgreSQL and on the laptop's SQLite alike (which has no LATERAL).
    last_id = (
        select(Message.id)
        .where(Message.ticket_id == Ticket.id, Message.organization_id == org.id)
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )
    last = aliased(Message, name="last_message")
    return (
        select(Ticket, Contact, Stage, User, last.direction, last.status, last.type,
               func.coalesce(last.text, last.media_caption))
        .join(Contact, Contact.id == Ticket.contact_id)
        .outerjoin(Stage, Stage.id == Ticket.stage_id)
        .outerjoin(User, User.id == Ticket.assignee_id)
        .outerjoin(last, last.id == last_id)
        .where(*_listable(org))
    )


def _listable(org: Organization) -> tuple:
    """The tickets the list shows: each conversation's latest one, once it has a message."""
    return (Ticket.organization_id == org.id, Ticket.last_message_at.is_not(None),
            _latest_ticket_only())


def _listed(org: Organization, me: User | None, filters: ListFilters, limit: int):
    """The rows statement for one page, filtered and limited to ``limit + 1`` rows."""
    if not (filters.q and filters.q.strip()):
        return _filtered(_rows_statement(org), org, me, filters).limit(limit + 1)
    # A search: each place the term can match (names or number, message text) picks its own
    # newest page of ticket ids with every other filter and the cursor, the page is the
    # newest of their union, and only then are contact, stage, assignee and last message
    # joined. Each branch is a plain semi-join, so PostgreSQL picks per branch: the trigram
    # index for a rare term (one number: ~10 ms), a walk down ix_tickets_org_last_message
    # that stops at the page for a common one ("semana" in 6% of messages: ~20 ms). One
    # UNION of every hit instead read all 60,000 of those first (~900 ms) (D54).
    others = replace(filters, q=None)
    branches = []
    for condition in ticket_matches(org.id, filters.q, messages=True):
        branch = _filtered(select(Ticket.id, Ticket.last_message_at).where(
            *_listable(org), condition), org, me, others).limit(limit + 1)
        wrapped = branch.subquery()  # SQLite refuses a LIMIT inside a bare UNION member
        branches.append(select(wrapped.c.id, wrapped.c.last_message_at))
    hits = union(*branches).subquery()
    page = (select(hits.c.id).order_by(hits.c.last_message_at.desc(), hits.c.id.desc())
            .limit(limit + 1))
    return (_rows_statement(org).where(Ticket.id.in_(page))
            .order_by(Ticket.last_message_at.desc(), Ticket.id.desc()).limit(limit + 1))


def _row(result: Any) -> ConversationRow:
    ticket, contact, stage, user, direction, status, kind, text = result
    return ConversationRow(ticket, contact, stage, user, direction, status, kind, text)


def list_conversations(org: Organization, me: User | None, filters: ListFilters,
                       limit: int = PAGE_SIZE) -> ConversationPage:
    """One page of conversations, latest message first; one query whatever the filters."""
    rows = [_row(r) for r in db.session.execute(_listed(org, me, filters, limit))]
    return _page(rows, limit)


@dataclass(frozen=True)
class StageOption:
    id: int
    name: str


@dataclass
class FirstPage:
    page: ConversationPage
    unread: int
    newest_message_id: int
    stages: list[StageOption]


def first_page(org: Organization, me: User | None, filters: ListFilters,
               limit: int = PAGE_SIZE) -> FirstPage:
    """The page a fresh inbox shows, with the counters and the stage filter's options
    riding on the same query.

    They are uncorrelated subqueries, so the database computes them once whatever the number
    of rows; only an empty page needs a second query for them.
    """
    unread, newest = _counter_subqueries(org)
    stmt = _listed(org, me, filters, limit).add_columns(unread, newest, _stages_subquery(org))
    results = list(db.session.execute(stmt))
    if not results:
        unread_count, newest_id = counters(org)
        return FirstPage(ConversationPage(rows=[]), unread_count, newest_id,
                         stage_options(org))
    first = results[0]
    return FirstPage(_page([_row(r[:8]) for r in results], limit), first[8] or 0,
                     first[9] or 0, _stage_options(first[10]))


def _stages_subquery(org: Organization):
    """The organization's active stages as one JSON array of [id, name, position]."""
    row = (func.json_build_array if db.engine.dialect.name == "postgresql"
           else func.json_array)(Stage.id, Stage.name, Stage.position)
    agg = (func.json_agg if db.engine.dialect.name == "postgresql"
           else func.json_group_array)(row)
    return select(agg).where(Stage.organization_id == org.id,
                             Stage.archived_at.is_(None)).scalar_subquery().label("stages")


def _stage_options(raw: Any) -> list[StageOption]:
    items = json.loads(raw) if isinstance(raw, str) else (raw or [])
    return [StageOption(int(i), str(name)) for i, name, _position
            in sorted(items, key=lambda item: (item[2], item[0]))]


def stage_options(org: Organization) -> list[StageOption]:
    stmt = select(Stage.id, Stage.name).where(
        Stage.organization_id == org.id, Stage.archived_at.is_(None)).order_by(
        Stage.position, Stage.id)
    return [StageOption(ident, name) for ident, name in db.session.execute(stmt)]


def _page(rows: list[ConversationRow], limit: int) -> ConversationPage:
    page = ConversationPage(rows=rows[:limit])
    if len(rows) > limit:
        page.next_cursor = encode_cursor(page.rows[-1])
    return page


def _filtered(stmt, org: Organization, me: User | None, filters: ListFilters):
    if filters.unread:
        stmt = stmt.where(Ticket.unread_count > 0)
    if filters.mine and me is not None:
        stmt = stmt.where(Ticket.assignee_id == me.id)
    if filters.unassigned:
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    if filters.stage_id is not None:
        stmt = stmt.where(Ticket.stage_id == filters.stage_id)
    condition = source_condition(filters.source)
    if condition is not None:
        stmt = stmt.where(condition)
    if filters.window_open:
        stmt = stmt.where(Ticket.window_expires_at > utcnow())
    after = decode_cursor(filters.cursor)
    if after is not None:
        moment, ident = after
        stmt = stmt.where(or_(Ticket.last_message_at < moment,
                              and_(Ticket.last_message_at == moment, Ticket.id < ident)))
    return stmt.order_by(Ticket.last_message_at.desc(), Ticket.id.desc())


def conversation_rows(org: Organization, contact_ids: set[int]) -> list[ConversationRow]:
    """The current rows of these contacts' conversations (after a change)."""
    if not contact_ids:
        return []
    stmt = _rows_statement(org).where(Ticket.contact_id.in_(sorted(contact_ids)))
    return [_row(r) for r in db.session.execute(stmt)]


def unread_conversations(org: Organization) -> int:
    """How many conversations wait for an answer (the tab title's count)."""
    return counters(org)[0]


def counters(org: Organization) -> tuple[int, int]:
    """(conversations with unread messages, the newest message id): one query.

    The id is where a freshly loaded page starts asking /sync for what it missed.
    """
    row = db.session.execute(select(*_counter_subqueries(org))).one()
    return row[0] or 0, row[1] or 0


def _counter_subqueries(org: Organization):
    waiting = select(Ticket.id).where(
        Ticket.organization_id == org.id, Ticket.unread_count > 0, _latest_ticket_only()
    ).order_by(  # newest first: the planner walks ix_tickets_org_unread and stops at the cap
        Ticket.organization_id.desc(), Ticket.last_message_at.desc(), Ticket.id.desc()
    ).limit(UNREAD_CAP).subquery()
    unread = select(func.count()).select_from(waiting)
    newest = select(func.max(Message.id)).where(Message.organization_id == org.id)
    return (unread.scalar_subquery().label("unread_total"),
            newest.scalar_subquery().label("newest_message_id"))


def _thread_filter(ticket: Ticket):
    return and_(Message.contact_id == ticket.contact_id,
                Message.whatsapp_account_id.is_not_distinct_from(ticket.whatsapp_account_id))


def thread(org: Organization, ticket: Ticket, before_id: int | None = None,
           limit: int = THREAD_PAGE_SIZE) -> Thread:
    """The newest messages of the conversation (older than ``before_id``), oldest first.

    Ordered by Meta's timestamp, then id: workers store a burst in any order, but the
    thread must read as the customer wrote it.
    """
    stmt = select(Message).where(Message.organization_id == org.id, _thread_filter(ticket))
    if before_id is not None:
        pivot = select(Message.timestamp).where(Message.organization_id == org.id,
                                                Message.id == before_id).scalar_subquery()
        stmt = stmt.where(or_(Message.timestamp < pivot,
                              and_(Message.timestamp == pivot, Message.id < before_id)))
    stmt = stmt.order_by(Message.timestamp.desc(), Message.id.desc())
    found = list(db.session.scalars(stmt.limit(limit + 1)))
    messages = list(reversed(found[:limit]))
    return Thread(messages=messages, has_older=len(found) > limit,
                  quoted=quoted_messages(org, messages))


def quoted_messages(org: Organization, messages: list[Message]) -> dict[str, Message]:
    """Messages the page's replies quote, by wamid (one query, only for the missing ones)."""
    present = {m.wamid: m for m in messages}
    wanted = {m.context_wamid for m in messages if m.context_wamid} - set(present)
    quoted = {w: present[w] for w in {m.context_wamid for m in messages} if w in present}
    if wanted:
        stmt = select(Message).where(Message.organization_id == org.id,
                                     Message.wamid.in_(sorted(wanted)))
        quoted.update({m.wamid: m for m in db.session.scalars(stmt)})
    return quoted


def messages_after(org: Organization, after_id: int, ids: set[int] | None = None,
                   limit: int = SYNC_LIMIT) -> list[Message]:
    """Messages stored after ``after_id`` (org-wide), plus the ones named in ``ids``."""
    condition = Message.id > after_id
    if ids:
        condition = or_(condition, Message.id.in_(sorted(ids)[:SYNC_LIMIT]))
    stmt = select(Message).where(Message.organization_id == org.id, condition)
    return list(db.session.scalars(stmt.order_by(Message.id).limit(limit)))


def sync(org: Organization, after_id: int, message_ids: set[int],
         ticket_ids: set[int]) -> SyncResult:
    """What a client that saw everything up to ``after_id`` is missing: new (or named)
    messages and the conversation rows they and the named tickets belong to."""
    messages = messages_after(org, after_id, message_ids)
    contacts = {m.contact_id for m in messages}
    if ticket_ids:
        stmt = select(Ticket.contact_id).where(Ticket.organization_id == org.id,
                                               Ticket.id.in_(sorted(ticket_ids)[:SYNC_LIMIT]))
        contacts.update(db.session.scalars(stmt))
    return SyncResult(messages=messages, rows=conversation_rows(org, contacts))


def free_entry_point_expires_at(org: Organization, ticket: Ticket) -> datetime | None:
    """When Meta's 72-hour free entry point of a CTWA conversation ends, if it started.

    It starts with the business's first answer given within 24 hours of the customer's
    message from the ad (the ticket's first ad touch).
    """
    if ticket.lead_source != "ad":
        return None
    touched = db.session.scalar(
        select(func.min(TicketTouch.touched_at)).where(
            TicketTouch.organization_id == org.id, TicketTouch.ticket_id == ticket.id,
            TicketTouch.kind == "ad"))
    if touched is None:
        return None
    answered = db.session.scalar(
        select(func.min(Message.timestamp)).where(
            Message.organization_id == org.id, Message.ticket_id == ticket.id,
            Message.direction == "outbound", Message.is_history.is_(False),
            Message.status != "failed",
            Message.timestamp >= touched, Message.timestamp <= touched + FEP_REPLY_WITHIN))
    return answered + FEP_LENGTH if answered else None
