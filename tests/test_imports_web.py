"""The import pages: upload, preview, commit, progress of a long file, export."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from campaigns.db import db
from campaigns.extensions import redis_client
from campaigns.import_jobs import load_state, run_step
from campaigns.models import Contact, Note, Role
from tests.scenes import import_id_of, upload_import

CSV = "Фамилия;Имя;Компания;E-mail рабочий;Теги\r\nПетров;Олег;Тойота (Toyota);oleg@toyota.ru;\r\n"


def contact_count(session):
    session.rollback()
    return session.scalar(select(func.count(Contact.id)))


def test_it_previews_then_imports(client, factory, session):
    advisor = factory.advisor()
    session.commit()
    client.login(advisor)
    response = upload_import(client, CSV)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "новых: 1" in page and "Тойота (Toyota)" in page
    assert contact_count(session) == 0  # the preview writes nothing
    done = client.post_form(f"/imports/{import_id_of(response)}/commit")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Загружено: 1 контакт" in page
    assert contact_count(session) == 1


def test_it_shows_duplicates_with_their_owner(client, factory, session):
    me = factory.advisor()
    anna = factory.advisor(name="Анна Смирнова")
    factory.contact(owner=anna, email="oleg@toyota.ru")
    session.commit()
    client.login(me)
    page = client.get(upload_import(client, CSV).headers["Location"]).get_data(as_text=True)
    assert "дубликатов: 1" in page
    assert "Анна Смирнова" in page and "oleg@toyota.ru" in page
    assert "Загружать нечего" in page


def test_rows_with_errors_block_the_import_unless_skipped(client, factory, session):
    me = factory.advisor()
    session.commit()
    client.login(me)
    text = CSV + "Белова;Анна;Ромашка;anna-at-romashka.ru;\r\n"
    response = upload_import(client, text, name="bad.csv", encoding="cp1251")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "с ошибками: 1" in page and "нет знака @" in page
    notes_before = session.scalar(select(func.count(Note.id)))
    client.post_form(f"/imports/{import_id_of(response)}/commit")
    assert contact_count(session) == 0
    assert session.scalar(select(func.count(Note.id))) == notes_before
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "ничего не записано" in page.lower()
    client.post_form(f"/imports/{import_id_of(response)}/commit", {"skip_errors": "y"})
    assert contact_count(session) == 1


def test_a_script_in_a_field_renders_inert(client, factory, session):
    me = factory.advisor()
    session.commit()
    client.login(me)
    text = 'Имя;Компания;Должность\r\n<script>alert(1)</script>;"<img src=x onerror=alert(2)>";<b>Директор</b>\r\n'
    page = client.get(upload_import(client, text).headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page and "<b>Директор</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_another_users_import_is_not_found(client, factory, session):
    me, other = factory.advisor(), factory.advisor()
    session.commit()
    client.login(me)
    location = upload_import(client, CSV).headers["Location"]
    client.post_form("/logout")
    client.login(other)
    assert client.get(location).status_code == 404
    assert client.post_form(location + "/commit").status_code == 404


def test_the_admin_chooses_the_owner(client, factory, session):
    admin = factory.advisor(role=Role.ADMIN)
    house = factory.house_advisor()
    session.commit()
    client.login(admin)
    response = upload_import(client, CSV, owner_id=str(house.id))
    client.post_form(f"/imports/{import_id_of(response)}/commit")
    session.rollback()
    assert session.scalar(select(Contact.owner_id)) == house.id


def test_a_long_file_goes_to_the_worker_and_shows_progress(app, client, factory, session):
    me = factory.advisor()
    session.commit()
    client.login(me)
    app.config["IMPORT_INLINE_BYTES"] = 0
    try:
        response = upload_import(client, CSV)
    finally:
        del app.config["IMPORT_INLINE_BYTES"]
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "Проверяем файл" in page and 'http-equiv="refresh"' in page
    assert client.get(location + "/progress.json").get_json()["status"] == "previewing"
    ident = import_id_of(response)
    # What the RQ worker runs for this job:
    from rq import Queue

    [job] = Queue("default", connection=redis_client()).jobs
    assert job.func_name == "campaigns.tasks.import_contacts" and job.args == (ident, "preview")
    run_step(db.session, redis_client(), ident, "preview")
    assert "новых: 1" in client.get(location).get_data(as_text=True)
    assert load_state(redis_client(), ident)["status"] == "previewed"


def test_a_wrong_file_is_explained(client, factory, session):
    me = factory.advisor()
    session.commit()
    client.login(me)
    page = client.post_form("/imports/", {"file": (io.BytesIO(b"x"), "photo.png")}, content_type="multipart/form-data").get_data(
        as_text=True
    )
    assert "Подойдёт файл .csv или .xlsx" in page
    location = upload_import(client, "a;b\r\n1;2\r\n").headers["Location"]
    assert "нет знакомых названий столбцов" in client.get(location).get_data(as_text=True)


def test_export_is_a_csv_for_excel_with_only_visible_contacts(client, factory, session):
    me, other = factory.advisor(), factory.advisor()
    factory.contact(owner=me, email="mine@x.ru")
    factory.contact(owner=other, email="theirs@x.ru")
    session.commit()
    client.login(me)
    response = client.get("/imports/export.csv")
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert re.match(r"Фамилия;Имя;Отчество;Компания", text)
    assert "mine@x.ru" in text and "theirs@x.ru" not in text


def test_the_nav_has_an_import_entry(client, factory, session):
    me = factory.advisor(role=Role.MARKETING)
    session.commit()
    client.login(me)
    assert 'href="/imports/"' in client.get("/").get_data(as_text=True)
