#!/usr/bin/env python3
"""A member system that misbehaves on purpose, on raw sockets, in a process of its own (so that
its loop and the test's clients do not share an interpreter lock).

    python3 fault_origin.py MEMBERS_DB

prints its port on the first line of stdout, then reads commands from stdin, one a line, and
answers each with one line:

    down     close the listening socket and reset every connection: connections are refused
    up       listen again on the same port
    stats    "requests=N <mode>=N ..." counted since the start
    quit     exit

Each request chooses its misbehaviour by the member id it names (GET /members/ID, or a page's
after=ID): an id F-<mode>-<n> gets <mode>, any other id is answered well from MEMBERS_DB
(200 with the record, 404 if unknown; pages as pdgate asks for them). Where a mode sends a
record, it is one pdgate would release but for the fault: M0000001's record made out to the
id asked for, or for a page the first page (whose ids all sort after F-). The modes:

    close         the request read, the connection closed without a byte of answer
    reset         200 and half the record, then a TCP reset (SO_LINGER 0)
    short         200 with Content-Length of the whole record, half of it, then a clean close
    hang          the request read, nothing sent until pdgate gives up (at most 60 s)
    drip          a whole good answer, one byte every 20 ms
    flood         200 with Content-Length 100,000,000, then that many bytes as fast as they go
    chunked       Transfer-Encoding: chunked, 4 KiB chunks of a JSON string that never ends
    chunked_slow  the same, one 16-byte chunk every 100 ms
    two_cl        the record with two Content-Length headers that differ
    cl_te         the record chunked, with a Content-Length as well
    cl_list       the record with Content-Length: N, N+7
    redirect      302 to a good record of this origin
    moved         301 to a good record of another port
"""

import json
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse

DB = sys.argv[1]
lock = threading.Lock()
counts = {}
conns = set()
listener = None
port = 0
_local = threading.local()


def count(mode):
    with lock:
        counts[mode] = counts.get(mode, 0) + 1
        counts["requests"] = counts.get("requests", 0) + 1


def db():
    c = getattr(_local, "db", None)
    if c is None:
        c = _local.db = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, check_same_thread=False)
    return c


def record(mid):
    row = db().execute("SELECT record FROM members WHERE member_id=?", (mid,)).fetchone()
    return row[0].encode() if row else None


def page(after, limit):
    rows = db().execute("SELECT member_id, record FROM members WHERE member_id > ? "
                        "ORDER BY member_id LIMIT ?", (after or "", limit + 1)).fetchall()
    nxt = rows[limit - 1][0] if len(rows) > limit else None
    return ('{"members":[' + ",".join(r for _, r in rows[:limit]) + '],"next":'
            + json.dumps(nxt) + "}").encode()


def head(status, headers):
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            + "\r\n").encode()


def good(path):
    """(status, body) of a well-behaved member system for path."""
    u = urllib.parse.urlsplit(path)
    if u.path.startswith("/members/"):
        rec = record(urllib.parse.unquote(u.path[len("/members/"):]))
        return (200, rec) if rec is not None else (404, b'{"error":"not found"}')
    if u.path == "/members":
        q = urllib.parse.parse_qs(u.query)
        return 200, page(q.get("after", [None])[0], int(q.get("limit", ["100"])[0]))
    return 404, b"{}"


def mode_of(path):
    """(mode, the body a good answer would have had): for a member F-..., M0000001's record
    made out to that id; for a page after F-..., the first page (its ids all sort after F-)."""
    u = urllib.parse.urlsplit(path)
    q = urllib.parse.parse_qs(u.query)
    if u.path.startswith("/members/"):
        mid = urllib.parse.unquote(u.path[len("/members/"):])
        if mid.startswith("F-"):
            rec = json.loads(record("M0000001"))
            rec["member_id"] = mid
            return mid.split("-")[1], json.dumps(rec, ensure_ascii=False).encode()
    else:
        after = q.get("after", [""])[0]
        if after.startswith("F-"):
            return after.split("-")[1], page(None, int(q.get("limit", ["100"])[0]))
    return "good", None


