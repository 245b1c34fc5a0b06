#!/usr/bin/python3
"""Test hosts only: the application writing to the RDS stand-in while the migration runs.

One row per transaction into appdb.events over TLS; the id of every row whose COMMIT the
server acknowledged is appended to ACKED (flushed at once), so after the cutover the test can
prove that no acknowledged write was lost. When the source turns read-only or the cutover ends
the session, the writer reconnects and keeps trying, counting refusals, until STOP exists or
its time or row budget is spent (bounded: it never runs away).

  rds_writer.py PASSFILE ACKED STOP [SECONDS] [ROWS]
"""
from __future__ import annotations

import json
import os
import sys
import time


def main(passfile: str, acked_path: str, stop_path: str, seconds: float = 300.0, rows: int = 200_000) -> None:
    import psycopg2  # noqa: PLC0415
    dsn = (f"host=127.0.0.1 port=5433 dbname=appdb user=hearthmaster sslmode=verify-full "
           f"sslrootcert=/srv/aws-standin/tls.crt passfile={passfile} application_name=refapp-writer")
    deadline = time.monotonic() + seconds
    acked = refused = 0
    conn = None
    with open(acked_path, "a", encoding="utf-8") as out:
        while time.monotonic() < deadline and acked < rows and not os.path.exists(stop_path):
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(dsn, connect_timeout=5)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO events (note) VALUES ('written during the migration') RETURNING id")
                    row_id = cur.fetchone()[0]
                conn.commit()
                out.write(f"{row_id}\n")
                out.flush()
                acked += 1
                time.sleep(0.005)
            except psycopg2.Error:
                refused += 1
                try:
                    if conn is not None:
                        conn.close()
                except psycopg2.Error:
                    pass
                conn = None
                time.sleep(0.2)
    print(json.dumps({"acked": acked, "refused": refused}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(float(a) for a in sys.argv[4:5]), *(int(a) for a in sys.argv[5:6]))
