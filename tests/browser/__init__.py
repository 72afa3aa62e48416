"""Browser tests of the explorer page (headless Chromium)."""
