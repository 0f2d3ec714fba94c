"""Reading a received mail: who sent it, what it answers, its text (from text/plain, or
from HTML with the tags stripped) with quoted replies trimmed, its attachments, and whether a
machine sent it (auto-replies, out-of-office, bounces and delivery reports, bulk and list
mail), which the portal never answers. Pure functions of the message's bytes: no database."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# The ticket a subject names: "[INC-123] Printer down: assigned" (the portal's subjects) and the
# older "[MOF] INC-123 Printer down"; PRB and CHG alike.
REFERENCE = re.compile(r"\b(INC|PRB|CHG)-(\d{1,9})\b", re.IGNORECASE)
REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
FORWARD_PREFIX = re.compile(r"^\s*(fw|fwd|wg|tr|rv)\s*:", re.IGNORECASE)
# An auto-reply's subject: the client's prefix, a colon, the subject it answers. A person's
# "Out of office replies do not work" is not one.
OUT_OF_OFFICE = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office( reply| autoreply)?|ooo|abwesenheitsnotiz|"
    r"automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord)\s*:",
    re.IGNORECASE,
)
DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
REPORT_TYPES = (
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
    "message/global-delivery-status",
)

# Where quoted text starts: attribution lines, separators and header blocks of mail clients.
QUOTE_STARTS = [
    re.compile(
        r"^\s*(On|Le|Am|El|Il|Op)\s.{0,300}\s(wrote|a écrit|schrieb|escribió|ha scritto|schreef)\b.{0,120}:\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original)\s*-{2,}",
        re.IGNORECASE,
    ),
    re.compile(r"^\s*_{20,}\s*$"),  # Outlook's rule above the quoted header block
]
HEADER_BLOCK_FROM = re.compile(r"^\s*\*?(From|Von|De|Da|Van)\s*:\*?\s", re.IGNORECASE)
HEADER_BLOCK_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|Gesendet|Datum|Envoyé|Enviado|Inviato|Verzonden|To|An|À|Para|A|Aan)\s*:\*?\s", re.IGNORECASE
)
SIGNATURE = re.compile(r"^-- ?$")


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class ParsedMail:
    message_id: str
    from_address: str
    from_name: str
    subject: str
    sent_at: object  # datetime or None
    in_reply_to: list[str]
    references: list[str]
    text: str  # the new text, quotes trimmed
    attachments: list[Attachment] = field(default_factory=list)
    automatic: tuple[str, str] | None = None  # ("drop" | "park", why) for mail a machine sent

    @property
    def answers(self) -> list[str]:
        """Message-IDs this mail answers, the nearest first."""
        return list(dict.fromkeys([*self.in_reply_to, *reversed(self.references)]))

    @property
    def reference(self) -> tuple[str, int] | None:
        """("INC", 123) named in the subject, or None."""
        match = REFERENCE.search(self.subject)
        return (match.group(1).upper(), int(match.group(2))) if match else None

    @property
    def title(self) -> str:
        """The subject without Re:/Fwd: prefixes: an incident's title."""
        return REPLY_PREFIX.sub("", self.subject).strip()


