"""Encryption at rest for camera passwords (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from ``MIMAMORI_SECRET_KEY`` or a key file in the data directory, created on first
use with 0600 permissions. Nothing here ever prints a password or the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from monitor.core.domain import Secret
from monitor.core.errors import SecretKeyError

KEY_FILE = "secret.key"


class PasswordBox:
    def __init__(self, key: bytes):
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError("the camera password key is not a valid Fernet key") from None

    def seal(self, password: Secret | str) -> str:
        plain = password.reveal() if isinstance(password, Secret) else password
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> Secret:
        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode("utf-8"))
        except InvalidToken:
            raise SecretKeyError(
                "a stored camera password cannot be decrypted with the current key (wrong key?)"
            ) from None

    def __repr__(self) -> str:
        return "PasswordBox(***)"


def load_key(data_dir: Path, env_key: str | None) -> bytes:
    """The key from the environment, else from ``data_dir/secret.key`` (created 0600 if absent)."""
    if env_key:
        return env_key.encode("ascii")
    path = data_dir / KEY_FILE
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        return path.read_bytes().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return key
