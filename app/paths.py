"""Where the studio keeps things unless told otherwise (per user, under ~/.local/share)."""

from pathlib import Path

DATA_HOME = Path.home() / ".local" / "share" / "genelive-studio"
JOBS_DIR = DATA_HOME / "jobs"  # web app results and history, one folder per job
STYTR2_DIR = DATA_HOME / "models" / "stytr2"  # studio import-stytr2 writes here
UNCLIP_DIR = DATA_HOME / "models" / "karlo"  # a Karlo-format unCLIP folder
