"""intake_table.py - bench/intake.py's JSON lines as rows of the results table."""
import json
import sys

for line in open(sys.argv[1]):
    r = json.loads(line)
    f = r["figure"]
    if f == "durable intake":
        notes = "peak RSS %.1f MiB" % r["rss_mib"] if "rss_mib" in r else ""
        print("| durable intake, %d sessions | %s | %d mails | %.2f | %.0f mails/s | %s |"
              % (r["sessions"], r["server"], r["mails"], r["seconds"], r["mails_per_s"], notes))
    elif f == "intake to queryable":
        pace = r.get("paced_mails_per_s") or 0
        how = "paced at %d mails/s" % pace if pace else "burst"
        extra = ""
        if "lag_seconds" in r:
            extra = ", last record %.2f s after the last 250, deepest spool backlog %d" % (
                r["lag_seconds"], r["max_backlog"])
        print("| intake to queryable, %d sessions, %s | %s | %d mails, %d records | %.2f | %.0f records/s |"
              " last 250 after %.2f s%s, peak RSS %.1f MiB |"
              % (r["sessions"], how, r["server"], r["mails"], r["records"], r["queryable_seconds"],
                 r["records_per_s"], r["intake_seconds"], extra, r["rss_mib"]))
    elif f == "idle connections":
        print("| idle connections | %s | %d connections | - | - | RSS %.1f -> %.1f MiB (%.1f KiB each) |"
              % (r["server"], r["connections"], r["rss_before_mib"], r["rss_after_mib"],
                 r["per_connection_kib"]))
