"""Human or bot: the verdict on one click, from the click itself and the clicks around it. Pure: no I/O.

A click is a machine's when it is a HEAD request, hits the hidden trap link, comes with a
scanner's User-Agent or from a mail gateway's network, comes within INSTANT_SECONDS of the
send, or is part of a burst (with the trap link, or every link of the mail within a second).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawlerdetect import CrawlerDetect

from .models import Verdict
from .tracking import TRAP_LINK_ID

# A gateway scans a mail while delivering it, within seconds; a person reading it within a
# minute of sending is rare in B2B, and a missed person here is one call fewer, not a wrong one.
INSTANT_SECONDS = 60
# "Every link of the mail clicked within a second": no person clicks two links that fast.
BURST_SECONDS = 1.0
# Clicks of the same mail this close to a click on the trap link are the same scanner.
TRAP_BURST_SECONDS = 10.0

# Mail security gateways that open links before the person does, by a marker in their
# User-Agent (lower case). crawlerdetect (below) knows generic bots, headless browsers,
# curl, python-requests and the like, but not most of these.
SCANNER_USER_AGENTS: list[tuple[str, str]] = [
    ("safelinks", "Microsoft Safe Links"),
    ("microsoft office", "Microsoft Office 365 ATP"),
    ("ms-office", "Microsoft Office 365 ATP"),
    ("microsoft outlook", "Microsoft Outlook (предпросмотр ссылок)"),
    ("proofpoint", "Proofpoint"),
    ("pphosted", "Proofpoint"),
    ("mimecast", "Mimecast"),
    ("barracuda", "Barracuda"),
    ("symantec", "Symantec / Broadcom"),
    ("messagelabs", "Symantec / Broadcom"),
    ("broadcom", "Symantec / Broadcom"),
    ("ironport", "Cisco IronPort"),
    ("cisco", "Cisco IronPort"),
    ("trend micro", "Trend Micro"),
    ("trendmicro", "Trend Micro"),
    ("fireeye", "FireEye / Trellix"),
    ("trellix", "FireEye / Trellix"),
    ("sophos", "Sophos"),
    ("kaspersky", "Kaspersky Security"),
    ("forcepoint", "Forcepoint"),
    ("zscaler", "Zscaler"),
    ("headless", "безголовый браузер"),
]

# The published mail-gateway ranges of the big vendors (their own documentation, 2026). A
# starting list, not a complete one: add a range when the results page shows a scanner
# that slips through.
SCANNER_NETWORKS: list[tuple[str, str]] = [
    ("40.92.0.0/15", "Microsoft Exchange Online Protection"),
    ("40.107.0.0/16", "Microsoft Exchange Online Protection"),
    ("52.100.0.0/14", "Microsoft Exchange Online Protection"),
    ("104.47.0.0/17", "Microsoft Exchange Online Protection"),
    ("2a01:111:f400::/48", "Microsoft Exchange Online Protection"),
    ("148.163.128.0/19", "Proofpoint"),
    ("67.231.144.0/20", "Proofpoint"),
    ("205.220.160.0/19", "Proofpoint"),
    ("205.139.110.0/24", "Mimecast"),
    ("207.211.30.0/24", "Mimecast"),
    ("170.10.128.0/22", "Mimecast"),
    ("185.58.84.0/22", "Mimecast"),
    ("91.220.42.0/24", "Mimecast"),
    ("64.235.144.0/20", "Barracuda"),
    ("209.222.80.0/21", "Barracuda"),
    ("216.82.240.0/20", "Symantec / Broadcom"),
    ("85.158.136.0/21", "Symantec / Broadcom"),
    ("195.245.230.0/23", "Symantec / Broadcom"),
    ("193.109.254.0/23", "Symantec / Broadcom"),
    ("67.219.240.0/20", "Symantec / Broadcom"),
    ("68.232.128.0/19", "Cisco IronPort (Cisco Secure Email)"),
    ("18.208.22.64/26", "Trend Micro"),
    ("150.70.0.0/16", "Trend Micro"),
]
_NETWORKS = [(ipaddress.ip_network(cidr), name) for cidr, name in SCANNER_NETWORKS]


@dataclass(frozen=True)
class ClickEvent:
    delivery_id: int
    link_id: int  # TRAP_LINK_ID for the trap
    at: datetime
    method: str
    ip: str
    user_agent: str

    @classmethod
    def from_json(cls, raw: bytes | str) -> ClickEvent:
        data = json.loads(raw)
        return cls(
            int(data["d"]),
            int(data["l"]),
            datetime.fromtimestamp(float(data["t"]), UTC),
            str(data.get("m") or "GET"),
            str(data.get("ip") or ""),
            str(data.get("ua") or ""),
        )


_crawler_detect = threading.local()


def scanner_by_user_agent(user_agent: str) -> str | None:
    """The reason a User-Agent is a machine's, or None."""
    if not user_agent.strip():
        return "нет User-Agent"
    lower = user_agent.lower()
    for marker, name in SCANNER_USER_AGENTS:
        if marker in lower:
            return f"почтовый сканер по User-Agent: {name}"
    detector = getattr(_crawler_detect, "value", None)
    if detector is None:  # CrawlerDetect keeps per-call state: one per thread
        detector = _crawler_detect.value = CrawlerDetect()
    if detector.isCrawler(user_agent):
        return f"бот по User-Agent: {detector.getMatches()}"
    return None


