"""The running parliament: the priest process, god, identities, settings, status and members.

The priest process is ``worker`` (its loop), with what it keeps between batches:
``waiting`` (petitions read, not answered yet), ``reply_streams`` (the citizens' reply
streams and their TTLs) and ``read_size`` (how many entries it reads at once).

The only layer that puts the core, the ledger and the messengers together.
"""
