"""The `Ledger` composes command groups, and its public API is what it was.

`fixtures/ledger_public_api.json` holds every public name of `Ledger` and its
signature (`inspect.signature`: parameters with kind and default, return
annotation) as they were when the ledger still inherited its commands from
mixins. The ledger keeps every name, and every parameter with its kind,
default and order (a required parameter may become optional); a later version
may only add parameters that have defaults (as API.md's additions do).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from referral_ledger import Ledger
from referral_ledger.commands.base import LedgerBase
from referral_ledger.commands.delegate import Delegate

BEFORE: dict[str, dict[str, Any] | None] = json.loads(
    (Path(__file__).parent / "fixtures" / "ledger_public_api.json").read_text()
)
DELEGATES = {name: value for name, value in vars(Ledger).items() if isinstance(value, Delegate)}


def _signature(name: str) -> dict[str, Any] | None:
    try:
        sig = inspect.signature(getattr(Ledger, name))
    except (TypeError, ValueError):
        return None
    parameters = [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
        for p in sig.parameters.values()
    ]
    return {"parameters": parameters, "returns": str(sig.return_annotation)}


def test_every_public_name_is_kept_with_its_signature() -> None:
    public = {name for name in dir(Ledger) if not name.startswith("_")}
    assert public >= set(BEFORE), sorted(set(BEFORE) - public)
    for name, before in BEFORE.items():
        now = _signature(name)
        if before is None or now is None:
            assert before == now, name
            continue
        assert now["returns"] == before["returns"], name
        kept = [p for p in now["parameters"] if p[0] in {q[0] for q in before["parameters"]}]
        # Same names, kinds and order; same defaults, except that a required
        # parameter may have become optional.
        assert [p[:2] for p in kept] == [q[:2] for q in before["parameters"]], name
        for p, q in zip(kept, before["parameters"], strict=True):
            assert q[2] is None or p[2] == q[2], (name, p, q)
        added = [p for p in now["parameters"] if p not in kept]
        assert all(p[2] is not None for p in added), (name, added)


def test_the_settings_a_host_reads_are_still_there() -> None:
    with Ledger.open(phone_region="US", react_inline=False) as ledger:
        assert (ledger.phone_region, ledger.react_inline) == ("US", False)
        assert ledger.business_timezone.utcoffset(None) is not None
        assert ledger.event_count() == 0


def test_setting_the_phone_region_reaches_every_group() -> None:
    """As when it was an attribute of the ledger itself: the commands read it."""
    with Ledger.open() as ledger:
        ledger.phone_region = "US"
        customer = ledger.register_customer("Ann", ["(201) 555-0123"])
        assert ledger.get_customer(customer).phones == ("+12015550123",)
        assert ledger.find_customer_by_phone("201-555-0123") == customer


def test_the_ledger_inherits_no_commands() -> None:
    """Commands live on group objects the ledger builds; none is a base class."""
    assert Ledger.__mro__ == (Ledger, object)
    assert DELEGATES


def test_each_delegated_method_is_its_groups_with_its_docstring() -> None:
    with Ledger.open() as ledger:
        for name, delegate in DELEGATES.items():
            group = getattr(ledger, delegate.group)
            assert isinstance(group, LedgerBase), name
            owner = delegate.method.__qualname__.split(".")[0]
            assert any(cls.__name__ == owner for cls in type(group).__mro__), name
            assert getattr(ledger, name) == getattr(group, name)
            function = getattr(Ledger, name)
            assert function.__doc__ and function.__doc__ == delegate.method.__doc__, name
            assert function.__qualname__ == f"Ledger.{name}"


def test_groups_share_one_context() -> None:
    with Ledger.open() as ledger:
        contexts = {id(getattr(ledger, d.group)._context) for d in DELEGATES.values()}
        assert len(contexts) == 1


def test_a_delegate_must_keep_the_methods_name() -> None:
    class Group:
        def ping(self) -> int:
            return 1

    with pytest.raises((TypeError, RuntimeError), match="pong"):

        class Facade:
            pong = Delegate("_group", Group.ping)


def test_the_class_level_function_calls_the_group() -> None:
    """`Ledger.method(ledger, ...)` works as it did for a plain method."""
    with Ledger.open() as ledger:
        assert Ledger.event_count(ledger) == 0
        assert Ledger.catch_up_projections(ledger) == 0
        customer = Ledger.register_customer(ledger, "Bao", ["0905 123 456"])
        assert Ledger.balance(ledger, customer) == 0
