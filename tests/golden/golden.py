#!/usr/bin/env python3
"""golden.py - compare `dmarcd ingest --json` with the golden cases.

Called by run.sh:  golden.py [--update] BINARY GOLDEN_DIR WORK_DIR [CASE...]

For every case in GOLDEN_DIR/cases (see make_fixtures.py for the layout):
  1. ingest it into a fresh WORK_DIR/<case>/data, from inside cases/ so the
     input names are relative and stable ("twice-*" cases: twice);
  2. normalise the JSON lines (the YYYY/MM of archive keys depends on the
     day the test runs) and diff them with <case>.expected.json;
  3. check the exit code (0 when no expected line is "rejected", else 1;
     a <case>.exit file overrides), the stderr summary line, every archive
     key (`dmarcd archive get KEY` gives bytes whose SHA-256 is the key),
     that nothing was
     written into cases/, `dmarcd stats --json` against <case>.stats.json
     and, when present, <case>.sql against <case>.sql.out.

With GOLDEN_PG=postgres://USER@HOST:PORT in the environment every case is
stored in a fresh PostgreSQL database of that server instead (store =
postgres://.../golden_<case>, created with psql), and everything above is
compared the same way but the .sql sidecars, which query SQLite's file.
With GOLDEN_CH=clickhouse://USER@HOST:PORT the same in a fresh ClickHouse
database per case (dropped first over the HTTP interface; dmarcd creates
it).

--update rewrites <case>.expected.json, .stats.json and .sql.out from what
the binary prints.  Those files were computed by make_fixtures.py from the
fixtures' content; review every changed line before keeping it.
Exit status: 0 all cases pass, 1 otherwise.
"""
import difflib
import urllib.request
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

KEYS = ["input", "kind", "status", "org_name", "report_id", "policy_domain",
        "begin", "end", "records", "messages", "archive_key", "error"]
SIDECARS = (".expected.json", ".stats.json", ".sql", ".sql.out", ".exit")
KEY_RE = re.compile(r"^(\d{4})/(\d{2})/([0-9a-f]{64})\.(xml|gz|zip|zz|json|bin|txt)$")
TIMEOUT = 30


def dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def main():
    args = sys.argv[1:]
    update = False
    if args and args[0] == "--update":
        update = True
        args = args[1:]
    if len(args) < 3:
        print("usage: golden.py [--update] BINARY GOLDEN_DIR WORK_DIR [CASE...]", file=sys.stderr)
        return 2
    binary = os.path.abspath(args[0])
    cases_dir = os.path.join(os.path.abspath(args[1]), "cases")
    work = os.path.abspath(args[2])
    only = set(args[3:])
    if not os.access(binary, os.X_OK):
        print(f"golden: {binary}: not an executable", file=sys.stderr)
        return 2
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    inputs = {}
    for entry in sorted(os.listdir(cases_dir)):
        if entry.startswith(".") or entry.endswith(SIDECARS):
            continue
        name = entry.split(".")[0]
        if name in inputs:
            print(f"golden: two inputs for case {name}: {inputs[name]} {entry}", file=sys.stderr)
            return 2
        inputs[name] = entry
    if only:
        missing = only - set(inputs)
        if missing:
            print(f"golden: no such case: {' '.join(sorted(missing))}", file=sys.stderr)
            return 2
    before = snapshot(cases_dir)
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp)
    env = dict(os.environ, LC_ALL="C", TZ="UTC", TMPDIR=tmp)
    env.pop("DMARCD_CONFIG", None)
    failed = []
    t0 = time.monotonic()
    for name, entry in sorted(inputs.items()):
        if only and name not in only:
            continue
        problems = run_case(binary, cases_dir, work, name, entry, env, update)
        if problems:
            failed.append(name)
            print(f"FAIL {name}")
            for p in problems:
                print("    " + p.replace("\n", "\n    "))
        else:
            print(f"ok   {name}")
    after = snapshot(cases_dir)
    if before != after:
        added = sorted(set(after) - set(before))
        changed = sorted(k for k in before if k in after and before[k] != after[k])
        if not update or added:
            failed.append("(cases dir)")
            print(f"FAIL cases/ was modified by the run: added {added} changed {changed}")
    n = len(only) if only else len(inputs)
    print(f"golden: {n - len([f for f in failed if not f.startswith('(')])}/{n} cases passed "
          f"in {time.monotonic() - t0:.1f}s")
    if failed:
        print("golden: failed: " + " ".join(failed))
    if update:
        print("golden: expected files rewritten from the binary's output: review `git diff "
              "tests/golden/cases` line by line against make_fixtures.py before keeping them")
    return 1 if failed else 0


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            st = os.stat(p)
            out[os.path.relpath(p, d)] = (st.st_size, st.st_mtime_ns)
    return out


