"""`Ledger.open`'s options, checked: each bad one refused by name, nothing opened.

`Ledger.open` documents the options; this module only checks them and sorts
them into what the store is opened with and what the ledger is built with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

import attrs
import phonenumbers

from referral_ledger.errors import InvalidInput
from referral_ledger.store import Store, environment_for, open_store
from referral_ledger.values import now, parse_flag


@attrs.frozen(kw_only=True)
class Options:
    """Checked options: the keyword arguments of `open_store` and of `Ledger`."""

    store: dict[str, Any]
    ledger: dict[str, Any]


def checked_options(
    url: str,
    *,
    cipher_key: object,
    compress: object,
    snapshot_interval: object,
    max_attempts: object,
    cache_size: object,
    phone_region: object,
    clock: Callable[[], datetime] | None,
    business_timezone: object,
    react_inline: object,
    views: object,
    group_commit: object,
    background_views: object,
) -> Options:
    """`Ledger.open`'s options checked, naming the first bad one."""
    if isinstance(snapshot_interval, bool) or not isinstance(snapshot_interval, int):
        raise InvalidInput(f"snapshot_interval must be an int, not {snapshot_interval!r}")
    if snapshot_interval < 0:
        raise InvalidInput(f"snapshot_interval must not be negative: {snapshot_interval}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise InvalidInput(f"max_attempts must be a positive int, not {max_attempts!r}")
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
        raise InvalidInput(f"cache_size must be an int >= 0, not {cache_size!r}")
    if not isinstance(phone_region, str) or phone_region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(
            f"phone_region must be a two-letter region code such as 'VN': {phone_region!r}"
        )
    _check_cipher_key(cipher_key)
    if not isinstance(business_timezone, tzinfo):
        raise InvalidInput(f"business_timezone must be a tzinfo, not {business_timezone!r}")
    key = cipher_key if isinstance(cipher_key, str) else None
    env = environment_for(url, cipher_key=key, compress=parse_flag(compress, "compress"))
    react = parse_flag(react_inline, "react_inline")
    in_memory = _views_in_memory(views, encrypted=key is not None)
    grouped = parse_flag(group_commit, "group_commit")
    # A shared-cache in-memory database locks per table and does not wait
    # for a lock (SQLITE_LOCKED): a fold beside the commands would fail them.
    background = parse_flag(background_views, "background_views") and not url.startswith(
        "memory://"
    )
    return Options(
        store={
            "url": url,
            "env": env,
            "clock": clock or now,
            "snapshot_interval": snapshot_interval,
            "max_attempts": max_attempts,
            "cache_size": cache_size,
            "group_commit": grouped,
        },
        ledger={
            "phone_region": phone_region,
            "business_timezone": business_timezone,
            "react_inline": react,
            "views_in_memory": in_memory,
            "background_views": background,
        },
    )


def open_store_with(options: Mapping[str, Any]) -> Store:
    """The store `options` describe (`Options.store`, or a worker's copy of it)."""
    rest = dict(options)
    return open_store(rest.pop("url"), rest.pop("env"), **rest)


def _check_cipher_key(key: object) -> None:
    """A key from `create_cipher_key`, or None; the message never shows the key."""
    if key is None:
        return
    if not isinstance(key, str) or not key:
        raise InvalidInput(
            f"cipher_key must be a key from Ledger.create_cipher_key(), not a {type(key).__name__}"
        )
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.utils import Environment

    try:
        AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))
    except Exception as error:
        raise InvalidInput(
            f"cipher_key is not a key from Ledger.create_cipher_key(): {type(error).__name__}"
        ) from None


def _views_in_memory(views: object, *, encrypted: bool) -> bool:
    if views is None:
        return encrypted
    if views not in ("store", "memory"):
        raise InvalidInput(f'views must be "store" or "memory", not {views!r}')
    return views == "memory"
