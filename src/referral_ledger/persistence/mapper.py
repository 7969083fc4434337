"""How events become bytes in the store and come back.

eventsourcing's default `Mapper` reads `vars(event)`, which slotted attrs
classes don't have, and its JSON transcoder walks every value in Python. This
`Mapper` unstructures events with the ledger's cattrs converter and encodes
with orjson, keeping eventsourcing's compression and encryption. Older
stored payloads are upcast before they are structured.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from referral_ledger.errors import CorruptEvent
from referral_ledger.serialization import converter, upcast


class OrjsonTranscoder(Transcoder):
    """JSON bytes via orjson; values are already plain after cattrs."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class CattrsMapper(Mapper[UUID]):
    """Converts attrs events to stored events and back, with upcasting."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        state: dict[str, Any] = converter.unstructure(domain_event, cls)
        del state["originator_id"], state["originator_version"]
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        stored_state = self.transcoder.encode(state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(cls),
            state=stored_state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls = resolve_topic(stored_event.topic)
            stored_state = stored_event.state
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            state: dict[str, Any] = self.transcoder.decode(stored_state)
            upcast(cls, state)
            originator_id = stored_event.originator_id
            state["originator_id"] = (
                originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            )
            state["originator_version"] = stored_event.originator_version
            return converter.structure(state, cls)
        except Exception as error:
            # A LedgerError (also still a MapperDeserialisationError), so a damaged
            # event surfaces as the library's own error wherever it is read.
            raise CorruptEvent(
                f"the ledger has an event it cannot read: {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {error!r}; "
                "`referral-ledger audit` lists every damaged event with its position"
            ) from error
