"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class LatentScenesError(Exception):
    """An error caused by the user's input (files, configs, arguments), not by a bug."""


class DataError(LatentScenesError):
    """A dataset file is missing, corrupt or inconsistent. The message names the file."""


class ConfigError(LatentScenesError):
    """A configuration key is unknown, mistyped or out of range. The message names the key."""


class CheckpointError(LatentScenesError):
    """A checkpoint is missing, corrupt or does not match the model it is loaded into."""


class TrainingDiverged(LatentScenesError):
    """Loss or gradients stayed non-finite after every rollback to the last checkpoint."""
