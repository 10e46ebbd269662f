"""How text and documents become index terms, for any full-text engine.

Design choices (numbers from ``benchmarks/bench_fulltext.py``, 100,000
synthetic chat messages, CPU time on a shared 2-core machine):

* **Analysis**: ``NFKC + casefold``, then one regex pass; no stop words.
  Words are runs of letters, digits and combining marks; ``_ . - '``
  and other punctuation split words.  A query word that yields several
  tokens (``e-mail``, ``report.pdf``) is searched as a phrase.  Han and kana
  are indexed per character *and* as overlapping character pairs at the
  same positions: a two-character query (``東京``) is a single term lookup,
  longer ones a phrase of pairs, and a single character still matches
  inside words.  Emoji are one token each; skin-tone modifiers and
  variation selectors are dropped, so 👍 finds 👍🏽.  Terms are produced by
  plain functions (:func:`text_positions`) that an engine's field types can
  take directly, skipping the engine's per-token object chain.
* **Facet terms**: every people/place/facet term of a document is one term
  under a prefix (``from:alice``, ``to:…``, ``cc:…``, ``subject:…``,
  ``list:…``, ``chat:…``, ``ckind:group``, ``kind:image``, ``is:edited``,
  ``is:signature`` for ``has:signature``, ``is:forwarded``, ``is:reply``,
  :func:`meta_terms`), so an engine
  needs one unscored field for all of them.  An address is indexed as the
  full address, its local part, its domain and the words of its local
  part; a display name as its words.
* **Word forms** (:func:`stem`): each text field has a twin holding the
  Snowball stem of every word whose stem differs from it, so ``trains``
  finds ``train`` and the reverse while the exact form still counts more.
  The stemmer is chosen per *word* by its script, not per message by its
  language: a query word carries no language, and chats mix German,
  Russian and English in one conversation, but the same word always gets
  the same stem on both sides.  Cyrillic words get the Russian stemmer,
  Latin-script words the English one (German words mostly lose only an
  ``-s``); other scripts are not stemmed.  PyStemmer (Snowball's C code)
  with a cache; the twin fields cost indexing about a tenth of its speed
  (30,000 messages, CPU: tantivy 12,960 -> 11,170 docs/s, Whoosh 4,160 ->
  3,745; the query side adds two term lookups per word).
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from .chatids import MAIL_KINDS
from .fulltext import SearchDoc

__all__ = [
    "TOKEN_RE",
    "address_terms",
    "ident_terms",
    "meta_terms",
    "normalize",
    "placed_tokens",
    "query_terms",
    "stem",
    "stems_of",
    "text_positions",
    "tokenize",
    "word_set",
]

_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3040-\u30ff"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u0e00-\u0e7f\u1ab0-\u1aff"
    "\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_EMOJI = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d\U0001f000-\U0001f3fa\U0001f400-\U0001faff"
_WORD = rf"(?:[^\W_{_CJK}]|[{_MARKS}])+"
TOKEN_RE = re.compile(rf"{_WORD}|[{_CJK}]|[{_EMOJI}]")
_RUN_RE = re.compile(rf"{_WORD}|[{_CJK}]+|[{_EMOJI}]")
_CJK_RE = re.compile(rf"[{_CJK}]")


def normalize(text: str) -> str:
    """NFKC + casefold: fullwidth/compatibility forms and case never matter."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` in order, one token per Han/kana character
    (see module docs for the rules)."""
    return TOKEN_RE.findall(normalize(text))


def _is_cjk_run(token: str) -> bool:
    return token >= "\u2e80" and _CJK_RE.match(token) is not None


def text_positions(text: str, base: int, poses: dict[str, list[int]]) -> int:
    """Add the terms of ``text`` with their positions (from ``base``) to
    ``poses``; return the next free position.

    A Han/kana run yields each character at its position plus each
    overlapping pair at the position of its first character, so a
    two-character query is one term lookup instead of a phrase of two very
    common characters, while single characters stay findable."""
    pos = base
    for tok in _RUN_RE.findall(normalize(text)):
        if len(tok) > 1 and _is_cjk_run(tok):
            for i, ch in enumerate(tok):
                poses[ch].append(pos + i)
                if i + 1 < len(tok):
                    poses[tok[i : i + 2]].append(pos + i)
            pos += len(tok)
        else:
            poses[tok].append(pos)
            pos += 1
    return pos


def placed_tokens(text: str) -> tuple[list[str], list[int] | None]:
    """The terms of ``text`` in position order with their positions, as
    :func:`text_positions` places them; the positions are None when each
    term simply takes the next one (no run of two or more Han/kana
    characters), so an engine can index such text as terms split at spaces
    without building a position per term."""
    runs = _RUN_RE.findall(normalize(text))
    if not any(len(t) > 1 and _is_cjk_run(t) for t in runs):
        return runs, None
    terms: list[str] = []
    positions: list[int] = []
    pos = 0
    for tok in runs:
        if len(tok) > 1 and _is_cjk_run(tok):
            for i, ch in enumerate(tok):
                terms.append(ch)
                positions.append(pos + i)
                if i + 1 < len(tok):
                    terms.append(tok[i : i + 2])
                    positions.append(pos + i)
            pos += len(tok)
        else:
            terms.append(tok)
            positions.append(pos)
            pos += 1
    return terms, positions


_CYRILLIC_RE = re.compile("[\u0400-\u052f]")
_LATIN_RE = re.compile("[a-z\u00c0-\u024f\u1e00-\u1eff]")
#: Longer terms are not stemmed: no inflected word is that long, and the
#: cache must not keep a hostile message's megabyte-long "words".
MAX_STEMMED = 64
_STEMMERS = threading.local()  # a PyStemmer object must not be shared between threads


def _stemmer(language: str) -> Stemmer.Stemmer:
    found = getattr(_STEMMERS, language, None)
    if found is None:
        found = Stemmer.Stemmer(language)
        setattr(_STEMMERS, language, found)
    return found


def stem(term: str) -> str:
    """The word-form stem of one index term (see "Word forms" in the module
    docs): Russian Snowball for a Cyrillic word, English for a Latin-script
    word, the term itself otherwise."""
    return term if len(term) > MAX_STEMMED else _stem(term)


#: Entries of :func:`_stem`.  A vocabulary grows with the archive (10,677
#: words at 100,000 benchmark messages, more at a million); a bound of
#: 65,536 (~200 bytes an entry) made the document helper grow with N.  The
#: frequent words are all that hit, and a miss costs a Snowball call (~5 µs).
STEM_CACHE = 16384


@lru_cache(maxsize=STEM_CACHE)
def _stem(term: str) -> str:
    language = "russian" if _CYRILLIC_RE.search(term) else "english" if _LATIN_RE.search(term) else None
    if language is None:
        return term
    try:
        return str(_stemmer(language).stemWord(term))
    except UnicodeEncodeError:  # a lone surrogate (never in a token of ours, but mail is hostile)
        return term


def stems_of(terms: Iterable[str]) -> list[str]:
    """The stems of ``terms`` that differ from their term, in order: what a
    text field's stem twin indexes (a word already in its stem form is
    found through the exact field)."""
    return [s for t in terms if (s := stem(t)) != t]


def query_terms(text: str) -> list[str]:
    """Terms to look up, as a phrase, for a query word or phrase.

    A Han/kana run becomes its overlapping pairs (see
    :func:`text_positions`); when another token follows, the run's last
    character is added so that token's position lines up."""
    tokens = _RUN_RE.findall(normalize(text))
    out: list[str] = []
    for j, tok in enumerate(tokens):
        if len(tok) > 1 and _is_cjk_run(tok):
            out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
            if j + 1 < len(tokens):
                out.append(tok[-1])
        else:
            out.append(tok)
    return out


