"""Accounts: the admin's form, `flask campaigns create-user` and the code (demo, tests) create,
normalise and check users the same way (campaigns/accounts.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from campaigns import accounts, migrate
from campaigns.contact_fields import FieldError, normalize_email
from campaigns.models import Advisor, Role
from tests.support import PASSWORD


@pytest.fixture
def admin(factory):
    return factory.advisor(role=Role.ADMIN, name="Сергей Орлов")


def _web(app, client, session, admin, email, password):
    session.commit()
    if not getattr(client, "logged_in", False):
        client.login(admin)
        client.logged_in = True
    response = client.post_form(
        "/admin/users/new", {"email": email, "name": "Анна Соколова", "role": "advisor", "password": password, "phone": ""}
    )
    return None if response.status_code == 302 else response.get_data(as_text=True)


def _cli(app, client, session, admin, email, password):
    session.commit()
    result = app.test_cli_runner().invoke(args=["campaigns", "create-user", email, "Анна Соколова", "--password", password])
    if result.exit_code == 0:
        return None
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    [line] = result.output.strip().splitlines()  # one line saying what is wrong
    return line


def _code(app, client, session, admin, email, password):
    try:
        accounts.create_user(session, email=email, name="Анна Соколова", password=password)
    except accounts.AccountError as exc:
        return str(exc)
    session.commit()
    return None


PATHS = {"web": _web, "cli": _cli, "code": _code}


@pytest.mark.parametrize("path", PATHS)
def test_an_address_is_stored_lower_case_and_taken_whatever_its_case(app, client, session, admin, path):
    create = PATHS[path]
    assert create(app, client, session, admin, "anna@studio.ru", PASSWORD) is None
    refusal = create(app, client, session, admin, "Anna@Studio.RU", PASSWORD)
    assert refusal is not None and "Пользователь с этим адресом уже есть" in refusal
    session.expire_all()
    assert session.scalars(select(Advisor.email).where(func.lower(Advisor.email) == "anna@studio.ru")).all() == ["anna@studio.ru"]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_refuses_the_short_password_the_form_refuses(app, client, session, admin, path):
    refusal = PATHS[path](app, client, session, admin, "new@studio.ru", "abc")
    assert refusal is not None and f"Не короче {accounts.MIN_PASSWORD} символов" in refusal
    assert session.scalar(select(Advisor).where(Advisor.email == "new@studio.ru")) is None


@pytest.mark.parametrize("path", PATHS)
def test_every_path_refuses_a_malformed_address(app, client, session, admin, path):
    refusal = PATHS[path](app, client, session, admin, "anna-at-studio.ru", PASSWORD)
    assert refusal is not None and "anna-at-studio.ru" in refusal


@pytest.mark.parametrize("path", PATHS)
def test_every_path_takes_a_user_on_a_private_network_domain(app, client, session, admin, path):
    """#18: «igor@demo.local» was refused as «записан неверно»; a user's address may be on a domain
    reserved for private networks (the company's intranet, the demo), a malformed one still not."""
    assert PATHS[path](app, client, session, admin, "Igor@Demo.Local", PASSWORD) is None
    session.expire_all()
    assert session.scalar(select(Advisor.email).where(Advisor.email == "igor@demo.local")) == "igor@demo.local"
    refusal = PATHS[path](app, client, session, admin, "igor..x@demo.local", PASSWORD)
    assert refusal is not None and "igor..x@demo.local" in refusal and "example" not in refusal


@pytest.mark.parametrize("address", ["igor@pc.local", "igor@lab.test", "igor@nas.home.arpa"])
def test_private_network_domains_are_for_users_only(address):
    assert accounts.normalize_user_email(address) == address
    with pytest.raises(FieldError):
        normalize_email(address)  # a contact there would never get a mail


def test_the_database_itself_keeps_one_account_per_address(session, factory):
    factory.advisor(email="anna@studio.ru")
    session.commit()
    with pytest.raises(IntegrityError, match="uq_advisors_email_lower"):
        session.execute(
            text(
                "INSERT INTO advisors (email, name, role, is_house, active, created_at) "
                "VALUES ('Anna@Studio.ru', 'Вторая', 'advisor', false, true, CURRENT_TIMESTAMP)"
            )
        )
    session.rollback()


def test_the_migration_keeps_the_oldest_account_and_moves_later_spellings_aside(tmp_path):
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    migrate.upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        for email in ("anna@studio.ru", "Anna@Studio.ru", "Igor@Studio.ru", "ANNA@studio.ru"):
            conn.execute(
                text(
                    "INSERT INTO advisors (email, name, role, is_house, active, created_at) "
                    "VALUES (:e, 'Советник', 'advisor', 0, 1, CURRENT_TIMESTAMP)"
                ),
                {"e": email},
            )
    migrate.upgrade(url)
    with engine.connect() as conn:
        emails = conn.execute(text("SELECT email FROM advisors ORDER BY id")).scalars().all()
    engine.dispose()
    assert emails == ["anna@studio.ru", "anna+duplicate2@studio.ru", "igor@studio.ru", "anna+duplicate4@studio.ru"]
