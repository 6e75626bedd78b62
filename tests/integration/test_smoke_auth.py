from sqlalchemy import select


def test_signup_creates_org_owner_and_trial(client, db):
    from whatrack.models import Membership, Organization, User

    resp = client.post(
        "/signup",
        data={"org_name": "Clínica Sorriso", "name": "Ana", "email": "ana@example.com",
              "password": "senha-forte-123"},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/dashboard")
    org = db.session.scalars(select(Organization)).one()
    assert org.slug == "clinica-sorriso"
    assert org.billing_state == "trialing"
    assert 13 <= (org.trial_ends_at - org.created_at).days <= 14
    user = db.session.scalars(select(User)).one()
    membership = db.session.scalars(select(Membership)).one()
    assert (membership.user_id, membership.organization_id) == (user.id, org.id)
    assert membership.role == "owner"
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Clínica Sorriso" in page.get_data(as_text=True)
