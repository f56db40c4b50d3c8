"""Every threshold behind the page's readings, in one place.

The methodology page reads these values, so changing one here changes what
readers are told.
"""

# confidence: a category's track record is shown once this many of its
# questions have resolved (annulled ones do not count); below it the page
# says "building category history".
MIN_RESOLVED_FOR_TRACK_RECORD = 10
# The Brier score of always answering 50%.
NO_SKILL_BRIER = 0.25

# stability: the largest move of the average within the window, in points.
STABLE_MAX_POINTS = 3
SHIFTING_MAX_POINTS = 10  # above this: volatile

# models: the spread between the highest and lowest model, in points.
AGREE_MAX_POINTS = 10
DIFFER_MAX_POINTS = 25  # above this: split

# feeds: a forecast that moved at least this many points is news.
FEED_DEFAULT_MOVE_POINTS = 5
