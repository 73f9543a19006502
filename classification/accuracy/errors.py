"""The one error type of the accuracy core: a stable code, a human message, and where the bad input is."""

from __future__ import annotations


class AccuracyInputError(ValueError):
    """Input the estimators cannot use; ``code`` is stable, ``source``/``row`` locate it when known.

    Codes: ``not_square``, ``unknown_class``, ``duplicate_class``, ``negative_count``, ``not_a_number``,
    ``empty_stratum``, ``stratum_too_small``, ``missing_area``, ``negative_area``, ``sample_outside_area``,
    ``unknown_stratum``, ``empty_input``, ``bad_header``, ``bad_row``, ``bad_parameter``.
    """

    def __init__(self, code: str, message: str, *, source: str | None = None, row: int | None = None) -> None:
        self.code = code
        self.source = source
        self.row = row
        where = ""
        if source is not None:
            where = f"{source}: " if row is None else f"{source}, row {row}: "
        self.message = f"{where}{message}"
        super().__init__(self.message)
