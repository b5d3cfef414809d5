"""Importing contacts from CSV and XLSX: preview, all-or-nothing commit, duplicates, export."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import func, select

from campaigns.contact_fields import company_key, split_company
from campaigns.export import export_csv
from campaigns.import_check import DUPLICATE, ERROR, NEW, ImportOptions, preview_import
from campaigns.import_commit import ImportHasErrors, commit_import
from campaigns.import_read import ImportFileError
from campaigns.models import Contact, Note, NoteKind, Role
from tests.scenes import write_csv
from tests.support import waits_for_commit

BITRIX_HEADER = [
    "ID",
    "Имя",
    "Фамилия",
    "Отчество",
    "Компания",
    "Должность",
    "E-mail рабочий",
    "E-mail домашний",
    "Телефон рабочий",
    "Телефон мобильный",
    "Ответственный",
    "Теги",
    "Дата создания",
]


def write_xlsx(tmp_path, rows, name="contacts.xlsx"):
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def counts(session):
    return session.scalar(select(func.count(Contact.id))), session.scalar(select(func.count(Note.id)))


def stored(factory, owner, raw_company, **kw):
    company, alias = split_company(raw_company)
    return factory.contact(owner=owner, company=company, company_alias=alias, company_key=company_key(company, alias), **kw)


def test_it_imports_a_bitrix24_export(factory, session, tmp_path):
    admin = factory.advisor(role=Role.ADMIN)
    anna = factory.advisor(name="Анна Смирнова", email="anna@studio.example.com")
    ivan = factory.advisor(name="Иван Петров", email="ivan@studio.example.com")
    september, builders = factory.tag("Сентябрь"), factory.tag("Строители")
    session.commit()
    path = write_csv(
        tmp_path,
        [
            BITRIX_HEADER,
            [
                "1",
                "Олег",
                "Кондрашов",
                "Васильевич",
                "ГК Рики (Смешарики)",
                "Директор",
                "Oleg@Riki.ru",
                "",
                "8 (916) 123-45-67",
                "",
                "Анна Смирнова",
                "сентябрь, строители",
                "01.02.2024",
            ],
            [
                "2",
                "Мария",
                "Орлова",
                "",
                "Тойота",
                "Закупки",
                "",
                "maria@mail.ru",
                "",
                "+7 495 111-22-33",
                "ivan@studio.example.com",
                "",
                "01.02.2024",
            ],
        ],
        bom=True,
    )
    options = ImportOptions(user_id=admin.id, owner_id=anna.id, use_owner_column=True)
    result = commit_import(session, path, "bitrix.csv", options)
    assert (result.created, result.duplicates, result.errors) == (2, 0, 0)
    oleg = session.scalar(select(Contact).where(Contact.last_name == "Кондрашов"))
    assert (oleg.first_name, oleg.middle_name, oleg.position) == ("Олег", "Васильевич", "Директор")
    assert (oleg.company, oleg.company_alias) == ("ГК Рики", "Смешарики")
    assert (oleg.email, oleg.phone, oleg.owner_id) == ("oleg@riki.ru", "+79161234567", anna.id)
    assert {t.id for t in oleg.tags} == {september.id, builders.id}
    assert oleg.consent_source == "импорт: bitrix.csv" and oleg.consent_at is not None
    [note] = oleg.notes
    assert note.kind == NoteKind.SYSTEM and "Импортирован из файла «bitrix.csv»" in note.body
    maria = session.scalar(select(Contact).where(Contact.last_name == "Орлова"))
    assert (maria.email, maria.phone, maria.owner_id) == ("maria@mail.ru", "+74951112233", ivan.id)


@pytest.mark.parametrize(("encoding", "delimiter", "bom"), [("cp1251", ";", False), ("utf-8", ",", False), ("utf-8", ";", True)])
def test_it_reads_the_usual_csv_flavours(factory, session, tmp_path, encoding, delimiter, bom):
    advisor = factory.advisor()
    session.commit()
    path = write_csv(
        tmp_path,
        [["Фамилия", "Имя", "Компания", "E-mail"], ["Ёлкин", "Пётр", "Силовые машины; ПАО", "petr@sm.ru"]],
        encoding=encoding,
        delimiter=delimiter,
        bom=bom,
    )
    plan = preview_import(session, path, "file.csv", ImportOptions(user_id=advisor.id))
    [row] = plan.rows
    assert row.status == NEW, row.errors
    assert (row.values["last_name"], row.values["first_name"]) == ("Ёлкин", "Пётр")
    assert row.values["company"] == "Силовые машины; ПАО"


def test_it_reads_xlsx(factory, session, tmp_path):
    advisor = factory.advisor()
    session.commit()
    path = write_xlsx(
        tmp_path, [["Имя", "Фамилия", "Телефон мобильный", "Дата согласия"], ["Олег", "Петров", 79161234567, date(2024, 5, 6)]]
    )
    result = commit_import(session, path, "list.xlsx", ImportOptions(user_id=advisor.id))
    assert result.created == 1
    contact = session.scalar(select(Contact))
    assert (contact.phone, contact.owner_id, contact.consent_at.date()) == ("+79161234567", advisor.id, date(2024, 5, 6))


def test_an_import_with_bad_rows_changes_nothing(factory, session, tmp_path):
    advisor = factory.advisor()
    factory.contact(owner=advisor)
    session.commit()
    before = counts(session)
    path = write_csv(
        tmp_path,
        [
            ["Имя", "Фамилия", "E-mail рабочий", "Телефон рабочий", "Теги"],
            ["Олег", "Петров", "oleg@x.ru", "", ""],
            ["Анна", "Белова", "anna-at-x.ru", "", ""],
            ["Илья", "Серов", "", "12", ""],
            ["Ян", "Ли", "", "", "Нет такого"],
        ],
    )
    plan = preview_import(session, path, "bad.csv", ImportOptions(user_id=advisor.id))
    assert [r.status for r in plan.rows] == [NEW, ERROR, ERROR, ERROR]
    assert "нет знака @" in plan.rows[1].errors["email"]
    assert "телефон" in plan.rows[2].errors["phone"].lower()
    assert "Нет такого" in plan.rows[3].errors["tags"]
    with pytest.raises(ImportHasErrors):
        commit_import(session, path, "bad.csv", ImportOptions(user_id=advisor.id))
    assert counts(session) == before


def test_it_skips_error_rows_only_when_asked(factory, session, tmp_path):
    advisor = factory.advisor()
    session.commit()
    path = write_csv(tmp_path, [["Имя", "E-mail"], ["Олег", "oleg@x.ru"], ["Анна", "anna-at-x.ru"]])
    result = commit_import(session, path, "bad.csv", ImportOptions(user_id=advisor.id, skip_errors=True))
    assert (result.created, result.errors) == (1, 1)
    assert counts(session) == (1, 1)


def test_a_failure_while_writing_leaves_nothing(factory, session, tmp_path):
    advisor = factory.advisor()
    session.commit()
    before = counts(session)
    # A file that passes the checks but breaks at the database: a huge tag list never
    # happens, so the broken row is simulated by a deleted owner between check and write.
    path = write_csv(tmp_path, [["Имя", "E-mail"], ["Олег", "oleg@x.ru"]])

    def sabotage(phase, done, total):
        if phase == "write" and done:  # after the contacts went in, before their notes
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        commit_import(session, path, "f.csv", ImportOptions(user_id=advisor.id), progress=sabotage)
    assert counts(session) == before


def test_duplicates_are_reported_with_their_owner_and_not_created(factory, session, tmp_path):
    me = factory.advisor()
    anna = factory.advisor(name="Анна Смирнова")
    factory.contact(owner=anna, email="oleg@faubeha.ru")
    factory.contact(owner=anna, phone="+79161234567")
    stored(factory, anna, "ГК Рики (Смешарики)")
    session.commit()
    before = counts(session)
    path = write_csv(
        tmp_path,
        [
            ["Имя", "Компания", "E-mail", "Телефон"],
            ["Олег", "Фаубеха", "OLEG@faubeha.ru", ""],
            ["Ирина", "Другая", "", "8 916 123 45 67"],
            ["Пётр", "Smeshariki", "", ""],
            ["Новый", "Новая компания", "new@new.ru", ""],
            ["Дубль", "Совсем другая", "new@new.ru", ""],
        ],
    )
    plan = preview_import(session, path, "dups.csv", ImportOptions(user_id=me.id))
    assert [r.status for r in plan.rows] == [DUPLICATE, DUPLICATE, DUPLICATE, NEW, DUPLICATE]
    reasons = [r.duplicates[0]["reason"] for r in plan.rows if r.status == DUPLICATE]
    assert reasons == ["email", "phone", "company", "email"]
    assert all(r.duplicates[0]["owner_name"] == "Анна Смирнова" for r in plan.rows[:3])
    assert plan.rows[4].duplicates[0]["row"] == 5  # the earlier row of the same file
    result = commit_import(session, path, "dups.csv", ImportOptions(user_id=me.id))
    assert (result.created, result.duplicates) == (1, 4)
    # One note on the new contact, and one on each of Anna's contacts met by address or phone:
    # she learns of the attempt (#17); a similar company name alone is no attempt.
    assert counts(session) == (before[0] + 1, before[1] + 1 + 2)
    attempts = session.scalars(select(Note).where(Note.body.startswith("Попытка добавить"))).all()
    assert {n.contact.owner_id for n in attempts} == {anna.id} and len(attempts) == 2


def test_colleagues_at_a_company_of_the_same_owner_are_new(factory, session, tmp_path):
    me = factory.advisor()
    stored(factory, me, "Тойота", first_name="Олег", last_name="Петров")
    session.commit()
    path = write_csv(
        tmp_path,
        [["Имя", "Фамилия", "Компания"], ["Анна", "Белова", "Toyota"], ["Олег", "Петров", "ТОЙОТА"], ["Илья", "Серов", "Toyota"]],
    )
    plan = preview_import(session, path, "t.csv", ImportOptions(user_id=me.id))
    assert [r.status for r in plan.rows] == [NEW, DUPLICATE, NEW]
    assert "тот же человек" in plan.rows[1].duplicates[0]["detail"]
    assert any("Тойота" in hint for hint in plan.rows[0].hints)


def test_an_advisor_always_imports_into_their_own_name(factory, session, tmp_path):
    me = factory.advisor()
    other = factory.advisor(name="Анна Смирнова")
    session.commit()
    path = write_csv(tmp_path, [["Имя", "Ответственный"], ["Олег", "Анна Смирнова"]])
    commit_import(session, path, "f.csv", ImportOptions(user_id=me.id, owner_id=other.id, use_owner_column=True))
    assert session.scalar(select(Contact.owner_id)) == me.id


def test_an_unknown_owner_is_an_error(factory, session, tmp_path):
    admin = factory.advisor(role=Role.ADMIN)
    house = factory.house_advisor()
    session.commit()
    path = write_csv(tmp_path, [["Имя", "Ответственный"], ["Олег", "Никто Никтоев"], ["Анна", ""]])
    plan = preview_import(session, path, "f.csv", ImportOptions(user_id=admin.id, owner_id=house.id, use_owner_column=True))
    assert "Никто Никтоев" in plan.rows[0].errors["owner"]
    assert plan.rows[1].status == NEW and plan.rows[1].values["owner"] == house.name


def test_html_is_kept_as_text(factory, session, tmp_path):
    me = factory.advisor()
    payload = '<script>alert("x")</script>'
    session.commit()
    path = write_csv(tmp_path, [["Имя", "Компания"], [payload, "<b>ООО</b>"]])
    commit_import(session, path, "f.csv", ImportOptions(user_id=me.id))
    contact = session.scalar(select(Contact))
    assert contact.first_name == payload


def test_a_file_without_known_columns_is_refused(factory, session, tmp_path):
    me = factory.advisor()
    session.commit()
    path = write_csv(tmp_path, [["a", "b"], ["1", "2"]])
    with pytest.raises(ImportFileError, match="заголовк"):
        preview_import(session, path, "f.csv", ImportOptions(user_id=me.id))


def test_export_gives_the_same_columns_back(factory, session, tmp_path):
    me = factory.advisor(name="Анна Смирнова")
    other = factory.advisor()
    tag = factory.tag("Сентябрь")
    stored(
        factory,
        me,
        "Тойота (Toyota)",
        first_name="Олег",
        last_name="Петров",
        email="oleg@toyota.ru",
        phone="+79161234567",
        tags=[tag],
        position="=HYPERLINK()",
    )
    factory.contact(owner=other, email="hidden@x.ru")
    session.commit()
    text = "".join(export_csv(session, me))
    assert text.startswith("\ufeffФамилия;Имя;")
    assert "hidden@x.ru" not in text
    assert "'=HYPERLINK()" in text  # never a live formula in Excel
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("utf-8"))
    session.execute(Contact.__table__.delete())
    session.commit()
    result = commit_import(session, path, "export.csv", ImportOptions(user_id=me.id))
    assert result.created == 1
    contact = session.scalar(select(Contact))
    assert (contact.company, contact.company_alias, contact.phone, contact.position) == (
        "Тойота",
        "Toyota",
        "+79161234567",
        "=HYPERLINK()",
    )
    assert [t.name for t in contact.tags] == ["Сентябрь"]


def test_a_thousand_rows_import_quickly(factory, session, tmp_path):
    me = factory.advisor()
    rows = [["Имя", "Фамилия", "Компания", "E-mail", "Телефон"]]
    rows += [[f"Имя{i}", f"Фамилия{i}", f"Компания номер {i}", f"user{i}@firm{i}.ru", f"+7916{i:07d}"] for i in range(1000)]
    session.commit()
    path = write_csv(tmp_path, rows)
    started = time.perf_counter()
    result = commit_import(session, path, "big.csv", ImportOptions(user_id=me.id))
    elapsed = time.perf_counter() - started
    assert result.created == 1000
    assert counts(session) == (1000, 1000)
    assert elapsed < 5, f"{elapsed:.1f} s for 1,000 rows"


def test_an_import_waits_for_a_contact_being_created_and_does_not_duplicate_it(app, factory, session, tmp_path):

    from sqlalchemy.orm import Session

    from campaigns.db import db
    from campaigns.duplicates import lock_contact_writes

    me = factory.advisor()
    session.commit()
    path = write_csv(tmp_path, [["Имя", "E-mail"], ["Олег", "oleg@faubeha.ru"]])
    # Someone else is creating the same contact by hand: checked, inserted, not yet committed.
    other = Session(bind=db.engine)
    lock_contact_writes(other)
    other.add(Contact(owner_id=me.id, first_name="Олег", email="oleg@faubeha.ru"))
    other.flush()
    outcome = {}

    def run_import():
        with app.app_context():
            try:
                outcome["result"] = commit_import(db.session, path, "f.csv", ImportOptions(user_id=me.id))
            except Exception as exc:  # shown by the assertion below
                outcome["error"] = exc

    assert waits_for_commit(other, run_import), "the import must wait for the other transaction"
    assert "error" not in outcome, outcome.get("error")
    assert (outcome["result"].created, outcome["result"].duplicates) == (0, 1)
    assert session.scalar(select(func.count(Contact.id)).where(Contact.email == "oleg@faubeha.ru")) == 1


def test_an_address_on_the_stop_list_is_flagged_in_the_preview_whatever_its_case(factory, session, tmp_path):
    from campaigns import consent
    from campaigns.models import SuppressionReason

    me = factory.advisor()
    consent.suppress(session, "Oleg@Faubeha.example.ru", SuppressionReason.UNSUBSCRIBE)
    session.commit()
    path = write_csv(tmp_path, [["Имя", "E-mail рабочий"], ["Олег", "OLEG@faubeha.example.ru"], ["Анна", "anna@x.example.ru"]])
    plan = preview_import(session, path, "t.csv", ImportOptions(user_id=me.id))
    flagged = [any("списке исключений" in hint for hint in row.hints) for row in plan.rows]
    assert flagged == [True, False]
