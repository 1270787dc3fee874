"""docker-compose.yml can't run here (no Docker engine), so its wiring is checked as data."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
KNOWN_VARIABLES = {f.alias for f in Settings.model_fields.values() if f.alias}
ONE_SHOT = {"temporal-search-attributes", "minio-init"}


def app_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service]["environment"].items()}


def test_every_part_of_the_stack_is_there() -> None:
    assert {"temporal", "temporal-db", "temporal-ui", "app-db", "minio", "minio-init", "mailpit", "sdi-sim",
            "worker", "api"} <= set(SERVICES)


def test_long_running_services_have_health_checks() -> None:
    for name, svc in SERVICES.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_dependencies_exist_and_wait_for_health() -> None:
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert cond["condition"] == expected, f"{name} -> {dep}"


def test_app_services_get_every_variable_they_need() -> None:
    needed = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "DATABASE_URL",
              "S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "SMTP_HOST",
              "SMTP_PORT", "PUBLIC_BASE_URL", "SECRET_KEY"}
    for service in ("worker", "api"):
        env = app_env(service)
        assert needed <= set(env), f"{service} misses {needed - set(env)}"
        unknown = set(env) - KNOWN_VARIABLES
        assert not unknown, f"{service} sets variables the code does not read: {unknown}"


def test_addresses_point_at_the_right_services() -> None:
    env = app_env("worker")
    assert env["TEMPORAL_ADDRESS"].split(":") == ["temporal", "7233"]
    db = urlparse(env["DATABASE_URL"])
    pg = SERVICES["app-db"]["environment"]
    assert (db.hostname, db.port, db.username, db.password, db.path.lstrip("/")) == (
        "app-db", 5432, pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    s3 = urlparse(env["S3_ENDPOINT_URL"])
    assert (s3.hostname, s3.port) == ("minio", 9000)
    minio = SERVICES["minio"]["environment"]
    assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    sdi = urlparse(env["SDI_URL"])
    assert (sdi.hostname, sdi.port) == ("sdi-sim", 8010) and "8010:8010" in SERVICES["sdi-sim"]["ports"]
    callback = urlparse(env["SDI_CALLBACK_URL"])
    assert (callback.hostname, callback.port) == ("api", 8000)
    # the simulator writes its signing certificate where the API looks for it: the shared volume
    assert SERVICES["sdi-sim"]["volumes"] == SERVICES["api"]["volumes"] == SERVICES["worker"]["volumes"]
    assert "1025:1025" in SERVICES["mailpit"]["ports"]
    # The values parse as our settings.
    settings = Settings(**{k: v for k, v in env.items() if not v.startswith("${")})
    assert settings.smtp_port == 1025


def test_the_archive_bucket_is_created_with_object_lock() -> None:
    init = " ".join(SERVICES["minio-init"]["command"])
    bucket = app_env("worker")["S3_BUCKET"]
    assert f"mc mb --with-lock local/{bucket}" in init


def test_search_attributes_registered() -> None:
    from core.search_attributes import SEARCH_ATTRIBUTES

    script = " ".join(SERVICES["temporal-search-attributes"]["command"])
    for key in SEARCH_ATTRIBUTES:
        assert key.name in script


def test_published_ports() -> None:
    assert "8000:8000" in SERVICES["api"]["ports"]
    assert "7233:7233" in SERVICES["temporal"]["ports"]
    assert "8080:8080" in SERVICES["temporal-ui"]["ports"]
    assert {"9000:9000", "9001:9001"} <= set(SERVICES["minio"]["ports"])


def test_the_image_builds_from_the_lock_file() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    for service in ("worker", "api"):
        assert SERVICES[service]["build"] == "."
