# tests/relay.cmake: the relay's Supabase side (issue 7 §1, §4), on a real
# PostgreSQL 15 started in a temp dir (tests/relay/pgcluster.sh).

# The migration: RLS with real roles and JWT claims, the sweep, the checks.
add_test(NAME relay_pg
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/pg_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(relay_pg PROPERTIES TIMEOUT 300 LABELS relay)

# The Supabase test server (tests/relay/supabase_stub.py) through curl:
# Auth, PostgREST, Storage answers as in supabase-api.md, RLS refusals over
# HTTP, the sweep's request replayed, fault hooks.
add_test(NAME relay_stub
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/stub_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(relay_stub PROPERTIES TIMEOUT 300 LABELS relay)
