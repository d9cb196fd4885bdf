"""The schema comes from Alembic and matches the ORM models; migrations go down and up."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ytung_service import db as ydb
from ytung_service import orm


def test_upgrade_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    ydb.upgrade(url)
    engine = ydb.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), orm.Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_downgrade_to_base_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    ydb.upgrade(url)
    command.downgrade(ydb.alembic_config(url), "base")
    ydb.upgrade(url)


def test_first_start_is_idempotent(db_url, db):
    from ytung_service.bootstrap import prepare_database

    assert prepare_database(db_url) is None  # admin exists: nothing generated, nothing printed
    admin = orm.User.find(db, "admin")
    assert [r.name for r in admin.roles] == ["System Admin"]
    assert [vc.name for vc in admin.vcs] == ["default"]
    assert {r.name for r in db.query(orm.Role)} == {"System Admin", "User", "Annotation person"}
    assert all(r.preset for r in db.query(orm.Role))


def test_generated_admin_password_is_strong_and_hashed(tmp_path, monkeypatch):
    from ytung_service.bootstrap import prepare_database
    from ytung_service.passwords import password_problem, verify_password

    monkeypatch.delenv("YTUNG_ADMIN_PASSWORD", raising=False)
    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    generated = prepare_database(url)
    assert generated and password_problem(generated) is None
    engine = ydb.make_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        stored = orm.User.find(s, "admin").password_hash
    engine.dispose()
    assert generated not in stored and verify_password(generated, stored)
    assert generated.encode() not in (tmp_path / "g.sqlite").read_bytes()


def test_upgrade_keeps_existing_rows(tmp_path):
    """A database with users at the first revision upgrades to head with its data."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    ydb.upgrade(url, "0001")
    engine = ydb.make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, nickname, phone, email, created) "
                "VALUES ('old', 'Old', '', '', '2026-01-01')"
            )
        )
        conn.execute(
            text("INSERT INTO vcs (name, description, created) VALUES ('legacy', '', '2026-01-01')")
        )
    ydb.upgrade(url)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        user = orm.User.find(s, "old")
        assert user.hub_groups == [] and user.current_vc is None
        assert orm.Vc.find(s, "legacy").max_hours is None
    engine.dispose()
