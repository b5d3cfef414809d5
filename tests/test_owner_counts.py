"""Each owner's live contacts are counted as contacts are written, so the start page and the users
page read a few rows instead of a million contacts; the counting triggers survive migrating (#15)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, delete, func, insert, select, text, update

from campaigns import ownership
from campaigns.models import Contact, Role

RESULT_COUNTS = {
    "result_counts_deliveries_insert": "deliveries",
    "result_counts_deliveries_update": "deliveries",
    "result_counts_deliveries_delete": "deliveries",
    "result_counts_clicks_insert": "clicks",
    "result_counts_clicks_delete": "clicks",
    "result_counts_clicks_update": "clicks",
    "result_counts_notes_insert": "notes",
    "result_counts_contacts_update": "contacts",
}
LINK_COUNTS = {f"link_counts_{e}": "clicks" for e in ("insert", "delete", "update")}
TAG_COUNTS = {"tag_counts_insert": "contact_tags", "tag_counts_delete": "contact_tags"}
OWNER_COUNTS_PG = {f"owner_counts_{e}": "contacts" for e in ("insert", "delete", "update")}
OWNER_COUNTS_SQLITE = {f"owner_counts_{e}": "contacts" for e in ("insert", "delete", "leave", "enter")}
SPACING_QUEUE = {"spacing_queue_update": "deliveries"}  # not a count, but lost the same way


def _counted(session) -> tuple[dict, dict]:
    session.expire_all()
    live = dict(
        session.execute(
            select(Contact.owner_id, func.count()).where(Contact.archived_at.is_(None)).group_by(Contact.owner_id)
        ).all()
    )
    return {k: v for k, v in ownership.live_counts(session).items() if v}, live


def test_the_counts_follow_creation_archiving_handover_and_deletion(session, factory):
    anna, boris = factory.advisor(), factory.advisor()
    people = [factory.contact(owner=anna) for _ in range(4)]
    factory.contact(owner=boris, archived_at=datetime(2026, 1, 1, tzinfo=UTC))
    session.execute(
        insert(Contact),
        [{"owner_id": boris.id, "first_name": "Олег", "last_name": "Петров", "company": f"Б {n}"} for n in range(3)],
    )
    assert _counted(session)[0] == {anna.id: 4, boris.id: 3}
    people[0].archived_at = datetime(2026, 2, 1, tzinfo=UTC)  # archived
    people[1].owner = boris  # handed over
    people[2].first_name = "Игорь"  # an edit that moves nothing
    session.flush()
    session.execute(update(Contact).where(Contact.owner_id == boris.id).values(archived_at=None))  # restored in bulk
    session.execute(delete(Contact).where(Contact.id == people[3].id))  # erased
    stored, live = _counted(session)
    assert stored == live == {anna.id: 1, boris.id: 5}
    assert ownership.live_total(session) == 6 and ownership.live_total(session, anna.id) == 1


def test_the_start_page_and_the_users_page_show_the_kept_counts(client, session, factory):
    anna = factory.advisor(name="Анна Соколова")
    for _ in range(3):
        factory.contact(owner=anna)
    admin = factory.advisor(role=Role.ADMIN)
    client.login(admin)
    session.commit()
    assert "В базе 3 контакта" in client.get("/").get_data(as_text=True)
    users = client.get("/admin/users").get_data(as_text=True)
    assert "Анна Соколова" in users and f'owner={anna.id}">3</a>' in users
    client.post_form("/logout")
    client.login(anna)
    assert "У вас 3 контакта" in client.get("/").get_data(as_text=True)


def test_every_counting_trigger_exists_after_migrating_from_scratch(database_url):
    """A SQLite batch migration that rebuilds a table drops its triggers: this catches it."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = dict(
                conn.execute(
                    text(
                        "SELECT t.tgname, c.relname FROM pg_trigger t"
                        " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                    )
                ).all()
            )
            owner_counts = OWNER_COUNTS_PG
        else:
            found = dict(conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")).all())
            owner_counts = OWNER_COUNTS_SQLITE
    engine.dispose()
    expected = RESULT_COUNTS | LINK_COUNTS | TAG_COUNTS | owner_counts | SPACING_QUEUE
    assert {name: found.get(name) for name in expected} == expected
