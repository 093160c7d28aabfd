"""A legacy bank host written with pyiso8583 (PyPI) alone: no code of
Harambee's. It connects to the gateway, signs on, sends the 0200s it is
told to, and prints each answer's fields as JSON, one line each.

    python3 pyiso8583_host.py HOST PORT INSTITUTION MSISDN CREDITS MINOR [MINOR...]

Every MINOR is a 0200 of that many minor units of KES (404) to MSISDN; the
first is also sent again, unchanged, to show that a repeat moves nothing.
Then, after printing `{"ready": true}`, it takes CREDITS 0200 credits from
the switch (its customers being paid), approves each with a 0210 39=00,
prints each credit, and exits.
The wire: ISO 8583:1987 ASCII with hex bitmaps (pyiso8583's default_ascii),
a 2-byte big-endian length before each message.
"""
import json
import socket
import struct
import sys

import iso8583
from iso8583.specs import default_ascii as spec


def send(sock, doc):
    raw, _ = iso8583.encode(doc, spec)
    sock.sendall(struct.pack(">H", len(raw)) + bytes(raw))


def receive(sock):
    (length,) = struct.unpack(">H", read(sock, 2))
    message, _ = iso8583.decode(bytearray(read(sock, length)), spec)
    return {k: v for k, v in message.items() if k not in ("p", "1")}


def exchange(sock, doc):
    send(sock, doc)
    return receive(sock)


def read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("the gateway closed the connection")
        data += chunk
    return data


def main():
    host, port, institution, msisdn = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    credits = int(sys.argv[5])
    amounts = [int(a) for a in sys.argv[6:]]
    sock = socket.create_connection((host, port), timeout=30)
    answers = [exchange(sock, {"t": "0800", "7": "1202101500", "11": "000001", "70": "001"})]
    requests = []
    for i, minor in enumerate(amounts):
        stan = f"{100 + i:06d}"
        requests.append({
            "t": "0200", "3": "400000", "4": f"{minor:012d}", "7": "1202101500",
            "11": stan, "12": "101500", "13": "1202", "32": institution,
            "37": f"000000{stan}", "49": "404", "102": "0012345678901", "103": msisdn,
        })
    if requests:
        requests.insert(1, dict(requests[0]))
    for r in requests:
        answers.append(exchange(sock, r))
    for a in answers:
        print(json.dumps(a))
    print(json.dumps({"ready": True}), flush=True)
    # Paid: the switch's 0200 credits, each approved.
    taken = 0
    while taken < credits:
        m = receive(sock)
        if m["t"] == "0800":  # the gateway's echo test
            send(sock, {"t": "0810", "7": m["7"], "11": m["11"], "39": "00", "70": m["70"]})
            continue
        if m["t"] != "0200":
            continue
        answer = {k: m[k] for k in ("3", "4", "7", "11", "32", "37", "49", "103") if k in m}
        answer["t"] = "0210"
        answer["39"] = "00"
        send(sock, answer)
        print(json.dumps(m), flush=True)
        taken += 1


main()
