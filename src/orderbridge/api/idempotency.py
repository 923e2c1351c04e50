"""`Idempotency-Key` for the ERP-facing POST/PATCH routes: a retry gets the first answer, nothing runs twice.

Two layers. Commands are stored by the pipeline with the key (`commands.idempotency_key` is unique), so a
retry after a restart still maps to the first command. In front of that, this process remembers each
answer (bounded LRU) keyed by caller and key, so a replay returns byte-for-byte the first response — also
for refusals and acceptances, which store nothing — and a key reused for a different request is refused
(422), while a retry racing the first request gets 409 instead of running twice.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orderbridge.api.problems import ProblemError


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: bytes
    media_type: str
    #: The answer repeats an earlier one although no key asked for it: the pipeline recognised the
    #: command (or acceptance) by its natural key. Sent as `Idempotent-Replayed: true` as well.
    replayed: bool = False


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    answer: StoredAnswer | None = None


class IdempotencyCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._capacity = capacity

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        return hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()

    async def run(
        self,
        client: str,
        key: str,
        fingerprint: str,
        produce: Callable[[], Awaitable[StoredAnswer]],
    ) -> tuple[StoredAnswer, bool]:
        """(answer, replayed). Server errors are not remembered: the retry should really retry."""
        slot = (client, key)
        entry = self._entries.get(slot)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise ProblemError(
                    422,
                    "idempotency-key-reused",
                    "Idempotency-Key reused",
                    "Idempotency-Key: already used for a different request [key_reused]",
                )
            if entry.answer is None:
                raise ProblemError(
                    409,
                    "idempotency-key-in-flight",
                    "Request in progress",
                    "Idempotency-Key: the first request with this key is still being processed [in_flight]",
                )
            self._entries.move_to_end(slot)
            return entry.answer, True
        entry = _Entry(fingerprint)
        self._entries[slot] = entry
        try:
            answer = await produce()
        except BaseException:
            self._entries.pop(slot, None)
            raise
        if answer.status >= 500:
            self._entries.pop(slot, None)
        else:
            entry.answer = answer
            self._forget_the_oldest_answers()
        return answer, False

    def _forget_the_oldest_answers(self) -> None:
        """Beyond capacity, forget the oldest answers; a request still running keeps its slot, or its
        retry would run a second time instead of being told to wait."""
        excess = len(self._entries) - self._capacity
        stale: list[tuple[str, str]] = []
        for slot, entry in self._entries.items():
            if len(stale) >= excess:
                break
            if entry.answer is not None:
                stale.append(slot)
        for slot in stale:
            del self._entries[slot]
