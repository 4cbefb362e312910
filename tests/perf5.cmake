# tests/perf5.cmake: initial-sync performance (issue 5 §6): the share records
# go before the rows they allow, all of them (cs_shsync_records_out's "more").
cs_unit_test(shsync_more cs_agent cs_sql cs_wire cs_base)
