"""Collects, checks and tabulates the outcomes of the compatibility run.

  report.py collect RESULTS.jsonl results.json
  report.py check   results.json expected.json
  report.py table   results.json expected.json README.md

The table goes into README.md between the markers below.
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


# The gateways the drivers go through, and the settings that set each
# apart, as the table names them (see compat/Caddyfile).
GATEWAYS = {
    "gateway": "`complete_token_response`",
    "gateway (media_type json)": "`media_type json` `complete_token_response`",
}


def table(results_path, expected_path, readme_path):
    results = json.load(open(results_path))
    limits = json.load(open(expected_path)).get("limits", {})
    by_key = {key(r): r["outcome"] for r in results}
    libraries, auths, targets = {}, {}, {}
    for r in results:
        libraries.setdefault((r["library"], r["version"]), len(libraries))
        auths.setdefault(r["auth"], len(auths))
        if r["target"] != "direct":
            if r["target"] not in GATEWAYS:
                sys.exit(f"no settings known for target {r['target']!r}")
            targets.setdefault(r["target"], list(GATEWAYS).index(r["target"]))
    rows = sorted({(r["library"], r["version"], r["auth"], r["target"])
                   for r in results if r["target"] != "direct"},
                  key=lambda row: (libraries[row[:2]], auths[row[2]],
                                   targets[row[3]]))
    out = ["Each cell: what the application sees talking to AIRisk directly"
           " → through the gateway set up as the *gateway* column says. A"
           " code is an RFC 6749 `error` the application can read; a class"
           " name is an error without one; n/a: the library refuses to send"
           " the request.", "",
           "| library | version | credentials | gateway | "
           + " | ".join(CASES) + " |",
           "| --- " * (len(CASES) + 4) + "|"]
    for lib, version, auth, target in rows:
        cells = []
        for c in CASES:
            base = dict(library=lib, version=version, auth=auth, case=c)
            before = by_key.get(key(base, "direct"), "-")
            after = by_key.get(key(base, target), "-")
            cells.append(f"{before} → {after}")
        out.append(f"| {lib} | {version} | {auth} | {GATEWAYS[target]} | "
                   + " | ".join(cells) + " |")
    out += ["", "Known limits of the libraries, and the setting that helps:", ""]
    for lib, version in libraries:
        note = limits.get(f"{lib} {version}", limits.get(lib))
        if note:
            out.append(f"- {lib} {version}: {note}")
    text = "\n".join(out) + "\n"

    readme = open(readme_path).read()
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 \
            or readme.index(BEGIN) > readme.index(END):
        sys.exit(f"{readme_path} needs one {BEGIN} and, after it, one {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path, "w") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)
    print(f"table written to {readme_path}")


if __name__ == "__main__":
    {"collect": collect, "check": check, "table": table}[sys.argv[1]](*sys.argv[2:])
