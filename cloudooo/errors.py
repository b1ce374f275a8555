"""One exception hierarchy for the whole server.

Every error a client may cause or see derives from ``CloudoooError``.  The
XML-RPC layer (``cloudooo.xmlrpc``) turns them into Faults in one place, using
``fault_code``, given on each class line; those codes are part of the public
API and must not change.
"""


class CloudoooError(Exception):
    """Base class: a failure that is reported to the client as a Fault
    (code 1, internal, unless a subclass says otherwise)."""

    fault_code = 1

    def __init_subclass__(cls, fault_code=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if fault_code is not None:
            cls.fault_code = fault_code

    def __str__(self):
        return self.args[0] if self.args else self.__class__.__name__


class InvalidRequest(CloudoooError, fault_code=2):
    """The request itself is wrong: bad base64, empty data, bad arguments."""


class UnsupportedFormat(CloudoooError, fault_code=3):
    """Unknown format, or no handler can do this source/destination pair."""


class ConversionError(CloudoooError, fault_code=4):
    """The document could not be converted (corrupt input, tool failure)."""


class UnsafeDocument(CloudoooError, fault_code=5):
    """The document links to resources outside itself, or asks for scripts."""


class NotFound(CloudoooError, fault_code=6):
    """A granulation id (table, image, paragraph, chapter) does not exist."""


class ServerStopping(CloudoooError, fault_code=2):
    """The server is stopping: the request was refused, or interrupted when
    the drain time ran out.  Same code whatever the moment; send it again
    once a server is up."""

    def __init__(self, message="the server is stopping"):
        super().__init__(message)


class ServerBusy(CloudoooError, fault_code=7):
    """No office instance became free within ``queue_timeout``."""


class ConversionTimeout(CloudoooError, fault_code=8):
    """A conversion ran longer than its time limit and was killed."""


class Quarantined(CloudoooError, fault_code=9):
    """This exact document crashed or stalled LibreOffice twice recently."""


class PasswordRequired(InvalidRequest, fault_code=10):
    """The document is password-protected and no password was given
    ("password required"), or the one given does not open it ("wrong
    password").  The message never holds the password."""


class ConfigurationError(Exception):
    """A configuration key is unknown or has a wrong value (not a Fault)."""
