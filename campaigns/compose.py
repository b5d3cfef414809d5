"""A delivery → the RFC 5322 message the advisor would have typed by hand.

The mail must look personal and reach the inbox:

* From and Reply-To are the owning advisor at sending time (the house advisor when the owner
  has left); To is «Имя Фамилия» only when the greeting could resolve a real first name — the
  junk of a first-name field never reaches a header.
* multipart/alternative: the offer's plain text, and an HTML part derived from it that looks
  typed (paragraphs, links as <a>, no images, no tracking pixel). The one invisible element is
  the trap link (tracking.TRAP_LINK_ID): a person never sees it, so whatever follows it is a
  scanner.
* List-Unsubscribe (https + mailto) with List-Unsubscribe-Post (RFC 8058), and a visible
  unsubscribe line in both bodies. No «Precedence: bulk»: these are one-to-one letters.
* IDN domains become A-labels; an address with a non-ASCII local part makes the message an
  SMTPUTF8 one (policy.SMTPUTF8) instead of an RFC 2047-mangled address; transport.py refuses
  it when the relay cannot carry it.
* DKIM (dkimpy) when DKIM_SELECTOR / DKIM_PRIVATE_KEY are set.

Each kind of mail is templates/emails/<kind>.subject.txt, .txt, .html rendered by this module's
own Jinja environment (HTML autoescaped) plus one function; make_message() is the common end.
No database and no Flask here: the caller passes the settings, the sender and the contact.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from email import message_from_string
from email import policy as email_policy
from email.header import Header
from email.headerregistry import Address, AddressHeader, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from functools import lru_cache, partial

import dkim
import dkim.crypto
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from jinja2 import Environment, PackageLoader, select_autoescape

from . import ru_format, template_sandbox, tracking
from .addresses import ascii_domain, make_address
from .config import ConfigError, Settings
from .greeting import FALLBACK, greeting

# delivery_id=None (a preview) renders every tracked link with this placeholder delivery.
PREVIEW_DELIVERY_ID = tracking.TEST_DELIVERY_ID  # its links work and are never counted (testlinks.py)


def _fast_fold(header, policy) -> str | None:
    """The header as it goes on the wire, or None to let the stdlib fold it.

    The stdlib re-folds every header through its parse tree on every serialisation; for a
    Cyrillic display name or subject that costs milliseconds (encoded words built one token
    at a time). Two cheap cases cover the mail we write:

    * a header that fits on one line and needs no encoding: exactly what the stdlib writes;
    * a non-ASCII subject or display name (7-bit policy): RFC 2047 encoded words made by
      email.header.Header (tens of microseconds), each line within max_line_length.
    """
    name, linesep = header.name, policy.linesep
    maxlen = policy.max_line_length or 998
    tree = header._parse_tree
    text = str(tree) if tree else ""
    if policy.utf8 or text.isascii():
        line = f"{name}: {text}" if tree else f"{name}:"
        if len(line) <= maxlen and "\n" not in line and "\r" not in line:
            return line + linesep
        return None
    if isinstance(header, UnstructuredHeader):
        value = str(header)
        if "\n" in value or "\r" in value:
            return None
        return f"{name}: " + Header(value, "utf-8", maxlinelen=maxlen, header_name=name).encode(linesep=linesep) + linesep
    if isinstance(header, AddressHeader):
        parts = []
        for group in header.groups:
            if group.display_name is not None:
                return None
            for address in group.addresses:
                if not address.username.isascii() or not (address.display_name or "").isprintable():
                    return None
                spec, display = address.addr_spec, address.display_name
                if not display:
                    parts.append(spec)
                elif display.isascii():
                    parts.append(formataddr((display, spec)))
                else:
                    words = Header(display, "utf-8", maxlinelen=maxlen, header_name=name).encode(linesep=linesep)
                    last = words.rpartition(linesep)[2]
                    gap = " " if len(last) + len(spec) + 3 <= maxlen else linesep + " "
                    parts.append(f"{words}{gap}<{spec}>")
        if not parts:
            return None
        single = f"{name}: " + ", ".join(parts)
        if len(single) <= maxlen or len(parts) == 1:
            return single + linesep
        return f"{name}: " + ("," + linesep + " ").join(parts) + linesep
    return None


class _FastFold:
    def fold(self, *, policy):
        # A header object serves many messages (_HeaderRegistry): folded once per policy, not once a mail.
        last = self.__dict__.get("_folded")
        if last is not None and last[0] is policy:
            return last[1]
        folded = _fast_fold(self, policy)
        if folded is None:
            folded = super().fold(policy=policy)  # type: ignore[misc]  # a mixin before the header class
        self._folded = (policy, folded)
        return folded


# Headers whose values recur from mail to mail (the sender's, the offer's, the MIME ones); the others
# (To, Date, Message-ID, the links' tokens, a multipart's boundary) are new in every mail and not kept.
_RECURRING = frozenset(
    {"from", "reply-to", "subject", "content-type", "content-transfer-encoding", "mime-version", "list-unsubscribe-post"}
)
_KEPT_HEADERS = 512


class _HeaderRegistry(HeaderRegistry):
    """The stdlib's registry, minus building a new class for every header it parses, minus parsing
    again a header value it has just parsed, and with a cheap fold (_fast_fold) for the headers our
    mail has.

    HeaderRegistry.__getitem__ calls type() each time: a tenth of the cost of a message. Most of a
    mail's headers are the same from one mail to the next — From and Reply-To per sender, the
    subject per offer, the MIME headers of every part (read again and again while a message is
    serialised or parsed back after DKIM signing) — and parsing one costs tens of microseconds. A
    header object is immutable, so the one made for a value serves every message that has it.
    """

    def __init__(self):
        super().__init__()
        self._classes: dict[str, type] = {}
        self._made: dict[tuple, BaseHeader] = {}

    def __call__(self, name, value):
        if name.lower() not in _RECURRING or "boundary=" in str(value):
            return super().__call__(name, value)
        if type(value) is str:
            key: tuple = (name, value)
        elif type(value) is Address:
            key = (name, Address, value.display_name, value.username, value.domain)
        else:
            return super().__call__(name, value)
        header = self._made.get(key)
        if header is None:
            if len(self._made) >= _KEPT_HEADERS:
                self._made.clear()  # bounded: a personalised subject is a new value in every mail
            header = self._made[key] = super().__call__(name, value)
        return header

    def __getitem__(self, name):
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            base = super().__getitem__(name)
            cls = self._classes[key] = type(base.__name__, (_FastFold, base), {})
        return cls


_HEADERS = _HeaderRegistry()
# refold_source="none": a header we parsed back (after DKIM signing) is written out byte for
# byte as it was signed; the default would re-encode long lines and break the signature.
_POLICY = email_policy.SMTP.clone(cte_type="7bit", refold_source="none", header_factory=_HEADERS)
# An address with a non-ASCII local part can only travel as UTF-8 (RFC 6531); RFC 2047 would mangle it.
_POLICY_UTF8 = email_policy.SMTPUTF8.clone(cte_type="7bit", refold_source="none", header_factory=_HEADERS)

# Oversigned: each of these is listed once more than it occurs, so a second copy added on the
# way (a second Subject, a forged Reply-To or List-Unsubscribe) breaks the signature; a header
# the mail lacks is signed as absent and cannot be added either.
OVERSIGNED = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
DKIM_HEADERS = (*OVERSIGNED, "MIME-Version", "Content-Type", "Auto-Submitted", *OVERSIGNED)

_URL = re.compile(r"https?://[^\s<>\"«»]+")
_URL_TRAILER = ".,;:!?'\"»)]"
_NAME_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?")
_GREETING_PREFIX = "Здравствуйте, "


class _Prefolded(str):
    """A header value written exactly as given, folded only after its commas.

    The email package encodes a long unbreakable ASCII header (a List-Unsubscribe URL) as an
    RFC 2047 encoded-word, which no mail client understands as a URL; this keeps it literal.
    """

    name: str
    parts: tuple[str, ...]

    def __new__(cls, name: str, parts: Iterable[str]):
        parts = tuple(parts)
        self = super().__new__(cls, ", ".join(parts))
        self.name = name
        self.parts = parts
        return self

    def __reduce__(self):
        return (type(self), (self.name, self.parts))

    def fold(self, *, policy) -> str:
        return f"{self.name}: " + ("," + policy.linesep + " ").join(self.parts) + policy.linesep


# ---------------------------------------------------------------- the recipient's name


def recipient_name(contact) -> str:
    """«Имя Фамилия» for the To header, or "" (a bare address) when the first name is not certain.

    The first name is the one the greeting resolved, so whatever junk the first-name field
    holds («!», a surname, the whole ФИО) never shows; the last name is shown only when it
    looks like one word of a name.
    """
    text = greeting(contact.first_name, contact.middle_name)
    if text == FALLBACK:
        return ""
    first = text.removeprefix(_GREETING_PREFIX).removesuffix("!").split(" ")[0]
    last = " ".join((contact.last_name or "").split())
    if not _NAME_WORD.fullmatch(last):
        return first
    last = "-".join(part[:1].upper() + part[1:].lower() if part.isupper() or part.islower() else part for part in last.split("-"))
    return f"{first} {last}"


# --------------------------------------------------------------- the bodies


def typed_paragraphs(text: str) -> list[list[list[tuple[str, str | None]]]]:
    """Plain text → paragraphs → lines → segments (text, href or None) for the HTML part.

    Escaping is left to the autoescaping template: nothing here is markup.
    """
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        if not block.strip():
            continue
        lines = []
        for line in block.split("\n"):
            segments: list[tuple[str, str | None]] = []
            pos = 0
            for match in _URL.finditer(line):
                url = match.group(0)
                while url and url[-1] in _URL_TRAILER and not (url[-1] == ")" and "(" in url):
                    url = url[:-1]
                if match.start() > pos:
                    segments.append((line[pos : match.start()], None))
                segments.append((url, url))
                pos = match.start() + len(url)
            if pos < len(line):
                segments.append((line[pos:], None))
            lines.append(segments)
        paragraphs.append(lines)
    return paragraphs


@lru_cache(maxsize=8)
def _emails(timezone: tzinfo) -> Environment:
    """The Jinja environment of templates/emails/: HTML autoescaped, Russian dates in ``timezone``."""
    env = Environment(
        loader=PackageLoader("campaigns", "templates"), autoescape=select_autoescape(("html",), default_for_string=False)
    )
    env.filters.update(
        ru_date=partial(ru_format.ru_date, timezone=timezone),
        ru_datetime=partial(ru_format.ru_datetime, timezone=timezone),
        ru_number=ru_format.ru_number,
    )
    env.globals.update(plural=ru_format.plural)
    return env


def render_kind(kind: str, context: Mapping, timezone: tzinfo) -> tuple[str, str, str]:
    """(subject, text, html) of templates/emails/<kind>.subject.txt / .txt / .html; moments shown in ``timezone``."""
    env = _emails(timezone)
    subject = " ".join(env.get_template(f"emails/{kind}.subject.txt").render(context).split())
    text = env.get_template(f"emails/{kind}.txt").render(context).strip("\n") + "\n"
    html = env.get_template(f"emails/{kind}.html").render(context)
    return subject, text, html


# ----------------------------------------------------------------- messages


def make_message(
    *,
    settings: Settings,
    from_name: str,
    from_addr: str,
    to_name: str,
    to_addr: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | tuple[str, str] | None = None,
    extra_headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The common end of every mail kind: headers, text (+ HTML) alternative, DKIM when configured.

    ``reply_to`` is an address or (name, address). ``extra_headers`` values that are ASCII are
    kept literal (see _Prefolded); a value made of ``<…>, <…>`` items folds between them.
    """
    sender = make_address(from_name, from_addr)
    recipient = make_address(to_name, to_addr)
    reply = None
    if reply_to:
        reply = make_address(*reply_to) if isinstance(reply_to, tuple) else make_address("", reply_to)
    addresses = [a for a in (sender, recipient, reply) if a is not None]
    utf8 = not all(a.username.isascii() for a in addresses)

    msg = EmailMessage(policy=_POLICY_UTF8 if utf8 else _POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    if reply is not None:
        msg["Reply-To"] = reply
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(settings.timezone))
    msg["Message-ID"] = make_msgid(domain=ascii_domain(settings.mail_domain))
    for name, value in (extra_headers or {}).items():
        value = " ".join(str(value).split())
        msg[name] = _Prefolded(name, re.split(r",\s*(?=<)", value)) if value.isascii() else value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        for part in msg.iter_parts():
            del part["MIME-Version"]  # belongs to the top level only
        msg.set_boundary(_boundary(msg))
    if settings.dkim_private_key and settings.dkim_selector:
        msg = dkim_sign(msg, settings)
    return msg


