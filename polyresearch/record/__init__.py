"""Record raw traffic to Parquet and replay it into the same books and tables as live.

Example:
    >>> from polyresearch.record import Recorder, record_feed, replay, scan_recording
"""

from polyresearch.record.recorder import Recorder, RecorderStats, record_feed, scrub
from polyresearch.record.replay import ReplayFeed, list_chunks, replay, scan_recording

__all__ = [
    "Recorder",
    "RecorderStats",
    "ReplayFeed",
    "list_chunks",
    "record_feed",
    "replay",
    "scan_recording",
    "scrub",
]
