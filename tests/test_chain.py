"""The hash chain as pure functions: links, and what the verifier says of a log
that was changed, cut, padded or shuffled after it was written."""

from __future__ import annotations

import base64
import os
from uuid import UUID, uuid4

import attrs
import pytest

from referral_ledger.chain import (
    GENESIS,
    LINK_SIZE,
    ChainHead,
    ChainVerifier,
    EventChain,
    Finding,
    Sealed,
    StoredRow,
)

KEY = base64.b64encode(os.urandom(32)).decode()


def rows(chain: EventChain, count: int = 6) -> list[StoredRow]:
    """A chained log of `count` events over two records."""
    records = [uuid4(), uuid4()]
    events = [
        Sealed(records[i % 2], i // 2 + 1, "m:Thing", f'{{"n":{i}}}'.encode()) for i in range(count)
    ]
    links = chain.links(GENESIS, events)
    return [
        StoredRow(e.originator_id, e.originator_version, e.topic, e.state, i + 1, link)
        for i, (e, link) in enumerate(zip(events, links, strict=True))
    ]


def verify(
    chain: EventChain, log: list[StoredRow], **heads: ChainHead | None
) -> tuple[ChainVerifier, list[Finding]]:
    verifier = ChainVerifier(chain, **heads)
    findings = [f for row in log for f in verifier.event(row)]
    return verifier, findings + verifier.finish(max((r.position for r in log), default=0))


@pytest.fixture(params=["sha256", "hmac"])
def chain(request: pytest.FixtureRequest) -> EventChain:
    return EventChain.for_cipher_key(KEY if request.param == "hmac" else None)


def test_links_are_a_seal_and_a_chain_hash_and_depend_on_the_key() -> None:
    event = Sealed(UUID(int=1), 1, "m:Thing", b"{}")
    plain = EventChain.for_cipher_key(None).links(GENESIS, [event])[0]
    keyed = EventChain.for_cipher_key(KEY).links(GENESIS, [event])[0]
    other = EventChain.for_cipher_key(base64.b64encode(os.urandom(32)).decode())
    assert LINK_SIZE == len(plain) == len(keyed)
    assert len({plain, keyed, other.links(GENESIS, [event])[0]}) == 3


def test_every_field_of_the_stored_event_is_covered(chain: EventChain) -> None:
    event = Sealed(UUID(int=1), 1, "m:Thing", b"{}")
    variants = [
        attrs.evolve(event, originator_id=UUID(int=2)),
        attrs.evolve(event, originator_version=2),
        attrs.evolve(event, topic="m:Other"),
        attrs.evolve(event, state=b"{ }"),
        # Moving bytes between the topic and the state is a change too.
        attrs.evolve(event, topic="m:Thing{", state=b"}"),
    ]
    seals = {chain.seal(e) for e in [event, *variants]}
    assert len(variants) + 1 == len(seals)


def test_an_untouched_log_verifies(chain: EventChain) -> None:
    log = rows(chain)
    head = ChainHead(6, log[-1].link[16:])  # type: ignore[index]
    verifier, findings = verify(chain, log, recorded=head)
    assert [] == findings
    assert (1, 0, head) == (verifier.start, verifier.unchained, verifier.head)


def test_a_changed_event_is_reported_once_at_its_position(chain: EventChain) -> None:
    log = rows(chain)
    log[2] = attrs.evolve(log[2], state=b'{"n":99}')
    _, findings = verify(chain, log)
    assert [3] == [f.position for f in findings]
    assert findings[0].message.startswith("changed")


def test_a_deleted_event_breaks_the_link_of_the_next(chain: EventChain) -> None:
    log = rows(chain)
    del log[2]
    _, findings = verify(chain, log)
    assert [4] == [f.position for f in findings]
    assert "deleted" in findings[0].message


def test_a_deleted_event_whose_link_is_kept_is_named(chain: EventChain) -> None:
    log = rows(chain)
    gone = log.pop(2)
    verifier = ChainVerifier(chain)
    findings = [f for row in log[:2] for f in verifier.event(row)]
    assert gone.link is not None
    findings += verifier.deleted(gone.position, gone.link)
    findings += [f for row in log[2:] for f in verifier.event(row)]
    assert [(3, "deleted")] == [(f.position, f.message.split(":")[0]) for f in findings]


def test_an_inserted_event_is_named(chain: EventChain) -> None:
    log = rows(chain)
    forged = attrs.evolve(log[1], position=25, link=os.urandom(LINK_SIZE))
    log.insert(2, forged)
    _, findings = verify(chain, log)
    assert {25} == {f.position for f in findings}
    assert any(f.message.startswith("inserted") for f in findings)


def test_an_unchained_event_after_the_start_is_reported(chain: EventChain) -> None:
    log = rows(chain)
    log.insert(3, attrs.evolve(log[0], position=30, link=None))
    _, findings = verify(chain, log)
    assert [(30, "not chained")] == [(f.position, f.message.split(":")[0]) for f in findings]


def test_reordered_events_are_reported(chain: EventChain) -> None:
    log = rows(chain)
    log[1], log[3] = (
        attrs.evolve(log[3], position=2),
        attrs.evolve(log[1], position=4),
    )
    _, findings = verify(chain, log)
    assert {2, 3, 4, 5} == {f.position for f in findings}


def test_events_before_the_chain_are_counted_not_reported(chain: EventChain) -> None:
    old = [attrs.evolve(r, position=r.position, link=None) for r in rows(chain, 3)]
    new = [attrs.evolve(r, position=r.position + 3) for r in rows(chain, 3)]
    verifier, findings = verify(chain, old + new)
    assert [] == findings
    assert (4, 3) == (verifier.start, verifier.unchained)


def test_a_chain_whose_first_events_were_cut_off_is_reported(chain: EventChain) -> None:
    _, findings = verify(chain, rows(chain)[2:])
    assert [3] == [f.position for f in findings]


def test_a_cut_tail_is_reported_against_the_recorded_head(chain: EventChain) -> None:
    log = rows(chain)
    head = ChainHead(6, log[-1].link[16:])  # type: ignore[index]
    _, findings = verify(chain, log[:-2], recorded=head)
    assert [6] == [f.position for f in findings]
    assert "newest events were deleted" in findings[0].message


def test_an_anchor_catches_a_cut_that_also_rewound_the_head(chain: EventChain) -> None:
    log = rows(chain)
    anchor = ChainHead(6, log[-1].link[16:])  # type: ignore[index]
    assert [] == verify(chain, log, anchor=anchor)[1]
    cut = log[:-1]
    rewound = ChainHead(5, cut[-1].link[16:])  # type: ignore[index]
    _, findings = verify(chain, cut, recorded=rewound, anchor=anchor)
    assert [6] == [f.position for f in findings]
    assert "anchor" in findings[0].message


def test_without_the_key_a_rebuilt_chain_does_not_verify() -> None:
    keyed = EventChain.for_cipher_key(KEY)
    log = rows(keyed)
    # Someone without the key deletes an event and recomputes the rest with SHA-256.
    kept = [log[0], *log[2:]]
    plain = EventChain.for_cipher_key(None)
    relinked = plain.links(GENESIS, kept)
    forged = [attrs.evolve(r, link=link) for r, link in zip(kept, relinked, strict=True)]
    _, findings = verify(keyed, forged)
    assert findings


def test_chain_heads_read_back_what_they_write() -> None:
    head = ChainHead(42, bytes(range(16)))
    assert head == ChainHead.parse(str(head))
    for bad in ("", "42", "0:" + "00" * 16, "42:abcd", "x:" + "00" * 16):
        with pytest.raises(ValueError):
            ChainHead.parse(bad)


def test_the_keyed_digest_is_hmac_sha256() -> None:
    import hashlib
    import hmac

    key = os.urandom(32)
    data = os.urandom(300)
    chain = EventChain(key)
    assert hmac.digest(key, b"L" + GENESIS + data[:16], hashlib.sha256)[:16] == chain.chain_hash(
        GENESIS, data[:16]
    )
    assert "EventChain(keyed=True)" == repr(chain)
