"""Sending: N planned deliveries sent by two real workers (`python worker.py --burst`), through the
real composing code, to a counting SMTP sink in its own process; against the ceiling of a bare
smtplib loop pushing as many pre-built messages to the same sink over one connection.

    .venv/bin/python bench/send_bench.py [--quick]     # BENCH_SCALE=0.1 for a tenth of 20,000

Both rates are taken at the sink (first to last arrival). Worker memory (RSS) is sampled
every 50 ms; the peak after a quarter of the messages is compared with the peak at the end.
"""

from __future__ import annotations

import random
import shutil
import smtplib
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import harness
import psutil
from smtp_sink import Sink

FULL = 20_000
WORKERS = 2
SEED = 20261122
ADVISORS = 20
FIRST_NAMES = ["Олег", "Анна", "Иван", "Мария", "Пётр", "Елена", "Сергей", "Ольга", "Дмитрий", "Наталья", "", "Ким"]
MIDDLE_NAMES = ["", "", "Иванович", "Петровна", "Сергеевич", "Олеговна"]
LAST_NAMES = ["Петров", "Смирнова", "Кузнецов", "Орлова", "Соколов", "Попова", "Лебедев", "Козлова"]
BODY = """{{ greeting }}

Скоро {{ tag.name }}, и мы подготовили для {{ company }} подборку подарков для партнёров и сотрудников.

Каталог {{ year }} года: {{ links.catalog }}
Скидка 10 % до конца месяца: {{ links.discount }}

Если удобно, пришлю образцы или позвоню — просто ответьте на это письмо.

{{ advisor.signature }}

Отписаться от рассылки: {{ unsubscribe_url }}
"""
GROWTH_LIMIT = 0.10  # peak RSS at N may exceed the peak at N/4 by at most this share


