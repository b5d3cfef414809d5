"""The CSV export is one streamed statement: tags joined in it, no dictionary of every contact's
tags before the first row, the same number of statements for 3 contacts as for 60 (#15)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from sqlalchemy import event

from campaigns import export
from campaigns.db import db
from campaigns.export import export_csv
from campaigns.models import Advisor
from tests.support import Client, Factory


def _export(session, user):
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        text = "".join(export_csv(session, user))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")), len(seen)


def test_the_export_is_one_statement_with_each_contacts_tags_in_order(factory, session):
    admin = factory.advisor(role="admin")
    anna = factory.advisor(name="Анна")
    summer, autumn, medics = factory.tag("Сентябрь"), factory.tag("Август"), factory.tag("Медики")
    factory.contact(owner=anna, last_name="Петров", tags=[summer, medics, autumn])
    factory.contact(owner=anna, last_name="Сидоров")
    factory.contact(owner=anna, last_name="Иванов", tags=[medics])
    session.commit()
    rows, few = _export(session, admin)
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["Петров"][7] == "Август, Медики, Сентябрь" and by_name["Сидоров"][7] == ""
    assert by_name["Иванов"][7] == "Медики" and by_name["Петров"][8] == "Анна"
    for n in range(57):
        factory.contact(owner=anna, last_name=f"Кузнецов{n}", tags=[summer, autumn])
    session.commit()
    rows, many = _export(session, admin)
    assert len(rows) == 61 and many == few == 1  # no query of every tag pair before the first row


def test_cells_are_written_as_the_csv_module_writes_them(factory, session, monkeypatch):
    """Dates as dd.mm.yyyy of their UTC day, formulas quoted, empty cells empty, tags in order, a cell with «;»,
    quotes or a line break quoted as the csv module does — whether its rows are joined directly or
    written by the module (one row per chunk here, so both happen in one export)."""
    monkeypatch.setattr(export, "CHUNK_ROWS", 1)
    admin = factory.advisor(role="admin")
    anna = factory.advisor(name="Анна")
    factory.contact(
        owner=anna,
        last_name="Петров",
        company="Тойота",
        company_alias="Toyota",
        phone="+79161234567",
        consent_at=datetime(2026, 3, 5, 23, 30, tzinfo=UTC),
        unsubscribed_at=datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        next_contact_on=date(2027, 1, 2),
    )
    factory.contact(
        owner=anna,
        last_name="Сидоров",
        company=" =SUM(A1) ",
        position='Директор; "по продажам"\nи закупкам',
        email=None,
        consent_at=None,
    )
    tags = [factory.tag(name) for name in ("Я, последний", "Банки", "Авто, мото")]
    factory.contact(owner=anna, last_name="@Кузнецов", middle_name="-", email="k@x.ru", tags=tags)
    session.commit()
    text = "".join(export_csv(session, admin))
    rows, _ = _export(session, admin)
    again = io.StringIO()
    csv.writer(again, delimiter=";", lineterminator="\r\n").writerows(rows)
    assert text == "\ufeff" + again.getvalue()
    petrov, sidorov, kuznetsov = rows[1:]
    assert (petrov[3], petrov[6], petrov[8], petrov[10:]) == (
        "Тойота (Toyota)",
        "'+79161234567",
        "Анна",
        ["05.03.2026", "31.12.2026", "02.01.2027"],
    )
    assert sidorov[3:7] == ["'=SUM(A1)", 'Директор; "по продажам"\nи закупкам', "", ""] and sidorov[10:] == ["", "", ""]
    assert (kuznetsov[0], kuznetsov[2], kuznetsov[5]) == ("'@Кузнецов", "'-", "k@x.ru")
    assert kuznetsov[7] == "Авто, мото, Банки, Я, последний"  # whole names in order, commas and all


def test_a_download_cut_short_gives_its_connection_back_and_the_next_one_is_whole(app, make_user, monkeypatch):
    """A browser that closes the connection mid-export: the statement still streaming is given up
    (PostgreSQL: cancelled, which aborts its transaction), the transaction rolled back and the
    connection back in the pool; the next export of the same contacts is complete. No app context is
    held between the requests, as in the server (Flask would reuse one and skip the teardown)."""
    monkeypatch.setattr(export, "STREAM_ROWS", 2)
    monkeypatch.setattr(export, "CHUNK_ROWS", 1)
    admin = make_user(role="admin")
    with app.app_context():
        factory = Factory(db.session)
        owner = db.session.get(Advisor, admin.id)
        for n in range(40):
            factory.contact(owner=owner, last_name=f"Кузнецов{n}")
        db.session.commit()
    client = Client(app.test_client())  # not in a `with` block, which would keep each request's context open
    client.login(admin)
    response = client.get("/imports/export.csv", buffered=False)
    chunks = iter(response.response)
    started = b"".join(next(chunks) for _ in range(3)).decode("utf-8-sig")  # the header, then a row
    assert started.startswith("Фамилия") and "Кузнецов" in started and db.engine.pool.checkedout() == 1
    response.close()  # what the server does when the client hangs up
    assert db.engine.pool.checkedout() == 0
    whole = client.get("/imports/export.csv").get_data(as_text=True)
    assert sum(f"Кузнецов{n};" in whole for n in range(40)) == 40
    assert db.engine.pool.checkedout() == 0
