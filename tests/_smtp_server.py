"""A real SMTP server for alert tests: aiosmtpd on 127.0.0.1 with a certificate from a test CA, requiring
STARTTLS (or TLS from the first byte) and AUTH; it records every message, login and envelope, and can
refuse the first messages with 451 (try again later)."""

from __future__ import annotations

import email
import email.policy
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import free_port, tls_files

USER, PASSWORD = "desk", "s3cret-pass"


@dataclass
class Mailbox:
    host: str
    port: int
    ca: Path
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bool]] = field(default_factory=list)  # from, to, over TLS
    logins: list[tuple[str, bool]] = field(default_factory=list)  # user, accepted
    refuse: int = 0  # answer the next this many messages 451

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def wait(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


class Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.box.refuse > 0:
            self.box.refuse -= 1
            return "451 4.3.0 try again later"
        over_tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), over_tls))
        self.box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def smtp_server(tmp_path: Path, *, implicit_tls: bool = False, starttls: bool = True) -> Iterator[Mailbox]:
    ca, cert, key = tls_files(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    box = Mailbox("127.0.0.1", free_port(), ca)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        box.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself

    kwargs: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
    if implicit_tls:
        kwargs["ssl_context"] = context
        kwargs["auth_require_tls"] = False  # the whole connection is TLS
    elif starttls:
        kwargs.update(tls_context=context, require_starttls=True)
    else:
        kwargs["auth_require_tls"] = False
    controller = Controller(Handler(box), hostname=box.host, port=box.port, server_hostname="127.0.0.1", **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
