"""API conventions every service follows: problem-details errors, strict JSON, caller header."""
