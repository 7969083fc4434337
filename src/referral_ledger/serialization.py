"""The values of events, snapshots and view rows as plain data, and back.

One cattrs converter (code generated once per class) and the upcasting of
older stored payloads. How the plain data becomes stored bytes is
`referral_ledger.persistence.mapper`'s.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_args, get_origin
from uuid import UUID

from cattrs.preconf.orjson import make_converter
from immutables import Map


def _make_converter() -> Any:
    converter = make_converter()
    converter.register_unstructure_hook(UUID, lambda u: u.hex)
    converter.register_structure_hook(UUID, lambda v, _: v if isinstance(v, UUID) else UUID(v))
    # str keeps every digit and the exponent; a JSON number would go via float.
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
    converter.register_unstructure_hook(frozenset, lambda s: sorted(s))
    # Persistent maps (aggregate states, e.g. a referrer's commission lines)
    # are stored as the plain dicts of the same types.
    converter.register_unstructure_hook_factory(_is_map, lambda t: _map_unstructure(converter, t))
    converter.register_structure_hook_factory(_is_map, lambda t: _map_structure(converter, t))
    return converter


def _is_map(cls: Any) -> bool:
    return cls is Map or get_origin(cls) is Map


def _as_dict(cls: Any) -> Any:
    key, value = get_args(cls) or (Any, Any)
    return dict[key, value]  # type: ignore[valid-type]


def _map_unstructure(converter: Any, cls: Any) -> Any:
    inner = converter.get_unstructure_hook(_as_dict(cls))
    return lambda value: inner(dict(value))


def _map_structure(converter: Any, cls: Any) -> Any:
    plain = _as_dict(cls)
    inner = converter.get_structure_hook(plain)
    return lambda value, _: Map(inner(value, plain))


#: The one converter used for events, snapshots and view rows.
converter = _make_converter()


def upcast(cls: type, state: dict[str, Any]) -> None:
    """Bring a stored payload up to `cls.class_version` with its `upcast_vN_vM` steps."""
    target = getattr(cls, "class_version", 1)
    version = state.pop("class_version", 1)
    while version < target:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