_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _boundary(msg: EmailMessage) -> str:
    """A multipart's boundary drawn exactly as the stdlib's generator draws it (15 «=», a random number,
    «==»; email.generator.Generator._make_boundary), checked against the parts with a plain substring
    test instead of a regular expression compiled for every new boundary — that compilation was a
    tenth of a mail's serialisation. (The substring test is the stricter one: a part never contains
    its boundary.)"""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
    payloads = [part.get_payload() for part in msg.iter_parts()]
    chosen, counter = boundary, 0
    while any(f"--{chosen}" in payload for payload in payloads):
        chosen, counter = f"{boundary}.{counter}", counter + 1
    return chosen


_OPENSSL_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}
# dkimpy's parsed key (dkim.crypto.parse_private_key), in RSAPrivateNumbers' order.
_KEY_FIELDS = ("modulus", "publicExponent", "privateExponent", "prime1", "prime2", "exponent1", "exponent2", "coefficient")


@lru_cache(maxsize=4)
def _openssl_key(n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int) -> rsa.RSAPrivateKey:
    numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
    return numbers.private_key()


def _rsa_sign_in_openssl(digest, key: dict) -> bytes:
    """dkimpy's RSASSA-PKCS1-v1_5 signature, made by OpenSSL (through cryptography) instead of
    dkimpy's big-integer pow in Python: ≈ 13 ms a mail there, well under 1 ms here. PKCS#1 v1.5 is
    deterministic, so the bytes are the same (test_dkim holds them equal); dkimpy still does the
    rest: key parsing, canonicalisation, the header. An unknown hash goes to dkimpy's own."""
    algorithm = _OPENSSL_HASHES.get(digest.name)
    if algorithm is None:
        return dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, key)
    openssl = _openssl_key(*(key[name] for name in _KEY_FIELDS))
    return openssl.sign(digest.digest(), padding.PKCS1v15(), Prehashed(algorithm()))


