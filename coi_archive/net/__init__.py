"""Network transports shared by rooms that must not import each other.

:mod:`coi_archive.net.imap` is the one IMAP connection layer (URLs,
passwords, TLS, reconnects) under both the IMAP reader
(:mod:`coi_archive.ingest.imap`) and the migration writer
(:mod:`coi_archive.export.imap_append`), the way public-inbox's NetReader
and NetWriter share one connection layer.  Nothing here imports another
package of ours.
"""
