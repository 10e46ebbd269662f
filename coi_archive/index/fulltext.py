"""Full-text search over archived messages: the engine-neutral interface.

The archive (:mod:`index.api`) talks to a full-text engine only through
:class:`SearchEngine`: it hands over :class:`SearchDoc` values built from
the catalog and gets :class:`Hit` values back.  Queries arrive as strings
in the language of :mod:`index.query` (or as its AST).  The index is
*derived* from the catalog and can always be rebuilt, so an engine throws
an unreadable or outdated index away (and says so through
:attr:`SearchEngine.created`) instead of failing.

The parts, one concern each:

* :mod:`index.tokens`: how text and documents become terms (engine-neutral);
* :mod:`index.snippets`: the plain and HTML snippets of a hit (engine-neutral);
* :mod:`index.ranking`: the order of a result page, ties included (engine-neutral);
* :mod:`index.engines`: which engines exist, the archive's choice, :func:`open_engine`;
* :mod:`index.tantivy_schema`, :mod:`index.tantivy_query`,
  :mod:`index.tantivy_engine`: the tantivy engine (the default);
* :mod:`index.whoosh_schema`: Whoosh field types, schema and documents;
* :mod:`index.whoosh_query`: query AST -> Whoosh query, the date filter;
* :mod:`index.whoosh_engine`: :class:`WhooshEngine`, writing and merging.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coi_archive.index import query as q

__all__ = ["Hit", "ORDERS", "SearchDoc", "SearchEngine"]

#: Result orders every engine offers.
ORDERS = ("relevance", "newest", "oldest")


@dataclass(frozen=True)
class SearchDoc:
    """One message as the full-text engine sees it (built from the catalog)."""

    message_id: str
    chat_id: str
    chat_name: str
    chat_kind: str
    group_id: str
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    date: datetime | None
    subject: str
    text: str
    history: str
    kind: str
    attachments: tuple[str, ...]
    edited: bool
    deleted: bool
    encrypted: bool
    #: Quotes, attribution lines, signature and list footer: searched by
    #: default, ranked below the author's own words (``quotes=False`` skips).
    quoted: str = ""
    #: ``has:`` values: attachment, image (an image attachment), signature
    #: (a signed message), key (an attached OpenPGP key).  ``attachments`` holds
    #: the names of the attachments that have one.
    has: tuple[str, ...] = ()
    #: ``(header, display name, address)`` of each To/Cc recipient.
    addressees: tuple[tuple[str, str, str], ...] = ()
    #: The List-Id header as written.
    list_id: str = ""
    #: Marked forwarded by its sender's client (``is:forwarded``).
    forwarded: bool = False
    #: Answers another message: names one (In-Reply-To, as the catalog's
    #: ``reply_to``) or quotes one (``is:reply``), as the viewer shows it.
    reply: bool = False


@dataclass
class Hit:
    """One search result.  ``snippet`` marks matched words with ``[`` ``]``;
    ``snippet_html`` is HTML-escaped text with ``<mark>`` around matches."""

    message_id: str
    chat_id: str
    sender: str
    date: datetime | None
    snippet: str
    snippet_html: str
    score: float


class SearchEngine(ABC):
    """What the archive needs from a full-text engine."""

    #: True when this instance had to create an empty index (missing,
    #: unreadable or from an older layout): the caller rebuilds it.
    created: bool = False

    @abstractmethod
    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Insert or replace (by ``message_id``) documents; return how many.
        ``docs`` may be a generator over the whole catalog."""

    def add_prepared(self, items: Iterable[Any]) -> int:
        """:meth:`add` of documents already made ready for this engine by
        its preparer (:func:`.engines.preparer`), perhaps in another
        process; an engine that prepares nothing takes the documents."""
        return self.add(items)

    @abstractmethod
    def delete(self, message_ids: Iterable[str]) -> int:
        """Remove documents; return how many existed."""

    @abstractmethod
    def search(
        self,
        query: str | q.Node,
        limit: int = 50,
        history: bool = False,
        *,
        order: str = "relevance",
        quotes: bool = True,
    ) -> list[Hit]:
        """Run a query (string or parsed AST); ``order`` is one of
        :data:`ORDERS`.  With ``history`` the query also matches earlier
        revisions and deleted text; without ``quotes`` words are not looked
        for in quoted text (:attr:`SearchDoc.quoted`)."""

    def matches(self, query: str | q.Node, history: bool = False) -> int:
        """How many documents match ``query`` in all (the total a result page
        is a part of).  This default asks :meth:`search` for everything;
        engines that can count without ranking override it."""
        return len(self.search(query, limit=10**9, history=history))

    @abstractmethod
    def count(self) -> int:
        """How many documents the index holds."""

    @abstractmethod
    def ids(self) -> set[str]:
        """The Message-IDs of every live document (for ``verify``)."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every document (the index stays usable)."""

    @abstractmethod
    def optimize(self) -> None:
        """Compact the index (worth it after a full rebuild or many deletes)."""

    @abstractmethod
    def close(self) -> None:
        """Release the index; the engine is not used afterwards."""
