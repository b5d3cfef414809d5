"""Users: the one way to create, normalise and check an account.

The admin's form, `flask campaigns create-user`, the demo data and the test factory all call
`create_user`, so an address is stored lower-cased and unique whatever its case (the database
backs this with a unique index on lower(email)), and a password a person types is held to the
same rule everywhere.

A user's address may be on a domain reserved for private and test networks (`.local`,
`.internal`, `.test`, `home.arpa`: RFC 6761/6762/8375, ICANN's `.internal`): staff sign in with
it and get the system's own mails (the digest) through the company's relay, which knows such
domains — an intranet often uses them, and the demo and the tests may. Contacts keep the strict
check (contact_fields.normalize_email): they are mailed across the internet, where such a domain
never receives anything, so one there is a typo or a placeholder.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from . import signin
from .config import Settings
from .contact_fields import FieldError, normalize_email, normalize_phone
from .models import Advisor, Contact, Role

MIN_PASSWORD = 10
NAME_MAX = 200
ROLE_LABELS = {Role.ADVISOR: "советник", Role.MARKETING: "маркетинг", Role.ADMIN: "администратор"}
LABELS = {
    "email": "Эл. почта",
    "name": "Имя",
    "role": "Роль",
    "phone": "Телефон",
    "password": "Пароль",
    "signature": "Подпись",
    "daily_cap": "Писем в день",
    "work_hours": "Рабочие часы",
    "timezone": "Часовой пояс",
    "house": "Дежурный советник",
}
SIGNATURE_MAX = 2000
RESET_MAX_AGE = 24 * 3600  # a password-reset link works for a day, once


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


PRIVATE_DOMAINS = ("local", "internal", "test", "home.arpa")
_STAND_IN = "example.com"


def normalize_user_email(raw: str | None) -> str | None:
    """A user's address, lower-cased (None for an empty value): contact_fields' rule, and a domain
    reserved for private networks (PRIVATE_DOMAINS) allowed as well."""
    try:
        return normalize_email(raw)
    except FieldError as refused:
        value = (raw or "").strip()
        local, at, domain = value.rpartition("@")
        domain = domain.lower().rstrip(".")
        private = next((suffix for suffix in PRIVATE_DOMAINS if domain.endswith("." + suffix)), None)
        if not at or private is None:
            raise
        # The same checks on a stand-in public domain: the local part and the labels before the suffix.
        try:
            stand_in = normalize_email(f"{local}@{domain[: -len(private)]}{_STAND_IN}") or ""
        except FieldError:
            raise refused from None
        return f"{stand_in.rpartition('@')[0]}@{domain}"


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
        email = normalize_user_email(email) or ""
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
    user = Advisor(
        email=email,
        name=name,
        role=role,
        phone=phone,
        is_house=is_house,
        password_hash=password_hash or hash_password(password or ""),
        signature=signature if signature is not None else f"С уважением,\n{name}",
    )
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


# --- each user's own settings, and the admin's ------------------------------------------------


def _clean_name(name: str | None, errors: dict[str, str]) -> str:
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "Введите имя"
    elif len(name) > NAME_MAX:
        errors["name"] = f"Не длиннее {NAME_MAX} символов"
    return name


def update_profile(session: Session, user: Advisor, *, name: str | None, signature: str | None, phone: str | None) -> None:
    """What every user edits about themselves: name, signature (it ends their mails) and phone."""
    errors: dict[str, str] = {}
    name = _clean_name(name, errors)
    signature = (signature or "").replace("\r\n", "\n").strip()
    if len(signature) > SIGNATURE_MAX:
        errors["signature"] = f"Не длиннее {SIGNATURE_MAX} символов"
    try:
        phone = normalize_phone(phone or "")
    except FieldError as exc:
        errors["phone"] = str(exc)
    if errors:
        raise AccountError(errors)
    user.name, user.signature, user.phone = name, signature or f"С уважением,\n{name}", phone
    session.flush()


def parse_work_hours(raw: str | None) -> str | None:
    """ "09:30-18:00" normalised; None for an empty value (the global WORK_HOURS); ValueError otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return None
    start, end = (part.strip() for part in raw.replace("–", "-").split("-"))
    sh, sm = (int(x) for x in start.split(":"))
    eh, em = (int(x) for x in end.split(":"))
    if not (0 <= sh * 60 + sm < eh * 60 + em <= 24 * 60):
        raise ValueError(raw)
    return f"{sh:02d}:{sm:02d}-{eh:02d}:{em:02d}"


