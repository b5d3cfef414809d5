"""Erasure (152-FZ) beyond the contact row: imports keep nobody's data once they are over, an erasure
ends the unfinished imports that name the person, and the stop list keeps the address only as a hash
keyed with SECRET_KEY — while the people erased before (a plain SHA-256) stay suppressed."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import literal, select

import campaigns
from campaigns import consent, import_jobs, privacy
from campaigns.db import address_hash, keyed_address_hash, keyed_hash_sql
from campaigns.extensions import redis_client
from campaigns.models import Contact, Role, Suppression, SuppressionReason
from tests.scenes import AUDIENCE_PATHS, audience_offer, audience_planned, import_id_of, upload_import

IVANOV = "ivanov@client.example.com"
CSV = (
    "Фамилия;Имя;Компания;E-mail рабочий\r\n"
    "Иванов;Иван;Мёд и пчёлы;Ivanov@Client.example.com\r\n"
    "Петров;Олег;Тойота;oleg@toyota.ru\r\n"
)
OTHER_CSV = "Фамилия;Имя;Компания;E-mail рабочий\r\nБелова;Анна;Ромашка;anna@romashka.ru\r\n"


def _state(import_id: str) -> dict:
    return import_jobs.load_state(redis_client(), import_id) or {}


def _uploaded(client, factory, session, text: str) -> str:
    advisor = factory.advisor()
    session.commit()
    client.login(advisor)
    response = upload_import(client, text)
    assert response.status_code == 302
    client.post_form("/logout")
    return import_id_of(response)


def _files(app) -> list[Path]:
    return sorted(import_jobs.upload_dir(app.instance_path).glob("*"))


# ------------------------------------------------------------------------------ imports


def test_a_written_import_keeps_neither_its_file_nor_the_rows(app, client, factory, session):
    advisor = factory.advisor()
    session.commit()
    client.login(advisor)
    import_id = import_id_of(upload_import(client, CSV))
    assert IVANOV in json.dumps(_state(import_id), ensure_ascii=False).lower()  # the preview shows the rows
    client.post_form(f"/imports/{import_id}/commit")

    state = _state(import_id)
    assert state["status"] == "done" and state["result"]["created"] == 2
    assert "path" not in state and state["preview"]["rows"] == [] and state["preview"]["counts"]["new"] == 2
    assert "ivanov" not in json.dumps(state, ensure_ascii=False).lower()
    assert not [p for p in _files(app) if p.stem == import_id]
    page = client.get(f"/imports/{import_id}").get_data(as_text=True)
    assert "Загружено: 2 контакта" in page


def test_a_failed_import_keeps_nothing_of_its_file(app, client, factory, session):
    import_id = _uploaded(client, factory, session, "\x00\x00 not a table")
    state = _state(import_id)
    assert state["status"] == "failed" and state["error"]
    assert "path" not in state and not [p for p in _files(app) if p.stem == import_id]


def test_an_erasure_ends_the_unfinished_imports_that_name_the_person(app, client, factory, session):
    naming = _uploaded(client, factory, session, CSV)
    other = _uploaded(client, factory, session, OTHER_CSV)
    admin = factory.advisor(role=Role.ADMIN)
    contact = factory.contact(email=IVANOV)
    session.commit()
    assert _state(naming)["status"] == _state(other)["status"] == "previewed"

    privacy.erase(session, admin, contact)
    session.commit()

    state = _state(naming)
    assert state["status"] == "failed" and state["error"] == import_jobs.ERASED_ERROR
    assert "ivanov" not in json.dumps(state, ensure_ascii=False).lower()
    stems = {p.stem for p in _files(app)}
    assert naming not in stems and other in stems  # the file is gone, the other uploader's stays
    assert _state(other)["status"] == "previewed" and _state(other)["preview"]["rows"]
    # Its uploader sees why, and cannot commit it any more.
    uploader = session.get(type(admin), state["options"]["user_id"])
    client.login(uploader)
    page = client.get(f"/imports/{naming}").get_data(as_text=True)
    assert "152-ФЗ" in page
    client.post_form(f"/imports/{naming}/commit")
    assert session.scalar(select(Contact.id).where(Contact.last_name == "Петров")) is None


def test_an_erasure_also_clears_a_finished_imports_old_preview(app, factory, session):
    # A state kept from before imports dropped their rows when done.
    redis = redis_client()
    import_jobs.save_state(
        redis, "old", filename="old.csv", status="done", preview={"counts": {"new": 1}, "rows": [{"email": IVANOV}]}
    )
    privacy.erase(session, factory.advisor(role=Role.ADMIN), factory.contact(email=IVANOV))
    state = _state("old")
    assert state["status"] == "done" and state["preview"] == {"counts": {"new": 1}, "rows": [], "truncated": False}


def test_the_sweep_removes_only_old_files_no_import_names(app, session, tmp_path):
    directory = import_jobs.upload_dir(tmp_path)
    old_orphan, young_orphan, old_named = directory / "a1.csv", directory / "a2.csv", directory / "a3.csv"
    for path in (old_orphan, young_orphan, old_named):
        path.write_text(CSV)
    long_ago = time.time() - import_jobs.STATE_TTL - 60
    os.utime(old_orphan, (long_ago, long_ago))
    os.utime(old_named, (long_ago, long_ago))
    import_jobs.save_state(redis_client(), "a3", filename="a3.csv", status="previewed")

    assert import_jobs.sweep_uploads(redis_client(), directory) == 1
    assert sorted(p.name for p in directory.glob("*")) == ["a2.csv", "a3.csv"]


def test_the_scheduler_sweeps_the_uploads_every_hour(app, session, monkeypatch):
    from campaigns import cron, tasks

    monkeypatch.setattr(tasks, "_app", app)
    jobs = {(job.func_name.rsplit(".", 1)[-1], job.interval) for job in cron.build(redis_client()).get_jobs()}
    assert ("sweep_import_uploads", 3600) in jobs
    orphan = import_jobs.upload_dir(app.instance_path) / "gone.csv"
    orphan.write_text(CSV)
    long_ago = time.time() - import_jobs.STATE_TTL - 60
    os.utime(orphan, (long_ago, long_ago))
    assert tasks.sweep_import_uploads() >= 1 and not orphan.exists()


# ------------------------------------------------------------------------------ the keyed hash


def test_the_hash_is_keyed_with_the_secret_key(settings):
    ours = keyed_address_hash(IVANOV, settings.secret_key)
    assert ours.startswith("hmac:") and ours == keyed_address_hash(" Ivanov@Client.example.com ", settings.secret_key)
    assert ours != keyed_address_hash(IVANOV, settings.secret_key + "x")  # a guess cannot be tested without the key
    assert ours.removeprefix("hmac:") != address_hash(IVANOV).removeprefix("sha256:")


@pytest.mark.parametrize("address", [IVANOV, "Ivanov@Client.example.com", "анна@почта.рф"])
def test_the_database_computes_the_same_keyed_hash(session, settings, address):
    in_sql = session.scalar(select(keyed_hash_sql(literal(address), settings.secret_key)))
    assert in_sql == keyed_address_hash(address, settings.secret_key)


# ------------------------------------------------------------------------------ an erased person added again
# The stop list keeps an erased address only as a hash; the address entering the contacts again (the form,
# the API, an import, a changed address) is checked against it once and goes back on the list as itself.


def _erased(session, factory, settings, form: str) -> None:
    """Ivanov erased: today's erasure leaves the keyed hash; one from before it, the plain SHA-256."""
    if form == "keyed":
        privacy.erase(session, factory.advisor(role=Role.ADMIN), factory.contact(email=IVANOV))
    else:
        session.add(Suppression(email=address_hash(IVANOV), reason=SuppressionReason.MANUAL, detail=privacy.ERASED_NOTE))
    session.commit()


