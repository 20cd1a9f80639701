"""Configuration read from the environment (``TEXTDESK_*``).

Every setting has a safe default for the embedded mode (SQLite in a data
folder, in-process worker, built-in simulator). Production mode
(``TEXTDESK_ENV=production``) refuses to start without an explicit secret key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable TextDesk."""


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"TEXTDESK_{name}", default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env(name)
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"TEXTDESK_{name} must be a whole number, got {raw!r}") from exc


def data_dir() -> Path:
    path = Path(env("DATA_DIR") or Path.cwd() / "data").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_production() -> bool:
    return env("ENV", "development").lower() == "production"


def secret_key(folder: Path) -> str:
    """The configured key, or (outside production) one generated once and kept in the data folder."""
    configured = env("SECRET_KEY")
    if configured:
        return configured
    if is_production():
        raise ConfigurationError(
            "TEXTDESK_SECRET_KEY is required when TEXTDESK_ENV=production "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    key_file = folder / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def allowed_hosts() -> list[str]:
    """``TEXTDESK_ALLOWED_HOSTS``; production refuses to start without an explicit list (no ``*``)."""
    hosts = [h.strip() for h in env("ALLOWED_HOSTS").split(",") if h.strip()]
    if is_production() and (not hosts or "*" in hosts):
        raise ConfigurationError(
            "TEXTDESK_ALLOWED_HOSTS must name the host names TextDesk answers to when TEXTDESK_ENV=production "
            "(comma-separated, e.g. textdesk.example.com), not '*'."
        )
    return hosts or ["*"]


# PostgreSQL connections a web process holds at most in Django's pool: its requests, the webhooks' database threads
# and the start of live streams borrow from it. ``TEXTDESK_DB_POOL_SIZE`` sets another size (for every process),
# 0 turns the pool off. A worker sizes its own from its threads (``textdesk.jobs.worker.size_connection_pool``).
WEB_POOL_SIZE = 10
# Seconds a thread waits for a pooled PostgreSQL connection before its work fails (a request answers 503).
POOL_TIMEOUT = 5


def db_pool_size() -> int:
    """Connections at most in this process's pool (0: no pool)."""
    return max(0, env_int("DB_POOL_SIZE", WEB_POOL_SIZE))


def db_pool_size_is_explicit() -> bool:
    """Whether ``TEXTDESK_DB_POOL_SIZE`` says the size (else each kind of process chooses its own)."""
    return bool(env("DB_POOL_SIZE"))


def db_pool_timeout() -> int:
    return env_int("DB_POOL_TIMEOUT", POOL_TIMEOUT)


@dataclass(frozen=True)
class DatabaseConfig:
    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict | None = None

    def as_django(self) -> dict:
        settings: dict = {"ENGINE": self.engine, "NAME": self.name}
        if self.engine.endswith("sqlite3"):
            # WAL lets readers run beside the single writer; the busy timeout makes
            # a second writer wait for the lock instead of failing at once.
            settings["OPTIONS"] = {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON;"
                ),
            }
            settings["TEST"] = {"NAME": str(Path(self.name).with_suffix(".test.sqlite3"))}
            # Kept open like PostgreSQL's: opening one runs the PRAGMAs above (a few ms per webhook otherwise).
            settings["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
            return settings
        # No JIT: TextDesk's queries are short, and compiling one costs more than running it (the set-based
        # routing statement of a 200-message batch: 9 ms to run, 60 ms more to compile). A URL's own
        # ``options`` replaces this.
        options = {"options": "-c jit=off", **(self.options or {})}
        pool_size = db_pool_size()
        if pool_size > 0:
            # A pool per process: served through ASGI, Django's connections belong to each request's context, so
            # CONN_MAX_AGE kept none open and every page opened its own connection (a new server process, and a
            # cold catalog cache that made the grid's first query plan in 25 ms instead of 1); kept open per
            # thread instead, they piled up (one per thread a request had run on). Every thread borrows one for
            # a unit of work (a request, a webhook's write, a worker's pass or lane) and hands it back.
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": db_pool_timeout()}
        settings.update(
            USER=self.user,
            PASSWORD=self.password,
            HOST=self.host,
            PORT=self.port,
            CONN_MAX_AGE=0 if pool_size > 0 else env_int("DB_CONN_MAX_AGE", 60),
            CONN_HEALTH_CHECKS=pool_size <= 0,
            OPTIONS=options,
        )
        return settings


def parse_database_url(url: str) -> DatabaseConfig:
    """``sqlite:///path`` or ``postgres://user:pass@host:port/name?opt=value``."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        name = unquote(url[len("sqlite://") :])[1:] or ":memory:"
        return DatabaseConfig(engine="django.db.backends.sqlite3", name=name)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return DatabaseConfig(
            engine="django.db.backends.postgresql",
            name=unquote(parsed.path.lstrip("/")) or "postgres",
            user=unquote(parsed.username or ""),
            password=unquote(parsed.password or ""),
            host=parsed.hostname or "",
            port=str(parsed.port or ""),
            options=options,
        )
    raise ConfigurationError(f"TEXTDESK_DATABASE_URL must start with sqlite:// or postgres://, got {url!r}")


def database(folder: Path) -> DatabaseConfig:
    url = env("DATABASE_URL")
    if not url:
        return DatabaseConfig(engine="django.db.backends.sqlite3", name=str(folder / "textdesk.sqlite3"))
    return parse_database_url(url)
