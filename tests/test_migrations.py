"""The schema comes only from Alembic, and the migrations agree with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from campaigns import migrate
from campaigns.db import Base
from campaigns.models import Delivery, DeliveryStatus


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
