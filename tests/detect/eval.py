#!/usr/bin/env python3
"""Precision and recall of every rule on the labelled detection set.
Ingests samples/detect_set.pcap with samples/detect.conf, maps each finding to
its message (by Message-ID <KEY@detect.test>) or, for findings about a session
only, to "session:CLIENT_IP", and compares with samples/detect_labels.tsv
(generated with the capture by samples/gen_detect.py). Prints a Markdown
table (the one in docs/detection.md). Exit 1 on any false positive or any
missed label, so a CTest run fails on either.
Usage: eval.py SMTPSIFT SAMPLES_DIR"""
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict

smtpsift, samples = sys.argv[1], sys.argv[2]
with open(os.path.join(samples, "detect_labels.tsv"), newline="") as f:
    labels = {r["key"]: r for r in csv.DictReader(f, delimiter="\t")}
expected = {k: set(filter(None, r["expected_rules"].split(","))) for k, r in labels.items()}

with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "d.db")
    r = subprocess.run([smtpsift, "ingest", "-q", "-d", db, "--config", os.path.join(samples, "detect.conf"),
                        os.path.join(samples, "detect_set.pcap")], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("ingest failed (%d): %s" % (r.returncode, r.stderr))
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT CASE WHEN f.message_id IS NOT NULL THEN replace(replace(m.message_id, '@detect.test', ''), '<', '')"
        "            WHEN f.session_id IS NOT NULL THEN 'session:' || s.client_ip ELSE 'run' END, f.rule, f.severity"
        " FROM findings f LEFT JOIN messages m ON m.id = f.message_id"
        " LEFT JOIN sessions s ON s.id = f.session_id").fetchall()
    n_messages = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    # Every labelled item must be in the capture, or an honest label with no rules
    # would pass on a session or message that was never decoded.
    present = {r[0] for r in con.execute(
        "SELECT replace(replace(message_id, '@detect.test', ''), '<', '') FROM messages"
        " UNION SELECT 'session:' || client_ip FROM sessions")}
    con.close()

actual = defaultdict(set)
severity = {}
for key, rule, sev in rows:
    actual[key].add(rule)
    severity[rule] = sev

rules = sorted(set().union(*expected.values(), *actual.values()))
keys = sorted(set(expected) | set(actual))
problems = []
print("| rule | severity | labelled | caught | false positives | precision | recall |")
print("|---|---|---:|---:|---:|---:|---:|")
for rule in rules:
    tp = [k for k in keys if rule in expected.get(k, ()) and rule in actual.get(k, ())]
    fn = [k for k in keys if rule in expected.get(k, ()) and rule not in actual.get(k, ())]
    fp = [k for k in keys if rule not in expected.get(k, ()) and rule in actual.get(k, ())]
    prec = "%.2f" % (len(tp) / (len(tp) + len(fp))) if tp or fp else "-"
    rec = "%.2f" % (len(tp) / (len(tp) + len(fn))) if tp or fn else "-"
    print("| %s | %s | %d | %d | %d | %s | %s |" % (rule, severity.get(rule, "?"), len(tp) + len(fn), len(tp),
                                                    len(fp), prec, rec))
    problems += ["false positive: %s on %s (%s)" % (rule, k, labels.get(k, {}).get("what", "unlabelled")) for k in fp]
    problems += ["missed: %s on %s (%s)" % (rule, k, labels[k]["what"]) for k in fn]
problems += ["not in the capture: %s (%s)" % (k, labels[k]["what"]) for k in labels if k not in present]
honest = [k for k in labels if labels[k]["kind"] == "honest"]
forged = [k for k in labels if labels[k]["kind"] != "honest"]
print()
print("%d labelled items (%d honest, %d forged or risky), %d messages in the capture; "
      "%d problems" % (len(labels), len(honest), len(forged), n_messages, len(problems)))
for p in problems:
    print("FAIL " + p)
sys.exit(1 if problems else 0)
