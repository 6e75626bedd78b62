"""Every route of the app has a test of its behaviour, named with the ``endpoint`` marker.

The tenancy walk (tests/security/test_tenancy.py) calls every id route, but only to prove another
organization gets a 404; it accepts any other answer from the owner. This check asks for
a test that looks at what the route does. See tests/endpoints.py for the marker.
"""

from __future__ import annotations

from tests.endpoints import endpoints_under_test

# Flask's own file server; no WhaTrack behaviour to test.
NOT_OURS = {"static"}

HOW_TO_MARK = """
Mark the test that checks each route's behaviour (its effect in the database and on the page,
and its refusals), for example:

    @pytest.mark.endpoint("tickets.add_note")
    def test_a_note_is_added_and_shown_on_the_panel(...):

One marker may name several endpoints; `pytestmark = pytest.mark.endpoint(...)` marks a whole
module. Endpoint names are those `url_for` takes (`flask --app wsgi routes` lists them).
"""


def test_every_route_has_a_test_naming_its_endpoint(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_OURS
    tested = endpoints_under_test()
    uncovered = sorted(endpoints - set(tested))
    assert not uncovered, ("Routes without a test naming their endpoint:\n  "
                           + "\n  ".join(uncovered) + "\n" + HOW_TO_MARK)


def test_markers_name_only_existing_endpoints(app):
    """A renamed or removed view must not leave markers behind that cover nothing."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = {name: tests for name, tests in endpoints_under_test().items() if name not in endpoints}
    assert not stale, "Markers name endpoints the app does not have:\n  " + "\n  ".join(
        f"{name}: {', '.join(tests)}" for name, tests in sorted(stale.items()))
