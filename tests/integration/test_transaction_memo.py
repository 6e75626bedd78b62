"""Answers are remembered only inside a memo scope, and only until the transaction ends."""

from __future__ import annotations

from sqlalchemy import text


def test_outside_a_scope_every_call_loads(app, db):
    from whatrack.transaction_memo import remembered

    calls: list[int] = []
    with app.app_context():
        for _ in range(2):
            remembered("answer", lambda: calls.append(1) or len(calls))
    assert len(calls) == 2


def test_inside_a_scope_an_answer_lasts_until_commit_or_rollback(app, db):
    from whatrack.transaction_memo import memo_scope, remembered

    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    with app.app_context(), memo_scope():
        assert remembered("answer", load) == remembered("answer", load) == 1
        db.session.execute(text("SELECT 1"))
        db.session.commit()
        assert remembered("answer", load) == 2  # a new transaction asks again
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        assert remembered("answer", load) == 3
    with app.app_context():
        remembered("answer", load)
    assert len(calls) == 4  # the scope ended: nothing remembered
