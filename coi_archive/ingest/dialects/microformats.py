"""A small microformats2 reader for the HTML parts COI puts on the wire.

COI carries structured data as microformats inside ``text/html`` parts
(``h-card`` contacts and profiles, ``h-group`` groups, ``h-geo`` locations,
poll options) so that ordinary mail clients still show something readable.
This module reads just enough of microformats2 for that, with the stdlib
``html.parser`` only: it never raises on hostile HTML and caps its input so
a huge or deeply nested part cannot stall ingestion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

from .. import defects

MAX_HTML_CHARS = 1_000_000
MAX_DEPTH = 200

_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_BLOCK_TAGS = frozenset("p div br li tr h1 h2 h3 h4 h5 h6 hr ul ol table section".split())
_HIDDEN_TAGS = frozenset(("script", "style", "head", "title"))
_WS_RE = re.compile(r"\s+")
_SPACES_RE = re.compile(r"[^\S\n]+")
_PROP_PREFIXES = ("p-", "u-", "dt-", "e-", "x-")


@dataclass
class Node:
    """One HTML element (``tag is None`` for the document root)."""

    tag: str | None
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def hidden(self) -> bool:
        style = self.attrs.get("style", "").replace(" ", "").lower()
        return "display:none" in style or self.tag in _HIDDEN_TAGS


@dataclass
class Item:
    """A microformats2 item: its ``h-*`` types, its properties (each a list
    of string values, in document order) and the items nested inside it."""

    types: list[str]
    props: dict[str, list[str]] = field(default_factory=dict)
    children: list[Item] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        values = self.props.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self.props.get(name, ()))


class _TreeBuilder(HTMLParser):
    """Builds a naive element tree: no implicit closing (COI examples nest
    ``<p>`` in ``<p>`` on purpose), unknown end tags are ignored, depth is
    capped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node(None)
        self.stack: list[Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k.lower(): (v or "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID_TAGS and len(self.stack) < MAX_DEPTH:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k.lower(): (v or "") for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_tree(html: str) -> Node:
    """The element tree of an HTML text; partial on broken input."""
    builder = _TreeBuilder()
    if len(html) > MAX_HTML_CHARS:
        defects.note("HtmlTruncated", "microformats", f"{len(html)} characters, the first {MAX_HTML_CHARS} read")
    try:
        builder.feed(html[:MAX_HTML_CHARS])
        builder.close()
    except AssertionError as exc:  # html.parser asserts on a malformed ``<![`` marked section
        defects.note("PartialHtml", "microformats", f"{defects.describe(exc)}; the tree before it is read")
    return builder.root


def _is_property(node: Node) -> bool:
    return any(c.startswith(_PROP_PREFIXES + ("h-",)) for c in node.classes)


def _text(node: Node | str, depth: int = 0) -> str:
    """Text content without nested property elements: in well-formed COI
    HTML they never nest, and in broken HTML (an unclosed ``<span>``) this
    keeps ``p-name`` from swallowing the ``u-email`` after it."""
    if isinstance(node, str):
        return node
    if node.tag in _HIDDEN_TAGS or depth > MAX_DEPTH or (depth and _is_property(node)):
        return ""
    sep = " " if node.tag in _BLOCK_TAGS else ""
    return sep + "".join(_text(c, depth + 1) for c in node.children) + sep


def text_of(node: Node) -> str:
    """Whitespace-collapsed own text of an element."""
    return _WS_RE.sub(" ", _text(node)).strip()


def _value(node: Node, prefix: str) -> str:
    """A property value following the microformats2 parsing rules, reduced
    to what COI uses (``u-photo`` images, ``mailto:`` links, ``datetime``)."""
    if prefix == "u-":
        for attr in ("src", "href", "data", "value"):
            if node.attrs.get(attr):
                value = _WS_RE.sub("", node.attrs[attr]) if attr == "src" else node.attrs[attr].strip()
                return unquote(value[7:]) if value.lower().startswith("mailto:") else value
    if prefix == "dt-" and node.attrs.get("datetime"):
        return node.attrs["datetime"].strip()
    if node.attrs.get("value") and node.tag in ("data", "input"):
        return node.attrs["value"].strip()
    return text_of(node)


def _item(node: Node) -> Item:
    item = Item(types=[c for c in node.classes if c.startswith("h-")])
    _collect(node, item, 0)
    return item


def _collect(node: Node, item: Item, depth: int) -> None:
    """Fill ``item`` from the descendants of ``node``; nested ``h-*`` roots
    become children and their properties stay theirs."""
    if depth > MAX_DEPTH:
        return
    for child in node.children:
        if isinstance(child, str):
            continue
        classes = child.classes
        for cls in classes:
            for prefix in _PROP_PREFIXES:
                if cls.startswith(prefix) and len(cls) > len(prefix):
                    item.props.setdefault(cls[len(prefix) :].lower(), []).append(_value(child, prefix))
        if any(c.startswith("h-") for c in classes):
            item.children.append(_item(child))
        else:
            _collect(child, item, depth + 1)


def items(html: str) -> list[Item]:
    """All top-level microformat items of an HTML text."""
    found: list[Item] = []
    _roots(parse_tree(html), found, 0)
    return found


def _roots(node: Node, found: list[Item], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for child in node.children:
        if isinstance(child, str):
            continue
        if any(c.startswith("h-") for c in child.classes):
            found.append(_item(child))
        else:
            _roots(child, found, depth + 1)


def find(found: list[Item], kind: str) -> list[Item]:
    """Items of one type (``h-card``...), at any nesting level, in order."""
    out: list[Item] = []
    for it in found:
        if kind in it.types:
            out.append(it)
        out.extend(find(it.children, kind))
    return out


def visible_text(html: str) -> str:
    """The human-written text of an HTML part: everything outside
    microformat items and hidden (``display: none``) elements."""
    lines = (_SPACES_RE.sub(" ", ln).strip() for ln in _visible(parse_tree(html), 0).split("\n"))
    return "\n".join(ln for ln in lines if ln)


def _visible(node: Node | str, depth: int) -> str:
    if isinstance(node, str):
        return node.replace("\n", " ")
    if depth > MAX_DEPTH or node.hidden or any(c.startswith("h-") for c in node.classes):
        return ""
    sep = "\n" if node.tag in _BLOCK_TAGS else ""
    return sep + "".join(_visible(c, depth + 1) for c in node.children) + sep


def class_values(html: str, names: tuple[str, ...]) -> list[str]:
    """Values of every element carrying one of the given property classes
    (``p-poll-option``...), wherever it sits, in document order."""
    out: list[str] = []
    _class_values(parse_tree(html), names, out, 0)
    return out


def _class_values(node: Node, names: tuple[str, ...], out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for child in node.children:
        if isinstance(child, str):
            continue
        for cls in child.classes:
            if cls in names:
                out.append(_value(child, cls.split("-", 1)[0] + "-"))
                break
        _class_values(child, names, out, depth + 1)


def mention_links(html: str) -> list[str]:
    """Addresses of ``<a class="mention" href="mailto:...">`` links."""
    out: list[str] = []
    _mentions(parse_tree(html), out, 0)
    return out


def _mentions(node: Node, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for child in node.children:
        if isinstance(child, str):
            continue
        if child.tag == "a" and "mention" in child.classes:
            href = child.attrs.get("href", "").strip()
            if href.lower().startswith("mailto:"):
                addr = unquote(href[7:]).split("?", 1)[0].strip().lower()
                if "@" in addr:
                    out.append(addr)
            elif text_of(child).lower() == "@all":
                out.append("all")
        _mentions(child, out, depth + 1)
