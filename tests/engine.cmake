# sql/engine tests (issue 3 §4): unit tests per behaviour, linking cs_sql and cs_base only.
cs_unit_test(engine cs_sql cs_base)
