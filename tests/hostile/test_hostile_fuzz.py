"""A property-based fuzz of every route: query parameters, form fields and JSON bodies drawn by
Hypothesis, sent as each role. Whatever comes in: no 5xx; a request that is refused (4xx) wrote
nothing to the database or Redis and says why in Russian; a GET writes nothing at all (#12).

Bounded on purpose (a few hundred requests): it runs in every ./test.
"""

from __future__ import annotations

import pytest
from flask import g
from hostile import assert_refused_cleanly, footprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Role

# Log-in and the password change have their own rate limit (a wrong password is counted, in Redis);
# log-out ends the fuzz.
SKIP_ENDPOINTS = {"static", "auth.logout", "auth.login", "auth.password"}

NAMES = st.sampled_from(
    [
        "days",
        "page",
        "from",
        "plan",
        "year",
        "owner",
        "tag",
        "contact_id",
        "q",
        "search",
        "not_worked",
        "today",
        "not_worked_days",
        "next",
        "tag_id",
        "new_owner_id",
        "expected",
        "reason",
        "body",
        "result",
        "interest",
        "next_contact_on",
        "first_name",
        "email",
        "phone",
        "tags",
        "subject",
        "skip_errors",
        "heir_id",
        "role",
        "password",
    ]
) | st.text(min_size=1, max_size=8)
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "9" * 30,
            "1e9",
            "2026-02-30",
            "9999-12-31",
            "0001-01-01",
            "2027-07-01",
            "null",
            "%00",
            "<script>",
            "' OR 1=1 --",
            "Строители",
            "yes",
            "да",
            "call",
            "\u202e",
        ]
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.text(max_size=40),
)
FIELDS = st.dictionaries(NAMES, VALUES, max_size=6)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(max_size=30)
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
JSON_BODIES = st.dictionaries(NAMES, JSON_VALUES, max_size=6) | JSON_VALUES


def _routes(app) -> list[tuple[str, object, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((f"{method} {rule.rule}", rule, method))
    return sorted(routes, key=lambda item: item[0])


def _path(rule, world, draw_id) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if type(converter).__name__.endswith(("IntegerConverter", "RecordIdConverter")):
            values[name] = draw_id
        else:
            values[name] = "x" * 22 if name == "import_id" else "abc"
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value))
        for kind in ("int", "path", "string"):
            path = path.replace(f"<{kind}:{name}>", str(value))
    return path


def _forget_user() -> None:
    # The tests' requests share the test's app context, so what Flask-Login (the user) and
    # Flask-WTF (the CSRF token) cache in g would outlive the request: each request must
    # start from its own cookie, as in production.
    for name in list(g):
        g.pop(name)


@pytest.fixture
def clients(app, world, client):
    """A logged-in test client (the suite's own kind) and its CSRF token for each role."""
    made = {}
    for role in (Role.ADMIN, Role.MARKETING, Role.ADVISOR):
        _forget_user()
        wrapped = type(client)(app.test_client())
        wrapped.login(world.user(role))
        made[role] = (wrapped, wrapped.csrf_token("/"))
    return made


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_5xx_or_writes_when_it_refuses(app, world, clients, data):
    routes = _routes(app)
    label, rule, method = data.draw(st.sampled_from(routes), label="route")
    role = data.draw(st.sampled_from([Role.ADMIN, Role.MARKETING, Role.ADVISOR]), label="role")
    client, token = clients[role]
    record_id = data.draw(
        st.sampled_from([world.contact_id, world.offer_id, world.tag_id, world.advisor.id])
        | st.integers(min_value=0, max_value=2**40),
        label="id",
    )
    path = _path(rule, world, record_id)
    query = data.draw(FIELDS, label="query")
    before = footprint()
    _forget_user()
    if method == "GET":
        response = client.get(path, query_string=query)
        assert response.status_code < 500, (label, query, response.get_data(as_text=True)[-1500:])
        assert footprint() == before, f"GET {path} {query} wrote something"
        return
    if path.startswith("/api/"):
        body = data.draw(JSON_BODIES, label="json")
        response = client.open(path, method=method, json=body, headers={"X-CSRFToken": token})
    else:
        form = {"csrf_token": token, **data.draw(FIELDS, label="form")}
        response = client.open(path, method=method, data=form, query_string=query)
    if response.status_code >= 400:
        assert_refused_cleanly(response, before, footprint())
    assert response.status_code < 500, (label, response.get_data(as_text=True)[-1500:])
