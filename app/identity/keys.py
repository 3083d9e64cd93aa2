"""API keys: random, shown once, stored as a lookup prefix and a hash of the secret."""

import base64
import hashlib
import hmac
import secrets

KEY_START = "dg_"
PREFIX_LENGTH = 12


def new_key() -> tuple[str, str, str]:
    """A fresh key: (the full key to show once, its lookup prefix, the hash to store)."""
    prefix = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:PREFIX_LENGTH]
    secret = secrets.token_urlsafe(32)  # 32 random bytes
    return f"{KEY_START}{prefix}_{secret}", prefix, hash_secret(secret)


def split_key(key: str) -> tuple[str, str] | None:
    """The (prefix, secret) of a key in our format, or None."""
    if not key.startswith(KEY_START):
        return None
    prefix, _, secret = key[len(KEY_START):].partition("_")
    if len(prefix) != PREFIX_LENGTH or len(secret) < 40:
        return None
    return prefix, secret


def hash_secret(secret: str) -> str:
    """The stored form of a secret (SHA-256: the secret is 256 random bits, not a password)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Compare in constant time, whatever part of the key is right."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
