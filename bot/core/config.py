"""Typed bb-ops configuration (``config/environments.yaml``), validated at start.

Unknown keys are refused; every error names the path of the bad key. Secrets appear only as
names of environment variables. Relative paths are resolved against the directory the bot
runs in (the app root, as with a Procfile).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core.errors import ConfigError
from bot.core.verbs import MUTATING, VERBS

SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
SLACK_CHANNEL_ID = r"^[CGD][A-Z0-9]{2,}$"
ENV_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish", "cmd", "cmd.exe", "powershell", "pwsh"}


def _mutating_verb(value: Any) -> Any:
    """A verb of ``approval.required_for``: one that changes the target (bot/core/verbs.py)."""
    if isinstance(value, str) and value in MUTATING:
        return value
    expected = ", ".join(f"'{v}'" for v in MUTATING[:-1]) + f" or '{MUTATING[-1]}'"
    raise PydanticCustomError("mutating_verb", "Input should be {expected}", {"expected": expected})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppEnv(_Strict):
    file: Path | None = None


class Backend(_Strict):
    dir: Path
    python: str = "python3"

    @property
    def root(self) -> Path:
        """The target's repository root: hooks run here."""
        return self.dir.parent


class Smoke(_Strict):
    username_env: Annotated[str, Field(pattern=ENV_VAR_NAME)]
    password_env: Annotated[str, Field(pattern=ENV_VAR_NAME)]


class Approval(_Strict):
    required_for: list[Annotated[str, BeforeValidator(_mutating_verb)]] = Field(
        default_factory=lambda: [v.name for v in VERBS.values() if v.default_approval])
    approvers: list[Annotated[str, Field(pattern=SLACK_USER_ID)]] = Field(default_factory=list)
    allow_self_approval: bool = False
    expires_after_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30.0


class Hooks(_Strict):
    release: list[str] | None = None
    restrict_writes: list[str] | None = None
    allow_writes: list[str] | None = None

    @field_validator("release", "restrict_writes", "allow_writes")
    @classmethod
    def _argument_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value or not value[0].strip():
            raise ValueError("a hook is a non-empty argument list, e.g. [./deploy/release.sh, \"{version}\"]")
        program = Path(value[0]).name
        if program in SHELLS and any(a in ("-c", "/c", "-Command") for a in value[1:]):
            raise ValueError("hooks run without a shell; give the program and its arguments as a list, "
                             "not a shell command string")
        return value


class Timeouts(_Strict):
    http_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    migrate_s: Annotated[float, Field(gt=0, le=6 * 3600)] = 900.0
    smoke_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    hook_s: Annotated[float, Field(gt=0, le=6 * 3600)] = 600.0
    snapshot_s: Annotated[float, Field(gt=0, le=6 * 3600)] = 1800.0


class Snapshots(_Strict):
    dir: Path
    keep: Annotated[int, Field(ge=1, le=1000)] = 10


class Environment(_Strict):
    name: str = ""                      # filled from the mapping key
    aliases: list[Annotated[str, Field(pattern=ENV_NAME)]] = Field(default_factory=list)
    base_url: str
    channels: list[Annotated[str, Field(pattern=SLACK_CHANNEL_ID)]] = Field(min_length=1)
    app_env: AppEnv = Field(default_factory=AppEnv)
    backend: Backend | None = None
    smoke: Smoke | None = None
    approval: Approval = Field(default_factory=Approval)
    hooks: Hooks = Field(default_factory=Hooks)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    snapshots: Snapshots | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("base_url is the target API root, like https://api.budgetbuddy.example")
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError("base_url must not carry credentials; secrets go in environment variables")
        return value.rstrip("/")

    def needs_approval(self, verb: str) -> bool:
        return verb in self.approval.required_for


class BotConfig(_Strict):
    environments: dict[Annotated[str, Field(pattern=ENV_NAME)], Environment] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data):
        envs = data.get("environments") if isinstance(data, dict) else None
        if isinstance(envs, dict):
            data = dict(data)
            data["environments"] = {
                k: ({**v, "name": k} if isinstance(v, dict) and "name" not in v else v)
                for k, v in envs.items()
            }
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> "BotConfig":
        seen: dict[str, str] = {}
        for name, env in self.environments.items():
            if env.name != name:
                raise ValueError(f"environments.{name}.name must equal its key")
            for word in [name, *env.aliases]:
                if word in seen and seen[word] != name:
                    raise ValueError(f"environments.{name}: name or alias '{word}' is already used by '{seen[word]}'")
                seen[word] = name
        return self

    def names(self) -> dict[str, str]:
        """Every accepted name and alias -> canonical environment name."""
        out: dict[str, str] = {}
        for name, env in self.environments.items():
            out[name] = name
            for alias in env.aliases:
                out[alias] = name
        return out

    def get(self, name: str) -> Environment | None:
        canonical = self.names().get(name.lower())
        return self.environments.get(canonical) if canonical else None

    def safety_problems(self) -> list[str]:
        """Settings that validate but are unsafe for a deploy bot; `config check` refuses them."""
        problems = []
        for name, env in self.environments.items():
            path = f"environments.{name}"
            mutating_unapproved = [v for v in MUTATING if v not in env.approval.required_for]
            if _is_production(name, env) and mutating_unapproved:
                problems.append(f"{path}.approval.required_for: production must require approval for "
                                f"{', '.join(mutating_unapproved)}")
            if _is_production(name, env) and env.approval.allow_self_approval:
                problems.append(f"{path}.approval.allow_self_approval: production needs a second person; set it to false")
            if env.approval.required_for and not env.approval.approvers:
                problems.append(f"{path}.approval.approvers: approval is required for "
                                f"{', '.join(env.approval.required_for)} but nobody may approve")
            if (env.approval.required_for and not env.approval.allow_self_approval
                    and len(env.approval.approvers) == 1):
                pass  # one approver is fine: they approve runs requested by someone else
            if _is_production(name, env) and env.base_url.startswith("http://") and not _is_loopback(env.base_url):
                problems.append(f"{path}.base_url: production must be reached over https")
        return problems

    def environment_problems(self, environ) -> list[str]:
        """Things missing on this machine (files, variables) — reported by `config check`."""
        problems = []
        for name, env in self.environments.items():
            path = f"environments.{name}"
            if env.app_env.file and not env.app_env.file.is_file():
                problems.append(f"{path}.app_env.file: {env.app_env.file} does not exist")
            if env.backend and not env.backend.dir.is_dir():
                problems.append(f"{path}.backend.dir: {env.backend.dir} is not a directory")
            if env.smoke:
                for var in (env.smoke.username_env, env.smoke.password_env):
                    if not environ.get(var):
                        problems.append(f"{path}.smoke: environment variable {var} is not set")
        return problems


def _is_production(name: str, env: Environment) -> bool:
    return name in ("production", "prod") or "prod" in env.aliases or "production" in env.aliases


def _is_loopback(url: str) -> bool:
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling; see DESIGN.md's config schema)"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data, source: str = "config") -> BotConfig:
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def load_config(path: Path | str) -> BotConfig:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (set BBOPS_CONFIG or create it; "
                          "see config/environments.yaml)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with an 'environments' key")
    return parse_config(data, str(path))
