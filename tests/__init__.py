"""End-to-end tests: the whole system started by manage_all.sh, driven over HTTP."""
