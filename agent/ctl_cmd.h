/*
 * agent/ctl_cmd.h: `cabsync status|peers|pause|resume`, the CLI side of the
 * control socket (agent/control.h, docs/PROTOCOL.md §8).
 *
 *   cabsync status [--home DIR] [--json]
 *   cabsync peers  [--home DIR] [--json]
 *   cabsync pause|resume [--home DIR]
 *
 * --home is needed only when XDG_RUNTIME_DIR is unset (the socket is then in
 * the home). Exit codes: 0 ok (status: synced or syncing), 1 failure,
 * 2 usage, 5 no agent running, 6 status: offline or paused.
 */
#ifndef CS_AGENT_CTL_CMD_H
#define CS_AGENT_CTL_CMD_H

#define CS_EXIT_NOAGENT 5
#define CS_EXIT_OFFLINE 6

/* argv[0] is the verb. */
int cs_ctl_cmd(int argc, char **argv);

#endif
