"""bulletin-qa Telegram bot (built on :mod:`retrieval`)."""
