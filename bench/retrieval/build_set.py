#!/usr/bin/env python3
"""Builds the labelled retrieval set over the manual pages installed on this machine.

Method (mechanical, reproducible, seed 4):
 1. Candidates: `man -k .` (apropos) entries in sections 1 and 8 whose one-line description has 4..14 words
    and does not contain the page's own name (nor "manual page for ...", nor a truncated "..." line); descriptions shared by several pages are dropped (ambiguous).
 2. Each candidate is rendered with `man -P cat` (MANWIDTH=80, overstrikes removed); pages rendering to
    1,500..12,000 characters are kept, so ingestion in the benchmark stays bounded. 240 are sampled.
 3. The question paraphrases the description: every word found in SYNONYMS is replaced (e.g. list->enumerate,
    directory->folder, file->document), the page name is never used, and a question template wraps it.
    Words without a synonym stay, so some keyword overlap remains; the overlap rate is written to the header
    of questions.tsv and reported by the benchmark.
Output: questions.tsv (id, page, section, question, description).
"""
import random, re, subprocess, os, sys

SYNONYMS = {
    "list": "enumerate", "lists": "enumerates", "directory": "folder", "directories": "folders", "contents": "entries",
    "file": "document", "files": "documents", "display": "show", "displays": "shows", "print": "output", "prints": "outputs",
    "create": "make", "creates": "makes", "remove": "get rid of", "removes": "gets rid of", "delete": "erase", "deletes": "erases",
    "change": "modify", "changes": "modifies", "convert": "transform", "converts": "transforms", "compress": "shrink",
    "decompress": "unpack", "archive": "bundle", "archives": "bundles", "show": "reveal", "shows": "reveals",
    "manage": "administer", "manipulate": "edit", "information": "details", "info": "details", "user": "account",
    "users": "accounts", "system": "machine", "network": "net", "package": "bundle", "packages": "bundles",
    "generate": "produce", "generates": "produces", "check": "verify", "checks": "verifies", "text": "prose",
    "tool": "utility", "utility": "tool", "program": "application", "programs": "applications", "run": "execute",
    "runs": "executes", "command": "instruction", "commands": "instructions", "query": "ask", "format": "layout",
    "image": "picture", "images": "pictures", "send": "transmit", "sends": "transmits", "read": "load", "reads": "loads",
    "write": "store", "writes": "stores", "search": "look for", "find": "locate", "finds": "locates", "set": "configure",
    "sets": "configures", "get": "obtain", "gets": "obtains", "start": "launch", "starts": "launches", "stop": "halt",
    "file's": "document's", "database": "data store", "server": "daemon", "client": "front end", "key": "secret",
    "keys": "secrets", "process": "task", "processes": "tasks", "output": "result", "input": "source data",
    "terminal": "console", "memory": "RAM", "disk": "drive", "disks": "drives", "view": "inspect", "viewer": "inspector",
    "editor": "editing tool", "test": "exercise", "tests": "exercises", "source": "origin", "simple": "basic",
    "tiny": "small", "small": "little", "large": "big", "multiple": "several", "various": "assorted", "data": "records",
    "mail": "email", "messages": "notes", "message": "note", "copy": "duplicate", "copies": "duplicates", "move": "relocate",
    "rename": "give a new name to", "update": "refresh", "updates": "refreshes", "install": "set up", "build": "compile",
    "lines": "rows", "line": "row", "characters": "symbols", "string": "text sequence", "strings": "text sequences",
    "files,": "documents,", "time": "clock", "date": "day", "encrypt": "encipher", "decrypt": "decipher",
    "certificate": "cert", "certificates": "certs", "wrapper": "shim", "script": "scripted routine", "scripts": "scripted routines",
    "interface": "front end", "library": "lib", "version": "release", "configuration": "settings", "config": "settings",
    "status": "state", "report": "summary", "reports": "summarizes", "monitor": "watch", "control": "steer",
    "extract": "pull out", "extracts": "pulls out", "dump": "emit", "dumps": "emits", "parse": "analyze", "parser": "analyzer",
    "compare": "diff", "compares": "diffs", "print's": "output's", "pdf": "PDF document", "audio": "sound", "video": "movie",
}
TEMPLATES = [
    "Which tool would I use to {d}?", "How can I {d}?", "What program lets me {d}?", "I need to {d}. What should I run?",
    "Is there a command to {d}?", "What do I use to {d}?",
]

def paraphrase(desc):
    words = desc.split()
    out = [SYNONYMS.get(w.lower(), w) for w in words]
    d = " ".join(out)
    return d[0].lower() + d[1:] if d else d

def render(page, section):
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    raw = subprocess.run(["man", "-P", "cat", section, page], capture_output=True, env=env, timeout=30).stdout
    return re.sub(r".\x08", "", raw.decode("utf-8", "replace"))

def main():
    random.seed(4)
    lines = subprocess.run(["man", "-k", "."], capture_output=True, text=True).stdout.splitlines()
    by_desc, cands = {}, []
    for line in lines:
        m = re.match(r"^(\S+) \((\d)\w*\)\s+- (.+)$", line)
        if not m or m.group(2) not in ("1", "8"):
            continue
        page, section, desc = m.group(1), m.group(2), m.group(3).strip()
        n = len(desc.split())
        if n < 4 or n > 14 or page.lower() in desc.lower() or desc.lower().startswith("manual page") or desc.endswith("..."):
            continue
        by_desc.setdefault(desc.lower(), []).append(page)
        cands.append((page, section, desc))
    cands = sorted({c for c in cands if len(by_desc[c[2].lower()]) == 1})
    random.shuffle(cands)
    chosen = []
    for page, section, desc in cands:
        if len(chosen) >= 240:
            break
        text = render(page, section)
        if 1500 <= len(text) <= 12000:
            chosen.append((page, section, desc))
    overlap_num = overlap_den = 0
    rows = []
    for i, (page, section, desc) in enumerate(chosen):
        q = random.choice(TEMPLATES).format(d=paraphrase(desc).rstrip("."))
        dw = {w.lower().strip(",.()") for w in desc.split() if len(w) > 3}
        qw = {w.lower().strip(",.()?") for w in q.split() if len(w) > 3}
        overlap_num += len(dw & qw); overlap_den += len(dw)
        rows.append(f"q{i+1:03d}\t{page}\t{section}\t{q}\t{desc}")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "questions.tsv"), "w") as f:
        f.write(f"# {len(rows)} questions; description words (len>3) still present in the question: {overlap_num}/{overlap_den}\n")
        f.write("id\tpage\tsection\tquestion\tdescription\n")
        f.write("\n".join(rows) + "\n")
    print(len(rows), overlap_num, overlap_den)

if __name__ == "__main__":
    main()
