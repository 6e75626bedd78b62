"""An invite link is one-time even under parallel accepts (exactly one wins)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import func, select

from whatrack.tenancy import unscoped


def test_four_parallel_accepts_of_one_invite_create_one_membership(app, db, make_org,
                                                                   make_invite):
    from whatrack.models import Invite, Membership, User

    org_id, _owner, _email = make_org()
    invite_id, token = make_invite(org_id, role="admin")
    people = 4
    browsers = [app.test_client() for _ in range(people)]
    start = Barrier(people)

    def accept(n: int) -> int:
        start.wait(timeout=30)
        return browsers[n].post(f"/invite/{token}", data={
            "name": f"Pessoa {n}", "email": f"pessoa{n}@example.com",
            "password": f"senha-forte-{n}-xyz"}).status_code

    with ThreadPoolExecutor(people) as pool:
        statuses = list(pool.map(accept, range(people)))

    db.session.rollback()
    members = db.session.scalar(select(func.count(Membership.id)).where(
        Membership.organization_id == org_id, Membership.role == "admin"))
    assert members == 1, statuses
    # A loser that arrives late finds no usable link (404); one that raced into the
    # UPDATE is told the link was already used (422).
    assert statuses.count(302) == 1 and all(s in (302, 404, 422) for s in statuses), statuses
    # The losers' half-made accounts were rolled back with their refused accept.
    newcomers = db.session.scalar(select(func.count(User.id)).where(
        User.email.like("pessoa%@example.com")))
    assert newcomers == 1
    with unscoped():
        assert db.session.get(Invite, invite_id).accepted_at is not None
