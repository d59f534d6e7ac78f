"""Searching text and bytes for credentials in every encoding they could leak in.

A secret can leak as itself, or as the bytes it stands for (a base64 Ed25519 seed, a hex
passphrase), in base64 (standard or URL-safe, padded or not), in hex (either case), as a
Python bytes repr, or cut short (a log line that elides the middle of a long frame). The
needles below cover all of those, so a search for one secret finds any of them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: A window of the raw secret this long anywhere is a (partial) leak.
WINDOW = 16
#: Shorter needles would match ordinary text by chance.
MIN_NEEDLE = 8


def encodings(raw: bytes) -> set[bytes]:
    """``raw`` as itself, base64 (std/urlsafe, padded/unpadded), hex (both cases), bytes repr."""
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode(), repr(raw).encode()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        padded = encode(raw)
        forms |= {padded, padded.rstrip(b"=")}
    return forms


def decodings(text: str) -> list[bytes]:
    """The bytes ``text`` may stand for: base64 (either alphabet, padding optional) or hex."""
    found: list[bytes] = []
    candidates = [text, text + "=" * (-len(text) % 4)]
    for candidate in candidates:
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                found.append(decode(candidate.encode(), validate=True))  # type: ignore[call-arg]
            except (binascii.Error, ValueError, TypeError):
                try:
                    found.append(decode(candidate.encode()))
                except (binascii.Error, ValueError):
                    pass
    try:
        found.append(bytes.fromhex(text))
    except ValueError:
        pass
    return [b for b in dict.fromkeys(found) if len(b) >= MIN_NEEDLE]


def ed25519_forms(seed: bytes) -> list[bytes]:
    """A 32-byte Ed25519 seed and its 64-byte private form (seed + public key)."""
    public = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return [seed, seed + public]


@dataclass
class SecretSearch:
    """Needles for a set of named secrets; :meth:`hits` lists which leaked into a haystack.

    Example:
        >>> search = SecretSearch({"pw": "correct-horse-battery-staple"})
        >>> search.hits("log: correct-horse-battery-staple")
        ['pw: raw']
        >>> search.hits("nothing here")
        []
    """

    secrets: Mapping[str, str]
    ed25519: Iterable[str] = ()
    needles: dict[bytes, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ed_names = set(self.ed25519)
        for name, secret in self.secrets.items():
            raw = secret.encode()
            self._add(name, "raw", raw)
            for form in encodings(raw):
                self._add(name, "encoded", form)
            for start in range(max(len(secret) - WINDOW + 1, 1)):
                self._add(name, "window", secret[start : start + WINDOW].encode())
            inner = decodings(secret)
            if name in ed_names:
                inner = [
                    form for b in inner if len(b) in (32, 64) for form in ed25519_forms(b[:32])
                ]
                assert inner, f"{name} is not a base64 Ed25519 key"
            for value in inner:
                for form in encodings(value):
                    self._add(name, "decoded", form)

    def _add(self, name: str, how: str, needle: bytes) -> None:
        if len(needle) >= MIN_NEEDLE:
            self.needles.setdefault(needle, f"{name}: {how}")

    def hits(self, haystack: str | bytes) -> list[str]:
        """Which secrets (and in which form) occur in ``haystack``."""
        data = (
            haystack.encode("utf-8", "backslashreplace") if isinstance(haystack, str) else haystack
        )
        found = {label for needle, label in self.needles.items() if needle in data}
        return sorted(found)

    def contexts(self, haystack: str | bytes, width: int = 60) -> list[str]:
        """Where each leaked needle first occurs, with ``width`` bytes around it (for messages).

        The needle itself is masked, so a failing test does not print the secret either.
        """
        data = (
            haystack.encode("utf-8", "backslashreplace") if isinstance(haystack, str) else haystack
        )
        out: dict[str, str] = {}
        for needle, label in self.needles.items():
            at = data.find(needle)
            if at < 0 or label in out:
                continue
            before = data[max(at - width, 0) : at]
            after = data[at + len(needle) : at + len(needle) + width]
            out[label] = f"{before!r} [{label}] {after!r}"
        return sorted(out.values())

    def explain(self, haystacks: Mapping[str, str | bytes]) -> str:
        """Every hit with its context, one per line (empty when there is none)."""
        return "\n".join(
            f"{where}: {context}"
            for where, haystack in haystacks.items()
            for context in self.contexts(haystack)
        )

    def report(self, haystacks: Mapping[str, str | bytes]) -> dict[str, list[str]]:
        """``{haystack name: hits}`` for every haystack with at least one hit."""
        out: dict[str, list[str]] = {}
        for where, haystack in haystacks.items():
            found = self.hits(haystack)
            if found:
                out[where] = found
        return out
