"""Collects, checks and tabulates the outcomes of the compatibility run.

  report.py collect RESULTS.jsonl results.json
  report.py check   results.json expected.json
  report.py table   results.json expected.json README.md TABLE.md

The table goes into README.md between the markers below, or into
TABLE.md when README.md has no markers.
"""
import json
import sys

CASES = ["missing_client_id", "missing_client_secret", "unknown_client_id",
         "wrong_client_secret", "bad_code", "reused_code", "success",
         "upstream_down"]
BEGIN, END = "<!-- compat:begin -->", "<!-- compat:end -->"


def key(r, target=None):
    return " ".join([r["library"], r["version"], target or r["target"],
                     r["auth"], r["case"]])


def collect(lines_path, out_path):
    with open(lines_path) as f:
        results = [json.loads(line) for line in f if line.strip()]
    with open(out_path, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True)
                                   for r in results) + "\n]\n")


def check(results_path, expected_path):
    got = {key(r): r for r in json.load(open(results_path))}
    want = json.load(open(expected_path))["outcomes"]
    diffs = []
    for k in sorted(set(got) | set(want)):
        seen = got[k]["outcome"] if k in got else "(no result)"
        if seen != want.get(k, "(not expected)"):
            detail = got[k].get("detail", "") if k in got else ""
            diffs.append(f"  {k}: expected {want.get(k, '(not expected)')!r},"
                         f" got {seen!r} {detail}")
    print(f"{len(got) - len(diffs)} passed, {len(diffs)} failed")
    if diffs:
        print("differences:\n" + "\n".join(diffs))
        sys.exit(1)


def table(results_path, expected_path, readme_path, table_path):
    results = json.load(open(results_path))
    limits = json.load(open(expected_path)).get("limits", {})
    by_key = {key(r): r["outcome"] for r in results}
    rows = []
    for r in results:
        row = (r["library"], r["version"], r["auth"])
        if row not in rows:
            rows.append(row)
    out = ["Each cell: what the application sees talking to AIRisk directly"
           " → through the gateway. A code is an RFC 6749 `error` the"
           " application can read; a class name is an error without one.", "",
           "| library | version | credentials | " + " | ".join(CASES) + " |",
           "| --- " * (len(CASES) + 3) + "|"]
    for lib, version, auth in rows:
        cells = []
        for c in CASES:
            base = dict(library=lib, version=version, auth=auth, case=c)
            before = by_key.get(key(base, "direct"), "-")
            after = by_key.get(key(base, "gateway"), "-")
            cells.append(f"{before} → {after}")
        out.append(f"| {lib} | {version} | {auth} | " + " | ".join(cells) + " |")
    out += ["", "Known limits of the libraries, and the setting that helps:", ""]
    for lib, version in dict.fromkeys((lib, version) for lib, version, _ in rows):
        note = limits.get(f"{lib} {version}", limits.get(lib))
        if note:
            out.append(f"- {lib} {version}: {note}")
    text = "\n".join(out) + "\n"

    try:
        readme = open(readme_path).read()
    except FileNotFoundError:
        readme = ""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(readme_path, "w") as f:
            f.write(head + BEGIN + "\n" + text + END + tail)
        print(f"table written to {readme_path}")
    else:
        with open(table_path, "w") as f:
            f.write(text)
        print(f"table written to {table_path}")


if __name__ == "__main__":
    {"collect": collect, "check": check, "table": table}[sys.argv[1]](*sys.argv[2:])
