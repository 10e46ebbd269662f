"""The numbers a Delta Chat database stores for chat types, special ids,
view types and system messages, and the keys of its ``param`` lines,
written once.

The backup reader (:mod:`coi_archive.ingest.dcbackup`, the ``dcbackup``
dialect) and the backup writer (:mod:`coi_archive.export.dcbackup_writer`)
must agree on them, so both take them from here.  They come from
chatmail/core: ``src/constants.rs`` (``Chattype``, ``DC_CHAT_ID_TRASH``,
``DC_CONTACT_ID_*``), ``src/message.rs`` (``Viewtype``),
``src/mimeparser.rs`` (``SystemMessage``, stored as a message's
``Param.CMD``) and ``src/param.rs`` (``Param``).
"""

from __future__ import annotations

# Chattype
CHAT_SINGLE, CHAT_GROUP, CHAT_MAILINGLIST, CHAT_OUT_BROADCAST, CHAT_IN_BROADCAST = 100, 120, 140, 160, 165
#: the chat that keeps deleted messages (their Message-ID only)
TRASH_CHAT = 3
# DC_CONTACT_ID_SELF, _INFO, _DEVICE
CONTACT_SELF, CONTACT_INFO, CONTACT_DEVICE = 1, 2, 5

# Viewtype
VT_TEXT, VT_IMAGE, VT_GIF, VT_STICKER = 10, 20, 21, 23
VT_AUDIO, VT_VOICE, VT_VIDEO, VT_FILE = 40, 41, 50, 60
VT_WEBXDC, VT_VCARD = 80, 90

# SystemMessage: GroupNameChanged, GroupImageChanged, MemberAddedToGroup,
# MemberRemovedFromGroup, EphemeralTimerChanged, and the group description's change
SYS_RENAMED, SYS_AVATAR, SYS_ADDED, SYS_REMOVED, SYS_TIMER, SYS_DESCRIPTION = 2, 3, 4, 5, 10, 70


class Param:
    """Keys of the ``param`` lines of a message or chat row (core's
    ``Param``): one letter or digit each, so named here."""

    FILE = "f"
    FILENAME = "v"
    WIDTH = "w"
    HEIGHT = "h"
    DURATION = "d"
    MIME_TYPE = "m"
    GUARANTEE_E2EE = "c"
    REACTION = "x"
    FORWARDED = "a"
    QUOTE = "q"
    CMD = "S"
    ARG = "E"
    PROFILE_IMAGE = "i"
    SELFTALK = "K"
    DEVICETALK = "D"
    DELETE_REQUEST_FOR = "M"
    TEXT_EDIT_FOR = "I"
    IS_EDITED = "L"
    CONTACT_ADDED_REMOVED = "5"
