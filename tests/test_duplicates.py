"""Duplicate search: e-mail, phone, company name or alias across spellings; who owns the match."""

from __future__ import annotations

import pytest

from campaigns.contact_fields import company_key, split_company
from campaigns.duplicates import DuplicateIndex, find_matches, query_names
from tests.scenes import write_csv


def _company(factory, owner, raw, **kw):
    company, alias = split_company(raw)
    return factory.contact(owner=owner, company=company, company_alias=alias, company_key=company_key(company, alias), **kw)


def test_it_finds_toyota_written_in_cyrillic(factory, session):
    owner = factory.advisor(name="Анна Смирнова")
    toyota = _company(factory, owner, "Toyota")
    [match] = find_matches(session, company="Тойота")
    assert match.contact_id == toyota.id
    assert match.owner_name == "Анна Смирнова"
    assert match.reason == "company"
    assert "Toyota" in match.detail


def test_it_ignores_legal_form_and_case(factory, session):
    machines = _company(factory, None, "Силовые Машины ПАО")
    assert [m.contact_id for m in find_matches(session, company="Силовые машины")] == [machines.id]


def test_it_finds_a_company_by_either_name(factory, session):
    riki = _company(factory, None, "ГК Рики (Смешарики)")
    assert [m.contact_id for m in find_matches(session, company="Смешарики")] == [riki.id]
    assert [m.contact_id for m in find_matches(session, company="Рики")] == [riki.id]
    assert [m.contact_id for m in find_matches(session, company="Рики (Smeshariki)")] == [riki.id]


def test_it_forgives_a_small_typo(factory, session):
    machines = _company(factory, None, "Силовые машины")
    [match] = find_matches(session, company="Силовые махины")
    assert match.contact_id == machines.id
    assert 0.85 <= match.score < 1
    assert "похожая компания" in match.detail


def test_it_does_not_confuse_different_companies(factory, session):
    _company(factory, None, "Газпром нефть")
    _company(factory, None, "МТС")
    _company(factory, None, "ГК Рики (Смешарики)")
    assert find_matches(session, company="Газпром") == []
    assert find_matches(session, company="МТК") == []
    assert find_matches(session, company="Шарики") == []


def test_it_finds_the_same_email_and_phone_in_any_spelling(factory, session):
    owner = factory.advisor(name="Пётр Иванов")
    contact = factory.contact(owner=owner, email="oleg@faubeha.ru", phone="+79161234567")
    [by_email] = find_matches(session, email="  OLEG@Faubeha.RU")
    [by_phone] = find_matches(session, phone="8 (916) 123-45-67")
    assert (by_email.contact_id, by_email.reason, by_email.owner_id) == (contact.id, "email", owner.id)
    assert (by_phone.contact_id, by_phone.reason, by_phone.owner_name) == (contact.id, "phone", "Пётр Иванов")


def test_it_reports_each_contact_once_with_its_strongest_reason(factory, session):
    contact = _company(factory, None, "Тойота", email="ivan@toyota.ru")
    other = _company(factory, None, "Toyota Motor")
    toyota_too = _company(factory, None, "Toyota")
    matches = find_matches(session, email="ivan@toyota.ru", company="Toyota")
    assert [(m.contact_id, m.reason) for m in matches] == [(contact.id, "email"), (toyota_too.id, "company")]
    assert other.id not in [m.contact_id for m in matches]


def test_it_leaves_out_the_contact_being_edited(factory, session):
    contact = factory.contact(email="oleg@faubeha.ru")
    assert find_matches(session, email="oleg@faubeha.ru", exclude_id=contact.id) == []


def test_it_ignores_invalid_input(factory, session):
    factory.contact(email="oleg@faubeha.ru")
    assert find_matches(session, email="not an address", phone="123", company="") == []


def test_it_finds_contacts_saved_without_a_key(factory, session):
    contact = factory.contact(company="Тойота", company_alias="")
    assert [m.contact_id for m in find_matches(session, company="Toyota")] == [contact.id]


def test_it_marks_archived_matches(factory, session):
    from campaigns.db import utcnow

    _company(factory, None, "Тойота", archived_at=utcnow())
    [match] = find_matches(session, company="Toyota")
    assert "в архиве" in match.detail


def test_the_index_finds_what_find_matches_finds(factory, session):
    owner = factory.advisor(name="Анна Смирнова")
    riki = _company(factory, owner, "ГК Рики (Смешарики)", email="info@riki.ru", phone="+74951234567")
    index = DuplicateIndex.load(session)
    for kwargs in (
        {"names": query_names("Смешарики")},
        {"names": query_names("Смешарики ООО")},
        {"names": query_names("Smeshariky")},
        {"email": "info@riki.ru"},
        {"phone": "+74951234567"},
    ):
        [hit] = index.lookup(**kwargs)
        assert hit.as_match().contact_id == riki.id
        assert hit.as_match().owner_name == "Анна Смирнова"
    assert index.lookup(names=query_names("Шарики"), email="other@riki.ru") == []


def test_it_keeps_numbered_companies_apart(factory, session):
    _company(factory, None, "Мостострой-6")
    assert find_matches(session, company="Мостострой-8") == []
    assert len(find_matches(session, company="Мостострой 6")) == 1


# --- the key has one author; the form and the import preview warn alike ---------------------

COLLEAGUES_COMPANIES = [("Касперский", "Kaspersky"), ("Циан", "Cian"), ("Медси", "Medsi")]
TYPED = ["Касперский", "АО «Лаборатория Касперского»", "ЦИАН", "ООО МЕДСИ"]


