"""Export errors carry a stable code that the command, the API and the tests rely on."""


class ExportError(Exception):
    """A refused export: ``code`` is stable (``unknown_format``, ``empty_selection``, ``bad_bbox``…)."""

    def __init__(self, code: str, message: str, *, field: str = "non_field_errors", status_code: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"
