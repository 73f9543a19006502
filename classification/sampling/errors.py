class SamplingError(ValueError):
    """A sampling request that cannot be met; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
