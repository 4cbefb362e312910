# App schema upgrades (issue 3 §2 "App upgrades", sql/upgrade.h): ADD COLUMN,
# new tracked tables, the Prisma-style rebuild through the sqlite3 shell,
# old-version receivers; and the ADD COLUMN benchmark on a 1 M-row table.
cs_unit_test(upgrade cs_sql cs_base)
cs_bench(upgrade cs_sql cs_base)
# The benchmark on a tiny table, so that it cannot rot.
add_test(NAME bench_smoke_upgrade COMMAND bench_upgrade)
set_tests_properties(bench_smoke_upgrade PROPERTIES TIMEOUT 300 LABELS demo
	ENVIRONMENT "CS_BENCH_SMALL=1")
# Crash atomicity of an apply that meets an app upgrade (sim VFS crash point).
cs_unit_test(upgrade_crash cs_simlib cs_sql cs_base)
