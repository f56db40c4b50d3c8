"""How one round's answers become one point on the trajectory."""

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    mean: float
    median: float
    minimum: float
    maximum: float
    spread: float
    count: int


def summarize(probabilities):
    """Aggregate the successful answers of one round; None when there are none.

    Failed models never reach this function: they are left out, not counted as
    0 or 0.5. Non-finite or out-of-range values are refused rather than
    clamped, so a bug upstream cannot put NaN on a page.
    """
    values = [float(p) for p in probabilities]
    if not values:
        return None
    for value in values:
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"probability out of range: {value!r}")
    minimum, maximum = min(values), max(values)
    # fsum keeps 0.6+0.7+0.5 from drifting to 0.6000000000000001 and then
    # past the maximum in the database's ordering check.
    mean = min(max(math.fsum(values) / len(values), minimum), maximum)
    return Summary(
        mean=mean,
        median=statistics.median(values),
        minimum=minimum,
        maximum=maximum,
        spread=maximum - minimum,
        count=len(values),
    )
