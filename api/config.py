"""One validated configuration, read from ``RXTRACE_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rxtrace"


class Settings(BaseSettings):
    """Where the data lives and the key that protects sensitive fields.

    ``database_url`` defaults to a SQLite file in ``data_dir`` (nothing to install); point it at
    ``postgresql://…`` for the server. ``secret_key`` (or the file ``key_file``, created on first
    use) keys the hashes of identity numbers, names and phone numbers.
    """

    model_config = SettingsConfigDict(env_prefix="RXTRACE_", extra="ignore")

    data_dir: Path = default_data_dir()
    database_url: str = ""
    secret_key: SecretStr | None = None
    key_file: Path | None = None
    show_sensitive: bool = False
    """Unmask identity data on the local command line. The server ignores it: there a
    supervisor asks per request, with a reason, and the audit log keeps it."""
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    max_upload_mb: int = Field(512, ge=1)
    """Largest upload (contract files, photos, a video) the server takes in one request."""
    max_body_kb: int = Field(1024, ge=1)
    """Largest body of any other request (a JSON list of codes, a note)."""
    max_codes: int = Field(10_000, ge=1)
    """Most codes one resolve request may ask about."""
    max_code_length: int = Field(256, ge=32)
    """Longest code accepted: a GS1 string with every AI fits well under it."""

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'rxtrace.db'}"
        if self.key_file is None:
            self.key_file = self.data_dir / "secret.key"
        return self

    def to_environment(self) -> dict[str, str]:
        """These settings as ``RXTRACE_*`` variables, which read back give the same settings:
        how a worker process of ``rxtrace serve --workers N`` receives them.

        >>> settings = Settings(database_url="sqlite:///x.db", secret_key="k" * 32)
        >>> env = settings.to_environment()
        >>> env["RXTRACE_DATABASE_URL"], env["RXTRACE_SHOW_SENSITIVE"], len(env["RXTRACE_SECRET_KEY"])
        ('sqlite:///x.db', 'false', 32)
        >>> fields = {k.removeprefix("RXTRACE_").lower(): v for k, v in env.items()}
        >>> Settings.model_validate(fields) == settings
        True
        """
        env: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[f"RXTRACE_{name.upper()}"] = str(value)
        return env