def _colleagues(session, factory):
    igor = factory.advisor(name="Игорь Беляев")
    anna = factory.advisor(name="Анна Соколова")
    for company, alias in COLLEAGUES_COMPANIES:
        # As the demo wrote them: a key of the caller's own making is not kept.
        factory.contact(owner=igor, company=company, company_alias=alias, company_key=f"{company} {alias}".lower())
    session.commit()
    return anna


def test_a_contact_gets_its_key_from_the_one_function_whatever_the_caller_wrote(session, factory):
    contact = factory.contact(company="Касперский", company_alias="Kaspersky", company_key="касперский kaspersky")
    assert contact.company_key == company_key("Касперский", "Kaspersky") == "|kasperski|"
    contact.company = "Циан"
    session.flush()
    assert contact.company_key == company_key("Циан", "Kaspersky")


@pytest.mark.parametrize("typed", TYPED)
def test_the_new_contact_form_warns_about_a_colleagues_company(client, session, factory, typed):
    anna = _colleagues(session, factory)
    client.login(anna)
    html = client.post_form("/contacts/new", {"first_name": "Олег", "company": typed}).get_data(as_text=True)
    assert "Похожие контакты уже есть" in html and "Игорь Беляев" in html


@pytest.mark.parametrize("typed", TYPED)
def test_the_import_preview_warns_about_a_colleagues_company(session, factory, tmp_path, typed):
    from campaigns.import_check import DUPLICATE, ImportOptions, preview_import

    anna = _colleagues(session, factory)
    path = write_csv(tmp_path, [["Имя", "Компания"], ["Олег", typed]])
    [row] = preview_import(session, path, "new.csv", ImportOptions(user_id=anna.id)).rows
    assert row.status == DUPLICATE and row.duplicates[0]["reason"] == "company"
    assert "Игорь Беляев" in str(row.duplicates[0])


def test_the_demo_stores_the_keys_the_one_function_makes(app, session, settings):
    from campaigns import catalog, demo
    from campaigns.models import Contact

    catalog.seed_tags(session)
    demo.load(session, settings)
    session.flush()
    rows = session.query(Contact.company, Contact.company_alias, Contact.company_key).all()
    assert rows and all(key == company_key(company, alias) for company, alias, key in rows)


def test_the_migration_recomputes_every_stored_key(tmp_path):
    from sqlalchemy import create_engine, text

    from campaigns import migrate

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrate.upgrade(url, "0010")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO advisors (id, email, name, role, is_house, active, created_at) "
                "VALUES (1, 'igor@studio.ru', 'Игорь', 'advisor', 0, 1, CURRENT_TIMESTAMP)"
            )
        )
        for company, alias in COLLEAGUES_COMPANIES + [("", "")]:
            conn.execute(
                text(
                    "INSERT INTO contacts (owner_id, first_name, middle_name, last_name, company, company_alias, company_key,"
                    " position, consent_source, created_at, updated_at) VALUES (1, '', '', '', :c, :a, :k, '', '',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"c": company, "a": alias, "k": f"{company} {alias}".lower()},
            )
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT company, company_alias, company_key FROM contacts ORDER BY id")).all()
    engine.dispose()
    assert [key for _, _, key in rows] == [company_key(c, a) for c, a, _ in rows]
    assert rows[0][2] == "|kasperski|" and rows[-1][2] == ""


def test_an_index_of_what_a_file_can_reach_finds_what_the_whole_index_finds(factory, session):
    """An import indexes only the stored contacts its rows can reach (Reach): for every row, the same hits."""
    from campaigns.duplicates import Reach

    owner = factory.advisor()
    stored = [
        "Toyota",
        "Силовые машины",
        "Силовые Машины ПАО",
        "АО «Лаборатория Касперского»",
        "Касперский",
        "Группа Илим",
        "ГК Рики (Смешарики)",
        "Газпром нефть",
        "Мостострой-6",
        "Мостострой-8",
        "МТС",
        "ЦИАН",
        "ООО МЕДСИ",
        "Ромашка",
        "Лютик",
    ]
    for n, raw in enumerate(stored):
        _company(factory, owner, raw, email=f"c{n}@firm{n}.ru", phone=f"+7916000{n:04d}")
    factory.contact(owner=owner, company="Незабудка", company_key="", email="old@nezabudka.ru")  # written without a key
    session.flush()
    queries = [
        {"names": query_names("Тойота")},
        {"names": query_names("Силовые махины")},
        {"names": query_names("Касперский")},
        {"names": query_names("Лаборатория Касперского")},
        {"names": query_names("Илим")},
        {"names": query_names("Смешарики ООО")},
        {"names": query_names("Газпром")},
        {"names": query_names("Мостострой-6")},
        {"names": query_names("Циан")},
        {"names": query_names("Медси")},
        {"names": query_names("Незабудка")},
        {"names": query_names("Василёк")},
        {"email": "c3@firm3.ru"},
        {"phone": "+79160000012"},
        {"email": "nobody@nowhere.ru", "phone": "+79169999999", "names": query_names("Лютик")},
    ]
    whole = DuplicateIndex.load(session)
    near = DuplicateIndex.load(
        session,
        near=Reach(
            emails={q["email"] for q in queries if "email" in q},
            phones={q["phone"] for q in queries if "phone" in q},
            names={name for q in queries for name in q.get("names", ())},
        ),
    )
    assert sum(len(v) for v in near.by_name.values()) < sum(len(v) for v in whole.by_name.values())  # Ромашка is left out

    def seen(hits):
        return [(h.entry.contact_id, h.reason, h.detail, h.score) for h in hits]

    found = 0
    for query in queries:
        assert seen(near.lookup(**query)) == seen(whole.lookup(**query)), query
        found += bool(whole.lookup(**query))
    assert found >= 12
