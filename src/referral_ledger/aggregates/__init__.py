"""Aggregates: immutable state, past-tense events, decisions and `evolve`.

Nothing here does I/O. A decision function checks the rules against the
current state and returns the events that record the outcome (or raises a
`LedgerError`); `evolve(state, event)` applies one event.
"""
