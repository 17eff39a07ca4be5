"""Validated configuration: one TOML file plus environment overrides, checked once at start-up.

Precedence: environment (``MIMAMORI_*``, nested with ``__``) over the TOML file over defaults.
Unknown keys are rejected with a message naming the key. Secrets come from the environment only.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from monitor.config.drift import DriftSettings
from monitor.config.recorder import RecorderSettings
from monitor.config.report import ReportSettings
from monitor.core.errors import ConfigError
from monitor.core.policy import ClassifierPolicy, EscalationPolicy, PolicyRangeError

CONFIG_ENV = "MIMAMORI_CONFIG"
SECRET_KEYS = ("secret_key", "twilio_auth_token", "smtp_password")
DEFAULT_CONFIG = Path("mimamori.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeSettings(_Section):
    interval_s: float = Field(60.0, gt=0, description="seconds between two probes of one camera")
    tcp_timeout_s: float = Field(5.0, gt=0, description="TCP connect timeout to the RTSP port")
    onvif_timeout_s: float = Field(5.0, gt=0, description="ONVIF GetSystemDateAndTime timeout")
    sample_s: float = Field(4.0, ge=0, description="RTSP sampling window; 0 disables frame sampling")
    concurrency: int = Field(200, ge=1, description="probes in flight at once")
    spread: float = Field(0.8, ge=0, le=1, description="share of the interval over which starts are spread")
    registry_reload_s: float = Field(300.0, gt=0, description="seconds between two reloads of the camera registry "
                                     "from the store, for probes and the recorder (SIGHUP reloads at once)")


class ReferenceTarget(_Section):
    name: str = Field(..., description="a name for the check (in logs and the board)")
    host: str = Field(..., description="a host on the monitor's own path out (its gateway, a resolver): all of "
                                        "them failing is the monitor's outage, not the cameras'")
    port: int = Field(gt=0, lt=65536, description="TCP port connected to")


class StoreSettings(_Section):
    raw_retention_days: float = Field(3.0, gt=0, description="days of raw observations kept")
    hold_rounds: int = Field(120, ge=1, description="probe rounds held in memory while the database is "
                                                   "unreachable, stored and decided when it is back (about 0.3 KB "
                                                   "a camera a round); past this the oldest are dropped")


class ClusterSettings(_Section):
    """One decider among the `mimamori run` processes on one database, and the cameras each records."""

    node_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128,
                         pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                         description="this process's name in the cluster (default: the host name); unique per "
                                     "process")
    lease_s: float = Field(30.0, ge=3, le=600, description="the decider's lease: a standby takes over within "
                                                           "this after the leader stops beating")
    heartbeat_s: float = Field(5.0, gt=0, description="how often each node beats and the leader renews its "
                                                      "lease; at most a third of lease_s")
    decide: bool = Field(True, description="take the decider lease when it is free; false: this node only "
                                           "records (and delivers)")

    @model_validator(mode="after")
    def _beats_within_lease(self) -> ClusterSettings:
        if self.heartbeat_s * 3 > self.lease_s:
            raise ValueError(f"heartbeat_s {self.heartbeat_s:g} is more than a third of lease_s {self.lease_s:g}: "
                             "a leader could lose its lease between two renewals")
        return self


class CitySettings(_Section):
    """Who the owners are told to contact; shown in every owner message."""

    name: str = Field("見守り市", description="the city's name in Japanese messages")
    name_en: str = Field("Mimamori City", description="the city's name in English messages")
    phone: str = Field("03-0000-0000", description="the number owners are told to call")
    email: str = Field("bouhan@city.example.jp", description="the address owners are told to write to")


_EMAIL = r"^[^@\s<>\",;:()\[\]\\]+@[^@\s<>\",;:()\[\]\\]+$"  # one plain address: no name, no list, no spaces
_E164 = r"^\+[1-9][0-9]{6,14}$"
_HTTP_URL = r"^https?://[^/?#\s]+[^\s]*$"


class Person(_Section):
    name: str = Field(..., pattern=r"^[^\x00-\x1f\x7f]+$", description="no control characters (no line breaks)")
    email: str | None = Field(None, pattern=_EMAIL, description="one plain address")
    phone: str | None = Field(None, pattern=_E164, description="E.164, e.g. +81312345678")
    webhook_url: str | None = Field(None, pattern=_HTTP_URL, description="http(s) URL that receives a JSON POST")
    lang: str = Field("ja", pattern="^(ja|en)$", description="ja or en")


class TwilioSettings(_Section):
    account_sid: str = Field(..., pattern="^AC[0-9a-fA-F]{32}$", description="AC followed by 32 hex digits; "
                             "the auth token comes from MIMAMORI_TWILIO_AUTH_TOKEN")
    from_number: str = Field(..., pattern=_E164, description="the city's Twilio number, E.164")
    status_callback_url: str | None = Field(None, pattern=_HTTP_URL,
                                            description="must lie under web.public_base_url (checked at load)")
    api_base_url: str | None = Field(None, description="only for tests against a local Twilio mock")


class SmtpSettings(_Section):
    host: str = Field(..., description="the city's mail relay")
    port: int = Field(587, gt=0, lt=65536, description="its port")
    security: str = Field("starttls", pattern="^(starttls|tls|none)$", description="starttls, tls or none")
    username: str | None = Field(None, description="if the relay wants a login; the password comes from "
                                 "MIMAMORI_SMTP_PASSWORD")
    from_addr: str = Field(..., pattern=_EMAIL, description="the sender address")
    from_name: str = Field("見守り（防犯カメラ見守りサービス）", description="the sender name")
    ca_file: Path | None = Field(None, description="trust this CA (a city relay with its own certificate)")


class NotifySettings(_Section):
    outbox_dir: Path | None = Field(None, description="where folder_delivery writes messages (default data_dir/outbox)")
    folder_delivery: bool = Field(False, description="a channel without a provider files its messages in outbox_dir "
                                                     "(status 'filed': nobody is contacted) instead of refusing to "
                                                     "start; for demos and trials")
    operators: list[Person] = Field([], description="who hears of upstream events, dispatches and recorder trouble")
    vendors: dict[str, Person] = Field({}, description="maintenance vendors by the registry's vendor column")
    twilio: TwilioSettings | None = None
    smtp: SmtpSettings | None = None
    dispatch_every_s: float = Field(5.0, gt=0, description="seconds between two passes over the outbox")
    owner_deadline_h: float = Field(12.0, gt=0, description="give up on an owner message after this long")


class LogSettings(_Section):
    level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="DEBUG, INFO, WARNING or ERROR; "
                       "the scheduler's own lines only at DEBUG")
    format: str = Field("text", pattern="^(text|json)$", description="text (one line each) or json (one object per "
                        "line: t, level, logger, message)")


class WebSettings(_Section):
    """The service's own HTTP server: status board, vendor ticket API, Twilio callbacks, /metrics."""

    enabled: bool = Field(True, description="serve the status board, vendor API, Twilio callbacks and /metrics")
    host: str = Field("127.0.0.1", description="listen address; 0.0.0.0 or :: to serve beyond this machine")
    port: int = Field(8080, ge=0, lt=65536, description="listen port (0: any free port)")
    public_base_url: str = Field("http://127.0.0.1:8080", pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
                                 description="this server as Twilio reaches it; callbacks are signed over it")
    sso_header: str = Field("", pattern=r"^([A-Za-z0-9-]+)?$",
                            description="the city's single sign-on: the header in which the reverse proxy names "
                                        "the signed-in user (e.g. X-Remote-User); empty: password logins only")
    sso_proxies: list[str] = Field(default_factory=list,
                                   description="the addresses or networks (CIDR) of that proxy; the header is "
                                               "believed only from them")

    @model_validator(mode="after")
    def _sso_needs_its_proxy(self) -> WebSettings:
        if self.sso_header and not self.sso_proxies:
            raise ValueError("sso_header is set but sso_proxies is empty: name the reverse proxy's address, or "
                             "anyone who reaches this port could sign in as anyone")
        for p in self.sso_proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise ValueError(f"sso_proxies: {p!r} is not an address or a network") from None
        return self


