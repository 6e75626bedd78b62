"""`flask --app wsgi keys rotate`: every stored token moves to the first key, resumably."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from whatrack.tenancy import bind_org, unscoped

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


@pytest.fixture
def keys(app) -> Iterator[callable]:
    previous = app.config["TOKEN_ENCRYPTION_KEYS"]

    def _use(value: str) -> None:
        app.config["TOKEN_ENCRYPTION_KEYS"] = value

    yield _use
    app.config["TOKEN_ENCRYPTION_KEYS"] = previous


def _seed(app, db, make_org, count: int) -> None:
    """``count`` organizations, each with a number token and a Meta token."""
    from whatrack.models import MetaConnection, Organization
    from whatrack.services.whatsapp.accounts import attach_account

    for n in range(count):
        org_id = make_org()[0]
        with bind_org(org_id):
            org = db.session.get(Organization, org_id)
            attach_account(org, waba_id=f"90000000000{n:02d}",
                           phone_number_id=f"91000000000{n:02d}",
                           display_phone_number=f"55119000000{n:02d}", token=f"wa-token-{n}")
            conn = MetaConnection(organization_id=org_id, lead_event_enabled=True,
                                  lead_event_name="LeadSubmitted")
            conn.token = f"meta-token-{n}"
            db.session.add(conn)
            db.session.commit()


def _ciphers(db) -> list[tuple[str, str]]:
    from whatrack.services.keys.rotation import ENCRYPTED_COLUMNS

    found = []
    db.session.rollback()
    with unscoped():
        for column in ENCRYPTED_COLUMNS:
            table = column.class_.__table__
            found += [(table.name, c) for c in db.session.scalars(
                select(column).where(column.is_not(None)).order_by(table.c.id))]
    return found


def _rotate(app, *extra: str) -> list[str]:
    result = app.test_cli_runner().invoke(args=["keys", "rotate", *extra])
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n").splitlines()


def test_rotate_moves_every_token_to_the_first_key_and_a_rerun_changes_nothing(
        app, db, make_org, keys):
    keys(OLD)
    _seed(app, db, make_org, 3)
    before = _ciphers(db)
    assert len(before) == 6
    keys(f"{NEW},{OLD}")

    assert _rotate(app, "--batch-size", "2")[-1] == "6 rows re-encrypted"

    new_only = Fernet(NEW)
    plain = sorted(new_only.decrypt(c.encode()).decode() for _t, c in _ciphers(db))
    assert plain == sorted([f"wa-token-{n}" for n in range(3)]
                           + [f"meta-token-{n}" for n in range(3)])
    with pytest.raises(InvalidToken):
        Fernet(OLD).decrypt(_ciphers(db)[0][1].encode())
    assert _rotate(app)[-1] == "0 rows re-encrypted"
    # After dropping the old key the app still reads every token.
    keys(NEW)
    from whatrack.models import MetaConnection, WhatsAppAccount

    with unscoped():
        assert {a.token for a in db.session.scalars(select(WhatsAppAccount))} == {
            "wa-token-0", "wa-token-1", "wa-token-2"}
        assert len([c.token for c in db.session.scalars(select(MetaConnection))]) == 3


def test_an_interrupted_rotation_resumes_where_it_stopped(app, db, make_org, keys):
    from whatrack.services.keys.rotation import rotate_tokens

    keys(OLD)
    _seed(app, db, make_org, 3)
    keys(f"{NEW},{OLD}")

    class Stop(Exception):
        pass

    def stop_after_first(_table: str, _changed: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        rotate_tokens(batch_size=2, on_batch=stop_after_first)
    db.session.rollback()
    on_new = sum(1 for _t, c in _ciphers(db) if _readable(NEW, c))
    assert on_new == 2  # the first batch was committed

    assert _rotate(app)[-1] == "4 rows re-encrypted"
    assert all(_readable(NEW, c) for _t, c in _ciphers(db))


def test_a_token_no_key_reads_is_reported_and_left_alone(app, db, make_org, keys):
    keys(OLD)
    _seed(app, db, make_org, 1)
    keys(NEW)  # the old key was dropped before rotating: nothing can read the rows
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1
    assert result.output.rstrip("\n").splitlines()[-1] == "0 rows re-encrypted"
    assert "cannot decrypt whatsapp_accounts#" in result.output
    assert all(_readable(OLD, c) for _t, c in _ciphers(db))


def test_every_encrypted_column_is_rotated(db):
    from whatrack.services.keys.rotation import ENCRYPTED_COLUMNS

    listed = {(c.class_.__table__.name, c.key) for c in ENCRYPTED_COLUMNS}
    found = {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.columns
             if c.name.endswith("_encrypted")}
    assert listed == found


def _readable(key: str, cipher: str) -> bool:
    try:
        Fernet(key).decrypt(cipher.encode())
    except InvalidToken:
        return False
    return True