def answer(s, path):
    """Answers one request on s; False when the connection is done with."""
    mode, rec = mode_of(path)
    count(mode)
    if mode == "good":
        status, body = good(path)
        s.sendall(head(status, [("Content-Type", "application/json"),
                                ("Content-Length", len(body))]) + body)
        return True
    ok_head = head(200, [("Content-Type", "application/json"), ("Content-Length", len(rec))])
    if mode == "close":
        return False
    if mode in ("reset", "short"):
        s.sendall(ok_head + rec[:len(rec) // 2])
        if mode == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        return False
    if mode == "hang":
        s.settimeout(60)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        return False
    if mode == "drip":
        for b in ok_head + rec:
            s.sendall(bytes([b]))
            time.sleep(0.02)
        return True
    if mode == "flood":
        s.sendall(head(200, [("Content-Type", "application/json"), ("Content-Length", 100_000_000)]))
        s.sendall(b'{"member_id":"M0000001","padding":"')
        chunk, sent = b"a" * 65536, 0
        while sent < 100_000_000:
            s.sendall(chunk)
            sent += len(chunk)
        return False
    if mode in ("chunked", "chunked_slow"):
        s.sendall(head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]))
        s.sendall(b'24\r\n{"member_id":"M0000001","padding":"\r\n')
        size = 4096 if mode == "chunked" else 16
        chunk = f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s.sendall(chunk)
            if mode == "chunked_slow":
                time.sleep(0.1)
        return False
    if mode == "two_cl":
        s.sendall(head(200, [("Content-Type", "application/json"), ("Content-Length", len(rec)),
                             ("Content-Length", len(rec) + 7)]) + rec + b"       ")
        return False
    if mode == "cl_te":
        body = f"{len(rec):x}\r\n".encode() + rec + b"\r\n0\r\n\r\n"
        s.sendall(head(200, [("Content-Type", "application/json"), ("Content-Length", len(rec)),
                             ("Transfer-Encoding", "chunked")]) + body)
        return False
    if mode == "cl_list":
        s.sendall(head(200, [("Content-Type", "application/json"),
                             ("Content-Length", f"{len(rec)}, {len(rec) + 7}")]) + rec + b"       ")
        return False
    if mode in ("redirect", "moved"):
        where = f"http://127.0.0.1:{port if mode == 'redirect' else 1}/members/M0000001"
        body = b'{"moved":true}'
        s.sendall(head(302 if mode == "redirect" else 301,
                       [("Location", where), ("Content-Length", len(body))]) + body)
        return True
    raise ValueError(f"unknown mode {mode!r}")


def serve(s):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = s.recv(65536)
                if not data:
                    return
                buf += data
                if len(buf) > 65536:
                    return
            req, buf = buf.split(b"\r\n\r\n", 1)
            path = req.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            if not answer(s, path):
                return
    except OSError:
        pass
    finally:
        with lock:
            conns.discard(s)
        try:
            s.close()
        except OSError:
            pass


def accept_loop(ls):
    while True:
        try:
            s, _ = ls.accept()
        except OSError:
            return
        with lock:
            if listener is not ls:
                s.close()
                return
            conns.add(s)
        threading.Thread(target=serve, args=(s,), daemon=True).start()


def up():
    global listener, port
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(256)
    port = ls.getsockname()[1]
    with lock:
        listener = ls
    threading.Thread(target=accept_loop, args=(ls,), daemon=True).start()


def down():
    global listener
    with lock:
        ls, listener = listener, None
        held = list(conns)
    if ls is not None:
        ls.close()
    for s in held:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


up()
print(port, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "down":
        down()
    elif cmd == "up":
        up()
    elif cmd == "stats":
        with lock:
            print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
            continue
    elif cmd == "quit":
        break
    print("ok", flush=True)
