"""The recorder's exceptions.

    RecorderError
    ├── StreamError              a camera session ended abnormally (the worker reconnects)
    │   ├── StreamTimeout        nothing arrived within the read timeout (accept-then-silence)
    │   └── StreamDiscontinuity  timestamps went backwards or jumped ahead of the wall clock
    ├── ExportRefused            no matching approved lawful request, or requester == approver
    ├── ConfigError(ValueError)  a RecorderConfig or RetentionPolicy value is out of range
    └── RootTaken                the recordings folder belongs to another node of the cluster
"""

from __future__ import annotations


class RecorderError(Exception):
    """Base of everything the recorder raises on purpose."""


class StreamError(RecorderError):
    """A camera session ended abnormally."""


class StreamTimeout(StreamError):
    """The camera sent nothing within the read timeout."""


class StreamDiscontinuity(StreamError):
    """The stream's timestamps jumped."""


class ExportRefused(RecorderError):
    """An export or approval was refused; the message says why."""


class ConfigError(RecorderError, ValueError):
    """A configuration value is out of range."""


class RootTaken(RecorderError):
    """Another node records into this folder: two nodes would adopt and delete each other's files."""
