"""Fold the wire messages of one chat into its state.

The fold is a pure function of the *set* of wire messages: the posts are
put in Delta Chat's order first (:func:`.order.chat_order`: effective date,
the reply graph within one second, the earliest arrival evidence over the
copies, Message-ID), the controls aimed at them in that same order (a
reaction changed within one second ends as the later one), so the order
copies were read in and duplicates cannot change the result.  The effective
date is the wire layer's (the sender's Date held to the delivery
evidence), and a message without any date comes last: an undated message
cannot found a group.
Edits, deletes, reactions and receipts are applied to their targets
here, edits and deletes by core's rule (:func:`_refusal`); group changes
become system lines; nothing is dropped (every revision and deleted text
stays in ``revisions``, a refused edit or delete in ``rejected``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coi_archive.ingest.events import (
    ContactState,
    Delete,
    DeliveryReport,
    Edit,
    Envelope,
    EphemeralTimer,
    GroupAvatar,
    GroupDescription,
    GroupInfo,
    GroupRenamed,
    MemberAdded,
    MemberLeft,
    MemberRemoved,
    Pin,
    PollVote,
    Post,
    Reaction,
    Receipt,
)

from .chatids import ChatKind, kind_of
from .order import NO_ARRIVAL, Arrival, chat_order


@dataclass
class Wire:
    """One canonical wire message as the fold sees it."""

    message_id: str
    role: str
    env: Envelope
    #: the other versions of this Message-ID (``versions.describe``)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: the earliest arrival evidence over its copies (``order.arrival``)
    arrival: Arrival = NO_ARRIVAL

    @property
    def sort_key(self) -> tuple[bool, str, str]:
        return (not self.env.date, self.env.date or "", self.message_id)


@dataclass
class ChatFold:
    """Everything the catalog stores for one chat."""

    chat: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[tuple] = field(default_factory=list)
    receipts: list[tuple] = field(default_factory=list)
    memberships: list[tuple] = field(default_factory=list)
    name_history: list[tuple] = field(default_factory=list)


def _person(env: Envelope) -> str:
    return env.sender_name or env.sender


def fold_chat(chat_id: str, posts: list[Wire], controls: list[Wire]) -> ChatFold:
    """Fold one chat in one piece.  ``posts`` are the wires placed in the
    chat, ``controls`` the edits/deletes/reactions/receipts that target them."""
    folder = ChatFolder(chat_id)
    result = folder.feed(chat_order(posts), controls)
    end = folder.finish()
    result.chat, result.memberships, result.name_history = end.chat, end.memberships, end.name_history
    return result


class ChatFolder:
    """The fold of one chat, fed its posts a piece at a time, so that a
    chat of any size is folded in bounded memory (the catalog streams a
    large chat's wires from SQLite: ``state.refold``).

    Each piece is a run of posts in chat order that continues the pieces
    before it, with the controls aimed at its posts; a piece ends between
    two seconds, so :func:`.order.chat_order` puts its posts exactly where
    it puts them in the whole chat.  One pass suffices: a group's state
    at a message depends only on the messages before it."""

    def __init__(self, chat_id: str):
        self.chat_id = chat_id
        self.kind = kind_of(chat_id)
        self.group = GroupState()
        self.count = 0
        self.dates: tuple[str, str] | None = None  # first and last message date
        self.encrypted = False
        self.preview: str | None = None  # of the last message that is not a system line
        self.names: dict[str, str] = {}  # sender -> latest display name (direct chats' name)

    def feed(self, posts: list[Wire], controls: list[Wire]) -> ChatFold:
        """The messages (each with its revisions), reactions and receipts of ``posts``
        (already in chat order, after every post fed before)."""
        by_target = _controls_by_root(posts, chat_order(controls))
        result = ChatFold(chat={})
        for wire in posts:
            outsider = self._step(wire)
            for msg in _messages_of(wire, self.group):
                if outsider:
                    _mark_outsider(msg)
                _apply_controls(msg, wire, by_target.get(wire.message_id, []), result, self.chat_id)
                msg["seq"] = self.count
                self.count += 1
                self._summarize(msg)
                result.messages.append(msg)
        return result

    def finish(self) -> ChatFold:
        """The chat record, memberships and names, after the last piece."""
        self.group.close()
        result = ChatFold(chat=self._record())
        result.memberships = [(self.chat_id, *row) for row in self.group.memberships]
        result.name_history = [(self.chat_id, *row) for row in self.group.names]
        return result

    def _step(self, wire: Wire) -> bool:
        """Take one post into the chat's state; True when its sender was
        not a member of the group."""
        env = wire.env
        self.encrypted = self.encrypted or env.encrypted
        if env.sender and env.sender_name:
            self.names[env.sender] = env.sender_name
        if self.kind == ChatKind.GROUP:
            return _group_step(self.group, wire)
        _open_step(self.group, wire, self.kind)
        return False

    def _summarize(self, msg: dict[str, Any]) -> None:
        if msg["date"]:
            first, last = self.dates or (msg["date"], msg["date"])
            self.dates = (min(first, msg["date"]), max(last, msg["date"]))
        if msg["kind"] != "system":
            self.preview = "message deleted" if msg["deleted"] else (msg["text"] or msg["kind"])[:140]

    def _record(self) -> dict[str, Any]:
        group = self.group
        members = sorted(group.members)
        name = group.name
        if self.kind in (ChatKind.DIRECT, ChatKind.SELF):
            name = " & ".join(self.names.get(m, m) for m in members)
        return {
            "id": self.chat_id,
            "kind": self.kind,
            "name": name or "",
            "group_id": group.group_id,
            "members": members,
            "past_members": sorted(group.ever - group.members),
            "message_count": self.count,
            "first_date": self.dates[0] if self.dates else None,
            "last_date": self.dates[1] if self.dates else None,
            "encrypted": self.encrypted,
            "description": group.description,
            "avatar": group.avatar,
            "ephemeral_timer": group.timer,
            "last_preview": self.preview or "",
        }


# ---------------------------------------------------------------- groups


@dataclass
class GroupState:
    members: set[str] = field(default_factory=set)
    ever: set[str] = field(default_factory=set)
    name: str | None = None
    description: str | None = None
    avatar: str | None = None
    timer: int | None = None
    group_id: str | None = None
    memberships: list[tuple] = field(default_factory=list)
    names: list[tuple] = field(default_factory=list)
    open_since: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: a first message founded the group
    started: bool = False

    def add(self, member: str, date: str | None, by: str | None) -> None:
        if member and member not in self.members:
            self.members.add(member)
            self.ever.add(member)
            self.open_since[member] = (date, by)

    def remove(self, member: str, date: str | None, by: str | None) -> None:
        if member in self.members:
            self.members.discard(member)
            since, added_by = self.open_since.pop(member, (None, None))
            self.memberships.append((member, since, date, added_by, by))

    def rename(self, name: str | None, date: str | None, message_id: str) -> None:
        if name and name != self.name:
            self.name = name
            self.names.append((date, name, message_id))

    def close(self) -> None:
        for member in sorted(self.members):
            since, by = self.open_since.get(member, (None, None))
            self.memberships.append((member, since, None, by, None))
        self.memberships.sort(key=lambda r: (r[0], r[1] or "", r[2] or "~"))


def _group_step(state: GroupState, wire: Wire) -> bool:
    """Members, names and settings over time, one message at a time (in
    chat order); True when the sender was not a member.  The first message
    founds the group (its sender and recipients are the first members);
    after that a message changes the group only when its sender is a member
    at that point -- as Delta Chat core rejects member changes from
    non-members.  A non-member's message is kept, listed as such, and
    changes nothing."""
    env, date = wire.env, wire.env.date
    ref = env.chat
    if ref and ref.kind == ChatKind.GROUP and not ref.key.startswith("adhoc:"):
        state.group_id = ref.key
    if not state.started:
        state.started = True
        first_rename = next((e for e in env.events if isinstance(e, GroupRenamed)), None)
        if first_rename is not None and first_rename.old_name:
            state.rename(first_rename.old_name, date, wire.message_id)
        for member in (env.sender, *(ref.members if ref else ())):
            state.add(member, date, env.sender)
    if env.sender not in state.members:
        return True
    for ev in env.events:
        _apply_group_event(state, ev, env, wire.message_id)
    if ref and ref.kind == ChatKind.GROUP and ref.name and not any(isinstance(e, GroupRenamed) for e in env.events):
        state.rename(ref.name, date, wire.message_id)
    return False


def _apply_group_event(state: GroupState, ev: Any, env: Envelope, message_id: str) -> None:
    date, by = env.date, env.sender
    if isinstance(ev, MemberAdded):
        state.add(ev.member, date, by)
        for member in env.chat.members if env.chat else ():
            state.add(member, date, by)
    elif isinstance(ev, (MemberRemoved, MemberLeft)):
        state.remove(ev.member, date, by)
    elif isinstance(ev, GroupRenamed):
        state.rename(ev.new_name, date, message_id)
    elif isinstance(ev, GroupDescription):
        state.description = ev.text
    elif isinstance(ev, GroupAvatar):
        state.avatar = ev.filename
    elif isinstance(ev, EphemeralTimer):
        state.timer = ev.seconds
    elif isinstance(ev, GroupInfo):
        if ev.members:
            for member in sorted(state.members - set(ev.members)):
                state.remove(member, date, by)
            for member in ev.members:
                state.add(member, date, by)
        if ev.name:
            state.rename(ev.name, date, message_id)
        if ev.description is not None:
            state.description = ev.description


def _open_step(state: GroupState, wire: Wire, kind: str) -> None:
    """Direct, self, mailing-list and mail chats: members are everyone seen."""
    env = wire.env
    members = env.chat.members if env.chat and env.chat.members else (env.sender,)
    if kind == ChatKind.MAILINGLIST:
        members = (env.sender,)
    for member in members:
        state.add(member, env.date, env.sender)
    if env.chat and env.chat.name and state.name is None:
        state.rename(env.chat.name, env.date, wire.message_id)


# ---------------------------------------------------------------- messages

#: What the catalog calls a part sent without a file name (search indexes
#: no word for it: see ``index.docs``).
UNNAMED = "unnamed"

_SYSTEM_ACTIONS = {
    MemberAdded: "member-added",
    MemberRemoved: "member-removed",
    MemberLeft: "member-left",
    GroupRenamed: "group-renamed",
    GroupAvatar: "group-avatar",
    GroupDescription: "group-description",
    EphemeralTimer: "ephemeral-timer",
}


def _base_message(wire: Wire) -> dict[str, Any]:
    env = wire.env
    msg = _base_fields(wire)
    if env.signature:  # decrypted or signed messages only
        msg["signature"] = {"status": env.signature[0], "signer": env.signature[1] or None}
    _add_conflicts(msg, wire)
    return msg


def _add_conflicts(msg: dict[str, Any], wire: Wire) -> None:
    """The other versions of ``wire``'s Message-ID (its own, or of an edit,
    reaction... aimed at ``msg``), each with the Message-ID they share."""
    if not wire.conflicts:
        return
    listed = msg.setdefault("conflicts", [])
    if all(c["message_id"] != wire.message_id for c in listed):
        listed.extend({"message_id": wire.message_id, **version} for version in wire.conflicts)


def _base_fields(wire: Wire) -> dict[str, Any]:
    env = wire.env
    return {
        "message_id": wire.message_id,
        "sender": env.sender,
        "sender_name": env.sender_name,
        "date": env.date,
        "subject": env.subject,
        "recipients": list(env.recipients),
        "text": "",
        "kind": "text",
        "system": None,
        "reply_to": None,
        "forwarded": False,
        "edited": False,
        "deleted": False,
        "revisions": [],
        "reactions": {},
        "read_by": [],
        "attachments": [],
        "location": None,
        "encrypted": env.encrypted,
        "dialect": env.dialect,
        "quote": None,
    }


def _messages_of(wire: Wire, group: GroupState) -> list[dict[str, Any]]:
    env = wire.env
    post = next((e for e in env.events if isinstance(e, Post)), None)
    left = any(isinstance(e, MemberLeft) for e in env.events)
    if post is not None and not left:
        return [_post_message(wire, post)]
    system = next((e for e in env.events if type(e) in _SYSTEM_ACTIONS), None)
    if system is not None:  # a farewell (COI ``groupleft``) stays with its system line
        return [_system_message(wire, system, said=post.text if post else None)]
    return []


def _post_message(wire: Wire, post: Post) -> dict[str, Any]:
    msg = _base_message(wire)
    msg.update(
        text=post.text,
        kind=post.kind,
        reply_to=post.reply_to,
        forwarded=post.forwarded,
        attachments=[
            {"filename": a.filename or UNNAMED, "mime": a.mime, "size": a.size, "sha256": a.sha256, "part": a.part}
            | ({"width": a.width, "height": a.height} if a.width and a.height else {})  # an image's pixels
            for a in post.attachments
        ],
        location={"lat": post.location[0], "lon": post.location[1]} if post.location else None,
        quote=post.quote,
    )
    msg["revisions"] = [{"text": post.text, "date": wire.env.date, "message_id": wire.message_id}]
    if post.contact is not None:
        msg["contact"] = _contact_card(post.contact)
    if post.mentions:
        msg["mentions"] = list(post.mentions)
    if post.pinned_until:
        msg["pinned_until"] = post.pinned_until
    if post.voice or post.duration_ms:
        msg["voice"] = post.voice
        msg["duration_ms"] = post.duration_ms
    if post.html:
        msg["has_html"] = True
    return msg


def _mark_outsider(msg: dict[str, Any]) -> None:
    """A message from someone who was not a member of the group: listed,
    and a group change in it says that it was ignored."""
    msg["non_member"] = True
    if msg["kind"] == "system":
        msg["text"] += " (not a member: ignored)"


def _contact_card(state: ContactState) -> dict[str, Any]:
    fields = dict(state.fields)
    return {"address": state.address, "name": fields.get("name", "")}


def _system_message(wire: Wire, ev: Any, said: str | None = None) -> dict[str, Any]:
    """A system line; ``said``, the text the member wrote when leaving,
    is its ``value`` and follows the line in the text."""
    msg = _base_message(wire)
    action = _SYSTEM_ACTIONS[type(ev)]
    system: dict[str, Any] = {"action": action, "member": None, "old_name": None, "new_name": None, "value": None}
    who = _person(wire.env)
    if isinstance(ev, (MemberAdded, MemberRemoved, MemberLeft)):
        system["member"] = ev.member
    if isinstance(ev, GroupRenamed):
        system["old_name"], system["new_name"] = ev.old_name, ev.new_name
    elif isinstance(ev, GroupDescription):
        system["value"] = ev.text
    elif isinstance(ev, GroupAvatar):
        system["value"] = ev.filename
    elif isinstance(ev, EphemeralTimer):
        system["value"] = ev.seconds
    text = {
        "member-added": f"{who} added {system['member']}",
        "member-removed": f"{who} removed {system['member']}",
        "member-left": f"{who} left the group",
        "group-renamed": f"{who} renamed the group to “{system['new_name']}”",
        "group-avatar": f"{who} {'changed' if system['value'] else 'removed'} the group image",
        "group-description": f"{who} changed the group description",
        "ephemeral-timer": f"{who} set the message timer to {system['value']} s"
        if system["value"]
        else f"{who} turned the message timer off",
    }[action]
    if said and said.strip():
        system["value"] = said
        text = f"{text}\n\n{said}"
    msg.update(kind="system", system=system, text=text)
    msg["revisions"] = []
    return msg


def _controls_by_root(posts: list[Wire], controls: list[Wire]) -> dict[str, list[tuple[Wire, Any]]]:
    """Map each post's Message-ID to the control events aimed at it,
    following COI edit chains (an edit of an edit) back to the post."""
    post_ids = {w.message_id for w in posts}
    target_of: dict[str, str] = {}
    for wire in controls:
        for ev in wire.env.events:
            if hasattr(ev, "target"):
                target_of.setdefault(wire.message_id, ev.target)
    out: dict[str, list[tuple[Wire, Any]]] = {}
    for wire in controls:
        for ev in wire.env.events:
            target = getattr(ev, "target", None)
            seen = set()
            while target and target not in post_ids and target in target_of and target not in seen:
                seen.add(target)
                target = target_of[target]
            if target in post_ids:
                out.setdefault(target, []).append((wire, ev))
    return out


def _apply_controls(
    msg: dict[str, Any], wire: Wire, actions: list[tuple[Wire, Any]], result: ChatFold, chat_id: str
) -> None:
    owner = wire.env.sender
    reactions: dict[str, tuple[tuple[bool, str, str], str, str | None, str]] = {}
    readers: dict[str, tuple[str | None, str]] = {}
    delivery: dict[str, str] | None = None
    for ctl, ev in actions:  # already in order (``order.chat_order``: date, then arrival)
        env = ctl.env
        _add_conflicts(msg, ctl)
        if isinstance(ev, Edit) and msg["kind"] == "system":
            continue
        if isinstance(ev, (Edit, Delete)):
            _edit_or_delete(msg, wire, ctl, ev)
        elif isinstance(ev, Reaction):
            reactions[env.sender] = (ctl.sort_key, ev.emoji, env.date, ctl.message_id)
        elif isinstance(ev, Receipt) and ev.disposition == "displayed" and env.sender and env.sender != owner:
            readers.setdefault(env.sender, (env.date, ctl.message_id))
        elif isinstance(ev, DeliveryReport) and owner in env.recipients:
            delivery = _delivery(delivery, ev)
        elif isinstance(ev, Pin) and env.sender:
            msg["pinned_until"] = ev.until or "forever"
        elif isinstance(ev, PollVote):
            poll = msg.setdefault("poll", {"votes": {}, "closed": False})
            if ev.closed:
                poll["closed"] = True
            else:
                poll["votes"][env.sender] = ev.choice
    if len(msg["revisions"]) > 1:
        msg["edited"] = True
        if not msg["deleted"]:
            msg["text"] = msg["revisions"][-1]["text"]
    msg["reactions"] = {who: emoji for who, (_, emoji, _, _) in sorted(reactions.items()) if emoji}
    msg["read_by"] = sorted(readers)
    if delivery is not None:
        msg["delivery"] = delivery
    mid = msg["message_id"]
    for who, (_, emoji, date, rmid) in sorted(reactions.items()):
        if emoji:
            result.reactions.append((mid, chat_id, who, emoji, date, rmid))
    for who, (date, rmid) in sorted(readers.items()):
        result.receipts.append((mid, chat_id, who, date, rmid))


def protection(env: Envelope) -> int:
    """How far a message is protected, for core's edit rule: 2 is core's
    padlock (``GuaranteeE2ee``: decrypted and validly signed; a decryptor
    that checks no signature, and a client backup's record of a message
    core marked encrypted, count as signed), 0 no padlock (plaintext, or
    encrypted but unsigned or badly signed), 1 encrypted with a signature
    the archive could not check (a key it lacks): core, holding the
    sender's key, most likely showed a padlock, so a plaintext request
    cannot change it, and only one at least as well protected can."""
    if not env.encrypted:
        return 0
    status = env.signature[0] if env.signature else "valid"
    return {"valid": 2, "unknown": 1}.get(status, 0)


def _refusal(original: Envelope, request: Envelope) -> str | None:
    """Why core refuses an edit or delete request, or ``None`` when it
    applies it (``handle_edit_delete`` in core's receive_imf.rs): only the
    author may change a message, and a message with a padlock only by a
    request with a padlock -- else anyone who knows its Message-ID could
    rewrite an end-to-end encrypted message with a plaintext mail in the
    author's name (:func:`protection`).  (Core also refuses every delete
    without a padlock; we apply one to a message without a padlock:
    README, "Where we deliberately differ from core".)"""
    if request.sender != original.sender:
        return "not the author"
    if protection(request) < protection(original):
        return "not signed" if request.encrypted else "not encrypted"
    return None


def _edit_or_delete(msg: dict[str, Any], original: Wire, request: Wire, ev: Edit | Delete) -> None:
    """Apply an edit or delete, or keep it under ``rejected`` (with the
    text it wanted) when core would refuse it: a refused request changes
    nothing, and it stays visible, as a non-member's group change does."""
    env = request.env
    text = ev.text if isinstance(ev, Edit) else ""
    reason = _refusal(original.env, env)
    if reason is not None:
        action = "edit" if text else "delete"
        attempt = {"action": action, "message_id": request.message_id, "sender": env.sender, "date": env.date}
        msg.setdefault("rejected", []).append(attempt | {"text": text, "reason": reason})
    elif text:
        msg["revisions"].append({"text": text, "date": env.date, "message_id": request.message_id})
    else:  # a delete, or an edit to nothing (COI)
        _delete(msg, env.date)


def _delivery(known: dict[str, str] | None, report: DeliveryReport) -> dict[str, str]:
    """The delivery state after one more report (taken in date order): a
    failure stays a failure (a later delay notice cannot undo it); else
    the latest report wins.  Only a report sent to the message's author
    counts (a bounce goes back to the sender), so a third party cannot
    mark someone else's message failed."""
    if known is not None and known["state"] == "failed" and report.state != "failed":
        return known
    return {"state": report.state, "reason": report.reason}


def _delete(msg: dict[str, Any], date: str | None) -> None:
    if not msg["deleted"]:
        msg["deleted"] = True
        msg["deleted_date"] = date
    msg["text"] = ""
