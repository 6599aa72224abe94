"""Sync (migration): `account.sync_accounts` is the entry point, `preflight.py` the check first."""
