"""The running parliament: the priest process, god, identities, settings, status and members.

The only layer that puts the core, the ledger and the messengers together.
"""
