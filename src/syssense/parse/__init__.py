"""Readers: the strace grammar and public dataset formats, all producing one event model."""

from .registry import (
    READERS,
    Reader,
    load,
    load_all_readers,
    read_format,
    register_reader,
    sniff_format,
)

__all__ = ["READERS", "Reader", "load", "load_all_readers", "read_format", "register_reader", "sniff_format"]
