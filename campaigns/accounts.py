"""Users: the one way to create, normalise and check an account.

The admin's form, `flask campaigns create-user`, the demo data and the test factory all call
`create_user`, so an address is stored lower-cased and unique whatever its case (the database
backs this with a unique index on lower(email)), and a password a person types is held to the
same rule everywhere.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from . import signin
from .contact_fields import FieldError, normalize_email, normalize_phone
from .models import Advisor, Role

MIN_PASSWORD = 10
NAME_MAX = 200
ROLE_LABELS = {Role.ADVISOR: "советник", Role.MARKETING: "маркетинг", Role.ADMIN: "администратор"}
LABELS = {"email": "Эл. почта", "name": "Имя", "role": "Роль", "phone": "Телефон", "password": "Пароль"}


class AccountError(ValueError):
    """Input a person must fix; .errors maps a field name to a Russian message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {v}" for k, v in errors.items()))
        self.errors = errors


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, Werkzeug's default


def password_problem(password: str | None) -> str | None:
    """Why a typed password is refused, or None."""
    if not password:
        return "Задайте пароль"
    if len(password) < MIN_PASSWORD:
        return f"Не короче {MIN_PASSWORD} символов"
    return None


def find_by_email(session: Session, email: str) -> Advisor | None:
    return session.scalar(select(Advisor).where(func.lower(Advisor.email) == email.strip().lower()))


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role | str = Role.ADVISOR,
    phone: str | None = None,
    password: str | None = None,
    password_hash: str | None = None,
    signature: str | None = None,
    is_house: bool = False,
) -> Advisor:
    """A new account; raise AccountError (field → message) for anything to fix.

    `password_hash` instead of `password` is for a hash made once and reused (the demo's
    documented password, the test factory): the typed-password rule is for people."""
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email) or ""
    except FieldError as exc:
        errors["email"] = str(exc)
    if not email and "email" not in errors:
        errors["email"] = "Введите адрес эл. почты"
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "Введите имя"
    elif len(name) > NAME_MAX:
        errors["name"] = f"Не длиннее {NAME_MAX} символов"
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = "Роль: " + ", ".join(r.value for r in Role)
    try:
        phone = normalize_phone(phone or "")
    except FieldError as exc:
        errors["phone"] = str(exc)
    if password_hash is None:
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
    if email and "email" not in errors and find_by_email(session, email) is not None:
        errors["email"] = "Пользователь с этим адресом уже есть"
    if errors:
        raise AccountError(errors)
    user = Advisor(email=email, name=name, role=role, phone=phone, is_house=is_house,
                   password_hash=password_hash or hash_password(password),
                   signature=signature if signature is not None else f"С уважением,\n{name}")
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        if find_by_email(session, email) is None:
            raise  # another rule of the table (one house advisor), not the address
        # Created at the same moment elsewhere: the unique index decided.
        raise AccountError({"email": "Пользователь с этим адресом уже есть"}) from None
    return user


def set_password(session: Session, user: Advisor, password: str) -> None:
    """A new password (held to the same rule) ends every session of the user: whoever knew the old one is out."""
    problem = password_problem(password)
    if problem:
        raise AccountError({"password": problem})
    user.password_hash = hash_password(password)
    session.flush()
    signin.end_sessions(session, user.id)
