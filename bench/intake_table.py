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
        print("| intake to queryable, %d sessions | %s | %d mails, %d records | %.2f | %.0f records/s |"
              " last 250 after %.2f s, peak RSS %.1f MiB |"
              % (r["sessions"], r["server"], r["mails"], r["records"], r["queryable_seconds"],
                 r["records_per_s"], r["intake_seconds"], r["rss_mib"]))
    elif f == "idle connections":
        print("| idle connections | %s | %d connections | - | - | RSS %.1f -> %.1f MiB (%.1f KiB each) |"
              % (r["server"], r["connections"], r["rss_before_mib"], r["rss_after_mib"],
                 r["per_connection_kib"]))
