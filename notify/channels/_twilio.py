"""Twilio error mapping shared by the SMS and voice channels."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient

from notify.message import DeliveryError

T = TypeVar("T")

#: Twilio error codes that no retry can fix: invalid "To" (21211), landline or unreachable
#: carrier (21614), recipient unsubscribed with STOP (21610), no permission for the region (21408).
PERMANENT_CODES = frozenset({21211, 21214, 21217, 21401, 21407, 21408, 21610, 21612, 21614})


def twilio_delivery_error(exc: TwilioException) -> DeliveryError:
    """Turn a Twilio exception into a DeliveryError without copying the request URI or secrets."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = int(exc.status or 0)
        code = exc.code if exc.code not in (None, status) else None
        title = getattr(exc, "title", None) or "Twilio rejected the request"
        reason = f"Twilio HTTP {status}" + (f", error {code}" if code else "") + f" ({title})"
        if code in PERMANENT_CODES:
            return DeliveryError(reason, permanent=True, code=code)
        if status >= 500 or status in (408, 429):
            return DeliveryError(reason, permanent=False, code=code or status)
        return DeliveryError(reason, permanent=True, code=code or status)
    return DeliveryError(f"Twilio client error: {type(exc).__name__}", permanent=False)


def call_twilio(fn: Callable[[], T]) -> T:
    """Run one Twilio API call, mapping every failure to DeliveryError."""
    try:
        return fn()
    except TwilioException as e:
        raise twilio_delivery_error(e) from None
    except (requests.Timeout, requests.ConnectionError) as e:
        raise DeliveryError(f"cannot reach Twilio: {type(e).__name__}", permanent=False) from None
    except requests.RequestException as e:
        raise DeliveryError(f"Twilio request failed: {type(e).__name__}", permanent=False) from None


class BaseUrlHttpClient(TwilioHttpClient):
    """The twilio library's own HTTP client, with ``https://api.twilio.com`` sent to another base URL.

    For a Twilio-compatible endpoint that is not Twilio's (a local contract mock in tests).
    """

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        url = url.replace("https://api.twilio.com", self.base_url, 1)
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
