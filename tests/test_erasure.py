"""Erasure (152-FZ) beyond the contact row: imports keep nobody's data once they are over, an erasure
ends the unfinished imports that name the person, and the stop list keeps the address only as a hash
keyed with SECRET_KEY — while the people erased before (a plain SHA-256) stay suppressed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import literal, select

from campaigns import audience, consent, import_jobs, privacy
from campaigns.db import address_hash, keyed_address_hash, keyed_hash_sql
from campaigns.extensions import redis_client
from campaigns.models import Contact, Role, Suppression, SuppressionReason
from tests.scenes import AUDIENCE_PATHS, audience_scene, import_id_of, upload_import

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


@pytest.mark.parametrize("path", list(AUDIENCE_PATHS))
def test_a_person_erased_before_the_keyed_hash_stays_suppressed(session, factory, settings, path):
    # What an erasure wrote before: the plain SHA-256 of the address.
    session.add(Suppression(email=address_hash(IVANOV), reason=SuppressionReason.MANUAL, detail=privacy.ERASED_NOTE))
    tag, offer, contact = audience_scene(factory, session, {"email": IVANOV})
    assert AUDIENCE_PATHS[path](session, settings, tag, offer, contact) is False
    assert IVANOV.upper() in consent.stop_list(session)
    assert consent.find_suppression(session, IVANOV) is not None


def test_the_audience_matches_the_keyed_hash_in_sql(session, factory, settings):
    session.add(Suppression(email=keyed_address_hash(IVANOV, settings.secret_key), reason=SuppressionReason.MANUAL))
    tag, offer, contact = audience_scene(factory, session, {"email": IVANOV})
    other = factory.contact(tags=[tag])
    session.flush()
    assert set(session.scalars(audience.tag_audience(tag.id))) == {other.id}
