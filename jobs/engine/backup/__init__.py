"""Backup: `account.backup_account` is the entry point (IMAP, or POP3 via `pop3.py`)."""
