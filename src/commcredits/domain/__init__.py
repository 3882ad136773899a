"""The domain: pure Python (standard library only) money, lots, ledger and policy rules."""
