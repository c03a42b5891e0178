"""Keys derived from the one master secret: encryption of stored secrets and API-key hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LEN = 32


def derive_key(master: str, purpose: str) -> bytes:
    """32 bytes for one purpose; leaking one derived key reveals nothing of the others."""
    if len(master) < MIN_SECRET_LEN:
        raise ValueError(f"RAMPART_SECRET_KEY must be at least {MIN_SECRET_LEN} characters")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"rampart", info=purpose.encode()
    ).derive(master.encode())


class SecretBox:
    """Authenticated encryption (Fernet) of secrets stored at rest."""

    def __init__(self, master: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(master, "stored-secrets")))

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with this RAMPART_SECRET_KEY") from exc


class KeyHasher:
    """Keyed hash (HMAC-SHA256) of API keys: a stolen table cannot be brute-forced offline."""

    def __init__(self, master: str) -> None:
        self._key = derive_key(master, "api-key-hash")

    def hash(self, api_key: str) -> str:
        return hmac.new(self._key, api_key.encode(), hashlib.sha256).hexdigest()
