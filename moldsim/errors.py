"""Mold's error model: the exception every handler raises and the envelope it becomes.

`ApiError(errorcode, errortext)` is the one exception type of moldsim. Raised while a
request is handled it becomes an HTTP error whose status equals `errorcode` (reference §2.4,
§2.5); raised inside an async job it becomes `jobstatus=2` with `jobresultcode=errorcode`.
Imports nothing from moldsim.
"""

from __future__ import annotations

from typing import Any

UNAUTHORIZED = 401
API_LIMIT_EXCEED = 429
MALFORMED_PARAMETER = 430
PARAM_ERROR = 431
UNSUPPORTED_ACTION = 432
INTERNAL_ERROR = 530
ACCOUNT_ERROR = 531
INSUFFICIENT_CAPACITY = 533
RESOURCE_UNAVAILABLE = 534
RESOURCE_IN_USE = 536

# Java exception class codes (`cserrorcode`) by the error code they usually travel with.
_DEFAULT_CS_CODE = {
    MALFORMED_PARAMETER: 9999,  # ServerApiException
    PARAM_ERROR: 4350,  # InvalidParameterValueException
    UNSUPPORTED_ACTION: 9999,
    INTERNAL_ERROR: 4250,  # CloudRuntimeException
    ACCOUNT_ERROR: 4365,  # PermissionDeniedException
    INSUFFICIENT_CAPACITY: 4325,  # InsufficientCapacityException
    RESOURCE_UNAVAILABLE: 4380,  # ResourceUnavailableException
    RESOURCE_IN_USE: 4250,
    API_LIMIT_EXCEED: 9999,  # ServerApiException(API_LIMIT_EXCEED)
}

# BaseCmd.USER_ERROR_MESSAGE: what a caller who is not root admin reads instead of the text of
# a synchronous 533, 534 or catch-all 530 (ApiServer.handleRequest).
USER_ERROR_MESSAGE = "Internal error executing command, please contact your system administrator"
MASKED_CODES = (INTERNAL_ERROR, INSUFFICIENT_CAPACITY, RESOURCE_UNAVAILABLE)

AUTH_FAILED_TEXT = "unable to verify user credentials and/or request signature"


class ApiError(Exception):
    """An error Mold would report; `cserrorcode` None means the field is omitted (401s).

    `server_api`: raised as a ServerApiException by the command itself, whose text Mold never
    hides; a 530/533/534 that is not (a CloudRuntimeException, a NullPointerException...)
    reaches callers who are not root admin as USER_ERROR_MESSAGE when it is synchronous.
    """

    def __init__(self, errorcode: int, errortext: str, cserrorcode: int | None = -1,
                 server_api: bool = False) -> None:
        super().__init__(errortext)
        self.errorcode = errorcode
        self.errortext = errortext
        self.cserrorcode = _DEFAULT_CS_CODE.get(errorcode) if cserrorcode == -1 else cserrorcode
        self.server_api = server_api

    @property
    def maskable(self) -> bool:
        return self.errorcode in MASKED_CODES and not self.server_api

    def body(self) -> dict[str, Any]:
        """The object placed under `<cmd>response` in an error envelope."""
        out: dict[str, Any] = {"uuidList": [], "errorcode": self.errorcode}
        if self.cserrorcode is not None:
            out["cserrorcode"] = self.cserrorcode
        out["errortext"] = self.errortext
        return out


def param_error(text: str) -> ApiError:
    """431 InvalidParameterValueException."""
    return ApiError(PARAM_ERROR, text)


def internal_error(text: str) -> ApiError:
    """530 CloudRuntimeException."""
    return ApiError(INTERNAL_ERROR, text)


def server_error(code: int, text: str) -> ApiError:
    """A ServerApiException a command throws itself (cserrorcode 9999, text never hidden)."""
    return ApiError(code, text, 9999, server_api=True)


def permission_denied(text: str) -> ApiError:
    """PermissionDeniedException: 531 when synchronous (a failed job makes it 530)."""
    return ApiError(ACCOUNT_ERROR, text)


def missing_param(command: str, name: str) -> ApiError:
    """431 for a required parameter that was not sent (ServerApiException, cserrorcode 9999)."""
    text = f"Unable to execute API command {command.lower()} due to missing parameter {name}"
    return ApiError(PARAM_ERROR, text, 9999)


def invalid_uuid(name: str, value: str) -> ApiError:
    """431 for a UUID parameter that does not resolve to an entity."""
    return param_error(
        f"Invalid parameter {name} value={value} due to incorrect long value format, "
        "or entity does not exist or due to incorrect parameter annotation for the field "
        "in api cmd class."
    )


def unauthorized(text: str = AUTH_FAILED_TEXT) -> ApiError:
    """401; Mold's envelope for it carries no cserrorcode."""
    return ApiError(UNAUTHORIZED, text, None)
