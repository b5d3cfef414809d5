"""The DNS records to publish for deliverability, and a check of what is published (`flask campaigns dns`).

For every domain mail goes out from — the advisors' own domain(s) (offers are From the advisor)
and MAIL_DOMAIN (system mail from noreply@, the unsubscribe address) — it suggests:

- DKIM: the TXT record at <DKIM_SELECTOR>._domainkey.<domain>, made from DKIM_PRIVATE_KEY's public key;
- SPF: a TXT record allowing the relay (merge it into an existing one: a domain has one SPF record);
- DMARC: a TXT record at _dmarc.<domain>, p=none with reports first, then quarantine;
- MX for MAIL_DOMAIN when INBOUND_URL is set: the unsubscribe address and bounces must arrive;

and the advice to put PUBLIC_URL (the tracked links) on a subdomain of the advisors' domain: links
on an unrelated domain look like phishing to filters. With a resolver that answers, each record
is checked (dnspython); without one (no network) each says «could not check».
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization

from .config import Settings


@dataclass(frozen=True)
class Record:
    name: str
    type: str  # TXT, MX
    value: str
    why: str
    prefix: str = ""  # an existing record of this name that starts so is the one to compare (v=spf1, v=DMARC1)


@dataclass(frozen=True)
class Check:
    record: Record
    status: str  # ok, differs, missing, could not check
    found: str = ""


def dkim_public_record(private_pem: str) -> str:
    """«v=DKIM1; k=rsa; p=…» for the private key (PEM)."""

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def _spf(settings: Settings) -> str:
    mail = settings.mail
    if mail.scheme in ("smtp", "smtps") and mail.host and mail.host not in ("localhost", "127.0.0.1", "::1"):
        return f"v=spf1 a:{mail.host} ~all"
    return "v=spf1 mx ~all"


def records(settings: Settings, advisor_domains: list[str]) -> list[Record]:
    domains = list(dict.fromkeys([*(d.lower() for d in advisor_domains), settings.mail_domain.lower()]))
    out: list[Record] = []
    for domain in domains:
        if settings.dkim_private_key and settings.dkim_selector:
            out.append(
                Record(
                    f"{settings.dkim_selector}._domainkey.{domain}",
                    "TXT",
                    dkim_public_record(settings.dkim_private_key),
                    "DKIM: подпись писем (ключ из DKIM_PRIVATE_KEY)",
                    "v=DKIM1",
                )
            )
        out.append(
            Record(
                domain,
                "TXT",
                _spf(settings),
                "SPF: разрешить SMTP-серверу рассылки отправлять от имени домена "
                "(у домена одна SPF-запись: добавьте сервер в существующую)",
                "v=spf1",
            )
        )
        out.append(
            Record(
                f"_dmarc.{domain}",
                "TXT",
                f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}; adkim=r; aspf=r",
                "DMARC: сначала p=none и отчёты; когда отчёты чистые — p=quarantine",
                "v=DMARC1",
            )
        )
    if settings.bounce_url:
        out.append(
            Record(
                settings.mail_domain.lower(),
                "MX",
                "10 <сервер почтового ящика INBOUND_URL>",
                f"MX: письма на unsubscribe@{settings.mail_domain} и возвраты должны приходить в системный ящик",
            )
        )
    return out


def public_url_advice(settings: Settings, advisor_domains: list[str]) -> str | None:
    host = (urlsplit(settings.public_url).hostname or "").lower()
    domains = [d.lower() for d in advisor_domains] or [settings.mail_domain.lower()]
    if any(host == d or host.endswith("." + d) for d in domains):
        return None
    example = f"go.{domains[0]}"
    return (
        f"PUBLIC_URL ({host}) не на домене советников ({', '.join(domains)}): ссылки в письмах ведут на чужой "
        f"домен, фильтры считают это признаком фишинга. Поднимите адрес на поддомене, например https://{example}"
    )


def _resolver(timeout: float):

    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def check(record_list: list[Record], timeout: float = 3.0) -> list[Check]:
    """Each record against what the DNS says; «could not check» for all when no resolver answers."""

    try:
        resolver = _resolver(timeout)
    except (dns.exception.DNSException, OSError) as exc:
        return [Check(r, "could not check", str(exc)) for r in record_list]
    checks: list[Check] = []
    unreachable = False
    for record in record_list:
        if unreachable:
            checks.append(Check(record, "could not check", "no resolver answers"))
            continue
        try:
            answer = resolver.resolve(record.name, record.type)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            checks.append(Check(record, "missing"))
            continue
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout, OSError) as exc:
            unreachable = True
            checks.append(Check(record, "could not check", type(exc).__name__))
            continue
        except dns.exception.DNSException as exc:
            checks.append(Check(record, "could not check", type(exc).__name__))
            continue
        if record.type == "TXT":
            values = [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
            relevant = [v for v in values if not record.prefix or v.startswith(record.prefix)]
            if not relevant:
                checks.append(Check(record, "missing"))
            elif any(" ".join(v.split()) == record.value for v in relevant):
                checks.append(Check(record, "ok", relevant[0]))
            else:
                checks.append(Check(record, "differs", relevant[0]))
        else:
            found = ", ".join(str(r) for r in answer)
            checks.append(Check(record, "ok" if found else "missing", found))
    return checks


LOOPBACK = ("localhost", "127.0.0.1", "::1")


def startup_warnings(settings: Settings) -> list[str]:
    """What create_app logs once: settings that hurt deliverability."""
    parts = urlsplit(settings.public_url)
    host = (parts.hostname or "").lower()
    warnings = []
    if parts.scheme == "http" and host not in LOOPBACK and not host.startswith("127.") and not host.endswith(".localhost"):
        warnings.append(
            f"PUBLIC_URL {settings.public_url} is plain http: links and the unsubscribe page travel "
            "unencrypted, and without an https unsubscribe URL the mails carry no List-Unsubscribe-Post "
            "(RFC 8058 one-click unsubscribe, required by Gmail and Yahoo for bulk senders). Use https."
        )
    return warnings
