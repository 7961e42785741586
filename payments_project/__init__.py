"""The Payments service: accounts, balances and the ledger of every balance change."""
