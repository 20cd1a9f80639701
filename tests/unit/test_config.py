import pytest

from textdesk import config


def test_sqlite_url_relative_and_absolute():
    assert config.parse_database_url("sqlite:///data/x.sqlite3").name == "data/x.sqlite3"
    assert config.parse_database_url("sqlite:////var/x.sqlite3").name == "/var/x.sqlite3"


def test_postgres_url():
    db = config.parse_database_url("postgres://u:p%40ss@db.example:6543/textdesk?sslmode=require")
    assert (db.user, db.password, db.host, db.port, db.name) == ("u", "p@ss", "db.example", "6543", "textdesk")
    options = db.as_django()["OPTIONS"]
    assert (options["options"], options["sslmode"]) == ("-c jit=off", "require")


def test_postgres_connections_come_from_a_pool_per_process_unless_turned_off(monkeypatch):
    monkeypatch.delenv("TEXTDESK_DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("TEXTDESK_DB_POOL_TIMEOUT", raising=False)
    settings = config.parse_database_url("postgres://db/x").as_django()
    assert settings["OPTIONS"]["pool"] == {"min_size": 1, "max_size": config.WEB_POOL_SIZE, "timeout": 5}
    assert settings["CONN_MAX_AGE"] == 0  # Django's pool needs 0
    monkeypatch.setenv("TEXTDESK_DB_POOL_SIZE", "4")
    monkeypatch.setenv("TEXTDESK_DB_POOL_TIMEOUT", "2")
    settings = config.parse_database_url("postgres://db/x").as_django()
    assert (settings["OPTIONS"]["pool"]["max_size"], settings["OPTIONS"]["pool"]["timeout"]) == (4, 2)
    monkeypatch.setenv("TEXTDESK_DB_POOL_SIZE", "0")
    settings = config.parse_database_url("postgres://db/x").as_django()
    assert "pool" not in settings["OPTIONS"] and settings["CONN_MAX_AGE"] == 60


def test_sqlite_is_never_pooled(monkeypatch):
    monkeypatch.setenv("TEXTDESK_DB_POOL_SIZE", "8")
    settings = config.parse_database_url("sqlite:///x.db").as_django()
    assert "pool" not in settings["OPTIONS"]


@pytest.fixture
def pooled_settings(monkeypatch):
    """This process's database settings as a pooled PostgreSQL's (a copy: the real pool is left alone)."""
    from django.db import connections

    database = connections["default"]
    options = {**database.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": config.WEB_POOL_SIZE}}
    monkeypatch.setitem(database.settings_dict, "OPTIONS", options)
    closed: list[bool] = []
    monkeypatch.setattr(database, "close_pool", lambda: closed.append(True), raising=False)
    return options["pool"], closed


def test_a_worker_sizes_its_pool_from_its_threads(monkeypatch, pooled_settings):
    from textdesk.jobs.worker import size_connection_pool

    pool, closed = pooled_settings
    monkeypatch.delenv("TEXTDESK_DB_POOL_SIZE", raising=False)
    size_connection_pool(threads=4)
    assert pool["max_size"] == 5 and closed  # its loop and four send threads; a pool of the old size is not kept


def test_a_worker_keeps_a_chosen_pool_size_and_warns_when_its_threads_would_wait(monkeypatch, pooled_settings, caplog):
    from textdesk.jobs.worker import size_connection_pool

    pool, closed = pooled_settings
    monkeypatch.setenv("TEXTDESK_DB_POOL_SIZE", str(config.WEB_POOL_SIZE))
    size_connection_pool(threads=4)
    assert pool["max_size"] == config.WEB_POOL_SIZE and not closed and not caplog.records
    size_connection_pool(threads=16)
    assert pool["max_size"] == config.WEB_POOL_SIZE and "will wait" in caplog.text


def test_postgres_connections_run_without_jit_unless_the_url_says_otherwise():
    assert config.parse_database_url("postgres://db/x").as_django()["OPTIONS"]["options"] == "-c jit=off"
    own = config.parse_database_url("postgres://db/x?options=-c%20work_mem%3D64MB").as_django()["OPTIONS"]
    assert own["options"] == "-c work_mem=64MB"


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(config.ConfigurationError, match="TEXTDESK_DATABASE_URL"):
        config.parse_database_url("mysql://x/y")


def test_sqlite_runs_in_wal_with_busy_timeout():
    opts = config.parse_database_url("sqlite:///x.db").as_django()["OPTIONS"]
    assert "journal_mode=WAL" in opts["init_command"] and "busy_timeout" in opts["init_command"]


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTDESK_ENV", "production")
    monkeypatch.delenv("TEXTDESK_SECRET_KEY", raising=False)
    with pytest.raises(config.ConfigurationError, match="TEXTDESK_SECRET_KEY"):
        config.secret_key(tmp_path)


def test_development_generates_and_keeps_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTDESK_ENV", "development")
    monkeypatch.delenv("TEXTDESK_SECRET_KEY", raising=False)
    first = config.secret_key(tmp_path)
    assert len(first) > 40 and config.secret_key(tmp_path) == first