def work_hours(user: Advisor | None, settings: Settings) -> tuple[time, time, ZoneInfo]:
    """The hours and zone `user`'s mails go out in: their own, else the global WORK_HOURS and TIMEZONE."""
    start, end = settings.work_start, settings.work_end
    if user is not None and user.work_hours:
        start, end = user.work_hours.split("-")
    tz = settings.timezone
    if user is not None and user.timezone:
        try:
            tz = ZoneInfo(user.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # checked when saved; a zone the system lost falls back to the global one
    as_time = lambda v: time(23, 59, 59) if v == "24:00" else time.fromisoformat(v)  # noqa: E731
    return as_time(start), as_time(end), tz


def admin_update(
    session: Session,
    admin: Advisor,
    user: Advisor,
    *,
    role: str,
    daily_cap,
    work_hours: str | None,
    timezone: str | None,
    watches_house: bool,
) -> None:
    """The admin sets a user's role, daily cap, working hours, time zone, and whether the house
    advisor's hot contacts reach them. Empty cap, hours or zone: the global setting."""
    if admin.role != Role.ADMIN:
        raise AccountError({"role": "Менять это может только администратор"})
    errors: dict[str, str] = {}
    try:
        role = Role(role)
    except ValueError:
        errors["role"] = "Роль: " + ", ".join(r.value for r in Role)
    else:
        if user.is_house and role != Role.ADVISOR:
            errors["role"] = "Дежурный советник остаётся советником: сначала назначьте другого дежурного"
        elif user.id == admin.id and role != Role.ADMIN:
            errors["role"] = "Нельзя снять роль администратора с самого себя"
        elif (
            user.role == Role.ADVISOR
            and role != Role.ADVISOR
            and session.scalar(select(func.count(Contact.id)).where(Contact.owner_id == user.id))
        ):
            # Mail goes out in the owner's name: contacts must not stay with someone who is no advisor.
            errors["role"] = "У советника есть контакты: сначала передайте их (Передача контактов)"
    cap = None
    if daily_cap not in (None, ""):
        try:
            cap = int(daily_cap)
            if cap <= 0:
                raise ValueError
        except (TypeError, ValueError):
            errors["daily_cap"] = "Целое число больше нуля или пусто (общее ограничение)"
    try:
        hours = parse_work_hours(work_hours)
    except ValueError:
        errors["work_hours"] = "В виде 09:30-18:00 или пусто (общие часы)"
    zone = (timezone or "").strip() or None
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = "Неизвестный часовой пояс (например, Asia/Yekaterinburg) или пусто"
    if errors:
        raise AccountError(errors)
    user.role, user.daily_cap, user.work_hours, user.timezone = Role(role), cap, hours, zone
    user.watches_house = bool(watches_house)
    session.flush()


def reactivate(session: Session, admin: Advisor, user: Advisor) -> None:
    """A deactivated user may log in again (their contacts stay with the heir)."""
    if admin.role != Role.ADMIN:
        raise AccountError({"role": "Возвращать пользователей может только администратор"})
    user.active = True
    session.flush()


# --- the house advisor -------------------------------------------------------------------------


def make_house(session: Session, user: Advisor) -> Advisor | None:
    """`user` becomes the house advisor (the sender for contacts of deactivated advisors and the
    default heir); the previous one, if any, becomes an ordinary advisor. Returns the previous one."""
    if user.role != Role.ADVISOR or not user.active:
        raise AccountError({"house": "Дежурным может быть только действующий советник"})
    previous = session.scalar(select(Advisor).where(Advisor.is_house.is_(True), Advisor.id != user.id))
    if previous is not None:
        # One statement per row, old first: the unique index allows one house advisor at a time.
        session.execute(update(Advisor).where(Advisor.id == previous.id).values(is_house=False))
    session.execute(update(Advisor).where(Advisor.id == user.id).values(is_house=True))
    session.flush()
    session.expire_all()
    return previous


def house_watchers(session: Session) -> list[Advisor]:
    """The active users the house advisor's clicks and replies reach (admin names them)."""
    return list(
        session.scalars(
            select(Advisor)
            .where(Advisor.watches_house.is_(True), Advisor.active.is_(True), Advisor.is_house.is_(False))
            .order_by(Advisor.name)
        )
    )


# --- a one-time password-reset link ---------------------------------------------------------------


def _reset_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="password-reset")


def _fingerprint(user: Advisor) -> str:
    # The link names the password it replaces: once a new one is set, the link is spent.
    return (user.password_hash or "")[-16:]


def reset_token(user: Advisor, secret_key: str) -> str:
    return _reset_serializer(secret_key).dumps({"u": user.id, "p": _fingerprint(user)})


def user_for_reset(session: Session, token: str, secret_key: str, max_age: int = RESET_MAX_AGE) -> Advisor | None:
    """The user a reset link is for; None when it is forged, expired, already used or the user is inactive."""
    try:
        data = _reset_serializer(secret_key).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    user = session.get(Advisor, data.get("u")) if isinstance(data, dict) and isinstance(data.get("u"), int) else None
    if user is None or not user.active or data.get("p") != _fingerprint(user):
        return None
    return user