def _ivanov(session) -> Contact:
    session.expire_all()
    return session.scalar(select(Contact).where(Contact.email == IVANOV))


def _advisor(client, session, factory):
    advisor = factory.advisor()
    session.commit()
    client.login(advisor)
    return advisor


def _by_form(client, session, factory, tag, monkeypatch) -> Contact:
    _advisor(client, session, factory)
    fields = {"first_name": "Иван", "email": "Ivanov@Client.example.com", "tags": [str(tag.id)], "consent_source": "визитка"}
    assert client.post_form("/contacts/new", fields).status_code == 302
    return _ivanov(session)


def _by_api(client, session, factory, tag, monkeypatch) -> Contact:
    _advisor(client, session, factory)
    fields = {"first_name": "Иван", "email": "Ivanov@Client.example.com", "tags": [tag.name], "consent_source": "звонок"}
    assert client.post("/api/contacts", json=fields, headers={"X-CSRFToken": client.csrf_token("/")}).status_code == 201
    return _ivanov(session)


def _by_a_changed_address(client, session, factory, tag, monkeypatch) -> Contact:
    contact = factory.contact(owner=_advisor(client, session, factory), tags=[tag], email="ivan@old.example.com")
    session.commit()
    headers = {"X-CSRFToken": client.csrf_token("/")}
    assert client.patch(f"/api/contacts/{contact.id}", json={"email": IVANOV}, headers=headers).status_code == 200
    return _ivanov(session)


