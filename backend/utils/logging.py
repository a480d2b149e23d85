"""structlog setup: JSON lines in production, readable console output in development.

Request id, tenant id and trace ids are bound through contextvars by the request
middleware, so every log line of a request carries them. Standard-library loggers
(uvicorn, procrastinate, alembic, sqlalchemy) go through the same pipeline.

Logging never blocks the caller (the event loop included): a call only puts the record
on a bounded in-memory queue (dropping, and later counting, records when it is full);
one listener thread formats and writes every line. Exceptions are rendered by one
bounded formatter for console and JSON alike (innermost frames only, never local
variables, capped in lines and characters), and secrets are redacted from every line
(see ``backend.utils.redaction``).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from backend.utils.redaction import redact_event

# A traceback keeps the frames nearest the error: that is where the cause is, and a
# middleware stack alone is dozens of frames.
MAX_TRACEBACK_FRAMES = 12
MAX_TRACEBACK_LINES = 150
MAX_TRACEBACK_CHARS = 12_000
# Records waiting for the writer thread; past this, records are dropped (and counted).
QUEUE_CAPACITY = 10_000


def format_exception(error: BaseException, traceback_: Any = None) -> str:
    """The error and its causes as traceback text, bounded, without local variables."""
    lines = traceback.TracebackException(
        type(error),
        error,
        traceback_ or error.__traceback__,
        limit=-MAX_TRACEBACK_FRAMES,
        capture_locals=False,
        max_group_width=5,
        max_group_depth=3,
    ).format()
    text = "".join(lines).rstrip("\n")
    return _bounded(text)


def _bounded(text: str) -> str:
    """Cut the middle of a long traceback: its start says what failed, its end where and why."""
    lines = text.splitlines()
    if len(lines) > MAX_TRACEBACK_LINES:
        head, tail = MAX_TRACEBACK_LINES // 5, MAX_TRACEBACK_LINES - MAX_TRACEBACK_LINES // 5
        cut = len(lines) - head - tail
        lines = [*lines[:head], f"  ... [{cut} lines cut] ...", *lines[-tail:]]
        text = "\n".join(lines)
    if len(text) > MAX_TRACEBACK_CHARS:
        head, tail = MAX_TRACEBACK_CHARS // 5, MAX_TRACEBACK_CHARS - MAX_TRACEBACK_CHARS // 5
        cut = len(text) - head - tail
        text = f"{text[:head]}\n  ... [{cut} characters cut] ...\n{text[-tail:]}"
    return text


def _capture_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``exc_info=True`` means "the exception being handled": only the caller's thread knows it."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _render_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    exc_info = event_dict.pop("exc_info", None)
    if isinstance(exc_info, BaseException):
        event_dict["exception"] = format_exception(exc_info)
    elif isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        event_dict["exception"] = format_exception(exc_info[1], exc_info[2])
    return event_dict


def _record_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A standard-library record: the caller's contextvars (request id…) and creation time."""
    record = event_dict.get("_record")
    for key, value in getattr(record, "structlog_context", {}).items():
        event_dict.setdefault(key, value)
    if record is not None:
        created = datetime.fromtimestamp(record.created, UTC)
        event_dict.setdefault("timestamp", created.isoformat().replace("+00:00", "Z"))
    return event_dict


def _redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    return redact_event(event_dict)


class _NonBlockingQueueHandler(logging.handlers.QueueHandler):
    """Hands each record to the writer thread as it is: no formatting here, never waiting."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if not hasattr(record, "_logger"):  # a foreign record (structlog's merged them already)
            # Contextvars belong to the caller's context; the writer thread sees none of them.
            record.structlog_context = structlog.contextvars.get_contextvars()
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                self.queue.put_nowait(self._dropped_notice())
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _dropped_notice(self) -> logging.LogRecord:
        return logging.LogRecord(
            __name__,
            logging.WARNING,
            __file__,
            0,
            "log_records_dropped: %d records were dropped, the log output did not keep up",
            (self.dropped,),
            None,
        )


class _Writer:
    """The queue, its handler (what loggers call) and the thread that writes to ``output``."""

    def __init__(self, output: logging.Handler) -> None:
        self.output = output
        self.records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_CAPACITY)
        self.handler = _NonBlockingQueueHandler(self.records)
        self.listener = logging.handlers.QueueListener(self.records, output)
        self.listener.start()
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.listener.stop()


_writer: _Writer | None = None


def configure_logging(*, level: str, json: bool) -> None:
    """Route structlog and the standard library through one queue to one writer thread."""
    structlog.configure(
        processors=[
            # First: a line below the level costs a comparison, not the whole processor chain.
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _capture_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Runs on the writer thread, for structlog's records and foreign ones alike.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_record_context],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.stdlib.add_log_level,
            _render_exception,
            _redact,
            renderer,
        ],
    )
    output = logging.StreamHandler(sys.stdout)
    output.setFormatter(formatter)
    _start_writer(output)
    logging.getLogger().setLevel(level.upper())
    # uvicorn's access log duplicates our request log line (which has more context).
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _start_writer(output: logging.Handler) -> None:
    global _writer
    previous, _writer = _writer, _Writer(output)
    logging.getLogger().handlers[:] = [_writer.handler]
    if previous is None:
        atexit.register(_stop_writer)
        os.register_at_fork(after_in_child=_restart_writer_in_child)
    else:
        previous.stop()  # writes what was queued before the switch


def _restart_writer_in_child() -> None:
    """A forked child has the queue but not the thread that empties it: give it its own."""
    global _writer
    if _writer is not None:
        _writer = _Writer(_writer.output)
        logging.getLogger().handlers[:] = [_writer.handler]


def _stop_writer() -> None:
    if _writer is not None:
        _writer.stop()
        # Whatever logs during interpreter shutdown is written directly: no loop is left to block.
        logging.getLogger().handlers[:] = [_writer.output]


def flush_logs() -> None:
    """Wait until every record logged so far is written (tests read the output right after)."""
    if _writer is not None:
        _writer.records.join()
