"""The failures the pipeline reports to people, each with a message that says what to fix.

Kept free of dependencies so the DAG can name them in its retry policy at parse time.
"""


class PipelineError(Exception):
    """A failure a person must act on; the CLI prints its message instead of a traceback."""


class IngestError(PipelineError):
    """A landing file cannot be loaded; the message names the file and what is wrong."""


class FileRejected(IngestError):
    """A landing entry that cannot load as it is (its name, header or bytes); it is not
    tried again until it changes."""


class TooManyBadRows(IngestError):
    """More rows broke the contract than the threshold allows; ``broken_rules`` counts them
    by field and rule, for the ledger."""

    def __init__(self, message: str, broken_rules: dict[str, int]) -> None:
        super().__init__(message)
        self.broken_rules = broken_rules


class DbtError(PipelineError):
    """dbt failed; the message lists the failing nodes."""


class QualityGateError(PipelineError):
    """A gate failed; the message names each failing expectation with sample rows."""


class PublishError(PipelineError):
    """Publishing did not happen; the published schema is unchanged."""


class PublishLockTimeout(PublishError):
    """BI queries held the published schema longer than the lock timeout; worth a retry."""


class WarehouseError(PipelineError):
    """The warehouse is not in a state this version can work with; the message says why."""


class NightLockTimeout(PipelineError):
    """Another night held the warehouse longer than this run would wait; nothing was changed."""


class SettingsError(PipelineError):
    """An environment variable has a value the pipeline cannot use; the message names both."""


class GenerationError(PipelineError):
    """The synthetic generator was asked for days it cannot write; the message says why."""
