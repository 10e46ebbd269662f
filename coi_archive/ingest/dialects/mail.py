"""Ordinary email: kept as mail, threaded by its References root; a reply
whose references reach a chat message is moved into that chat by the index
(``follow_refs``), with the quote and signature folded away (and kept
in ``Post.folded`` for search)."""

from __future__ import annotations

import re

from ..events import ChatRef, Envelope, Post
from ..mime import ParsedMail, fold_quotes_with_attribution, split_signature, strip_reply_prefix
from .common import Body, extract_body, is_report, mailinglist_chat, reaction_event, receipt_events
from .dsn import delivery_events

#: The line mail clients put above a message they forward in the text
#: (Gmail, Thunderbird, Delta Chat core; English, German, Russian), or
#: Apple Mail's "Begin forwarded message:".
_FORWARD_LINE = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:forwarded message|weitergeleitete nachricht|пересылаемое сообщение)[ \t]*-{2,}"
    r"|begin forwarded message:)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def forwards(body: Body, own: str) -> bool:
    """Whether a mail forwards another: inline as ``message/rfc822``, or
    in its own text below a client's forward line (not in quoted text)."""
    return body.forwarded or _FORWARD_LINE.search(own) is not None


def matches(pm: ParsedMail) -> bool:
    return True


def thread_root(pm: ParsedMail) -> str:
    if pm.references:
        return pm.references[0]
    return pm.in_reply_to or pm.message_id


def decode(pm: ParsedMail) -> Envelope:
    bounced = delivery_events(pm)
    if is_report(pm) or bounced:  # read receipts and bounces: protocol traffic, in no chat (as core trashes them)
        return pm.envelope("mail", None, (*receipt_events(pm), *bounced))
    reaction = reaction_event(pm)
    if reaction:  # RFC 9078 needs no Chat-Version: core applies any client's reaction
        return pm.envelope("mail", None, (reaction,))
    body = extract_body(pm)
    listed = mailinglist_chat(pm)
    footer = _list_footer(pm, body) if listed else None
    text, signature = split_signature(body.text)
    own, quote, attribution = fold_quotes_with_attribution(text)
    folded = "\n".join(p for p in (attribution, signature, footer) if p) or None
    chat = listed or ChatRef(
        kind="mail",
        key=thread_root(pm),
        name=strip_reply_prefix(pm.subject) or None,
        members=pm.members(),
        follow_refs=bool(pm.references or pm.in_reply_to),
    )
    post = Post(
        text=own,
        kind="mail",
        html=body.html,
        quote=quote,
        folded=folded,
        reply_to=pm.in_reply_to,
        forwarded=forwards(body, own),
        attachments=tuple(body.attachments),
    )
    return pm.envelope("mail", chat, (post,))


def _list_footer(pm: ParsedMail, body: Body) -> str | None:
    """A footer a mailing list sent as a second text part (core's
    ``maybe_remove_inline_mailinglist_footer``): taken out of the text
    (kept in ``Post.folded``); not for Schleuder, whose first text part
    holds the original headers."""
    if len(body.plain_parts) != 2 or pm.header("List-Help").strip() == "<https://schleuder.org/>":
        return None
    body.text, footer = body.plain_parts
    return footer
