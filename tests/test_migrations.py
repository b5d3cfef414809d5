"""The schema comes only from Alembic, and the migrations agree with the models."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from campaigns import consent, migrate
from campaigns.config import parse_database_url
from campaigns.db import Base, address_hash, keyed_address_hash
from campaigns.models import Delivery, DeliveryStatus
from tests.support import private_schema


# Alembic cannot compare an expression index (uq_advisors_email_lower); test_accounts proves it.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:.*expression-based index:sqlalchemy.exc.SAWarning")
def test_the_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_the_migrations_go_down_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    migrate.upgrade(url)
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    engine = create_engine(url)
    assert {"contacts", "deliveries", "clicks", "suppressions"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_contact_cannot_be_planned_twice_for_one_offer(session, factory):
    offer = factory.offer()
    contact = factory.contact()
    session.add(Delivery(offer=offer, contact=contact, send_on=offer_day()))
    session.flush()
    session.add(Delivery(offer=offer, contact=contact, send_on=offer_day()))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_there_is_only_one_house_advisor(session, factory):
    factory.house_advisor()
    with pytest.raises(IntegrityError):
        factory.house_advisor()
    session.rollback()


def test_the_database_refuses_an_unknown_delivery_status(session, factory):
    delivery = Delivery(offer=factory.offer(), contact=factory.contact(), send_on=offer_day(), status=DeliveryStatus.PLANNED)
    session.add(delivery)
    session.flush()
    with pytest.raises(IntegrityError):
        session.execute(text("UPDATE deliveries SET status = 'lost' WHERE id = :id"), {"id": delivery.id})
    session.rollback()


def test_an_advisor_with_contacts_cannot_be_deleted(session, factory):
    advisor = factory.advisor()
    factory.contact(owner=advisor)
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(text("DELETE FROM advisors WHERE id = :id"), {"id": advisor.id})
    session.rollback()


def offer_day():
    from datetime import date

    return date(2026, 7, 17)


# --- 0025: an erased person already added again goes on the stop list as themselves ---------------


@pytest.fixture
def empty_database(tmp_path):
    """A database without a schema: a SQLite file, or a PostgreSQL schema of its own."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with private_schema(parse_database_url(base), "migration") as url:
        yield url


KEY = "the-installation-key"


def _before_0025(url: str, contacts: list[str], stop_list: list[str]) -> None:
    # Plain SQL: the schema of revision 0024, whatever the models grow later.
    migrate.upgrade(url, "0024")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO advisors (id, email, name, role, created_at) "
                "VALUES (1, 'anna@studio.example.com', 'Анна', 'advisor', CURRENT_TIMESTAMP)"
            )
        )
        for email in contacts:
            conn.execute(
                text(
                    "INSERT INTO contacts (owner_id, first_name, middle_name, last_name, company, company_alias, company_key,"
                    " position, consent_source, email, created_at, updated_at)"
                    " VALUES (1, 'Клиент', '', '', '', '', '', '', '', :email, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"email": email},
            )
        for email in stop_list:
            conn.execute(
                text(
                    "INSERT INTO suppressions (email, reason, detail, created_at)"
                    " VALUES (:email, 'manual', 'удалён', CURRENT_TIMESTAMP)"
                ),
                {"email": email},
            )
    engine.dispose()


def _stop_list(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        entries = dict(conn.execute(text("SELECT email, detail FROM suppressions")).all())
    engine.dispose()
    return entries


def test_0025_puts_erased_people_added_again_back_on_the_stop_list_as_themselves(empty_database):
    ivanov, petrov, anna = "ivanov@client.example.com", "petrov@client.example.com", "anna@client.example.com"
    erased = [keyed_address_hash(ivanov, KEY), address_hash(petrov), keyed_address_hash("gone@client.example.com", KEY)]
    _before_0025(empty_database, [ivanov, petrov, anna, ivanov], [*erased, "bounced@client.example.com"])

    migrate.upgrade(empty_database, secret_key=KEY)

    entries = _stop_list(empty_database)
    assert set(entries) == {*erased, "bounced@client.example.com", ivanov, petrov}  # Anna is not caught
    assert entries[ivanov] == entries[petrov] == consent.ERASED_AGAIN


def test_0025_without_the_key_refuses_rather_than_leave_erased_people_mailable(empty_database):
    ivanov = "ivanov@client.example.com"
    _before_0025(empty_database, [ivanov], [keyed_address_hash(ivanov, KEY)])
    with pytest.raises(RuntimeError, match="needs SECRET_KEY"):
        migrate.upgrade(empty_database)
    migrate.upgrade(empty_database, secret_key=KEY)
    assert ivanov in _stop_list(empty_database)
