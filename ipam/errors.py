"""Domain errors of the prefix registry; each names the prefix it conflicts with."""

from __future__ import annotations

from core.errors import Conflict, ValidationFailed
from core.messages import message as _l


class PrefixOverlap(Conflict):
    code = "prefix_overlap"


class SpaceExhausted(Conflict):
    code = "space_exhausted"

    def __init__(self, message: object, *, fits: int) -> None:
        super().__init__(message)  # type: ignore[arg-type]
        self.fits = fits

    def as_json(self) -> dict[str, object]:
        body = super().as_json()
        body["error"]["fits"] = self.fits  # type: ignore[index]
        return body


class SpaceTaken(Conflict):
    """Another transaction took the space at the same moment; retrying is safe."""

    code = "space_taken"

    def __init__(self) -> None:
        super().__init__(_l("That space was taken at the same moment by another change; please retry."))


class NestingViolation(ValidationFailed):
    code = "nesting_violation"


class PolicyViolation(ValidationFailed):
    code = "pool_policy_violation"
