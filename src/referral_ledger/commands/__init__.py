"""The `Ledger`'s commands and queries, one module per area of the domain.

`Ledger` (in `ledger.py`) composes them; each validates its arguments, then
runs a load-decide-save unit on the shared store.
"""