# dkimpy offers no hook for the RSA step; DKIM.sign looks the function up in its module at each call.
dkim.RSASSA_PKCS1_v1_5_sign = _rsa_sign_in_openssl


def dkim_sign(msg: EmailMessage, settings: Settings) -> EmailMessage:
    """``msg`` with a DKIM-Signature on top; d= is the From domain, so DMARC sees it aligned."""
    raw = msg.as_bytes()
    domain = msg["From"].addresses[0].domain
    try:
        signature = dkim.sign(
            raw,
            (settings.dkim_selector or "").encode(),
            domain.encode(),
            (settings.dkim_private_key or "").encode(),
            include_headers=[h.encode() for h in DKIM_HEADERS],
            canonicalize=(b"relaxed", b"relaxed"),  # survives the re-folding and re-spacing relays do
        )
    except dkim.DKIMException as exc:
        raise ConfigError(f"DKIM_PRIVATE_KEY: the key cannot sign ({exc}); give an RSA key in PEM") from None
    # Parsed back rather than edited: what is sent, stored and verified are then the same bytes.
    # From text, not bytes: the bytes parser would turn UTF-8 headers (SMTPUTF8) into escapes.
    return message_from_string((signature + raw).decode("utf-8"), policy=msg.policy)


def offer_variables(*, offer, contact, advisor, settings: Settings, delivery_id: int | None) -> dict:
    """The variables of template_sandbox.render_offer for one recipient (see template_sandbox.VARIABLES)."""
    did = PREVIEW_DELIVERY_ID if delivery_id is None else delivery_id
    links = {
        link.name: tracking.click_url(settings.public_url, did, link.id or 0, settings.secret_key)
        for link in offer.links
        if not link.is_trap
    }
    return {
        "greeting": greeting(contact.first_name, contact.middle_name),
        "contact": {
            "first_name": contact.first_name or "",
            "middle_name": contact.middle_name or "",
            "last_name": contact.last_name or "",
            "position": contact.position or "",
        },
        "company": contact.company or "",
        "advisor": {
            "name": advisor.name,
            "email": advisor.email,
            "phone": advisor.phone or "",
            "signature": advisor.signature or "",
        },
        "links": links,
        # The uploaded catalog is tracked through the offer's link named "catalog".
        "catalog": links.get("catalog") if offer.catalog_path else None,
        "unsubscribe_url": tracking.unsubscribe_url(settings.public_url, did, settings.secret_key),
        "tag": {"name": offer.tag.name, "kind": str(offer.tag.kind)},
        "year": offer.year,
    }


