"""Generate a synthetic Maildir of chat-over-email traffic for benchmarks.

    .venv/bin/python benchmarks/gen_mailbox.py --n 100000 --out DIR --seed 1

The output is deterministic for a given (n, seed) and is written streaming:
one file per message, nothing accumulated in memory except small bounded
per-chat state, so memory stays flat in ``n``.

What is in it (shares are of the generated messages; see DIALECTS.md):

* ~70 % Delta Chat, unencrypted, with headers shaped like the real corpus
  (``Return-Path``/``Received``, ``Autocrypt`` key blob, ``Chat-Version``,
  ``Chat-Disposition-Notification-To``, ``Mr.``/``Gr.``/uuid Message-IDs):
  text, ``Chat-Group-ID``/``Chat-Group-Name`` groups, ``Chat-Edit``,
  ``Chat-Delete``, RFC 9078 reactions (``Content-Disposition: reaction`` +
  ``In-Reply-To``), read receipts (``multipart/report``),
  ``Chat-Group-Member-Added``/``-Removed``, small image attachments.
  One big group receives ~10 % of all messages (10,000 at n=100,000).
* ~15 % COI: ``chat$...`` and ``chat$group.<id>.<unique>@domain`` ids,
  ``Chat-Version: 1.0``, ``Chat-Content: editrequest``/``deleterequest``
  with ``In-Reply-To``, some ``multipart/alternative`` with HTML, MDNs.
* ~15 % ordinary mail: threads between the owner and contacts, a mailing
  list with ``List-Id``, and replies from legacy clients into chats
  (``In-Reply-To``/``References`` to a chat message, quote + signature).

~1,000 contacts, 2,000 chats (1:1 mostly, groups of 3-30 members),
multilingual texts (English, German, Russian, Japanese, emoji) of 5-300
characters, dates spread over 2024-01-01 .. 2025-12-31.  About 4 % of the
files are byte-identical copies of the owner's messages in the ``.Sent``
Maildir++ subfolder, and ~10 % of edits/reactions/deletes get a file name
that sorts *before* their target's (so they arrive first in scan order).
``n`` counts files, duplicates included.  ~90 % of files sit in ``cur/``
with ``:2,S``-style flags, the rest in ``new/``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import itertools
import json
import random
import shutil
import sys
import time
from collections import deque
from pathlib import Path

GEN_VERSION = 1

OWNER_ADDR = "alex@bench.example"
OWNER_NAME = "Alex Bench"
LIST_ADDR = "dev-talk@lists.bench.example"
LIST_ID = "Dev Talk <dev-talk.lists.bench.example>"
LIST_NAME = "Dev Talk"

T0 = 1704067200  # 2024-01-01T00:00:00Z
SPAN = 730 * 86400  # two years
N_CONTACTS = 1000
N_DC_DIRECT = 1300
N_DC_GROUPS = 199  # plus the big group = 200
N_COI_DIRECT = 380
N_COI_GROUPS = 120
BIG_GROUP_SHARE = 0.10
SENT_COPY_SHARE = 0.12  # of the owner's messages; ~4 % of all files
EARLY_SHARE = 0.10  # of edits/reactions/deletes: file sorts before the target

# ---------------------------------------------------------------- vocabulary

FIRST = {
    "en": [
        ("Emma", "emma"),
        ("Oliver", "oliver"),
        ("Grace", "grace"),
        ("Jack", "jack"),
        ("Mia", "mia"),
        ("Noah", "noah"),
        ("Ava", "ava"),
        ("Liam", "liam"),
        ("Chloe", "chloe"),
        ("Ethan", "ethan"),
        ("Sophie", "sophie"),
        ("Harry", "harry"),
        ("Lucy", "lucy"),
        ("Oscar", "oscar"),
    ],
    "de": [
        ("Anna", "anna"),
        ("Jürgen", "juergen"),
        ("Lukas", "lukas"),
        ("Sören", "soeren"),
        ("Lena", "lena"),
        ("Björn", "bjoern"),
        ("Marie", "marie"),
        ("Felix", "felix"),
        ("Jörg", "joerg"),
        ("Hanna", "hanna"),
        ("Maximilian", "max"),
        ("Käthe", "kaethe"),
        ("Paul", "paul"),
        ("Greta", "greta"),
    ],
    "ru": [
        ("Иван", "ivan"),
        ("Мария", "maria"),
        ("Алексей", "aleksey"),
        ("Ольга", "olga"),
        ("Дмитрий", "dmitry"),
        ("Наталья", "natalya"),
        ("Сергей", "sergey"),
        ("Татьяна", "tatyana"),
        ("Михаил", "mikhail"),
        ("Екатерина", "ekaterina"),
        ("Павел", "pavel"),
        ("Юлия", "yulia"),
    ],
    "ja": [
        ("太郎", "taro"),
        ("花子", "hanako"),
        ("健", "ken"),
        ("由美", "yumi"),
        ("翔", "sho"),
        ("美咲", "misaki"),
        ("大輔", "daisuke"),
        ("さくら", "sakura"),
        ("蓮", "ren"),
        ("陽菜", "hina"),
    ],
}
LAST = {
    "en": [
        ("Smith", "smith"),
        ("O'Neill", "oneill"),
        ("Brown", "brown"),
        ("Taylor", "taylor"),
        ("Wilson", "wilson"),
        ("Evans", "evans"),
        ("Walker", "walker"),
        ("Hughes", "hughes"),
    ],
    "de": [
        ("Müller", "mueller"),
        ("Schmidt", "schmidt"),
        ("Weiß", "weiss"),
        ("Schäfer", "schaefer"),
        ("Becker", "becker"),
        ("Groß", "gross"),
        ("Wagner", "wagner"),
        ("Hoffmann", "hoffmann"),
    ],
    "ru": [
        ("Петров", "petrov"),
        ("Иванова", "ivanova"),
        ("Смирнов", "smirnov"),
        ("Кузнецова", "kuznetsova"),
        ("Попов", "popov"),
        ("Соколова", "sokolova"),
        ("Лебедев", "lebedev"),
        ("Козлова", "kozlova"),
    ],
    "ja": [
        ("山田", "yamada"),
        ("佐藤", "sato"),
        ("鈴木", "suzuki"),
        ("高橋", "takahashi"),
        ("田中", "tanaka"),
        ("中村", "nakamura"),
        ("小林", "kobayashi"),
        ("渡辺", "watanabe"),
    ],
}
DOMAINS = {
    "en": ["mail.example.com", "example.org", "post.example.net"],
    "de": ["example.de", "posteo.example", "web.example.de"],
    "ru": ["example.ru", "yandex.example"],
    "ja": ["example.jp", "docomo.example.jp"],
}
TZ = {"en": 0, "de": 60, "ru": 180, "ja": 540}
LANGS = ["en"] * 35 + ["de"] * 30 + ["ru"] * 20 + ["ja"] * 15

WORDS = {
    "en": (
        "hello hi thanks tomorrow today tonight meeting lunch dinner coffee project deadline release "
        "review code train station ticket weekend photo call later soon maybe yes no sure great "
        "awesome sorry late running office home party birthday present movie book concert music "
        "weather rain sunny cold hot beach holiday flight hotel kids school doctor appointment "
        "shopping groceries bread milk cheese recipe pizza pasta garden bike car parking budget "
        "invoice report slides meeting agenda notes question answer idea plan"
    ).split(),
    "de": (
        "hallo danke morgen heute abend treffen mittagessen kaffee projekt termin bahnhof zug "
        "fahrkarte wochenende foto anruf später vielleicht ja nein gerne super entschuldigung "
        "verspätet büro zuhause feier geburtstag geschenk kino buch konzert musik wetter regen "
        "sonnig kalt warm strand urlaub flug kinder schule arzt einkaufen brot milch käse rezept "
        "straße grüße schön bitte küche garten fahrrad auto parkplatz rechnung bericht frage "
        "antwort idee plan müde hunger übermorgen"
    ).split(),
    "ru": (
        "привет спасибо завтра сегодня вечером встреча обед ужин кофе проект срок вокзал поезд "
        "билет выходные фото звонок позже может да нет конечно отлично извини опаздываю офис "
        "дома праздник день рождения подарок кино книга концерт музыка погода дождь солнечно "
        "холодно жарко море отпуск рейс дети школа врач магазин хлеб молоко сыр рецепт дача "
        "машина счёт отчёт вопрос ответ идея план пожалуйста хорошо"
    ).split(),
    "ja": (
        "こんにちは ありがとう 明日 今日 今晩 会議 昼ご飯 夕食 コーヒー プロジェクト 締め切り 駅 電車 "
        "切符 週末 写真 電話 後で たぶん はい いいえ もちろん すごい ごめん 遅れる 会社 家 パーティー "
        "誕生日 プレゼント 映画 本 音楽 天気 雨 晴れ 寒い 暑い 海 休み 東京 大阪 京都 子供 学校 "
        "病院 買い物 パン 牛乳 料理 公園 自転車 車 資料 質問 よろしく"
    ).split(),
}
PHRASES = {
    "en": [
        "see you tomorrow",
        "happy birthday",
        "on my way",
        "running late",
        "sounds good to me",
        "let me know",
        "thank you so much",
    ],
    "de": ["bis später", "alles gute zum geburtstag", "bin unterwegs", "bis morgen", "klingt gut", "vielen dank"],
    "ru": ["до завтра", "с днём рождения", "уже еду", "большое спасибо", "до встречи"],
    "ja": ["また明日", "お誕生日おめでとう", "よろしくお願いします", "ありがとうございます"],
}
EMOJI = ["👍", "😂", "❤️", "🎉", "🙏", "😊", "🔥", "☕", "🚆", "🎂", "😅", "🤔", "👋", "🌸", "🍕", "✅"]
REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "👎"]
GROUP_NAMES = [
    "Familie",
    "Weekend Hike",
    "WG Putzplan",
    "Book Club 📚",
    "Футбол по субботам",
    "Team Lunch",
    "Klassentreffen 2005",
    "東京旅行",
    "Band Practice 🎸",
    "Nachbarn Hof",
    "Dev Sync",
    "Dacha 🌻",
    "Running Club",
    "Kita Eltern",
    "Board Games",
    "Проект Альфа",
    "Garden Share",
    "Ski Trip ⛷️",
    "お花見",
    "Choir",
    "Umzug Helfer",
    "Poker Night",
    "Climbing",
    "Reading Group",
]
MAIL_SUBJECTS = [
    "Invoice {n}",
    "Your order {n} has shipped",
    "Meeting notes {n}",
    "Rechnung Nr. {n}",
    "Termin am {n}. des Monats",
    "Отчёт за период {n}",
    "Contract draft v{n}",
    "Fotos vom Ausflug",
    "Quarterly report",
    "Newsletter #{n}",
    "Wohnungsübergabe",
    "お見積りのご依頼 {n}",
    "Flight booking {n}",
    "Elternabend",
]
LIST_SUBJECTS = [
    "[dev-talk] Release {n} planning",
    "[dev-talk] CI is red again",
    "[dev-talk] RFC: new index format",
    "[dev-talk] Benchmark results {n}",
    "[dev-talk] Meetup in Berlin",
    "[dev-talk] Question about IMAP IDLE",
]

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# ---------------------------------------------------------------- helpers


def rfc2822_date(ts: float, tz_minutes: int) -> str:
    t = time.gmtime(int(ts) + tz_minutes * 60)
    sign = "+" if tz_minutes >= 0 else "-"
    off = abs(tz_minutes)
    return (
        f"{DAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{off // 60:02d}{off % 60:02d}"
    )


_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _q(data: bytes) -> str:
    return "".join(chr(b) if b in _Q_SAFE else "_" if b == 32 else f"={b:02X}" for b in data)


def encode_words(text: str, b64: bool = True) -> str:
    """RFC 2047 encoded words (utf-8), each at most ~75 characters."""
    if text.isascii():
        return text
    out, chunk, size = [], [], 0
    for ch in text:
        data = ch.encode("utf-8")
        n = len(data) if b64 else len(_q(data))
        if size + n > (42 if b64 else 60):
            out.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    if chunk:
        out.append("".join(chunk))
    if b64:
        return " ".join("=?utf-8?B?" + base64.b64encode(c.encode()).decode() + "?=" for c in out)
    return " ".join("=?utf-8?Q?" + _q(c.encode()) + "?=" for c in out)


def mailbox_addr(name: str, addr: str) -> str:
    if not name:
        return f"<{addr}>"
    if name.isascii():
        if any(c in name for c in "'\",.()<>@;:"):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{addr}>"
    return f"{encode_words(name)} <{addr}>"


def fold_list(items: list[str]) -> str:
    return ",\n ".join(items)


def body_7bit_or_qp(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, encoded body)."""
    if text.isascii():
        return "7bit", text
    return "quoted-printable", binascii.b2a_qp(text.encode("utf-8")).decode("ascii")


