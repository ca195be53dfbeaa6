"""Basic auth against bcrypt hashes: bounded, fair, and blind to which users exist.

- At most ``slots`` bcrypt checks run at once, on their own threads (never the probes' pool); the
  others wait their turn in arrival order (an asyncio.Semaphore is FIFO).
- A check whose client hung up before its turn is dropped, not run.
- Verified credentials are remembered as keyed digests (never in clear): a scrape with good
  credentials costs one HMAC, no bcrypt and no queue.
- An unknown user is checked against the configured hash of the highest cost, so a wrong user
  and a wrong password take the same time whatever the costs.
- Passwords over 72 bytes (bcrypt reads no further) and malformed headers are refused without a
  check. The scheme name is case-insensitive (RFC 9110).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor

import bcrypt

BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
MIN_COST, MAX_COST = 4, 16  # cost 17 is ~10 s a check here: a scrape could never pass
MAX_PASSWORD_BYTES = 72
MAX_CACHED = 1024


def default_slots() -> int:
    """Half the CPUs (at least one): a flood can use the others' worth of CPU for bcrypt, never all."""
    return max(1, (os.cpu_count() or 2) // 2)


def hash_problem(hashed: object) -> str | None:
    """Why ``hashed`` is not a usable bcrypt hash, or None."""
    if not isinstance(hashed, str):
        return "expected a bcrypt hash ($2y$...) as a string, as htpasswd -nBC 10 makes"
    match = BCRYPT_HASH.fullmatch(hashed)
    if match is None:
        return "expected a bcrypt hash ($2y$NN$ and 53 characters of salt and digest), as htpasswd -nBC 10 makes"
    cost = int(match.group(1))
    if not MIN_COST <= cost <= MAX_COST:
        return f"bcrypt cost {cost} is outside {MIN_COST}..{MAX_COST} (above {MAX_COST} a single check takes many seconds)"
    return None


def cost_of(hashed: bytes) -> int:
    return int(hashed[4:6])


def parse_basic(header: str | None) -> tuple[str | None, bytes | None]:
    if not header:
        return None, None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = b64decode(credentials.strip(), validate=True)
    except ValueError:
        return None, None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None, None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None, None


class BasicAuth:
    def __init__(self, users: dict[str, bytes], slots: int | None = None):
        self.users = users
        # The dummy for unknown users: the configured hash of the highest cost (checked, result ignored).
        self._dummy = max(users.values(), key=cost_of) if users else bcrypt.hashpw(b"x", bcrypt.gensalt(4))
        self._key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()
        self.slots = slots or default_slots()
        self._semaphore: asyncio.Semaphore | None = None
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="bcrypt")
        self.checks_run = 0  # bcrypt checks done
        self.checks_dropped = 0  # checks skipped because the client had gone
        self.running = 0
        self.peak_running = 0

    def _digest(self, user: str, password: bytes, hashed: bytes) -> bytes:
        return hmac.new(self._key, user.encode() + b"\0" + password + b"\0" + hashed, hashlib.sha256).digest()

    def cached(self, header: str | None) -> bool:
        """True if these exact credentials were verified before (cheap: no bcrypt)."""
        user, password = parse_basic(header)
        hashed = self.users.get(user or "")
        return hashed is not None and password is not None and self._digest(user, password, hashed) in self._verified

    def check(self, header: str | None) -> bool:
        """The blocking check (bcrypt on this thread); ``verify`` is the bounded, asynchronous one."""
        user, password = parse_basic(header)
        if password is None or len(password) > MAX_PASSWORD_BYTES:
            return False
        hashed = self.users.get(user or "")
        if hashed is None:
            self._checkpw(password, self._dummy)  # the same work as for a real user of the highest cost
            return False
        digest = self._digest(user, password, hashed)
        if digest in self._verified:
            return True
        if not self._checkpw(password, hashed):
            return False
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified.add(digest)
        return True

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        self.checks_run += 1
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:  # e.g. a NUL byte the library refuses
            return False

    async def verify(self, header: str | None, client_gone) -> bool:
        """Check ``header`` with at most ``slots`` checks at a time; ``client_gone()`` is asked when
        this check's turn comes, and a gone client's check is dropped."""
        if self.cached(header):
            return True
        user, password = parse_basic(header)
        if password is None or len(password) > MAX_PASSWORD_BYTES:
            return False
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        async with self._semaphore:
            if client_gone():
                self.checks_dropped += 1
                return False
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool, self.check, header)
            finally:
                self.running -= 1