def build_data(session, n: int) -> None:
    """N contacts of ADVISORS advisors, one ready offer with two links, N deliveries due now."""
    from sqlalchemy import insert

    from campaigns.db import utcnow
    from campaigns.models import Advisor, Contact, Delivery, DeliveryStatus, Link, Offer, OfferStatus, Role, Tag, TagKind

    rng = random.Random(SEED)
    session.add(Advisor(email="tupin@gifts.example.com", name="Василий Тупин", is_house=True, role=Role.ADVISOR))
    advisors = [
        Advisor(
            email=f"advisor{i}@gifts.example.com",
            name=f"Советник {i} Подарков",
            phone=f"+7495{i:07d}",
            signature=f"С уважением,\nСоветник {i} Подарков\nСтудия подарков, +7 495 {i:07d}",
        )
        for i in range(ADVISORS)
    ]
    session.add_all(advisors)
    # Its occasion is today, so today lies within the mailing's window and nothing is missed (missed.py).
    from campaigns.calendar import MONTHS

    today = date.today()
    tag = Tag(name="День строителя", kind=TagKind.HOLIDAY, rule=f"{today.day} {MONTHS[today.month - 1]}", lead_days=0)
    offer = Offer(tag=tag, year=date.today().year, subject="Подарки ко Дню строителя", body=BODY, status=OfferStatus.READY)
    offer.links = [
        Link(name="catalog", url="https://gifts.example.com/catalog", label="Каталог"),
        Link(name="discount", url="https://gifts.example.com/скидка?utm=mail", label="Скидка", weight=3),
    ]
    session.add(offer)
    session.flush()
    now = utcnow()
    contacts = [
        {
            "owner_id": advisors[i % ADVISORS].id,
            "first_name": rng.choice(FIRST_NAMES),
            "middle_name": rng.choice(MIDDLE_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "company": f"ООО «Компания {i}»",
            "email": f"client{i}@client{i % 97}.example.ru",
            "position": "Директор",
            "created_at": now,
            "updated_at": now,
            "consent_source": "bench: written consent",
            "consent_at": now,  # REQUIRE_CONSENT (on by default)
        }
        for i in range(n)
    ]
    ids = session.scalars(insert(Contact).returning(Contact.id), contacts).all()
    session.execute(
        insert(Delivery),
        [
            {
                "offer_id": offer.id,
                "contact_id": cid,
                "advisor_id": contacts[i]["owner_id"],
                "status": DeliveryStatus.PLANNED,
                "send_on": date.today(),
                "send_at": now - timedelta(minutes=1),
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i, cid in enumerate(ids)
        ],
    )
    session.commit()


def prebuilt_messages(session, settings, count: int) -> list[tuple[str, str, bytes]]:
    """The real composer's output for `count` deliveries, as bytes ready for the wire."""
    from sqlalchemy import select

    from campaigns import compose
    from campaigns.models import Delivery
    from campaigns.sender import sender_for
    from campaigns.transport import wire_bytes

    out = []
    for delivery in session.scalars(select(Delivery).order_by(Delivery.id).limit(count)):
        advisor = sender_for(session, delivery.contact)
        msg = compose.build_offer_message(
            offer=delivery.offer, contact=delivery.contact, advisor=advisor, settings=settings, delivery_id=delivery.id
        )
        out.append((advisor.email, delivery.contact.email, wire_bytes(msg)))
    session.rollback()
    return out


def ceiling(sink: Sink, messages, n: int) -> float:
    sink.reset()
    with smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
        for i in range(n):
            sender, rcpt, raw = messages[i % len(messages)]
            smtp.sendmail(sender, [rcpt], raw)
    while sink.count < n:
        time.sleep(0.01)
    return sink.rate()


def run_workers(sink: Sink, env: dict, n: int) -> dict:
    """Two burst workers; RSS sampled until they exit. Returns rates and memory figures."""
    import subprocess

    sink.reset()
    logs = Path(env["INSTANCE_PATH"])
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [harness.PYTHON, str(harness.ROOT / "worker.py"), "--burst"],
            env=env,
            cwd=harness.ROOT,
            stdout=(logs / f"worker{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(WORKERS)
    ]
    watched = [psutil.Process(p.pid) for p in procs]
    peak_quarter = peak = 0
    quarter = n // 4
    while any(p.poll() is None for p in procs):
        rss = 0
        for proc in watched:
            try:
                rss = max(rss, proc.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, rss)
        if sink.count <= quarter:
            peak_quarter = peak
        time.sleep(0.05)
    wall = time.perf_counter() - started
    for i, p in enumerate(procs):
        if p.returncode:
            sys.exit(f"worker {i} exited with {p.returncode}; see {logs / f'worker{i}.log'}")
    return {"rate": sink.rate(), "received": sink.count, "wall": wall, "peak": peak, "peak_quarter": peak_quarter}


def main() -> int:
    n = max(200, int(FULL * harness.scale()))
    instance = Path(tempfile.mkdtemp(prefix="bench-send-"))
    with Sink() as sink, harness.private_redis() as redis_url, harness.throwaway_schema("send") as url:
        env = harness.app_env(url, redis_url, instance, MAIL_URL=sink.url, RELAY_RATE_PER_MINUTE="100000000")
        settings = harness.settings_for(env)
        from campaigns import create_app, dispatch
        from campaigns.db import db

        app = create_app(settings)
        with app.app_context():
            print(f"sending: {n:,} deliveries, {WORKERS} workers, sink on port {sink.port}", flush=True)
            t0 = time.perf_counter()
            build_data(db.session, n)
            messages = prebuilt_messages(db.session, settings, min(n, 1000))
            queued = dispatch.dispatch(db.session, settings, limit=n)
            assert queued == n, f"dispatched {queued} of {n}"
            print(
                f"  data, {len(messages)} pre-built messages and {queued:,} jobs ready in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        db.engine.dispose()

        # The ceiling right before and right after the workers; their mean counts (the machine drifts).
        before = ceiling(sink, messages, n)
        print(f"  ceiling (smtplib, one connection): {before:,.0f} msg/s", flush=True)
        ours = run_workers(sink, env, n)
        print(
            f"  workers: {ours['rate']:,.0f} msg/s at the sink ({ours['received']:,} received, {ours['wall']:.1f} s wall"
            f" incl. start-up)",
            flush=True,
        )
        after = ceiling(sink, messages, n)
        top = (before + after) / 2
        print(f"  ceiling again: {after:,.0f} msg/s; mean {top:,.0f} msg/s", flush=True)

        from sqlalchemy import func, select

        from campaigns.models import Delivery, DeliveryStatus, Note, NoteKind

        with app.app_context():
            sent = db.session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.SENT))
            notes = db.session.scalar(select(func.count()).select_from(Note).where(Note.kind == NoteKind.MAIL))
            db.session.remove()
        db.engine.dispose()

    mb = 1024 * 1024
    growth = (ours["peak"] - ours["peak_quarter"]) / ours["peak_quarter"] if ours["peak_quarter"] else 0.0
    ratio = ours["rate"] / top if top else 0.0
    print(
        f"  deliveries sent {sent:,}, mail notes {notes:,}; peak worker RSS {ours['peak_quarter'] / mb:.0f} MB at N/4, "
        f"{ours['peak'] / mb:.0f} MB at N ({growth:+.1%})"
    )
    complete = sent == n == ours["received"] == notes
    if not complete:
        print(f"  INCOMPLETE: {n} planned, {sent} sent, {ours['received']} received, {notes} notes")
    if complete:
        shutil.rmtree(instance, ignore_errors=True)  # kept otherwise: the worker logs say what went wrong
    harness.emit(
        "1. sending",
        measured=f"{ours['rate']:,.0f} msg/s; peak RSS {ours['peak'] / mb:.0f} MB "
        f"(N/4: {ours['peak_quarter'] / mb:.0f} MB, {growth:+.0%})",
        ceiling=f"{top:,.0f} msg/s (smtplib loop)",
        ratio=round(ratio, 3),
        ratio_text=f"{ratio:.2f}",
        target=f"≥ 0.5, RSS growth ≤ {GROWTH_LIMIT:.0%}",
        met=ratio >= 0.5 and growth <= GROWTH_LIMIT and complete,
        n=n,
        complete=complete,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