def body_b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


class Contact:
    __slots__ = ("idx", "name", "addr", "lang", "tz", "mbox", "autocrypt", "first_ascii", "domain")

    def __init__(self, idx: int, name: str, addr: str, lang: str, first_ascii: str, domain: str, autocrypt: str):
        self.idx = idx
        self.name = name
        self.addr = addr
        self.lang = lang
        self.tz = TZ[lang]
        self.mbox = mailbox_addr(name, addr)
        self.first_ascii = first_ascii
        self.domain = domain
        self.autocrypt = autocrypt


def _autocrypt(rng: random.Random, addr: str) -> str:
    blob = base64.b64encode(rng.randbytes(450)).decode()
    lines = [blob[i : i + 76] for i in range(0, len(blob), 76)]
    return f"addr={addr}; prefer-encrypt=mutual;\n keydata=" + "\n ".join(lines)


def make_contacts(seed: int) -> list[Contact]:
    """The contact list (deterministic from the seed; run.py uses it to
    build queries).  Contact 0 is the most active one."""
    rng = random.Random(f"contacts-{seed}")
    out: list[Contact] = []
    used: set[str] = set()
    for i in range(N_CONTACTS):
        lang = rng.choice(LANGS)
        first, first_a = rng.choice(FIRST[lang])
        last, last_a = rng.choice(LAST[lang])
        name = f"{last} {first}" if lang == "ja" else f"{first} {last}"
        if rng.random() < 0.08:
            name = f"{name} {rng.choice(EMOJI)}"
        domain = rng.choice(DOMAINS[lang])
        local = f"{first_a}.{last_a}"
        addr = f"{local}@{domain}"
        k = 2
        while addr in used:
            addr = f"{local}{k}@{domain}"
            k += 1
        used.add(addr)
        out.append(Contact(i, name, addr, lang, first_a, domain, _autocrypt(rng, addr)))
    return out


