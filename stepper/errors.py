"""The one error type a user sees: a file, a place in it, and what was expected."""


class StepperError(Exception):
    """Bad input. Printed as one line, `FILE: PLACE: MESSAGE`, and the CLI exits with 2."""

    def __init__(self, message: str, *, file: str | None = None, place: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.place = place

    def located(self, *, file: str | None = None, place: str | None = None) -> "StepperError":
        """The same error with a file or an outer place filled in (inner places stay last)."""
        if place and self.place:
            place = f"{place}, {self.place}"
        return StepperError(self.message, file=self.file or file, place=place or self.place)

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.place) if p]
        return ": ".join(parts + [self.message])
