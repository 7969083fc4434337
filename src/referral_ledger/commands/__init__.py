"""The `Ledger`'s commands and queries, one group per area of the domain.

Each group is a class built with the one `LedgerContext` (`context.py`) every
group shares, and, when it needs another group, with that group (see
`worker.py`); `Ledger` (in `ledger.py`) builds them and shows their public
methods as its own with `Delegate` (`delegate.py`). Each command validates its
arguments, then runs a load-decide-save unit on the shared store.
"""
