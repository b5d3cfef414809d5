"""transport.py against real SMTP servers (aiosmtpd) that accept, refuse, stall and hang up."""

from __future__ import annotations

import asyncio
import mailbox
import ssl
import subprocess
import threading
from email import message_from_bytes, message_from_string
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from campaigns.compose import make_message
from campaigns.config import parse_mail_url
from campaigns.transport import (
    AddressNotSupported,
    PermanentFailure,
    TemporaryFailure,
    UnknownOutcome,
    open_transport,
)
from tests.support import free_port


class Server:
    """An aiosmtpd server whose answers a test chooses; counts the connections it served."""

    def __init__(
        self,
        rcpt_reply=None,
        data_reply="250 OK",
        hang_up_on_data=False,
        stall=0.0,
        close_after_message=False,
        hang_up_on_rcpt=False,
        stall_rcpt=0.0,
        **smtp_kwargs,
    ):
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.hang_up_on_data = hang_up_on_data
        self.stall = stall
        self.close_after_message = close_after_message
        self.hang_up_on_rcpt = hang_up_on_rcpt
        self.stall_rcpt = stall_rcpt
        self.messages: list = []  # accepted (250)
        self.received: list = []  # every message whose final dot arrived, whatever the answer
        self.peers: set = set()
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **smtp_kwargs)

    @property
    def connections(self) -> int:
        return len(self.peers)

    def url(self, query: str = "", userinfo: str = "") -> str:
        return f"smtp://{userinfo}127.0.0.1:{self.port}{query}"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.peers.add(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_rcpt:
            await asyncio.sleep(self.stall_rcpt)
        if self.hang_up_on_rcpt:
            server.transport.close()
            return "250 never heard"
        if self.rcpt_reply and address.startswith("refused"):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # Called once the final dot has arrived: the relay has the whole message, whatever it answers.
        with self.lock:
            self.received.append(envelope)
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.hang_up_on_data:
            server.transport.close()
            return "250 never heard"
        if self.data_reply.startswith("250"):
            with self.lock:
                self.messages.append(envelope)
        if self.close_after_message:
            # A relay that silently drops idle connections: gone before the next MAIL FROM.
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return self.data_reply


pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture
def server_factory():
    started = []

    def start(**kwargs) -> Server:
        server = Server(**kwargs)
        server.controller.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.controller.stop()


def transport_for(url, tmp_path):
    return open_transport(parse_mail_url(url, tmp_path))


def message(settings, to_addr="client@client.example.com", **kw):
    kw.setdefault("subject", "Подарки к Дню строителя")
    kw.setdefault("text", "Здравствуйте, Олег!\n\nКаталог: https://campaigns.example.com/c/abc\n")
    kw.setdefault("html", "<p>Здравствуйте, Олег!</p>")
    return make_message(
        settings=settings,
        from_name="Анна Соколова",
        from_addr="anna@studio.example.com",
        to_name="Олег Петров",
        to_addr=to_addr,
        reply_to=("Анна Соколова", "anna@studio.example.com"),
        **kw,
    )


def test_it_delivers_a_message_intact(server_factory, settings, tmp_path):
    server = server_factory()
    msg = message(settings)
    with transport_for(server.url(), tmp_path) as transport:
        transport.send(msg)

    [envelope] = server.messages
    assert envelope.mail_from == "anna@studio.example.com"
    assert envelope.rcpt_tos == ["client@client.example.com"]
    received = message_from_bytes(envelope.content, policy=email_policy.default)
    assert received["From"].addresses[0].display_name == "Анна Соколова"
    assert received["To"].addresses[0].display_name == "Олег Петров"
    assert received["Subject"] == "Подарки к Дню строителя"
    assert received["Message-ID"] == msg["Message-ID"]
    assert received.get_body(("plain",)).get_content() == msg.get_body(("plain",)).get_content()
    assert "<p>Здравствуйте, Олег!</p>" in received.get_body(("html",)).get_content()


def test_it_sends_many_messages_over_one_connection(server_factory, settings, tmp_path):
    server = server_factory()
    with transport_for(server.url(), tmp_path) as transport:
        for n in range(5):
            transport.send(message(settings, to_addr=f"client{n}@client.example.com"))

    assert len(server.messages) == 5
    assert server.connections == 1


def test_it_reconnects_when_the_relay_closed_an_idle_connection(server_factory, settings, tmp_path):
    server = server_factory(timeout=0.3)  # aiosmtpd says «421 timeout» and hangs up
    with transport_for(server.url(), tmp_path) as transport:
        transport.send(message(settings, to_addr="first@client.example.com"))
        threading.Event().wait(0.6)
        transport.send(message(settings, to_addr="second@client.example.com"))

    assert [m.rcpt_tos for m in server.messages] == [["first@client.example.com"], ["second@client.example.com"]]
    assert server.connections == 2


def test_it_reconnects_when_the_relay_dropped_the_connection_silently(server_factory, settings, tmp_path):
    server = server_factory(close_after_message=True)
    with transport_for(server.url(), tmp_path) as transport:
        for n in range(3):
            transport.send(message(settings, to_addr=f"client{n}@client.example.com"))
            threading.Event().wait(0.15)

    assert len(server.messages) == 3


def test_it_reports_a_451_as_temporary(server_factory, settings, tmp_path):
    server = server_factory(rcpt_reply="451 4.3.0 Greylisted, try again later")
    with transport_for(server.url(), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings, to_addr="refused@client.example.com"))

    assert "451 4.3.0 Greylisted" in str(caught.value)
    assert caught.value.code == 451
    assert server.messages == []


