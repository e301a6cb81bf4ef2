"""Typed errors. Each message names the file involved and what to do about it.

The CLI turns any ``FrnetError`` into one line on stderr and exit code 2; the GUI into a dialog.
"""


class FrnetError(Exception):
    """Base class of every error frnet reports to a user."""


class ResourceMissingError(FrnetError):
    """A file that frnet ships (model, shader) is missing."""


class ModelFileError(FrnetError):
    """A model file exists but cannot be read or has the wrong content."""


class InputError(FrnetError):
    """An input image, video or annotation file cannot be read."""


class OutputError(FrnetError):
    """An output file cannot be written."""


class CameraError(FrnetError):
    """A webcam cannot be opened or stopped delivering frames."""


class NoFaceError(FrnetError):
    """No face was found where one was required."""
