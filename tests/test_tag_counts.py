"""Each tag's count of contacts is kept as pairs are written, so the tags page reads no pairs (#15)."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from campaigns.models import Contact, Role, Tag, contact_tags


def _stored_and_counted(session):
    session.expire_all()
    stored = {t.name: t.contacts_count for t in session.scalars(select(Tag))}
    counted = {
        name: n
        for name, n in session.execute(
            select(Tag.name, func.count(contact_tags.c.contact_id)).outerjoin(contact_tags).group_by(Tag.name)
        )
    }
    return stored, counted


def test_the_counts_follow_forms_bulk_inserts_and_deletions(client, session, factory):
    builders, medics, empty = factory.tag("Строители"), factory.tag("Медики"), factory.tag("Пустой")
    people = [factory.contact(tags=[builders, medics]) for _ in range(3)]
    people[0].tags = [medics]
    session.flush()
    loose = factory.contact()
    session.execute(insert(contact_tags), [{"contact_id": loose.id, "tag_id": builders.id}])
    session.execute(delete(Contact).where(Contact.id == people[1].id))
    session.commit()
    stored, counted = _stored_and_counted(session)
    assert stored == counted == {"Строители": 2, "Медики": 2, "Пустой": 0}
    client.login(factory.advisor(role=Role.MARKETING))
    session.commit()
    page = client.get("/tags").get_data(as_text=True)
    assert "Строители" in page and empty.name in page