def _by_import(client, session, factory, tag, monkeypatch) -> Contact:
    _advisor(client, session, factory)
    text = (
        f"Фамилия;Имя;E-mail рабочий;Теги\r\nИванов;Иван;Ivanov@Client.example.com;{tag.name}\r\nПетров;Олег;oleg@toyota.ru;\r\n"
    )
    import_id = import_id_of(upload_import(client, text))
    client.post_form(f"/imports/{import_id}/commit")
    assert _state(import_id)["status"] == "done"
    return _ivanov(session)


def _by_import_in_batches(client, session, factory, tag, monkeypatch) -> Contact:
    # PostgreSQL writes an import with COPY; this is the multi-row INSERT every other database uses.
    from campaigns import import_commit

    monkeypatch.setattr(import_commit, "_copy_connection", lambda _session: None)
    return _by_import(client, session, factory, tag, monkeypatch)


ENTRY_PATHS = {
    "form": _by_form,
    "api": _by_api,
    "changed address": _by_a_changed_address,
    "import": _by_import,
    "import in batches": _by_import_in_batches,
}


@pytest.mark.parametrize("form", ["keyed", "legacy"])
@pytest.mark.parametrize("entry", list(ENTRY_PATHS))
def test_an_erased_person_added_again_is_not_mailed_and_the_card_says_why(
    client, session, factory, settings, monkeypatch, entry, form
):
    _erased(session, factory, settings, form)
    tag, offer = audience_offer(factory)
    session.commit()
    contact = ENTRY_PATHS[entry](client, session, factory, tag, monkeypatch)

    assert contact is not None and [t.id for t in contact.tags] == [tag.id] and contact.consent_at is not None
    assert audience_planned(session, settings, tag, offer, contact) is False
    entry_on_list = session.scalar(select(Suppression).where(Suppression.email == IVANOV))
    assert entry_on_list.detail == consent.ERASED_AGAIN
    card = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Адрес в списке исключений" in card and consent.ERASED_AGAIN in card
    # Nobody else is caught: Petrov (the import's second row) is mailable.
    assert session.scalar(select(Suppression).where(Suppression.email == "oleg@toyota.ru")) is None


@pytest.mark.parametrize("form", ["keyed", "legacy"])
@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
def test_no_path_mails_an_erased_person_added_again(client, session, factory, settings, monkeypatch, form, path):
    _erased(session, factory, settings, form)
    tag, offer = audience_offer(factory)
    session.commit()
    contact = _by_form(client, session, factory, tag, monkeypatch)
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is False


@pytest.mark.parametrize("form", ["keyed", "legacy"])
def test_a_whole_files_addresses_are_checked_at_once(session, factory, settings, form):
    _erased(session, factory, settings, form)
    gone = keyed_address_hash("gone@client.example.com", settings.secret_key)
    session.add(Suppression(email=gone, reason=SuppressionReason.MANUAL))
    others = [f"client{n}@client.example.com" for n in range(500)]
    assert consent.stop_erased(session, [*others, None, "", " Ivanov@Client.example.com"]) == {IVANOV}
    assert consent.find_suppression(session, IVANOV).detail == consent.ERASED_AGAIN