def test_it_reports_an_unknown_mailbox_as_permanent_with_the_enhanced_code(server_factory, settings, tmp_path):
    server = server_factory(rcpt_reply="550 5.1.1 <refused@client.example.com>: Recipient address rejected")
    with transport_for(server.url(), tmp_path) as transport:
        with pytest.raises(PermanentFailure) as caught:
            transport.send(message(settings, to_addr="refused@client.example.com"))
        # The refused transaction was reset: the same connection still carries the next letter.
        transport.send(message(settings, to_addr="ok@client.example.com"))

    assert caught.value.code == 550
    assert caught.value.enhanced == "5.1.1"
    assert str(caught.value) == "550 5.1.1 <refused@client.example.com>: Recipient address rejected"
    assert [m.rcpt_tos for m in server.messages] == [["ok@client.example.com"]]
    assert server.connections == 1


def test_it_reports_a_message_refused_after_data_as_permanent(server_factory, settings, tmp_path):
    server = server_factory(data_reply="554 5.7.1 Message rejected as spam")
    with transport_for(server.url(), tmp_path) as transport, pytest.raises(PermanentFailure) as caught:
        transport.send(message(settings))

    assert (caught.value.code, caught.value.enhanced) == (554, "5.7.1")


def test_it_reports_a_hang_up_before_the_message_went_as_temporary_and_never_as_sent(server_factory, settings, tmp_path):
    server = server_factory(hang_up_on_rcpt=True)
    with transport_for(server.url(), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "прервалась до отправки письма целиком" in str(caught.value)
    assert server.received == []


def test_it_reports_a_silent_server_before_the_message_went_as_temporary(server_factory, settings, tmp_path):
    server = server_factory(stall_rcpt=2)
    with transport_for(server.url("?timeout=0.3"), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "timeout" in str(caught.value)
    assert server.received == []


def test_it_reports_a_hang_up_after_the_final_dot_as_unknown_never_as_temporary(server_factory, settings, tmp_path):
    server = server_factory(hang_up_on_data=True)
    with transport_for(server.url(), tmp_path) as transport:
        with pytest.raises(UnknownOutcome) as caught:
            transport.send(message(settings, to_addr="first@client.example.com"))
        server.hang_up_on_data = False
        transport.send(message(settings, to_addr="second@client.example.com"))  # a new connection carries on

    assert not isinstance(caught.value, TemporaryFailure | PermanentFailure)
    assert "целиком, но его ответа нет" in str(caught.value)
    assert [m.rcpt_tos for m in server.received] == [["first@client.example.com"], ["second@client.example.com"]]


def test_it_reports_no_answer_after_the_final_dot_as_unknown(server_factory, settings, tmp_path):
    server = server_factory(stall=2)
    with transport_for(server.url("?timeout=0.3"), tmp_path) as transport, pytest.raises(UnknownOutcome) as caught:
        transport.send(message(settings))

    assert "timeout" in str(caught.value)
    assert len(server.received) == 1


def test_it_reports_a_garbled_answer_after_the_final_dot_as_unknown(server_factory, settings, tmp_path):
    server = server_factory(data_reply="OK, thanks")
    with transport_for(server.url(), tmp_path) as transport, pytest.raises(UnknownOutcome) as caught:
        transport.send(message(settings))

    assert "непонятно" in str(caught.value)
    assert len(server.received) == 1


def test_it_reports_a_4xx_after_the_final_dot_as_temporary(server_factory, settings, tmp_path):
    server = server_factory(data_reply="451 4.3.0 Queue full, try again later")
    with transport_for(server.url(), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert (caught.value.code, caught.value.enhanced) == (451, "4.3.0")
    assert server.messages == []


def test_it_sends_lines_starting_with_a_dot_intact(server_factory, settings, tmp_path):
    server = server_factory()
    with transport_for(server.url(), tmp_path) as transport:
        transport.send(message(settings, text=".\n..two dots\n.one dot\n"))

    received = message_from_bytes(server.messages[0].content, policy=email_policy.default)
    assert received.get_body(("plain",)).get_content().splitlines()[:3] == [".", "..two dots", ".one dot"]


def test_it_reports_a_relay_that_is_down_as_temporary(settings, tmp_path):
    with transport_for(f"smtp://127.0.0.1:{free_port()}", tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "Не удалось соединиться" in str(caught.value)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"anna", b"s3cret")
    return AuthResult(success=ok, handled=False)


def _auth_server(server_factory):
    # AUTH LOGIN after a failed PLAIN stalls in aiosmtpd 1.4; PLAIN alone tells the story.
    return server_factory(
        authenticator=_authenticator, auth_require_tls=False, auth_required=True, auth_exclude_mechanism=["LOGIN"]
    )


def test_it_logs_in_when_mail_url_has_a_user(server_factory, settings, tmp_path):
    server = _auth_server(server_factory)
    with transport_for(server.url(userinfo="anna:s3cret@"), tmp_path) as transport:
        transport.send(message(settings))

    assert len(server.messages) == 1


def test_it_reports_a_refused_login_as_temporary_naming_mail_url(server_factory, settings, tmp_path):
    server = _auth_server(server_factory)
    url = server.url("?timeout=5", userinfo="anna:wrong@")
    with transport_for(url, tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "MAIL_URL" in str(caught.value)
    assert server.messages == []


def test_it_sends_a_non_ascii_mailbox_with_smtputf8_when_offered(server_factory, settings, tmp_path):
    server = server_factory(enable_SMTPUTF8=True)
    with transport_for(server.url(), tmp_path) as transport:
        transport.send(message(settings, to_addr="олег@пример.рф"))

    [envelope] = server.messages
    assert envelope.rcpt_tos == ["олег@xn--e1afmkfd.xn--p1ai"]
    assert "SMTPUTF8" in envelope.mail_options
    # The stdlib parser reads 8-bit headers only from text, hence the decode.
    received = message_from_string(envelope.content.decode(), policy=email_policy.default)
    assert received["To"].addresses[0].addr_spec == "олег@xn--e1afmkfd.xn--p1ai"


def test_it_refuses_a_non_ascii_mailbox_when_the_relay_has_no_smtputf8(server_factory, settings, tmp_path):
    server = server_factory(enable_SMTPUTF8=False)
    with transport_for(server.url(), tmp_path) as transport:
        with pytest.raises(AddressNotSupported) as caught:
            transport.send(message(settings, to_addr="олег@пример.рф"))
        transport.send(message(settings, to_addr="oleg@пример.рф"))  # an IDN domain alone is fine

    assert isinstance(caught.value, PermanentFailure)
    assert "олег@xn--e1afmkfd.xn--p1ai" in str(caught.value) and "SMTPUTF8" in str(caught.value)
    assert [m.rcpt_tos for m in server.messages] == [["oleg@xn--e1afmkfd.xn--p1ai"]]


def test_it_writes_each_message_as_a_maildir_file(settings, tmp_path):
    with transport_for(f"maildir:{tmp_path / 'outbox'}", tmp_path) as transport:
        transport.send(message(settings))
        transport.send(message(settings, to_addr="олег@пример.рф"))

    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 2 == len(box)
    parsed = [message_from_string(f.read_text(), policy=email_policy.default) for f in files]
    assert {p["To"].addresses[0].addr_spec for p in parsed} == {"client@client.example.com", "олег@xn--e1afmkfd.xn--p1ai"}
    assert all(p.get_body(("plain",)).get_content().startswith("Здравствуйте, Олег!") for p in parsed)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE like a company CA."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def test_it_upgrades_to_tls_with_starttls(server_factory, settings, tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = server_factory(tls_context=certificate[1], require_starttls=True)
    with transport_for(server.url("?starttls=1"), tmp_path) as transport:
        transport.send(message(settings))

    assert len(server.messages) == 1


def test_it_speaks_tls_from_the_start_with_smtps(server_factory, settings, tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = server_factory(ssl_context=certificate[1])
    with transport_for(f"smtps://127.0.0.1:{server.port}", tmp_path) as transport:
        transport.send(message(settings))

    assert len(server.messages) == 1


def test_it_refuses_a_relay_whose_certificate_it_cannot_trust(server_factory, settings, tmp_path, certificate):
    server = server_factory(tls_context=certificate[1], require_starttls=True)
    with transport_for(server.url("?starttls=1"), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert server.messages == []


def test_it_says_so_when_mail_url_asks_for_starttls_the_relay_lacks(server_factory, settings, tmp_path):
    server = server_factory()
    with transport_for(server.url("?starttls=1"), tmp_path) as transport, pytest.raises(TemporaryFailure) as caught:
        transport.send(message(settings))

    assert "MAIL_URL" in str(caught.value)