def load(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _header(msg, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a malformed header reads as absent, never a crash
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value or "")


def _sender(msg) -> tuple[str, str]:
    for name in ("From", "Sender", "Return-Path"):
        raw = _header(msg, name)
        if not raw:
            continue
        for display, address in getaddresses([raw]):
            if "@" in address:
                return address.strip().lower(), display.strip()
    return "", ""


def _sent_at(msg):
    value = _header(msg, "Date")
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def message_id_of(msg, raw: bytes) -> str:
    """The message's Message-ID, or one derived from its bytes (the same mail delivered twice
    gets the same one)."""
    found = _ids(_header(msg, "Message-ID"))
    if found and len(found[0]) <= 250:
        return found[0]
    return f"<sha256-{hashlib.sha256(raw).hexdigest()}@mof.inbound>"


class _TextFromHTML(HTMLParser):
    """Visible text of an HTML body: blocks become lines; scripts, styles and quoted
    blockquotes (the mail being answered) are left out."""

    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr", "pre"}
    SKIP = {"script", "style", "head", "title", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextFromHTML()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: the tags removed bluntly
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _quote_start(lines: list[str], index: int) -> bool:
    line = lines[index]
    # An attribution line a client wrapped over two or three lines ("On ..., Alice <\na@b> wrote:").
    if any(pattern.match(line) for pattern in QUOTE_STARTS):
        return True
    for span in (2, 3):
        if index + span <= len(lines) and QUOTE_STARTS[0].match(
            " ".join(part.strip() for part in lines[index : index + span])
        ):
            return True
    if HEADER_BLOCK_FROM.match(line):
        return any(HEADER_BLOCK_NEXT.match(following) for following in lines[index + 1 : index + 5])
    return False


def trim_quotes(text: str) -> str:
    """The new part of a reply: cut at the first quoted block, `>` lines and the signature
    removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = []
    for index, line in enumerate(lines):
        if _quote_start(lines, index) or SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _decoded(part) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def body_text(msg) -> tuple[str, object]:
    """(plain text of the body, the part it came from)."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001
        part = None
    if part is None:
        return "", None
    content = _decoded(part)
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip(), part


def attachment_parts(msg, body_part=None) -> list:
    """The parts a person attached (named files, and anything marked as an attachment)."""
    found = []
    for part in msg.walk():
        if part.is_multipart() or part is body_part or part is msg and not msg.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if part.get_filename() or disposition == "attachment":
            found.append(part)
    return found


def attachments(msg, body_part=None) -> list[tuple[str, str, bytes]]:
    """(file name, content type, bytes) of each attachment: what a ticket's attachments are
    made from."""
    out = []
    for index, part in enumerate(attachment_parts(msg, body_part), start=1):
        payload = part.get_payload(decode=True) or b""
        out.append((part.get_filename() or f"attachment-{index}", part.get_content_type(), payload))
    return out


def automatic(msg, from_address: str, subject: str) -> tuple[str, str] | None:
    """("drop" | "park", why) when a machine sent this mail; None for a person's mail.
    Bounces, delivery reports and out-of-office replies are dropped; other automatic, bulk
    and list mail is parked (a person may still want it). Neither is ever answered."""
    content_type = msg.get_content_type()
    if (
        content_type == "multipart/report"
        or content_type in REPORT_TYPES
        or any(part.get_content_type() in REPORT_TYPES for part in msg.walk())
    ):
        return "drop", f"delivery status notification ({content_type})"
    local = from_address.split("@")[0].lower()
    if not from_address or local in DAEMONS:
        return "drop", f"bounce from {from_address or 'the null sender'}"
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        if auto_submitted.startswith("auto-replied"):
            return "drop", f"automatic reply (Auto-Submitted: {auto_submitted})"
        return "park", f"automatic mail (Auto-Submitted: {auto_submitted})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Auto-Reply"):
        if _header(msg, name):
            return "drop", f"automatic reply ({name})"
    if OUT_OF_OFFICE.match(REPLY_PREFIX.sub("", subject)) or OUT_OF_OFFICE.match(subject):
        return "drop", "out-of-office reply"
    suppress = _header(msg, "X-Auto-Response-Suppress")
    if suppress:
        return "park", f"automatic mail (X-Auto-Response-Suppress: {suppress})"
    precedence = _header(msg, "Precedence").lower()
    if precedence == "junk":
        return "drop", "junk (Precedence: junk)"
    if precedence in ("bulk", "list"):
        return "park", f"bulk mail (Precedence: {precedence})"
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return "park", "mailing-list mail"
    return None


def parse(raw: bytes) -> tuple[ParsedMail, EmailMessage]:
    msg = load(raw)
    from_address, from_name = _sender(msg)
    subject = _header(msg, "Subject")[:250]
    text, body_part = body_text(msg)
    if not FORWARD_PREFIX.match(subject):  # a forward's quoted mail is what the person sends on
        text = trim_quotes(text)
    parts = attachment_parts(msg, body_part)
    parsed = ParsedMail(
        message_id=message_id_of(msg, raw),
        from_address=from_address[:254],
        from_name=from_name[:200],
        subject=subject,
        sent_at=_sent_at(msg),
        in_reply_to=_ids(_header(msg, "In-Reply-To")),
        references=_ids(_header(msg, "References")),
        text=text,
        attachments=[
            Attachment(p.get_filename() or "attachment", p.get_content_type(), len(p.get_payload(decode=True) or b""))
            for p in parts
        ],
    )
    parsed.automatic = automatic(msg, from_address, subject)
    return parsed, msg