def scanner_by_network(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for network, name in _NETWORKS:
        if address.version == network.version and address in network:
            return f"сеть почтового шлюза: {name}"
    return None


def _all_links_burst(event: ClickEvent, timeline: list[ClickEvent], link_ids: set[int]) -> bool:
    """Some window of BURST_SECONDS holding this click also holds a click on every link."""
    if len(link_ids) < 2 or event.link_id not in link_ids:
        return False
    window = timedelta(seconds=BURST_SECONDS)
    near = [e for e in timeline if e.link_id in link_ids and abs(e.at - event.at) <= window]
    for start in (e.at for e in near if e.at <= event.at):
        if {e.link_id for e in near if start <= e.at <= start + window} >= link_ids:
            return True
    return False


def classify(
    event: ClickEvent, *, sent_at: datetime | None, timeline: list[ClickEvent], link_ids: set[int], is_trap: bool = False
) -> tuple[Verdict, str]:
    """Human or bot, and why (Russian, shown on the results page). Pure.

    `timeline` holds every known click of the same mail (this one included), `link_ids`
    the mail's real links (not the trap).
    """
    if event.method.upper() == "HEAD":
        return Verdict.BOT, "HEAD-запрос (так ссылки проверяют сканеры)"
    if is_trap or event.link_id == TRAP_LINK_ID:
        return Verdict.BOT, "переход по скрытой ссылке-ловушке"
    reason = scanner_by_user_agent(event.user_agent) or scanner_by_network(event.ip)
    if reason:
        return Verdict.BOT, reason
    if sent_at is not None and (event.at - sent_at).total_seconds() < INSTANT_SECONDS:
        seconds = max(0, int((event.at - sent_at).total_seconds()))
        return Verdict.BOT, f"переход через {seconds} с после отправки"
    reason = burst_reason(event, timeline, link_ids)
    if reason:
        return Verdict.BOT, reason
    return Verdict.HUMAN, "переход человека"


def burst_reason(event: ClickEvent, timeline: list[ClickEvent], link_ids: set[int]) -> str | None:
    """Why the clicks around this one make it a scanner's, or None."""
    trap_window = timedelta(seconds=TRAP_BURST_SECONDS)
    if any(e.link_id == TRAP_LINK_ID and abs(e.at - event.at) <= trap_window for e in timeline):
        return "вместе с переходом по ссылке-ловушке"
    if _all_links_burst(event, timeline, link_ids):
        return "все ссылки письма открыты за секунду"
    return None
