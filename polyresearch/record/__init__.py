"""Record raw traffic to Parquet, replay it into the same books and tables, export tables.

Example:
    >>> from polyresearch.record import Recorder, export, replay, scan_recording
"""

from polyresearch.record.export import book_frame, export, export_frame
from polyresearch.record.recorder import Recorder, RecorderStats, record_feed, scrub
from polyresearch.record.replay import ReplayFeed, list_chunks, replay, scan_recording

__all__ = [
    "Recorder",
    "RecorderStats",
    "ReplayFeed",
    "book_frame",
    "export",
    "export_frame",
    "list_chunks",
    "record_feed",
    "replay",
    "scan_recording",
    "scrub",
]
