"""The appKey/appToken pair, kept out of reprs, logs and error messages."""

from __future__ import annotations

from dataclasses import dataclass, field

REDACTED = "***"


@dataclass(frozen=True)
class Credentials:
    """VTEX application key and token. ``repr`` never shows them; ``redact`` scrubs them from text."""

    app_key: str = field(repr=False)
    app_token: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {"X-VTEX-API-AppKey": self.app_key, "X-VTEX-API-AppToken": self.app_token}

    def redact(self, text: str) -> str:
        """Replace any occurrence of the key or token (VTEX may echo them in an error) with ``***``."""
        for secret in (self.app_token, self.app_key):
            if secret:
                text = text.replace(secret, REDACTED)
        return text
