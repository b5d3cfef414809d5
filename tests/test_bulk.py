"""The contacts list's selection: tag, untag, archive, restore, hand over, export — only what the user may change."""

from __future__ import annotations

from sqlalchemy import func, select

from campaigns.models import Contact, Note, Role


def _ids(*contacts):
    return [str(c.id) for c in contacts]


def test_an_advisor_tags_untags_and_archives_only_their_own_selected_contacts(client, factory, session):
    anna = factory.advisor(name="Анна")
    igor = factory.advisor(name="Игорь")
    medics = factory.tag("Медики")
    mine = [factory.contact(owner=anna, last_name=f"Свой{i}") for i in range(3)]
    theirs = factory.contact(owner=igor, last_name="Чужой")
    session.commit()
    client.login(anna)

    response = client.post_form(
        "/contacts/bulk", {"action": "tag", "tag_id": str(medics.id), "ids": _ids(*mine[:2], theirs), "next": "/contacts/?q=x"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/contacts/?q=x"
    session.expire_all()
    assert [medics in c.tags for c in mine] == [True, True, False] and medics not in theirs.tags
    assert "Тег «Медики» добавлен: 2 контакта." in client.get("/contacts/").get_data(as_text=True)

    client.post_form("/contacts/bulk", {"action": "untag", "tag_id": str(medics.id), "ids": _ids(mine[0])})
    session.expire_all()
    assert medics not in mine[0].tags and medics in mine[1].tags

    client.post_form("/contacts/bulk", {"action": "archive", "ids": _ids(mine[1], theirs)})
    session.expire_all()
    assert mine[1].archived_at is not None and theirs.archived_at is None
    assert session.scalar(select(func.count()).select_from(Note).where(Note.contact_id == theirs.id)) == 0
    # An advisor neither restores nor hands over.
    assert client.post_form("/contacts/bulk", {"action": "restore", "ids": _ids(mine[1])}).status_code == 403
    assert (
        client.post_form(
            "/contacts/bulk", {"action": "transfer", "ids": _ids(mine[0]), "new_owner_id": str(igor.id), "reason": "x"}
        ).status_code
        == 403
    )


def test_an_admin_hands_over_finds_the_archive_restores_and_exports_the_selection(client, factory, session):
    admin = factory.advisor(role=Role.ADMIN, name="Админ")
    anna = factory.advisor(name="Анна")
    igor = factory.advisor(name="Игорь")
    a, b, c = (
        factory.contact(owner=anna, last_name=name, email=f"{i}@client.example.com")
        for i, name in enumerate(("Первый", "Второй", "Третий"))
    )
    session.commit()
    client.login(admin)

    client.post_form(
        "/contacts/bulk", {"action": "transfer", "ids": _ids(a, b), "new_owner_id": str(igor.id), "reason": "отпуск"}
    )
    session.expire_all()
    assert (a.owner_id, b.owner_id, c.owner_id) == (igor.id, igor.id, anna.id)

    client.post_form("/contacts/bulk", {"action": "archive", "ids": _ids(c)})
    archive = client.get("/contacts/?archived=1").get_data(as_text=True)
    assert "Третий" in archive and "Первый" not in archive and "Вернуть из архива" in archive
    assert "Третий" not in client.get("/contacts/").get_data(as_text=True)
    client.post_form("/contacts/bulk", {"action": "restore", "ids": _ids(c)})
    session.expire_all()
    assert c.archived_at is None

    exported = client.post_form("/contacts/bulk", {"action": "export", "ids": _ids(a, c)})
    text = exported.get_data(as_text=True)
    assert exported.headers["Content-Disposition"] == "attachment; filename=contacts-selected.csv"
    assert "Первый" in text and "Третий" in text and "Второй" not in text


def test_marketing_may_export_but_not_change_and_nothing_ticked_changes_nothing(client, factory, session):
    marketing = factory.advisor(role=Role.MARKETING)
    contact = factory.contact(last_name="Клиент")
    session.commit()
    client.login(marketing)
    assert client.post_form("/contacts/bulk", {"action": "archive", "ids": _ids(contact)}).status_code == 403
    assert "Клиент" in client.post_form("/contacts/bulk", {"action": "export", "ids": _ids(contact)}).get_data(as_text=True)
    client.post_form("/contacts/bulk", {"action": "archive"})
    assert session.scalar(select(func.count()).select_from(Contact).where(Contact.archived_at.is_not(None))) == 0
    assert client.post_form("/contacts/bulk", {"action": "drop", "ids": _ids(contact)}).status_code == 400
    assert client.post_form("/contacts/bulk", {"action": "archive", "ids": ["1; DROP"]}).status_code == 400
