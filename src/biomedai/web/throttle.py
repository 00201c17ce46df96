"""Failed-login throttling: lockout per account with exponential back-off, and a per-address limit that
slows one address without locking anyone else out.

* **Per account** (whatever the address): after ``max_failures`` failed logins the account is
  locked for ``base_lock_s``, doubling with each further failure up to ``max_lock_s``; a
  successful login clears it. Right passwords are refused (429) while locked.
* **Per address**: after ``address_failures`` failures within ``window_s`` an address may no
  longer try the user names it has already failed on (or names that do not exist); other accounts
  behind the same address (a hospital proxy) still log in. Password spraying from one address is
  cut to one guess per account per window, and the account lockout catches the rest.

State is in memory, per server process, and bounded.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Account:
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class _Address:
    failures: list[float] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


class LoginThrottle:
    """Decides whether a login attempt may be checked at all (see the module docstring)."""

    MAX_ENTRIES = 100_000  # bound the memory an attacker can make us use

    def __init__(self, max_failures: int = 5, base_lock_s: float = 2.0, max_lock_s: float = 900.0,
                 address_failures: int = 20, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.base_lock_s, self.max_lock_s = max_failures, base_lock_s, max_lock_s
        self.address_failures, self.window_s, self.clock = address_failures, window_s, clock
        self._accounts: dict[str, _Account] = {}
        self._addresses: dict[str, _Address] = {}
        self._lock = threading.Lock()

    def _address(self, client: str, now: float) -> _Address:
        entry = self._addresses.setdefault(client, _Address())
        entry.failures = [t for t in entry.failures if now - t < self.window_s]
        if not entry.failures:
            entry.names.clear()
        return entry

    def wait_s(self, username: str, client: str) -> float:
        """Seconds this attempt must wait (0 when it may be checked)."""
        now = self.clock()
        with self._lock:
            account = self._accounts.get(username)
            if account is not None and account.locked_until > now:
                return account.locked_until - now
            address = self._address(client, now)
            if len(address.failures) >= self.address_failures and username in address.names:
                return self.window_s - (now - address.failures[0])
        return 0.0

    def failed(self, username: str, client: str, known_user: bool = True) -> None:
        now = self.clock()
        with self._lock:
            if len(self._accounts) > self.MAX_ENTRIES or len(self._addresses) > self.MAX_ENTRIES:
                self._accounts.clear()
                self._addresses.clear()
            address = self._address(client, now)
            address.failures.append(now)
            address.names.add(username)
            if not known_user:
                return  # no account to lock: the address limit covers guessing names
            account = self._accounts.setdefault(username, _Account())
            account.failures += 1
            extra = account.failures - self.max_failures
            if extra >= 0:
                account.locked_until = now + min(self.max_lock_s, self.base_lock_s * 2 ** min(extra, 40))

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._accounts.pop(username, None)
            entry = self._addresses.get(client)
            if entry is not None:
                entry.names.discard(username)
