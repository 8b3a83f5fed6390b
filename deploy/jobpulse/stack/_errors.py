"""The stack's one exception tree: every failure to install, start or reach a server."""


class StackError(Exception):
    """Base of every error the local stack raises; its text is meant for a person."""


class MissingProgramError(StackError):
    """A server program is not installed (run `make setup`)."""


class StartError(StackError):
    """A server did not come up; the message names its log file."""


class QueryError(StackError):
    """A server answered a query with an error."""


class PortBusyError(StartError):
    """A port a server needs is taken by another program; the message names it and its variable."""
