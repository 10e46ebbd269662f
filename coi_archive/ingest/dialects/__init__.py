"""One decoder per wire dialect.

Each module exposes ``matches(pm: ParsedMail) -> bool`` and
``decode(pm: ParsedMail) -> Envelope``; :mod:`ingest.decode` asks them in
order: encrypted, early COI, COI draft, Delta Chat, ordinary mail.
:mod:`.dcbackup` decodes the records of Delta Chat backups instead
(``decode_record(raw: bytes) -> Envelope``, registered in ``decode.FORMATS``).
"""
