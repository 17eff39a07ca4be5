"""The service's log set-up from ``[log]``: level, text or JSON lines; the scheduler's chatter only at DEBUG."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("httpx", "alembic")  # a line per request; the migrations' plugin set-up


class JsonLines(logging.Formatter):
    """One JSON object per line: t (UTC, ISO 8601), level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"t": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler], force=True)
    for chatty in QUIET:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # APScheduler says INFO at every job run ("Running job", "executed successfully"): 40 lines in 47
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
