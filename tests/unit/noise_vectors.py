#!/usr/bin/python3
"""Flatten Noise test-vector JSON files (cacophony format) into a line format
that tests/unit/test_noise.c reads without a JSON library.

usage: noise_vectors.py FILE.json...
Output, per vector:
  V <protocol_name>
  <field> <hex>            (one line per byte-string field present; '-' = empty)
  P <hex> ...              (init_psks / resp_psks: IP / RP followed by each psk)
  M <payload hex> <ciphertext hex>
  END
and last: COUNT <number of vectors written>.
Strict: an unknown field or a non-hex string stops with an error."""
import json
import re
import sys

BYTES = ("init_prologue", "resp_prologue", "init_static", "resp_static",
         "init_ephemeral", "resp_ephemeral", "init_remote_static",
         "resp_remote_static", "handshake_hash")
HEX = re.compile(r"^[0-9a-f]*$")


def hexa(s):
    if not isinstance(s, str) or not HEX.match(s) or len(s) % 2:
        raise SystemExit("noise_vectors.py: not a hex string: %r" % (s,))
    return s if s else "-"


def main():
    out = []
    count = 0
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for v in doc["vectors"]:
            out.append("V " + v["protocol_name"])
            for k in v:
                if k in BYTES:
                    out.append("%s %s" % (k, hexa(v[k])))
                elif k in ("init_psks", "resp_psks"):
                    tag = "IP" if k == "init_psks" else "RP"
                    out.append(" ".join([tag] + [hexa(p) for p in v[k]]))
                elif k == "messages":
                    for m in v[k]:
                        if set(m) != {"payload", "ciphertext"}:
                            raise SystemExit("noise_vectors.py: bad message %r" % (m,))
                        out.append("M %s %s" % (hexa(m["payload"]), hexa(m["ciphertext"])))
                elif k != "protocol_name":
                    raise SystemExit("noise_vectors.py: unknown field " + k)
            out.append("END")
            count += 1
    out.append("COUNT %d" % count)
    sys.stdout.write("\n".join(out) + "\n")


main()
