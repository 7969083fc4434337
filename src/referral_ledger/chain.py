"""The hash chain over the event log, as pure functions: no I/O, no domain rule.

Every stored event gets a 32-byte link, written in the same transaction as
the event (see the persistence modules for where it is kept):

- its **seal** (16 bytes): a digest of the event's stored bytes, exactly as
  stored (after compression and encryption): originator id, version, topic
  and state;
- its **chain hash** (16 bytes): a digest of the previous event's chain hash
  and this event's seal (the first chained event follows `GENESIS`).

A changed event no longer matches its seal; a deleted, inserted or moved
event breaks the chain hash of the event after it. With a `cipher_key` the
digests are HMAC-SHA256 under a key derived from it, so nobody without the
key can compute a valid link for a forged or rewritten event, nor rebuild
the chain after deleting one. Without a key they are plain SHA-256: they
catch accidents and naive edits, not someone who knows this scheme.

Digests are cut to 128 bits: forging one still takes ~2**128 tries, and the
link stays small next to an event (~200-500 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final, Protocol
from uuid import UUID

import attrs

#: The chain hash before the first chained event.
GENESIS: Final = bytes(16)
#: Bytes of a stored link: the seal, then the chain hash.
LINK_SIZE: Final = 32
_HALF: Final = 16
#: SHA-256's block size, for HMAC's key pads.
_BLOCK: Final = 64
#: Mixed into the key derivation, so the chain key is never the cipher key.
_KEY_LABEL: Final = b"referral-ledger event chain v1"


class Stored(Protocol):
    """What the chain covers of one stored event: its bytes as stored
    (eventsourcing's `StoredEvent` is one)."""

    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


@attrs.frozen
class Sealed:
    """A stored event's bytes, as the chain covers them."""

    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


def _id_bytes(originator_id: UUID | str) -> bytes:
    return (originator_id if isinstance(originator_id, UUID) else UUID(originator_id)).bytes


def _header(event: Stored) -> bytes:
    # Fixed-size id and version, then a length-prefixed topic; the state
    # follows: no two different events hash the same bytes.
    topic = event.topic.encode()
    return b"".join(
        (
            b"E",
            _id_bytes(event.originator_id),
            event.originator_version.to_bytes(8, "big", signed=True),
            len(topic).to_bytes(4, "big"),
            topic,
        )
    )


class EventChain:
    """Computes and checks links; `keyed` when derived from a cipher key."""

    def __init__(self, key: bytes | None = None) -> None:
        self.keyed = key is not None
        # HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once
        # here: each digest then copies a started hash instead of hashing the
        # key again, which makes a keyed link ~2.5x cheaper than hmac.digest.
        if key is None:
            self._inner = self._outer = None
        else:
            if len(key) > _BLOCK:
                raise ValueError("a chain key is at most one SHA-256 block")
            padded = key.ljust(_BLOCK, b"\0")
            self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
            self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __repr__(self) -> str:
        return f"EventChain(keyed={self.keyed})"  # never the key

    @classmethod
    def for_cipher_key(cls, cipher_key: str | None) -> EventChain:
        """The chain of a store opened with `cipher_key` (None: plain SHA-256)."""
        if cipher_key is None:
            return cls(None)
        secret = base64.b64decode(cipher_key.encode())
        return cls(hmac.digest(secret, _KEY_LABEL, "sha256"))

    def _digest(self, *parts: bytes) -> bytes:
        if self._inner is None or self._outer is None:
            plain = hashlib.sha256()
            for part in parts:
                plain.update(part)
            return plain.digest()[:_HALF]
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_HALF]

    def seal(self, event: Stored) -> bytes:
        """The digest of one event's stored bytes."""
        # The state is hashed where it lies, not copied next to the header.
        return self._digest(_header(event), event.state)

    def chain_hash(self, previous: bytes, seal: bytes) -> bytes:
        """The chain hash of an event with `seal` following chain hash `previous`."""
        return self._digest(b"L" + previous + seal)

    def links(self, previous: bytes, events: Iterable[Stored]) -> list[bytes]:
        """The links of `events`, in order, continuing from chain hash `previous`."""
        # `seal` and `chain_hash`, unrolled: this runs for every event written.
        links = []
        inner, outer = self._inner, self._outer
        if inner is None or outer is None:
            sha256 = hashlib.sha256
            for event in events:
                hashed = sha256(_header(event))
                hashed.update(event.state)
                seal = hashed.digest()[:_HALF]
                previous = sha256(b"L" + previous + seal).digest()[:_HALF]
                links.append(seal + previous)
            return links
        for event in events:
            hashed = inner.copy()
            hashed.update(_header(event))
            hashed.update(event.state)
            keyed = outer.copy()
            keyed.update(hashed.digest())
            seal = keyed.digest()[:_HALF]
            hashed = inner.copy()
            hashed.update(b"L" + previous + seal)
            keyed = outer.copy()
            keyed.update(hashed.digest())
            previous = keyed.digest()[:_HALF]
            links.append(seal + previous)
        return links


def chain_hash_of(link: bytes | None) -> bytes:
    """The chain hash part of a stored link (GENESIS for none: the chain starts)."""
    if link is None or len(link) != LINK_SIZE:
        return GENESIS
    return bytes(link[_HALF:])


def seal_of(link: bytes) -> bytes:
    return bytes(link[:_HALF])


