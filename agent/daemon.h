/*
 * agent/daemon.h: `cabsync agent`, the sync daemon (DESIGN.md "Threads",
 * "Wire"; docs/OPERATIONS.md; docs/PROTOCOL.md §8 for the control socket).
 *
 *   cabsync agent --home DIR [--listen ADDR] [--port N] [--peer HOST:PORT]...
 *
 * One libuv loop on the main thread: the TCP listener, the outgoing dials to
 * static peers (jittered exponential backoff 250 ms .. 30 s), the Noise
 * XXpsk0 sessions, an inotify watch (uv_fs_event) on the database's
 * directory that notices the app's commits in the -wal file, a 1 s tick
 * (liveness, fallback change check), the control socket and the signals.
 * Every SQLite call runs on the database worker (agent/dbw.h), which owns the
 * engine and the device state file (peer cursors).
 *
 * A session: Noise handshake (the remote static key must be an active roster
 * device: the initiator checks after message 2, the responder after message
 * 3; a refusal is logged as an audit line and the connection closed), HELLO
 * both ways (device id must match the roster entry of the key; version
 * negotiated; a second session with the same device is resolved by the
 * DESIGN tie-break: the one initiated by the lower device id stays), CURSOR
 * (our receive cursor for that device), then each side streams CHANGES after
 * the peer's cursor, at most CS_AGENT_INFLIGHT batches unacknowledged; the
 * receiver applies each batch, stores the cursor durably (fsync) and only
 * then sends ACK. PING after 10 s of silence, closed after 30 s. A stalled
 * path (changes unacknowledged, nothing heard for 5 s despite a PING), a
 * connect unanswered for 3.5 s: closed and redialed, with the backoff capped
 * at 2 s for a device in session less than 2 min ago (docs/TESTING.md).
 *
 * Roster and key epochs (agent/roster.h, docs/PROTOCOL.md §1.6, §3.10-§3.12):
 * both sides send their signed roster records (ROSTER) after HELLO and on
 * every change; records the rules refuse are audited and dropped. The
 * responder tries every cabinet key it holds on message 1, newest first; a
 * dialer refused at message 1 steps back one epoch. A session on an older
 * key carries only ROSTER and KEYS (the keys sealed to the peer), then
 * closes; when the current key changes (a revocation here or a key received)
 * every session gets ROSTER and KEYS and is closed, to reconnect on the new
 * key.
 *
 * Returns the process exit code. Runs until SIGTERM/SIGINT: then BYE to every
 * peer, the worker finishes the job it is running, cancels the others, and
 * everything is closed.
 */
#ifndef CS_AGENT_DAEMON_H
#define CS_AGENT_DAEMON_H

#define CS_AGENT_INFLIGHT   4    /* CHANGES batches sent and not yet ACKed */
#define CS_AGENT_BATCH_ROWS 1024 /* rows per CHANGES batch: one fsync of WAL and cursor each */
#define CS_AGENT_APPLY_ROWS 128  /* most rows per apply transaction (a batch is split) */

/* argv[0] is "agent". */
int cs_agent_cmd(int argc, char **argv);

#endif
