"""Bearer-token authentication for the ERP-facing API.

Tokens come from the configuration (or environment); each presented token is compared with every
configured one in constant time (`hmac.compare_digest`), so neither a match nor its position leaks
through timing. A refusal never echoes what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from pydantic import SecretStr

from orderbridge.api.problems import ProblemError


class BearerAuth:
    def __init__(self, tokens: Iterable[str | SecretStr]) -> None:
        raw = (t.get_secret_value() if isinstance(t, SecretStr) else t for t in tokens)
        self._tokens = tuple(t.encode() for t in raw if t)

    def __repr__(self) -> str:
        return f"BearerAuth(<{len(self._tokens)} tokens>)"

    def is_valid(self, presented: str) -> bool:
        candidate = presented.encode()
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        return matched

    def client_of(self, authorization: str | None) -> str:
        """The caller's identity (a short fingerprint of its token, never the token) or a 401."""
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented or not self.is_valid(presented):
            raise ProblemError(
                401,
                "unauthorized",
                "Unauthorized",
                "a valid bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": 'Bearer realm="orderbridge"'},
            )
        return hashlib.sha256(presented.encode()).hexdigest()[:16]