def _check_position(head: object, attribute: object, position: int) -> None:
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise ValueError(f"a chain head's position is a log position (>= 1): {position!r}")


def _check_hash(head: object, attribute: object, chain_hash: bytes) -> None:
    if not isinstance(chain_hash, bytes) or len(chain_hash) != _HALF:
        raise ValueError(f"a chain hash is {_HALF} bytes: {chain_hash!r}")


@attrs.frozen
class ChainHead:
    """A position in the chain and its chain hash: written down outside the store,
    it lets a later audit prove that nothing up to it was removed or rewritten."""

    position: int = attrs.field(validator=_check_position)
    chain_hash: bytes = attrs.field(validator=_check_hash)

    def __str__(self) -> str:
        return f"{self.position}:{self.chain_hash.hex()}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read `POSITION:HEX`, as `str()` writes it; ValueError if it is not that."""
        position, _, digest = text.strip().partition(":")
        try:
            return cls(int(position), bytes.fromhex(digest))
        except ValueError:
            raise ValueError(f"not a chain head (POSITION:32 hex digits): {text!r}") from None


# --- checking -----------------------------------------------------------------------------


@attrs.frozen
class StoredRow(Sealed):
    """One stored event as the audit reads it: its position and its link (None: unchained)."""

    position: int
    link: bytes | None


@attrs.frozen
class Finding:
    """Where the chain does not hold, and what that means."""

    position: int
    message: str


class ChainVerifier:
    """Walks the log in position order and reports where the chain does not hold.

    Each event's link is checked against the stored link of the chained event
    before it (not a recomputed one), so one damaged event is reported once
    instead of breaking everything after it.

    `recorded` is the chain head the store keeps apart from the events (read
    before the events, so writes during the audit stay after it): a log that
    no longer reaches it lost its newest events. `anchor` is a head written
    down outside the store by an earlier audit: a chain that no longer holds
    it lost or rewrote events, even if whoever did it rewound the recorded head.
    """

    def __init__(
        self,
        chain: EventChain,
        *,
        recorded: ChainHead | None = None,
        anchor: ChainHead | None = None,
    ) -> None:
        self.chain = chain
        #: The first chained position (None: no event is chained).
        self.start: int | None = None
        #: Events before the chain starts: written before the store had a chain.
        self.unchained = 0
        #: The newest chained event.
        self.head: ChainHead | None = None
        self._before_head: bytes | None = None
        self._expected = [(h, kind) for h, kind in ((recorded, "head"), (anchor, "anchor")) if h]
        self._met: set[str] = set()

    def event(self, row: StoredRow) -> list[Finding]:
        """Check the next stored event."""
        if row.link is None or len(row.link) != LINK_SIZE:
            if self.start is None:
                self.unchained += 1
                return []
            return [
                Finding(
                    row.position,
                    "not chained: inserted by hand, or written by a version without the "
                    f"chain (the chain starts at position {self.start})",
                )
            ]
        findings = []
        if seal_of(row.link) != self.chain.seal(row):
            findings.append(
                Finding(
                    row.position,
                    "changed (or moved here): its stored bytes are not those chained at "
                    "this position",
                )
            )
        return findings + self._follow(row.position, row.link)

    def deleted(self, position: int, link: bytes) -> list[Finding]:
        """A link whose event is gone: the event was deleted (the chain goes on through it)."""
        findings = [Finding(position, "deleted: the chain holds this position but not its event")]
        return findings + self._follow(position, link)

    def _follow(self, position: int, link: bytes) -> list[Finding]:
        seal, chain_hash = seal_of(link), chain_hash_of(link)
        findings = []
        if self.head is None:
            self.start = position
            if chain_hash != self.chain.chain_hash(GENESIS, seal):
                findings.append(
                    Finding(
                        position,
                        "the chain does not start at this first chained event: events "
                        "chained before it were deleted, or their links removed",
                    )
                )
        elif chain_hash != self.chain.chain_hash(self.head.chain_hash, seal):
            skipped = self._before_head
            if skipped is not None and chain_hash == self.chain.chain_hash(skipped, seal):
                findings.append(
                    Finding(
                        self.head.position,
                        f"inserted: not part of the chain (position {position} follows the "
                        "event before it)",
                    )
                )
            else:
                findings.append(
                    Finding(
                        position,
                        f"does not follow position {self.head.position}, the event before it in "
                        "the chain: events between them were deleted, or events were "
                        "inserted or reordered here",
                    )
                )
        self._before_head = None if self.head is None else self.head.chain_hash
        self.head = ChainHead(position, chain_hash)
        for head, kind in self._expected:
            if head.position == position and head.chain_hash == chain_hash:
                self._met.add(kind)
        return findings

    def finish(self, last_position: int) -> list[Finding]:
        """After the last event: the recorded head and the anchor must have been met."""
        findings = []
        for head, kind in self._expected:
            if kind in self._met:
                continue
            if kind == "anchor":
                message = (
                    f"the anchor {head} is not in the chain any more: events up to it were "
                    "deleted or rewritten"
                )
            elif head.position > last_position:
                message = (
                    f"deleted: the chain head is recorded at position {head.position}, past "
                    f"the end of the log (position {last_position}): the newest events were "
                    "deleted"
                )
            else:
                message = (
                    "deleted or changed: the chain head recorded at this position does not "
                    "match the event there"
                )
            findings.append(Finding(head.position, message))
        return findings