def build_offer_message(
    *, offer, contact, advisor, settings: Settings, delivery_id: int | None, now: datetime | None = None
) -> EmailMessage:
    """The offer mail for one contact, sent as ``advisor``. delivery_id None = a preview.

    Raises template_sandbox.OfferTemplateError when the offer's template cannot be rendered.
    """
    did = PREVIEW_DELIVERY_ID if delivery_id is None else delivery_id
    variables = offer_variables(offer=offer, contact=contact, advisor=advisor, settings=settings, delivery_id=delivery_id)
    subject, body = template_sandbox.render_offer(offer, variables)
    body = body.strip("\n")
    signature = (advisor.signature or "").strip()
    # Marketing usually ends the letter with {{ advisor.signature }}; never sign twice.
    if signature and signature not in body:
        body = f"{body}\n\n{signature}"
    unsubscribe = variables["unsubscribe_url"]
    trap_urls = [tracking.click_url(settings.public_url, did, tracking.TRAP_LINK_ID, settings.secret_key)]
    trap_urls += [
        tracking.click_url(settings.public_url, did, link.id or 0, settings.secret_key) for link in offer.links if link.is_trap
    ]
    context = {
        "subject": subject,
        "body": body,
        "paragraphs": typed_paragraphs(body),
        "unsubscribe_url": unsubscribe,
        "trap_urls": trap_urls,
        "advisor": advisor,
    }
    subject, text, html = render_kind("offer", context, settings.timezone)
    mailto = tracking.unsubscribe_mailto(ascii_domain(settings.mail_domain), did, settings.secret_key)
    return make_message(
        settings=settings,
        from_name=advisor.name,
        from_addr=advisor.email,
        to_name=recipient_name(contact),
        to_addr=contact.email,
        subject=subject,
        text=text,
        html=html,
        reply_to=(advisor.name, advisor.email),
        extra_headers=unsubscribe_headers(unsubscribe, mailto),
        now=now,
    )


def unsubscribe_headers(unsubscribe_url: str, mailto: str) -> dict[str, str]:
    """List-Unsubscribe (the page and the mailto address) and, next to an https URL only,
    List-Unsubscribe-Post (RFC 8058: one-click is defined for https; a plain-http POST target
    makes Gmail and Yahoo distrust the header)."""
    headers = {"List-Unsubscribe": f"<{unsubscribe_url}>, <{mailto}>"}
    if unsubscribe_url.startswith("https://"):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers
