"""The five difficulties of a StepMania song, and GenéLive's scalar condition for each."""

# StepMania difficulty names and GenéLive's scalar condition values (Edit counts as Challenge).
DIFFICULTIES: tuple[str, ...] = ("Beginner", "Easy", "Medium", "Hard", "Challenge")
DIFFICULTY_VALUES: tuple[int, ...] = (10, 20, 30, 40, 50)
# Chart meters (difficulty numbers) above this are jokes (a "420" Challenge), not difficulty
# numbers: the meter fit and its error leave them out.
MAX_METER = 29
