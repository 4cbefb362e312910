# Audit trail (issue 6 §3, §4): unit tests of the chain, heads and verify;
# the tamper test with the sqlite3 shell and the cabsync CLI; the head decoder fuzzer.
cs_unit_test(audit cs_sql cs_base)
