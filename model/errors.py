"""The exceptions the model package raises; every message says what is wrong and where."""


class ModelError(Exception):
    """Base class of the errors of the `model` package."""


class TaxonomyError(ModelError):
    """The taxonomy file is missing, malformed or inconsistent."""


class ArtifactError(ModelError):
    """A model version folder is missing, corrupt or made for other libraries or taxonomy."""


class InputTextError(ModelError, ValueError):
    """A text cannot be classified at all (not a string, or empty)."""