@pytest.mark.parametrize("form", ["keyed", "legacy"])
@pytest.mark.parametrize("others", [1, 500])
def test_the_import_preview_flags_an_erased_address_in_a_small_file_and_a_big_one(
    session, factory, tmp_path, settings, form, others
):
    """The preview's stop-list hint finds an erased person by the hash the erasure left, whether the
    file's addresses are looked up by their hashes (a few) or the stop list's hash entries are read once."""
    from campaigns.import_check import ImportOptions, preview_import
    from tests.scenes import write_csv

    _erased(session, factory, settings, form)
    consent.suppress(session, "Left@Client.example.com", SuppressionReason.UNSUBSCRIBE)
    me = factory.advisor()
    session.commit()
    rows = [[f"Клиент{n}", f"client{n}@client.example.com"] for n in range(others)]
    rows[-1:-1] = [["Иван", "Ivanov@Client.example.com"], ["Лев", "left@client.example.com"]]
    plan = preview_import(session, write_csv(tmp_path, [["Имя", "E-mail рабочий"], *rows]), "t.csv", ImportOptions(user_id=me.id))
    flagged = [row.values["email"] for row in plan.rows if any("списке исключений" in hint for hint in row.hints)]
    assert flagged == [IVANOV, "left@client.example.com"]


def test_another_contact_at_an_erased_address_stays_stopped(session, factory, settings):
    tag, offer = audience_offer(factory)
    first = factory.contact(email=IVANOV)
    second = factory.contact(email=IVANOV, tags=[tag])
    privacy.erase(session, factory.advisor(role=Role.ADMIN), first)
    session.commit()
    assert audience_planned(session, settings, tag, offer, second) is False
    assert consent.consent_facts(session, second).suppression.detail == consent.ERASED_AGAIN
    # Erasing the second one too leaves the address only as the hash.
    privacy.erase(session, None, session.get(Contact, second.id))
    emails = set(session.scalars(select(Suppression.email)))
    assert emails == {keyed_address_hash(IVANOV, settings.secret_key)}


def test_a_new_consent_does_not_bring_an_erased_person_back(client, session, factory, settings, monkeypatch):
    _erased(session, factory, settings, "keyed")
    tag, offer = audience_offer(factory)
    session.commit()
    contact = _by_form(client, session, factory, tag, monkeypatch)
    consent.resubscribe(session, factory.advisor(role=Role.ADMIN), contact, "новое согласие по телефону")
    assert audience_planned(session, settings, tag, offer, contact) is False


def test_admin_taking_the_address_off_the_stop_list_frees_it_for_good(client, session, factory, settings, monkeypatch):
    _erased(session, factory, settings, "keyed")
    tag, offer = audience_offer(factory)
    admin = factory.advisor(role=Role.ADMIN)
    session.commit()
    contact = _by_form(client, session, factory, tag, monkeypatch)
    entry = session.scalar(select(Suppression).where(Suppression.email == IVANOV))
    client.post_form("/logout")
    client.login(admin)
    headers = {"X-CSRFToken": client.csrf_token("/")}
    response = client.delete(f"/api/stoplist/{entry.id}", json={"reason": "клиент сам попросил рассылку"}, headers=headers)
    assert response.status_code == 200
    assert audience_planned(session, settings, tag, offer, contact) is True
    assert consent.stop_erased(session, [IVANOV]) == set()  # added once more: not stopped again


def test_every_module_that_writes_contacts_checks_the_erased_addresses():
    """A new way of writing contacts that forgets consent.stop_erased would mail an erased person added through it."""
    root = Path(campaigns.__file__).parent
    writes = re.compile(r"\bContact\(|insert\(Contact\b|Contact\.__table__")
    writers = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if not path.is_relative_to(root / "models") and writes.search(path.read_text())
    }
    assert writers == {"contacts.py", "import_commit.py", "demo.py"}  # a new one: call stop_erased, add it here
    assert all("stop_erased(" in (root / name).read_text() for name in writers)
