"""Checks `mimamori run` makes before anything starts: a start that cannot work stops in one line, with
nothing half-started (no database opened, no probe, no recorder)."""

from __future__ import annotations

from monitor.config.settings import Settings
from monitor.core.errors import ConfigError
from monitor.service.delivery import unprovided_channels


def check_delivery(s: Settings) -> None:
    """:class:`ConfigError` when an owner-facing channel has no provider and ``notify.folder_delivery`` was
    not chosen: filing owners' messages in a folder, so that nobody is contacted, is never a silent default."""
    filed = unprovided_channels(s)
    if filed and not s.notify.folder_delivery:
        need = {"sms": "[notify.twilio]", "voice": "[notify.twilio]", "email": "[notify.smtp]"}
        raise ConfigError(f"notify: no provider for {', '.join(filed)}, so no owner could be contacted that way: "
                          f"configure {' and '.join(dict.fromkeys(need[k] for k in filed))}, or set "
                          "notify.folder_delivery = true to file those messages in the outbox folder (demo, trial)")


def check_port_free(host: str, port: int) -> None:
    """:class:`ConfigError` naming ``web.port`` when ``host:port`` cannot be listened on (in use, or an
    address this machine does not have)."""
    import socket

    if port == 0:
        return
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is fine
            try:
                sock.bind(addr)
                sock.listen(1)
            except OSError as e:
                raise ConfigError(f"web.port: cannot listen on {host}:{port} ({e.strerror}); another "
                                  "mimamori or another server holds it: stop it, or set [web] port") from None