@lru_cache(maxsize=16384)
def address_terms(address: str) -> frozenset[str]:
    """Terms that make an address findable by the full address, its local
    part, its domain, or a word of the local part (``alice.smith``)."""
    addr = normalize(address).strip()
    if not addr:
        return frozenset()
    local, _, domain = addr.partition("@")
    terms = {addr, local, domain, *TOKEN_RE.findall(local)}
    terms.discard("")
    return frozenset(terms)


#: Entries of :func:`word_set`.  It holds names and subjects; a mail's
#: subject is often its own, so a cache of 65,536 filled with them (~800
#: bytes an entry): the indexing child grew by ~55 MB from 100,000 to
#: 300,000 messages.  Documents arrive chat by chat, so the names and the
#: repeated subjects of a chat ("Message from ...") still hit: 1,024 missed
#: 15,384 of 201,000 lookups at 100,000 messages where 4,096 missed 13,456,
#: and held 4 MB less of the document helper.
WORD_SET_CACHE = 1024


@lru_cache(maxsize=WORD_SET_CACHE)
def word_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


def ident_terms(ident: str) -> frozenset[str]:
    """An identifier (chat id, group id) as one exact term."""
    norm = normalize(ident).strip()
    return frozenset((norm,)) if norm else frozenset()


def _prefixed(name: str, terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{name}:{t}" for t in terms)


@lru_cache(maxsize=16384)
def _sender_meta(sender: str, sender_name: str) -> tuple[str, ...]:
    return _prefixed("from", address_terms(sender) | word_set(sender_name))


#: Entries of :func:`_recipient_meta`: one holds every recipient of a
#: message (~10 kB in a large group, whose messages vary in recipients):
#: with 16,384 the 5,857 entries of 100,000 messages held ~57 MB of the
#: indexing child, growing with N up to the bound.  Documents arrive chat
#: by chat, so a small cache hits nearly as often (91.8 % against 92.6 %,
#: the same CPU).  256 hit 89.9 % against 1,024's 91.8 %, for the same CPU,
#: and the document helper held 15 MB less (50 -> 35 MB at 100,000
#: messages; a full cache of 1,024 was a third of it).
RECIPIENT_CACHE = 256


@lru_cache(maxsize=RECIPIENT_CACHE)
def _recipient_meta(recipients: tuple[str, ...], addressees: tuple[tuple[str, str, str], ...]) -> tuple[str, ...]:
    """``to:`` terms (every To and Cc recipient: address and name words)
    and ``cc:`` terms (the Cc recipients alone)."""
    to: set[str] = set()
    cc: set[str] = set()
    for rcpt in recipients:
        to |= address_terms(rcpt)
    for header, name, address in addressees:
        terms = address_terms(address) | word_set(name)
        to |= terms
        if header == "cc":
            cc |= terms
    return _prefixed("to", to) + _prefixed("cc", cc)


def list_terms(list_id: str) -> frozenset[str]:
    """A List-Id (``"Dev list" <dev.lists.example.org>``) as terms: the id,
    its dot-separated words and the words of its description."""
    norm = normalize(list_id)
    start, end = norm.rfind("<"), norm.rfind(">")
    ident = norm[start + 1 : end].strip() if 0 <= start < end else norm.strip()
    description = norm[:start] if 0 <= start < end else ""
    terms = {ident, *TOKEN_RE.findall(ident), *TOKEN_RE.findall(description)}
    terms.discard("")
    return frozenset(terms)


#: Entries of :func:`_chat_meta`: documents arrive chat by chat, so a few
#: suffice; 16,384 filled with a million messages' 27,368 chats (~400
#: bytes an entry) where 100,000 messages held 3,941.
CHAT_CACHE = 256


@lru_cache(maxsize=CHAT_CACHE)
def _chat_meta(chat_id: str, chat_name: str, chat_kind: str, group_id: str) -> tuple[str, ...]:
    """Chat terms, the same for every message of a chat.  The group id is a
    chat term too: ``group:X`` is searched as ``chat:X`` within group chats,
    which saves indexing the chat name twice."""
    terms = ident_terms(chat_id) | ident_terms(group_id) | word_set(chat_name)
    return _prefixed("chat", terms) + ("ckind:" + normalize(chat_kind),)


def _flags(doc: SearchDoc) -> list[str]:
    """``is:``/``has:`` values of a document (a named attachment is an
    attachment even when ``has`` was not filled in)."""
    out = [name for name in ("edited", "deleted", "encrypted", "forwarded", "reply") if getattr(doc, name)]
    out.extend(sorted(set(doc.has) | ({"attachment"} if doc.attachments else set())))
    is_mail = doc.kind == "mail" or doc.chat_kind in MAIL_KINDS
    out.append("mail" if is_mail else "chat")
    return out


#: Documents analysed between two emptyings of the term caches
#: (:func:`forget`).  Documents arrive chat by chat, so the entries that
#: hit are those of the last few thousand; with the size bounds alone the
#: caches filled with a long run's rare words, and their evictions spread
#: live entries over the heap: the document helper's work over the 788,201
#: documents of the 1M benchmark's archive grew 114 -> 124 MB; with the
#: caches emptied every 20,000 it held 112-114 MB to 500,000 documents and
#: 118 at the end (large groups' documents raise it either way), for the
#: same CPU (``BENCHMARKS.md``, session 15).
GENERATION = 20000
_analysed = itertools.count(1)


def forget() -> None:
    """Empty the term caches and count a new generation (:data:`GENERATION`)."""
    global _analysed
    _analysed = itertools.count(1)
    for cached in (_stem, address_terms, word_set, _sender_meta, _recipient_meta, _chat_meta):
        cached.cache_clear()


def meta_terms(doc: SearchDoc) -> list[str]:
    """The facet terms of a document (sender, recipients, chat, kinds and
    flags), each under its ``name:`` prefix.  Every engine asks once per
    document it analyses, so the term caches are renewed here."""
    if next(_analysed) % GENERATION == 0:
        forget()
    return [
        *_sender_meta(doc.sender, doc.sender_name),
        *_recipient_meta(tuple(doc.recipients), tuple(doc.addressees)),
        *_prefixed("subject", word_set(doc.subject)),
        *_prefixed("list", list_terms(doc.list_id)),
        *_chat_meta(doc.chat_id, doc.chat_name, doc.chat_kind, doc.group_id),
        "kind:" + normalize(doc.kind),
        *_prefixed("is", _flags(doc)),
    ]
