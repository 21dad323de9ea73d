"""Sending invitation and reset links by mail when PROMPTMGR_SMTP_* is configured (smtplib).

Without SMTP the link goes back to the admin who asked for it, who sends it their own way."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from .config import Settings

log = logging.getLogger(__name__)


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from)


def send_mail(settings: Settings, to: str, subject: str, body: str) -> bool:
    """True when the server accepted the message; a failure is logged (never the body: it holds
    the link) and the caller falls back to showing the link."""
    if not mail_configured(settings):
        return False
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to %s not sent: %s", to, type(exc).__name__)
        return False