OWNER = Contact(
    -1, OWNER_NAME, OWNER_ADDR, "de", "alex", "bench.example", _autocrypt(random.Random("owner"), OWNER_ADDR)
)


class Chat:
    __slots__ = ("kind", "dialect", "members", "gid", "name", "recent", "cum", "subject")

    def __init__(self, kind: str, dialect: str, members: list[int], gid: str = "", name: str = ""):
        self.kind = kind  # direct | group
        self.dialect = dialect  # dc | coi
        self.members = members  # contact indexes (owner not included)
        self.gid = gid
        self.name = name
        # recent messages: (message_id, sender_idx, text, file_ts)
        self.recent: deque = deque(maxlen=24)
        self.cum: list[float] | None = None
        self.subject = ""


def _cum(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: list, cum: list[float]):
    return items[bisect.bisect_left(cum, rng.random() * cum[-1])]


# ---------------------------------------------------------------- generator


class Generator:
    def __init__(self, n: int, seed: int, out: Path):
        self.n = n
        self.seed = seed
        self.out = out
        self.rng = random.Random(seed)
        self.contacts = make_contacts(seed)
        # contact activity: Zipf over contact index (contact 0 is busiest)
        self.contact_cum = _cum([1.0 / (i + 1) ** 0.7 for i in range(N_CONTACTS)])
        self.seq = 0
        self.files = 0
        self.stats: dict[str, int] = {}
        self.pid = 4000 + seed % 1000
        self._images = [b"\x89PNG\r\n\x1a\n" + random.Random(f"img{i}").randbytes(600 + i * 180) for i in range(16)]
        self._images_b64 = [body_b64(b) for b in self._images]
        self.mail_threads: deque = deque(maxlen=300)  # (root_id, last_id, subject, contact_idx)
        self.list_threads: deque = deque(maxlen=100)
        self._build_chats()

    # ------------------------------------------------------------ setup

    def _rid(self, k: int, chars: str = ID_CHARS) -> str:
        return "".join(self.rng.choices(chars, k=k))

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"

    def _some_contact(self) -> int:
        return bisect.bisect_left(self.contact_cum, self.rng.random() * self.contact_cum[-1])

    def _members(self, size: int) -> list[int]:
        out: list[int] = []
        while len(out) < size:
            c = self._some_contact()
            if c not in out:
                out.append(c)
        return out

    def _build_chats(self) -> None:
        rng = self.rng
        dc: list[Chat] = []
        coi: list[Chat] = []
        for i in range(N_DC_DIRECT):
            dc.append(Chat("direct", "dc", [i % N_CONTACTS]))
        for i in range(N_DC_GROUPS):
            size = 2 + int(28 * rng.random() ** 3)
            dc.append(
                Chat(
                    "group",
                    "dc",
                    self._members(size),
                    gid=self._rid(rng.choice((11, 24, 24, 32))),
                    name=f"{GROUP_NAMES[i % len(GROUP_NAMES)]} {i // len(GROUP_NAMES) + 1}"
                    if i >= len(GROUP_NAMES)
                    else GROUP_NAMES[i],
                )
            )
        for i in range(N_COI_DIRECT):
            coi.append(Chat("direct", "coi", [(i * 7 + 3) % N_CONTACTS]))
        for i in range(N_COI_GROUPS):
            size = 2 + int(28 * rng.random() ** 3)
            coi.append(
                Chat(
                    "group",
                    "coi",
                    self._members(size),
                    gid=self._rid(16, ALNUM),
                    name=f"COI {GROUP_NAMES[(i + 7) % len(GROUP_NAMES)]} {i + 1}",
                )
            )
        # activity: Zipf over a shuffled order
        for chats in (dc, coi):
            order = list(range(len(chats)))
            rng.shuffle(order)
            weights = [0.0] * len(chats)
            for rank, idx in enumerate(order):
                weights[idx] = 1.0 / (rank + 1) ** 0.9
            chats_cum = _cum(weights)
            if chats is dc:
                self.dc_chats, self.dc_cum = chats, chats_cum
            else:
                self.coi_chats, self.coi_cum = chats, chats_cum
        self.big = Chat("group", "dc", self._members(25), gid=self._rid(24), name="Big Group ☕ Weekly")
        for chat in dc + coi + [self.big]:
            chat.cum = _cum([1.0 / (k + 1) ** 0.8 for k in range(len(chat.members))])

    # ------------------------------------------------------------ text

    def text(self, lang: str, lo: int = 5, hi: int = 300) -> str:
        rng = self.rng
        target = int(rng.lognormvariate(3.7, 0.8))
        target = max(lo, min(hi, target))
        if rng.random() < 0.2:
            lang = rng.choice(LANGS)
        words = WORDS[lang]
        sep = "" if lang == "ja" else " "
        parts: list[str] = []
        size = 0
        if rng.random() < 0.15:
            p = rng.choice(PHRASES[lang])
            parts.append(p)
            size += len(p)
        while size < target:
            r = rng.random()
            if r < 0.05:
                w = rng.choice(EMOJI)
            elif r < 0.10:
                w = rng.choice(PHRASES[lang])
            elif r < 0.13:
                w = str(rng.randint(1, 2030))
            else:
                w = words[int(len(words) * rng.random() ** 1.6)]  # skewed: early words common
            parts.append(w)
            size += len(w) + len(sep)
            if size > 40 and rng.random() < 0.08:
                parts.append("。" if lang == "ja" else ".")
        text = sep.join(parts)
        if len(text) > hi:
            text = text[:hi].rstrip()
        if lang != "ja":
            text = text[:1].upper() + text[1:]
        if rng.random() < 0.15:
            text += " " + rng.choice(EMOJI)
        return text

    # ------------------------------------------------------------ files

    def _key(self, file_ts: int) -> str:
        self.seq += 1
        return f"{file_ts}.M{self.seq:06d}P{self.pid}Q{self.seq}.benchhost"

    def write(self, data: bytes, file_ts: int, from_owner: bool) -> None:
        rng = self.rng
        key = self._key(file_ts)
        if rng.random() < 0.10:
            path = self.out / "new" / key
        else:
            flags = "S" if rng.random() < 0.85 else rng.choice(("RS", "FS", "S", ""))
            path = self.out / "cur" / f"{key}:2,{flags}"
        with open(path, "wb") as fh:
            fh.write(data)
        self.files += 1
        if from_owner and self.files < self.n and rng.random() < SENT_COPY_SHARE:
            with open(self.out / ".Sent" / "cur" / f"{self._key(file_ts)}:2,S", "wb") as fh:
                fh.write(data)
            self.files += 1
            self._count("sent_copies")

    def _count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def received(self, sender: Contact, to_addr: str, date: str, mid_ts: int) -> str:
        rid = f"{mid_ts:08X}{self.seq % 0xFFFF:04X}"
        return (
            f"Return-Path: <{sender.addr}>\n"
            f"Delivered-To: {OWNER_ADDR}\n"
            f"Received: from mx.bench.example\n\tby mx.bench.example with LMTP\n\tid {rid}\n"
            f"\t(envelope-from <{sender.addr}>); {date}\n"
            f"Received: from [{sender.domain}] (smtp.{sender.domain} [192.0.2.{sender.idx % 250 + 1}])\n"
            f"\tby mx.bench.example (Postfix) with ESMTPS id {rid}\n\tfor <{to_addr}>; {date}\n"
        )

    # ------------------------------------------------------------ main loop

    def run(self) -> dict:
        for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        (self.out / ".Sent" / "maildirfolder").touch()
        rng = self.rng
        i = 0
        while self.files < self.n:
            ts = T0 + int(SPAN * self.files / self.n) + rng.randint(0, 90)
            r = rng.random()
            if r < BIG_GROUP_SHARE:
                self.dc(self.big, ts)
            elif r < 0.70:
                self.dc(_pick(rng, self.dc_chats, self.dc_cum), ts)
            elif r < 0.85:
                self.coi(_pick(rng, self.coi_chats, self.coi_cum), ts)
            else:
                self.mail(ts)
            i += 1
        self.stats["files"] = self.files
        self.stats["messages_generated"] = i
        return self.stats

    def _sender(self, chat: Chat, owner_share: float) -> int:
        if self.rng.random() < owner_share:
            return -1
        if chat.kind == "direct":
            return chat.members[0]
        return _pick(self.rng, chat.members, chat.cum)

    def _c(self, idx: int) -> Contact:
        return OWNER if idx < 0 else self.contacts[idx]

    def _recipients(self, chat: Chat, sender: int) -> list[Contact]:
        people = [-1] + chat.members
        return [self._c(p) for p in people if p != sender]

    # ------------------------------------------------------------ Delta Chat

    def dc(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        r = rng.random()
        if not chat.recent or r < 0.72:
            self.dc_post(chat, ts, image=False)
        elif r < 0.76:
            self.dc_post(chat, ts, image=True)
        elif r < 0.84:
            self.dc_reaction(chat, ts)
        elif r < 0.865:
            self.dc_edit(chat, ts)
        elif r < 0.875:
            self.dc_delete(chat, ts)
        elif r < 0.985 or chat.kind == "direct":
            self.dc_mdn(chat, ts)
        else:
            self.dc_member(chat, ts)

    def _dc_mid(self, chat: Chat, sender: Contact) -> str:
        if self.rng.random() < 0.5:
            return f"{self._uuid()}@localhost"
        if chat.kind == "group":
            return f"Gr.{chat.gid}.{self._rid(11)}@{sender.domain}"
        return f"Mr.{self._rid(11)}.{self._rid(11)}@{sender.domain}"

    def _dc_head(
        self,
        chat: Chat,
        sender_idx: int,
        ts: int,
        mid: str,
        subject: str,
        in_reply_to: str | None,
        extra: str = "",
        recipients: list[Contact] | None = None,
    ) -> str:
        s = self._c(sender_idx)
        date = rfc2822_date(ts, s.tz)
        rcpts = recipients if recipients is not None else self._recipients(chat, sender_idx)
        to_line = fold_list([c.mbox for c in rcpts]) if rcpts else f"<{OWNER_ADDR}>"
        head = self.received(s, OWNER_ADDR, date, ts) if sender_idx >= 0 else ""
        head += f"From: {s.mbox}\nTo: {to_line}\n"
        head += f"Subject: {encode_words(subject, b64=False)}\nDate: {date}\nMessage-ID: <{mid}>\n"
        if in_reply_to:
            refs = [m[0] for m in itertools.islice(reversed(chat.recent), 0, 3)][::-1]
            if in_reply_to in refs:
                refs.remove(in_reply_to)
            refs.append(in_reply_to)
            head += f"In-Reply-To: <{in_reply_to}>\nReferences: " + "\n ".join(f"<{x}>" for x in refs) + "\n"
        head += "Chat-Version: 1.0\n"
        if chat.kind == "group":
            head += f"Chat-Group-ID: {chat.gid}\nChat-Group-Name: {encode_words(chat.name)}\n"
        head += extra
        head += f"Autocrypt: {s.autocrypt}\nMIME-Version: 1.0\n"
        return head

    def _dc_subject(self, chat: Chat, sender_idx: int) -> str:
        if chat.kind == "group":
            return chat.name if self.rng.random() < 0.3 else f"Re: {chat.name}"
        name = self._c(sender_idx).name
        return f"Message from {name}" if self.rng.random() < 0.5 else f"Re: Message from {name}"

    def _remember(self, chat: Chat, mid: str, sender: int, text: str, ts: int) -> None:
        chat.recent.append((mid, sender, text, ts))

    def dc_post(self, chat: Chat, ts: int, image: bool) -> None:
        rng = self.rng
        sender = self._sender(chat, 0.45 if chat.kind == "direct" else 0.12)
        s = self._c(sender)
        mid = self._dc_mid(chat, s)
        text = self.text(s.lang)
        irt = chat.recent[-1][0] if chat.recent and rng.random() < 0.8 else None
        extra = f"Chat-Disposition-Notification-To: {s.addr}\n" if rng.random() < 0.6 else ""
        head = self._dc_head(chat, sender, ts, mid, self._dc_subject(chat, sender), irt, extra)
        if image:
            self._count("dc_image")
            boundary = f"{rng.getrandbits(64):016x}_{rng.getrandbits(64):016x}"
            k = rng.randrange(len(self._images))
            if rng.random() < 0.4:
                text = ""
            cte, body = body_7bit_or_qp(text)
            fname = f"IMG_{time.strftime('%Y%m%d_%H%M%S', time.gmtime(ts))}.png"
            msg = (
                head + f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n\n'
                f'--{boundary}\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n'
                f"{body}\n--{boundary}\nContent-Type: image/png\n"
                f'Content-Disposition: attachment; filename="{fname}"\nContent-Transfer-Encoding: base64\n\n'
                f"{self._images_b64[k]}\n--{boundary}--\n"
            )
        else:
            self._count("dc_text")
            cte, body = body_7bit_or_qp(text)
            msg = head + f'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n{body}\n'
        self._remember(chat, mid, sender, text, ts)
        self.write(msg.encode("utf-8"), ts, sender < 0)

    def _target(self, chat: Chat):
        return self.rng.choice(chat.recent)

    def _action_ts(self, target) -> int:
        """File timestamp: sometimes before the target's, so the action is
        scanned first."""
        if self.rng.random() < EARLY_SHARE:
            self._count("early_actions")
            return target[3] - 1
        return -1

    def dc_reaction(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        target = self._target(chat)
        sender = self._sender(chat, 0.3)
        s = self._c(sender)
        mid = self._dc_mid(chat, s)
        emoji = rng.choice(REACTIONS) if rng.random() > 0.03 else ""
        head = self._dc_head(
            chat, sender, ts, mid, "Re: " + self._dc_subject(chat, target[1]).removeprefix("Re: "), target[0]
        )
        msg = (
            head + 'Content-Type: text/plain; charset="utf-8"\nContent-Disposition: reaction\n'
            "Content-Transfer-Encoding: base64\n\n" + body_b64(emoji.encode()) + "\n"
        )
        self._count("dc_reaction")
        fts = self._action_ts(target)
        self.write(msg.encode("utf-8"), fts if fts > 0 else ts, sender < 0)

    def dc_edit(self, chat: Chat, ts: int) -> None:
        target = self._target(chat)
        sender = target[1]
        s = self._c(sender)
        mid = self._dc_mid(chat, s)
        new_text = self.text(s.lang)
        quote = "> " + (target[2][:80] or "…").replace("\n", "\n> ")
        body_text = f"{quote}\n\n\u270f\ufe0f{new_text}"
        cte, body = body_7bit_or_qp(body_text)
        head = self._dc_head(
            chat, sender, ts, mid, self._dc_subject(chat, sender), target[0], f"Chat-Edit: <{target[0]}>\n"
        )
        msg = head + f'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n{body}\n'
        self._count("dc_edit")
        fts = self._action_ts(target)
        self.write(msg.encode("utf-8"), fts if fts > 0 else ts, sender < 0)

    def dc_delete(self, chat: Chat, ts: int) -> None:
        target = self._target(chat)
        sender = target[1]
        s = self._c(sender)
        mid = self._dc_mid(chat, s)
        head = self._dc_head(
            chat, sender, ts, mid, self._dc_subject(chat, sender), target[0], f"Chat-Delete: <{target[0]}>\n"
        )
        msg = (
            head
            + 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
            + body_b64("🚮".encode())
            + "\n"
        )
        self._count("dc_delete")
        fts = self._action_ts(target)
        self.write(msg.encode("utf-8"), fts if fts > 0 else ts, sender < 0)

    def dc_mdn(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        target = self._target(chat)
        if target[1] < 0:  # receipt for the owner's message, from a member
            sender = chat.members[0] if chat.kind == "direct" else _pick(rng, chat.members, chat.cum)
            rcpt = [OWNER]
        else:  # the owner's receipt for a contact's message
            sender = -1
            rcpt = [self._c(target[1])]
        s = self._c(sender)
        date = rfc2822_date(ts, s.tz)
        boundary = f"{rng.getrandbits(64):016x}_{rng.getrandbits(64):016x}"
        head = self.received(s, OWNER_ADDR, date, ts) if sender >= 0 else ""
        head += (
            f"From: {s.mbox}\nTo: {rcpt[0].mbox}\nSubject: Receipt Notification\nDate: {date}\n"
            f"Message-ID: <{self._uuid()}@localhost>\nAuto-Submitted: auto-replied\nChat-Version: 1.0\n"
            f"Autocrypt: {s.autocrypt}\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=disposition-notification;\n boundary="{boundary}"\n\n\n'
            f'--{boundary}\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 7bit\n\n'
            "This is a receipt notification.\n"
            f'--{boundary}\nContent-Type: message/disposition-notification; charset="utf-8"\n'
            "Content-Transfer-Encoding: 7bit\n\n"
            f"Original-Message-ID: <{target[0]}>\nDisposition: manual-action/MDN-sent-automatically; displayed\n\n"
            f"--{boundary}--\n"
        )
        self._count("dc_mdn")
        self.write(head.encode("utf-8"), ts, sender < 0)

    def dc_member(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        sender = self._sender(chat, 0.5)
        s = self._c(sender)
        if (len(chat.members) < 30 and rng.random() < 0.6) or len(chat.members) <= 3:
            new = self._some_contact()
            if new in chat.members:
                return self.dc_post(chat, ts, image=False)
            chat.members.append(new)
            chat.cum = _cum([1.0 / (k + 1) ** 0.8 for k in range(len(chat.members))])
            who = self.contacts[new]
            extra = f"Chat-Group-Member-Added: {who.addr}\n"
            text = f"Member {who.addr} added by {s.addr}."
            rcpts = self._recipients(chat, sender)
            self._count("dc_member_added")
        else:
            gone = rng.choice(chat.members[1:])
            if gone == sender:
                gone = chat.members[0]
            rcpts = self._recipients(chat, sender)
            chat.members.remove(gone)
            chat.cum = _cum([1.0 / (k + 1) ** 0.8 for k in range(len(chat.members))])
            who = self.contacts[gone]
            extra = f"Chat-Group-Member-Removed: {who.addr}\n"
            text = f"Member {who.addr} removed by {s.addr}."
            self._count("dc_member_removed")
        mid = self._dc_mid(chat, s)
        head = self._dc_head(chat, sender, ts, mid, f"Re: {chat.name}", chat.recent[-1][0], extra, rcpts)
        msg = head + f'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 7bit\n\n{text}\n'
        self.write(msg.encode("utf-8"), ts, sender < 0)

    # ------------------------------------------------------------ COI

    def _coi_mid(self, chat: Chat, sender: Contact) -> str:
        if chat.kind == "group":
            return f"chat$group.{chat.gid}.{self._rid(12, ALNUM)}@{sender.domain}"
        return f"chat${self._rid(14, ALNUM)}.{self._rid(6, ALNUM)}@{sender.domain}"

    def _coi_head(
        self, chat: Chat, sender_idx: int, ts: int, mid: str, subject: str, in_reply_to: str | None, extra: str = ""
    ) -> str:
        s = self._c(sender_idx)
        date = rfc2822_date(ts, s.tz)
        rcpts = self._recipients(chat, sender_idx)
        head = self.received(s, OWNER_ADDR, date, ts) if sender_idx >= 0 else ""
        head += (
            f"From: {s.mbox}\nTo: {fold_list([c.mbox for c in rcpts])}\n"
            f"Subject: {encode_words(subject)}\nDate: {date}\nMessage-ID: <{mid}>\n"
        )
        if in_reply_to:
            root = chat.recent[0][0]
            refs = [root] if root != in_reply_to else []
            refs.append(in_reply_to)
            head += f"In-Reply-To: <{in_reply_to}>\nReferences: " + "\n ".join(f"<{x}>" for x in refs) + "\n"
        head += "Chat-Version: 1.0\n" + extra
        if self.rng.random() < 0.3:
            head += f"Disposition-Notification-To: {s.mbox}\n"
        head += "MIME-Version: 1.0\nUser-Agent: COI/bench 0.9\n"
        return head

    def coi(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        r = rng.random()
        if chat.recent and r < 0.03:
            return self.coi_action(chat, ts, delete=False)
        if chat.recent and r < 0.04:
            return self.coi_action(chat, ts, delete=True)
        if chat.recent and r < 0.09:
            return self.coi_mdn(chat, ts)
        sender = self._sender(chat, 0.45 if chat.kind == "direct" else 0.12)
        s = self._c(sender)
        mid = self._coi_mid(chat, s)
        text = self.text(s.lang)
        if chat.kind == "group":
            subject = chat.name if not chat.recent else f"Re: {chat.name}"
        else:
            subject = "Chat: " + text[:40].split("\n")[0]
        irt = chat.recent[-1][0] if chat.recent and rng.random() < 0.7 else None
        head = self._coi_head(chat, sender, ts, mid, subject, irt)
        if rng.random() < 0.25:
            boundary = f"coi-{rng.getrandbits(64):016x}"
            cte, body = body_7bit_or_qp(text)
            esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            hcte, hbody = body_7bit_or_qp(f"<html><body><p>{esc}</p></body></html>")
            msg = (
                head + f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
                f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n"
                f"Content-Transfer-Encoding: {cte}\n\n{body}\n"
                f"--{boundary}\nContent-Type: text/html; charset=utf-8\n"
                f"Content-Transfer-Encoding: {hcte}\n\n{hbody}\n"
                f"--{boundary}--\n"
            )
        else:
            msg = (
                head
                + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
                + body_b64(text.encode("utf-8"))
            )
        self._count("coi_text")
        self._remember(chat, mid, sender, text, ts)
        self.write(msg.encode("utf-8"), ts, sender < 0)

    def coi_action(self, chat: Chat, ts: int, delete: bool) -> None:
        target = self._target(chat)
        sender = target[1]
        s = self._c(sender)
        mid = self._coi_mid(chat, s)
        subject = f"Re: {chat.name}" if chat.kind == "group" else "Chat: edit"
        kind = "deleterequest" if delete else "editrequest"
        head = self._coi_head(chat, sender, ts, mid, subject, target[0], f"Chat-Content: {kind}\n")
        text = "" if delete else self.text(s.lang)
        cte, body = body_7bit_or_qp(text)
        msg = head + f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n{body}\n"
        self._count("coi_delete" if delete else "coi_edit")
        fts = self._action_ts(target)
        self.write(msg.encode("utf-8"), fts if fts > 0 else ts, sender < 0)

    def coi_mdn(self, chat: Chat, ts: int) -> None:
        rng = self.rng
        target = self._target(chat)
        sender = chat.members[0] if target[1] < 0 else -1
        s = self._c(sender)
        to = OWNER if sender >= 0 else self._c(target[1])
        date = rfc2822_date(ts, s.tz)
        boundary = f"mdn-{rng.getrandbits(64):016x}"
        head = self.received(s, OWNER_ADDR, date, ts) if sender >= 0 else ""
        head += (
            f"From: {s.mbox}\nTo: {to.mbox}\nSubject: Read: Chat\nDate: {date}\n"
            f"Message-ID: <chat${self._rid(14, ALNUM)}@{s.domain}>\nChat-Version: 1.0\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=disposition-notification; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\nThe message was displayed.\n"
            f"--{boundary}\nContent-Type: message/disposition-notification\n\n"
            f"Reporting-UA: COI/bench 0.9\nFinal-Recipient: rfc822;{s.addr}\n"
            f"Original-Message-ID: <{target[0]}>\nDisposition: manual-action/MDN-sent-manually; displayed\n\n"
            f"--{boundary}--\n"
        )
        self._count("coi_mdn")
        self.write(head.encode("utf-8"), ts, sender < 0)

    # ------------------------------------------------------------ ordinary mail

    def mail(self, ts: int) -> None:
        r = self.rng.random()
        if r < 0.35:
            self.mail_list(ts)
        elif r < 0.80:
            self.mail_thread(ts)
        else:
            self.mail_into_chat(ts)

    def _mail_mid(self, ts: int, s: Contact) -> str:
        return f"{ts}{self.rng.randrange(100000):05d}.{self.rng.getrandbits(48)}@mua.{s.domain}"

    def _mail_body(self, text: str, html: bool, boundary: str) -> str:
        cte, body = body_7bit_or_qp(text)
        if not html:
            return f'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n{body}\n'
        esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>\n")
        hcte, hbody = body_7bit_or_qp(f"<!DOCTYPE html><html><body><div>{esc}</div></body></html>")
        return (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
            f'--{boundary}\nContent-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n{body}\n'
            f'--{boundary}\nContent-Type: text/html; charset="utf-8"\n'
            f"Content-Transfer-Encoding: {hcte}\n\n{hbody}\n"
            f"--{boundary}--\n"
        )

    def _mail_head(
        self,
        s: Contact,
        to: str,
        ts: int,
        mid: str,
        subject: str,
        irt: str | None,
        refs: list[str],
        extra: str = "",
        cc: str = "",
    ) -> str:
        date = rfc2822_date(ts, s.tz)
        head = self.received(s, OWNER_ADDR, date, ts) if s.idx >= 0 else ""
        head += f"From: {s.mbox}\nTo: {to}\n"
        if cc:
            head += f"Cc: {cc}\n"
        head += f"Subject: {encode_words(subject, b64=False)}\nDate: {date}\nMessage-ID: <{mid}>\n"
        if irt:
            head += f"In-Reply-To: <{irt}>\nReferences: " + "\n ".join(f"<{x}>" for x in refs) + "\n"
        head += extra
        head += (
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0\n"
            "MIME-Version: 1.0\n"
        )
        return head

    def _long_text(self, lang: str) -> str:
        paras = [self.text(lang, 20, 300) for _ in range(self.rng.randint(1, 3))]
        return "\n\n".join(paras)

    def mail_thread(self, ts: int) -> None:
        rng = self.rng
        if self.mail_threads and rng.random() < 0.6:
            root, last, subject, cidx = rng.choice(self.mail_threads)
            irt, refs = last, ([root, last] if root != last else [root])
            subject = subject if subject.startswith("Re: ") else "Re: " + subject
        else:
            cidx = self._some_contact()
            root = last = irt = None
            refs = []
            subject = rng.choice(MAIL_SUBJECTS).format(n=rng.randint(100, 9999))
        c = self.contacts[cidx]
        from_owner = rng.random() < 0.4
        s, other = (OWNER, c) if from_owner else (c, OWNER)
        mid = self._mail_mid(ts, s)
        text = self._long_text(s.lang)
        if irt:
            text += "\n\n" + "> " + self.text(other.lang, 20, 120)
        text += f"\n-- \n{s.name}"
        head = self._mail_head(s, other.mbox, ts, mid, subject, irt, refs)
        msg = head + self._mail_body(text, rng.random() < 0.3, f"b{rng.getrandbits(64):016x}")
        self.mail_threads.append((root or mid, mid, subject, cidx))
        self._count("mail_thread")
        self.write(msg.encode("utf-8"), ts, from_owner)

    def mail_list(self, ts: int) -> None:
        rng = self.rng
        sidx = self._some_contact() if rng.random() > 0.1 else -1
        s = self._c(sidx)
        if self.list_threads and rng.random() < 0.6:
            root, last, subject = rng.choice(self.list_threads)
            irt, refs = last, ([root, last] if root != last else [root])
            subject = subject if subject.startswith("Re: ") else "Re: " + subject
        else:
            root = irt = None
            refs = []
            subject = rng.choice(LIST_SUBJECTS).format(n=rng.randint(1, 99))
        mid = self._mail_mid(ts, s)
        text = (
            self._long_text(s.lang) + "\n\n_______________________________________________\n"
            f"{LIST_NAME} mailing list -- {LIST_ADDR}\n"
            "To unsubscribe send an email to dev-talk-leave@lists.bench.example\n"
        )
        extra = (
            f"List-Id: {LIST_ID}\nList-Post: <mailto:{LIST_ADDR}>\n"
            f"List-Unsubscribe: <mailto:dev-talk-leave@lists.bench.example>\nPrecedence: list\n"
            f"Sender: dev-talk-bounces@lists.bench.example\n"
        )
        head = self._mail_head(s, f"{LIST_NAME} <{LIST_ADDR}>", ts, mid, subject, irt, refs, extra)
        msg = head + self._mail_body(text, False, "")
        self.list_threads.append((root or mid, mid, subject))
        self._count("mail_list")
        self.write(msg.encode("utf-8"), ts, sidx < 0)

    def mail_into_chat(self, ts: int) -> None:
        """A legacy mail client replying to a chat message."""
        rng = self.rng
        pool, cum = (self.dc_chats, self.dc_cum) if rng.random() < 0.7 else (self.coi_chats, self.coi_cum)
        chat = _pick(rng, pool, cum)
        if not chat.recent:
            return self.mail_thread(ts)
        target = chat.recent[-1]
        sidx = chat.members[0] if chat.kind == "direct" else _pick(rng, chat.members, chat.cum)
        s = self.contacts[sidx]
        mid = self._mail_mid(ts, s)
        refs = [chat.recent[0][0], target[0]] if chat.recent[0][0] != target[0] else [target[0]]
        reply = self.text(s.lang, 10, 200)
        quoted = "\n".join("> " + line for line in (target[2] or "…").split("\n"))
        text = (
            f"{reply}\n\nOn {rfc2822_date(target[3], 0)}, someone wrote:\n{quoted}\n\n-- \n{s.name}\nSent from my phone"
        )
        subject = f"Re: {chat.name}" if chat.kind == "group" else f"Re: Message from {self._c(target[1]).name}"
        if chat.kind == "group":
            to, cc = OWNER.mbox, fold_list([self.contacts[m].mbox for m in chat.members if m != sidx][:10])
        else:
            to, cc = OWNER.mbox, ""
        head = self._mail_head(s, to, ts, mid, subject, target[0], refs, cc=cc)
        msg = head + self._mail_body(text, rng.random() < 0.2, f"r{rng.getrandbits(64):016x}")
        self._remember(chat, mid, sidx, reply, ts)
        self._count("mail_into_chat")
        self.write(msg.encode("utf-8"), ts, False)


def generate(n: int, out: Path, seed: int = 1) -> dict:
    """Write the Maildir; returns counts by message type and timing."""
    if out.exists():
        raise FileExistsError(f"{out} exists")
    started = time.perf_counter()
    stats = Generator(n, seed, out).run()
    stats["seconds"] = round(time.perf_counter() - started, 2)
    stats["n"] = n
    stats["seed"] = seed
    stats["gen_version"] = GEN_VERSION
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=20000, help="number of message files (duplicates included)")
    ap.add_argument("--out", type=Path, required=True, help="Maildir to create (must not exist)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="delete OUT first if it exists")
    args = ap.parse_args(argv)
    if args.out.exists():
        if not args.force:
            print(f"gen_mailbox: {args.out} exists (use --force)", file=sys.stderr)
            return 2
        shutil.rmtree(args.out)
    stats = generate(args.n, args.out, args.seed)
    print(json.dumps(stats, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
