"""One decoder per wire dialect.

Each module exposes ``matches(pm: ParsedMail) -> bool`` and
``decode(pm: ParsedMail) -> Envelope``; :mod:`ingest.decode` asks them in
order: encrypted, early COI, COI draft, Delta Chat, ordinary mail.
"""
