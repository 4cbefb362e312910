-- tests/relay/stub_fixtures.sql: two cabinets for the test server's tests.
-- cabinet 5: alice (1), bob (2), erin (10); cabinet 6: carol (3);
-- dave (9) has an account but no cabinet. The auth.users rows are made
-- through the server's /admin/users with the same ids.
INSERT INTO "Cabinet" (id, name) VALUES (5, 'A'), (6, 'B');
INSERT INTO "Osteopath" (id, "authId") VALUES
	(1, 'a0000000-0000-0000-0000-000000000001'),
	(2, 'b0000000-0000-0000-0000-000000000002'),
	(3, 'c0000000-0000-0000-0000-000000000003'),
	(9, 'd0000000-0000-0000-0000-000000000009'),
	(10, 'e0000000-0000-0000-0000-000000000010');
INSERT INTO osteopath_cabinet (osteopath_id, cabinet_id) VALUES (1, 5), (2, 5), (10, 5), (3, 6);
