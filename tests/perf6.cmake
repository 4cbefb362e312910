# tests/perf6.cmake: the share-records phase of an initial sync (issue 5 §6):
# claims made a message's worth per write transaction while the peer stores
# them, one transaction per RECORDS message, same checks and results.
cs_unit_test(shsync_batch cs_agent cs_sql cs_wire cs_base)
