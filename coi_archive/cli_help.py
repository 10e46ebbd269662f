"""The examples at the end of each command's ``--help`` and the summary of
the query language ``search --help`` prints: words for people, kept apart
from the parser so that ``cli.py`` stays wiring.  README's "Command line"
and "Query language" sections say the same at length.
"""

from __future__ import annotations

#: The query language in one screen (README "Query language" has it all).
QUERY_SUMMARY = """\
query language (words are ANDed; case never matters, accents do):
  lunch tomorrow            both words, anywhere in a message
  trains                    also other forms: train, training (English stems
                            for Latin script, Russian for Cyrillic)
  "trains"                  exactly this form (quotes: no other forms)
  "lunch tomorrow"          the words next to each other, exactly
  lunch OR dinner           either word (OR in capitals)
  lunch -pizza, NOT pizza   without a word; (a OR b) groups
  meet*                     words starting with "meet"
  from:alice                sender by address, domain or name; from:"Frank Müller"
  to:bob  cc:bob            recipients (To/Cc) by address or name
  subject:lunch             words of the subject
  list:dev                  a mailing list by id or description
  chat:Familie  group:X     chats (or only groups) by name or id
  kind:image  kind:group    message kind (text image audio video file sticker
                            location contact system mail poll) or chat kind
                            (direct group self mailinglist mail)
  date:2026-01  date:2026-01-01..2026-03-31  before:2026  after:2026-01-15
                            UTC calendar days; ranges include both ends
  has:attachment|image|audio|video|sticker|location|contact|poll|signature|key
  is:edited|deleted|encrypted|forwarded|reply|mail|chat

  Without --history only the current text is searched; with it, earlier
  versions of edited messages and the text of deleted ones too."""

#: Examples per command, printed under "examples:" in its --help.
EXAMPLES: dict[str, str] = {
    "": """\
  coi-archive ingest ~/Maildir                     read a mailbox into the archive
  coi-archive chats                                list the chats
  coi-archive show hike                            read the chat whose name contains "hike"
  coi-archive search 'from:frank train'            find messages
  coi-archive serve                                browse in a web browser
  coi-archive COMMAND --help                       more about one command

  The archive is $COI_ARCHIVE or ~/.local/share/coi-archive unless --archive DIR
  says otherwise.  Exit codes: 0 done, 1 nothing found (search), a check failed
  (verify) or a run was incomplete, 2 unusable arguments.  Shell completion:
  coi-archive completion bash|zsh.""",
    "ingest": """\
  coi-archive ingest ~/Maildir                     a Maildir (with its folders)
  coi-archive ingest inbox.mbox old.mbox.gz        mbox files
  coi-archive ingest backup.tar --key me.asc       a Delta Chat backup, decrypting
  coi-archive ingest imap://me@mail.example.org --all-folders
                                                   an IMAP account ($COI_IMAP_PASSWORD)""",
    "decrypt": """\
  coi-archive decrypt --key private-key.asc        open stored encrypted messages
  coi-archive decrypt --keyring ~/keys --remember-keys""",
    "chats": """\
  coi-archive chats                                every chat, the most recently active first
  coi-archive chats --kind group                   only groups
  coi-archive chats --json | jq -r '.[].name'      the names, for scripts""",
    "show": """\
  coi-archive show grp-Z2Awmb5mUzGzDsdPavcQByHb    by id
  coi-archive show grp-Z2                          by a prefix of the id
  coi-archive show hike                            by (a part of) the name; case and accents
                                                   do not matter ("muller" finds "Müller")
  coi-archive show 'Kochclub' --history            with every earlier text of edited and
                                                   deleted messages
  coi-archive show hike --json                     the chat and its messages as JSON

  A name that fits several chats, or none, lists the chats you may have meant
  (exit 2).  Times are UTC.""",
    "search": QUERY_SUMMARY
    + """

examples:
  coi-archive search picnic                        messages with the word
  coi-archive search 'from:frank "final plan"'     a phrase from one sender
  coi-archive search 'chat:hike has:image'         pictures in a chat
  coi-archive search 'is:deleted train' --history  also in deleted text
  coi-archive search picnic --json                 the hits as JSON

  Nothing found: "no matches" on stderr and exit code 1, as grep does.  With
  --json an empty list [] and exit code 0: the JSON is a complete answer
  (scripts read the list, and 'set -e' pipelines do not stop on it).""",
    "contacts": """\
  coi-archive contacts                             address and name of everybody seen
  coi-archive contacts --json                      with status, groups and state history""",
    "stats": """\
  coi-archive stats                                what was read, then the activity report
  coi-archive stats --chat grp-Z2Awmb5mUzGzDsdPavcQByHb
                                                   the activity report of one chat
  coi-archive stats --json --report                all of it as JSON""",
    "verify": """\
  coi-archive verify && echo intact                re-hash every original (exit 1 if any differs)""",
    "raw": """\
  coi-archive raw 'abc123@example.org' > message.eml
                                                   the original bytes of a message""",
    "export": """\
  coi-archive export grp-Z2Awmb5mUzGzDsdPavcQByHb --format html --out hike.html
  coi-archive export --search 'from:frank' --format mbox --out frank.mbox
  coi-archive export --format parquet --out tables/ --since 2026
  coi-archive export --format imap --to imap://me@mail.example.org/Archive
  coi-archive export ID1 ID2 --format ediscovery --out case-7/""",
    "serve": """\
  coi-archive serve                                http://127.0.0.1:8080/
  coi-archive serve --port 0                       on a free port
  coi-archive serve --host 0.0.0.0 --token generate
                                                   on the network, with a login token""",
    "reindex": """\
  coi-archive reindex                              rebuild the search index
  coi-archive reindex --full                       also recompute chats and contacts""",
    "repair": """\
  coi-archive repair                               finish an interrupted run, upgrade an old archive""",
    "audit": """\
  coi-archive audit show --since 2026-11-30        who did what since that day
  coi-archive audit verify                         check the hash chain (exit 1 if broken)
  coi-archive audit anchor                         print the head to keep elsewhere""",
    "hold": """\
  coi-archive hold add --chat grp-X --reason 'case 7'
  coi-archive hold add --query 'from:mallory' --reason 'case 8'
  coi-archive hold list
  coi-archive hold release 3""",
    "retention": """\
  coi-archive retention set --older-than 7y        every message expires after 7 years
  coi-archive retention set --older-than 18m --kind mail
  coi-archive retention show""",
    "purge": """\
  coi-archive purge --dry-run                      what would be deleted
  coi-archive purge                                delete it, leaving tombstones""",
    "tombstones": """\
  coi-archive tombstones                           every purged copy: when, by whom, why
  coi-archive tombstones --json""",
    "user": """\
  coi-archive user add alice --role admin          asks for the password
  coi-archive user add bob --role member --address bob@example.org
                                                   bob sees only the chats of that address
  coi-archive user add audit --role auditor --password-file pw.txt
  coi-archive user list
  coi-archive user remove bob""",
    "verify-export": """\
  coi-archive verify-export case-7/                re-check a package against its manifest""",
    "completion": """\
  source <(coi-archive completion bash)            in ~/.bashrc
  source <(coi-archive completion zsh)             in ~/.zshrc (after compinit)""",
}


def epilog(command: str) -> str:
    """The text under a command's ``--help`` ("" for the program itself)."""
    text = EXAMPLES.get(command, "")
    if not text or command == "search":
        return text
    return "examples:\n" + text
