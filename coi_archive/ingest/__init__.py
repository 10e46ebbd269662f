"""Ingest: from mailbox bytes to chat events.

Readers (``maildir``, ``mbox``, ``eml``) yield :class:`ingest.events.Original`
copies; :func:`ingest.decode.decode` turns each into an
:class:`ingest.events.Envelope`.  Nothing here knows about storage.
"""