_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("mimamori_settings_environ", default=os.environ)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="MIMAMORI_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Field(Path("data"), description="SQLite file, key file and local outbox live here")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in data_dir")
    timezone: str = Field("Asia/Tokyo", description="the fleet's time zone (quiet hours, reports, times "
                                                     "without an offset)")
    secret_key: SecretStr | None = Field(None, description="Fernet key for camera passwords (env only)")
    twilio_auth_token: SecretStr | None = Field(None, description="env MIMAMORI_TWILIO_AUTH_TOKEN only")
    smtp_password: SecretStr | None = Field(None, description="env MIMAMORI_SMTP_PASSWORD only")
    city: CitySettings = CitySettings()
    notify: NotifySettings = NotifySettings()
    probes: ProbeSettings = ProbeSettings()
    references: list[ReferenceTarget] = Field([], description="checks of the monitor's own network")
    store: StoreSettings = StoreSettings()
    cluster: ClusterSettings = ClusterSettings()
    web: WebSettings = WebSettings()
    report: ReportSettings = ReportSettings()
    recorder: RecorderSettings = RecorderSettings()
    drift: DriftSettings = DriftSettings()
    log: LogSettings = LogSettings()
    classifier: dict[str, Any] = {}
    escalation: dict[str, Any] = {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment beats the file; the environment is the one load_settings was given (os.environ by
        # default), read through a context variable so a caller's own mapping never touches os.environ
        return (_MappingEnvSource(settings_cls, _ENVIRON.get()), init_settings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mimamori.db').resolve()}"


_WHY = {  # pydantic's wording where it misleads ("day" identifier in duration not correctly formatted)
    "time_delta_parsing": "not a duration: write it in ISO 8601, e.g. \"PT15M\" (15 minutes), \"PT12H\", "
                          "\"P1D\", or as a number of seconds",
    "time_parsing": "not a time of day: write it as \"HH:MM\", e.g. \"21:00\"",
}


def _env_source(loc: tuple, environ: Mapping[str, str]) -> str | None:
    """The environment variable that set the value at ``loc`` (or a section above it), if one did."""
    names = {k.upper(): k for k in environ}
    for i in range(len(loc), 0, -1):
        name = "MIMAMORI_" + "__".join(str(p) for p in loc[:i]).upper()
        if name in names:
            return names[name]
    return None


def _explain(e: ValidationError, source: str, environ: Mapping[str, str] | None = None) -> str:
    """One line per problem, naming the file (``source``) or, for a value that came from the environment,
    the variable: a mistake is blamed where it was made."""
    lines = []
    for err in e.errors():
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, PolicyRangeError):  # a policy's own range checks, one line per field
            lines += [f"{source}.{k}: {why}" for k, why in cause.problems]
            continue
        key = ".".join(str(p) for p in err["loc"]) or "(top)"
        why = "unknown key" if err["type"] == "extra_forbidden" else _WHY.get(err["type"], err["msg"])
        env = _env_source(err["loc"], environ) if environ is not None and err["loc"] else None
        lines.append(f"environment {env}: {key}: {why}" if env else f"{source}: {key}: {why}")
    return "\n".join(lines)


def read_config_file(path: Path | str | None, environ: Mapping[str, str]) -> tuple[Path, dict[str, Any]]:
    """The TOML file's path (``path``, else ``$MIMAMORI_CONFIG``, else ./mimamori.toml) and its contents
    ({} when the default file is absent)."""
    explicit = path or environ.get(CONFIG_ENV)
    cfg_path = Path(explicit) if explicit else DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg_path}: not valid TOML: {e}") from None
        for key in SECRET_KEYS:
            if key in data:
                raise ConfigError(f"{cfg_path}: {key}: secrets come from the environment only")
    elif explicit:
        raise ConfigError(f"{cfg_path}: configuration file not found")
    return cfg_path, data


def load_settings(path: Path | str | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (``path``, else ``$MIMAMORI_CONFIG``, else ./mimamori.toml if present)."""
    environ = os.environ if env is None else env
    cfg_path, data = read_config_file(path, environ)
    token = _ENVIRON.set(environ)
    try:
        settings = Settings(**data)
    except ValidationError as e:
        # every mistake at once: the policy sections are checked too, from the file as it is
        raise ConfigError("\n".join([_explain(e, str(cfg_path), environ),
                                     *_policy_problems(data, cfg_path)])) from None
    finally:
        _ENVIRON.reset(token)
    problems = [f"{cfg_path}: {line}" for line in cross_checks(settings)]  # every mistake at once
    problems += _policy_problems({"classifier": settings.classifier, "escalation": settings.escalation,
                                  "timezone": settings.timezone}, cfg_path)
    if problems:
        raise ConfigError("\n".join(problems))
    return settings


def _zone_or_default(name: object) -> str:
    try:
        return str(ZoneInfo(str(name))) if name else "Asia/Tokyo"
    except (ZoneInfoNotFoundError, ValueError):
        return "Asia/Tokyo"  # the bad zone is named by the settings' own check


def _policy_problems(data: Mapping[str, Any], cfg_path: Path) -> list[str]:
    """The ``[classifier]`` and ``[escalation]`` mistakes, one line each (none for a section that is not a table)."""
    problems = []
    for cls, section, extra in ((ClassifierPolicy, "classifier", None),
                                (EscalationPolicy, "escalation", {"tz": _zone_or_default(data.get("timezone"))})):
        values = data.get(section, {})
        if not isinstance(values, Mapping):
            continue  # named by the settings' own check
        try:
            _build_policy(cls, section, dict(values), extra)
        except ConfigError as err:
            problems += [f"{cfg_path}: {line}" for line in str(err).splitlines()]
    return problems


def cross_checks(s: Settings) -> list[str]:
    """What each section allows alone but the whole cannot work with: a channel configured without its
    secret would file every owner's message in a folder instead of sending it; a callback URL outside the
    public base URL would be refused by our own server, so undelivered SMS would never fall back to voice."""
    problems = []
    tw, smtp = s.notify.twilio, s.notify.smtp
    if tw is not None and s.twilio_auth_token is None:
        problems.append("notify.twilio: MIMAMORI_TWILIO_AUTH_TOKEN is not set, so no SMS or call could be sent "
                        "(set it, or remove [notify.twilio])")
    if tw is not None and tw.status_callback_url:
        base = s.web.public_base_url.rstrip("/") + "/"
        if not tw.status_callback_url.startswith(base):
            problems.append(f"notify.twilio.status_callback_url: must lie under web.public_base_url ({base}), "
                            "where this server checks Twilio's signature")
    if smtp is not None and smtp.username and s.smtp_password is None:
        problems.append("notify.smtp: username is set but MIMAMORI_SMTP_PASSWORD is not, so no e-mail could be sent")
    return problems


def _build_policy(cls, section: str, values: dict[str, Any], extra: dict[str, Any] | None = None):
    from dataclasses import fields

    from pydantic import TypeAdapter

    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError("\n".join(f"{section}.{k}: unknown key" for k in unknown))
    try:
        return TypeAdapter(cls).validate_python({**(extra or {}), **values})
    except ValidationError as e:
        lines = _explain(e, section).splitlines()  # "escalation: owner_delay: …" -> "escalation.owner_delay: …"
        raise ConfigError("\n".join(x.replace(f"{section}: ", f"{section}.", 1) for x in lines)) from None


def classifier_policy(s: Settings) -> ClassifierPolicy:
    return _build_policy(ClassifierPolicy, "classifier", s.classifier)


def escalation_policy(s: Settings) -> EscalationPolicy:
    return _build_policy(EscalationPolicy, "escalation", s.escalation, {"tz": s.timezone})
