"""
An aiosmtpd handler for Vigil's tests: run as `python3 -m aiosmtpd -n -c smtp_maildir.MaildirHandler MAILDIR CONTROL`
(with this directory on PYTHONPATH, and --tlscert/--tlskey for STARTTLS). Delivers every message to the Maildir
(tmp/ then new/), prefixed with an X-Envelope-To header. CONTROL is a JSON file read at every command, so a test can
change the server's behaviour while it runs:
  {"users": {"name": "password"}}      AUTH PLAIN/LOGIN required before MAIL (offered only after STARTTLS)
  {"answers": {"rcpt@x": "450 4.2.0 Mailbox busy"}}   the reply to RCPT TO for that address (4xx or 5xx)
  {"hold_rcpt": 5}                     wait 5 s before answering RCPT (the client has not handed the mail over yet)
  {"hold_data": 5}                     deliver, then wait 5 s before answering DATA (accepted, not yet confirmed)
"""
import asyncio
import json
import os
import socket
import time
from base64 import b64decode

from aiosmtpd.smtp import AuthResult


class MaildirHandler:
    def __init__(self, maildir, control):
        self.maildir = maildir
        self.control = control
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 2:
            parser.error("MaildirHandler needs MAILDIR and CONTROL")
        return cls(*args)

    def settings(self):
        try:
            with open(self.control) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _check(self, login, password):
        users = self.settings().get("users") or {}
        return users.get(login.decode()) == password.decode()

    async def auth_PLAIN(self, server, args):
        if len(args) < 2:
            data = await server.challenge_auth("")
        else:
            data = b64decode(args[1].encode())
        try:
            _, login, password = data.split(b"\x00")
        except ValueError:
            return AuthResult(success=False, handled=False)
        ok = self._check(login, password)
        return AuthResult(success=ok, handled=False, auth_data=login)

    async def auth_LOGIN(self, server, args):
        login = await server.challenge_auth("Username:")
        password = await server.challenge_auth("Password:")
        ok = self._check(login, password)
        return AuthResult(success=ok, handled=False, auth_data=login)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.settings().get("users") and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        settings = self.settings()
        if settings.get("hold_rcpt"):
            await asyncio.sleep(settings["hold_rcpt"])
        answer = (settings.get("answers") or {}).get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%d.%d_%d.%s" % (time.time(), os.getpid(), self.count, socket.gethostname())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        hold = self.settings().get("hold_data")
        if hold:
            await asyncio.sleep(hold)
        return "250 2.0.0 Ok: queued as %s" % name