def read_lines(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def normalise(stdout, problems):
    """Parse and re-serialise every line; check the keys; mask YYYY/MM."""
    out, keys = [], []
    for i, line in enumerate(stdout.decode("utf-8", "replace").splitlines(), 1):
        try:
            o = json.loads(line)
        except ValueError as e:
            problems.append(f"stdout line {i} is not JSON ({e}): {line[:300]}")
            out.append(line)
            continue
        if not isinstance(o, dict) or list(o) != KEYS:
            problems.append(f"stdout line {i}: keys {list(o) if isinstance(o, dict) else o!r} "
                            f"are not exactly {KEYS}")
        k = o.get("archive_key") if isinstance(o, dict) else None
        if isinstance(k, str):
            m = KEY_RE.match(k)
            if m and 1 <= int(m.group(2)) <= 12 and int(m.group(1)) >= 2000:
                keys.append(k)
                o["archive_key"] = f"YYYY/MM/{m.group(3)}.{m.group(4)}"
            else:
                problems.append(f"stdout line {i}: archive_key {k!r} is not YYYY/MM/<sha256>.<ext>")
        out.append(dumps(o))
    return out, keys


def diff(exp, got, what):
    d = difflib.unified_diff(exp, got, f"expected {what}", f"actual {what}", lineterm="", n=1)
    return "\n".join(d)


def run(cmd, cwd, env):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or b"", e.stderr or b""


def expected_exit(lines):
    return 1 if any(json.loads(l)["status"] == "rejected" for l in lines) else 0


def store_args(work, name, data):
    """--data DATA, or --config FILE naming a fresh PostgreSQL or ClickHouse
    database."""
    base = os.environ.get("GOLDEN_PG") or os.environ.get("GOLDEN_CH")
    if not base:
        return ["--data", data]
    db = "golden_" + re.sub(r"[^a-z0-9]", "_", name.lower())
    if os.environ.get("GOLDEN_PG"):
        subprocess.run(["psql", "-q", "-d", base + "/postgres", "-c", f"DROP DATABASE IF EXISTS {db}",
                        "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)
    else:
        host = base.split("@")[-1].rstrip("/")
        req = urllib.request.Request(f"http://{host}/", data=f"DROP DATABASE IF EXISTS {db}".encode())
        urllib.request.urlopen(req, timeout=60).read()
    cfg = os.path.join(work, name, "dmarcd.conf")
    with open(cfg, "w") as f:
        f.write(f"data_dir = {data}\nstore = {base}/{db}\n")
    return ["--config", cfg]


def run_case(binary, cases_dir, work, name, entry, env, update):
    problems = []
    data = os.path.join(work, name, "data")
    os.makedirs(data)
    # a fixed redaction key, so the keyed hashes of failure reports are
    # known to make_fixtures.py (GOLDEN_KEY there)
    with open(os.path.join(data, "redaction.key"), "wb") as f:
        f.write(bytes(range(32)))
    where = store_args(work, name, data)
    runs = 2 if name.startswith("twice-") else 1
    exp = read_lines(os.path.join(cases_dir, name + ".expected.json"))
    if exp is None and not update:
        return [f"no {name}.expected.json"]
    per_run = len(exp) // runs if exp else 0
    exit_file = os.path.join(cases_dir, name + ".exit")
    got_all, keys = [], []
    for r in range(runs):
        rc, out, err = run([binary, "ingest", "--json"] + where + [entry], cases_dir, env)
        got, k = normalise(out, problems)
        got_all += got
        keys += k
        if exp is not None:
            part = exp[r * per_run:(r + 1) * per_run]
            if os.path.exists(exit_file):
                with open(exit_file) as f:
                    codes = f.read().split()
                want = int(codes[r] if len(codes) > r else codes[0])
            else:
                try:
                    want = expected_exit(part)
                except (ValueError, KeyError):
                    want = None
            if want is not None and rc != want:
                problems.append(f"run {r + 1}: exit {rc}, expected {want}")
        elif rc not in (0, 1):
            problems.append(f"run {r + 1}: exit {rc}")
        errs = err.decode("utf-8", "replace").splitlines()
        if not any(l.startswith("dmarcd: ingest: ") and " files, " in l for l in errs):
            problems.append(f"run {r + 1}: no summary line on stderr: {errs[-5:]}")
        if rc == "timeout":
            problems.append(f"run {r + 1}: timed out after {TIMEOUT}s")
            return problems
    if update:
        write(os.path.join(cases_dir, name + ".expected.json"), got_all)
    elif got_all != exp:
        problems.append(diff(exp, got_all, name + ".expected.json"))

    # every archive key gives back bytes whose SHA-256 is the key
    for k in sorted(set(keys)):
        rc, out, err = run([binary, "archive"] + where + ["get", k], cases_dir, env)
        if rc != 0:
            problems.append(f"archive get {k}: exit {rc}: {err.decode(errors='replace').strip()[:200]}")
            continue
        h = hashlib.sha256(out).hexdigest()
        if h != KEY_RE.match(k).group(3):
            problems.append(f"archive get {k}: {len(out)} bytes that hash to {h}")

    # stats
    rc, out, err = run([binary, "stats", "--json"] + where, cases_dir, env)
    stats_path = os.path.join(cases_dir, name + ".stats.json")
    if rc != 0:
        problems.append(f"stats: exit {rc}: {err.decode(errors='replace').strip()[:300]}")
    else:
        try:
            got = dumps(json.loads(out))
        except ValueError:
            got = out.decode(errors="replace").strip()
            problems.append(f"stats output is not JSON: {got[:300]}")
        if update:
            write(stats_path, [got])
        else:
            want = read_lines(stats_path)
            if want is not None and [got] != want:
                problems.append(diff(want, [got], name + ".stats.json"))

    # SQL check
    sql = os.path.join(cases_dir, name + ".sql")
    if os.path.exists(sql) and not os.environ.get("GOLDEN_PG") and not os.environ.get("GOLDEN_CH"):
        with open(sql, "rb") as f:
            q = f.read()
        try:
            got = sql_lines(os.path.join(data, "dmarcd.sqlite"), q.decode())
        except sqlite3.Error as e:
            got = []
            problems.append(f"sqlite3: {e}")
        if update:
            write(sql + ".out", got)
        else:
            want = read_lines(sql + ".out") or []
            if got != want:
                problems.append(diff(want, got, name + ".sql.out"))
    return problems


def sql_lines(db, script):
    """Run each statement of script as the sqlite3 shell would and give its
    rows as the shell prints them: columns joined by '|', NULL empty."""
    def text(v):
        if v is None:
            return ""
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return str(v)
    lines, stmt = [], ""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for part in script.splitlines(keepends=True):
            stmt += part
            if sqlite3.complete_statement(stmt):
                for row in con.execute(stmt):
                    lines.append("|".join(text(v) for v in row))
                stmt = ""
    finally:
        con.close()
    return lines


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for l in lines:
            f.write(l + "\n")


if __name__ == "__main__":
    sys.exit(main())
