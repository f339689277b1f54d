"""The citizens' side: a sans-I/O session, and Client, AsyncClient and rq jobs driving it.

Never imports the runtime or the ledger: a citizen only talks through the messengers.
"""
