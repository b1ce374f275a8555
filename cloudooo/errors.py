"""One exception hierarchy for the whole server.

Every error a client may cause or see derives from ``CloudoooError``.  The
XML-RPC layer (``cloudooo.xmlrpc``) turns them into Faults in one place, using
``fault_code``; those codes are part of the public API and must not change.
"""


class CloudoooError(Exception):
    """Base class: a failure that is reported to the client as a Fault."""

    fault_code = 1

    def __str__(self):
        return self.args[0] if self.args else self.__class__.__name__


class InvalidRequest(CloudoooError):
    """The request itself is wrong: bad base64, empty data, bad arguments."""

    fault_code = 2


class UnsupportedFormat(CloudoooError):
    """Unknown format, or no handler can do this source/destination pair."""

    fault_code = 3


class ConversionError(CloudoooError):
    """The document could not be converted (corrupt input, tool failure)."""

    fault_code = 4


class UnsafeDocument(CloudoooError):
    """The document links to resources outside itself, or asks for scripts."""

    fault_code = 5


class NotFound(CloudoooError):
    """A granulation id (table, image, paragraph, chapter) does not exist."""

    fault_code = 6


class ServerStopping(CloudoooError):
    """The server is stopping: the request was refused, or interrupted when
    the drain time ran out.  Same code whatever the moment; send it again
    once a server is up."""

    fault_code = 2

    def __init__(self, message="the server is stopping"):
        super().__init__(message)


class ServerBusy(CloudoooError):
    """No office instance became free within ``queue_timeout``."""

    fault_code = 7


class ConversionTimeout(CloudoooError):
    """A conversion ran longer than its time limit and was killed."""

    fault_code = 8


class Quarantined(CloudoooError):
    """This exact document crashed or stalled LibreOffice twice recently."""

    fault_code = 9


class PasswordRequired(InvalidRequest):
    """The document is password-protected and no password was given
    ("password required"), or the one given does not open it ("wrong
    password").  The message never holds the password."""

    fault_code = 10


class ConfigurationError(Exception):
    """A configuration key is unknown or has a wrong value (not a Fault)."""
